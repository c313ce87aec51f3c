package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// dbVersion, when set at link time (-X main.dbVersion=<n>), is the latest database migration
// this build knows; otherwise it follows from the version (supportedDBVersion).
var dbVersion = ""

// runMigrate is `concourse migrate`. Only --supported-db-version is implemented: it needs no
// database (the real one lists the migrations built into the binary), and it is what the charm
// asks an older and a newer release to tell whether a downgrade needs migrating down.
func runMigrate(args []string, v string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 1 && args[0] == "--supported-db-version":
		n, err := supportedDBVersion(v, dbVersion)
		if err != nil {
			fmt.Fprintf(stderr, "stand-in migrate: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, n)
		return 0
	case len(args) == 0:
		// The real binary's words when no action is given.
		fmt.Fprintln(stderr, "must specify one of `--migrate-to-latest-version`, `--current-db-version`, `--supported-db-version`, `--migrate-db-to-version`, or `--old-encryption-key`")
		return 1
	}
	fmt.Fprintf(stderr, "stand-in: migrate %s not implemented yet\n", strings.Join(args, " "))
	return 2
}

// supportedDBVersion is the latest migration of version v: pinned, or 1700000000 + major*10000 +
// minor*100, so that patch releases share their migrations (as Concourse's usually do) and any
// minor or major release adds some.
func supportedDBVersion(v, pinned string) (int64, error) {
	if pinned != "" {
		return strconv.ParseInt(pinned, 10, 64)
	}
	parts := strings.Split(v, ".")
	if len(parts) < 2 {
		return 0, fmt.Errorf("version %q has no major.minor to derive migrations from", v)
	}
	major, err1 := strconv.ParseInt(parts[0], 10, 64)
	minor, err2 := strconv.ParseInt(parts[1], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("version %q has no numeric major.minor to derive migrations from", v)
	}
	return 1_700_000_000 + major*10_000 + minor*100, nil
}
