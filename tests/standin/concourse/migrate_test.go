package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestMigrateSupportedDBVersion: patch releases share their migrations, minor releases add some;
// a pinned value wins; other migrate actions say they are not there.
func TestMigrateSupportedDBVersion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args     []string
		version  string
		code     int
		stdout   string
		stderrIn string
	}{
		{[]string{"--supported-db-version"}, "7.14.3", 0, "1700071400\n", ""},
		{[]string{"--supported-db-version"}, "7.14.4", 0, "1700071400\n", ""},
		{[]string{"--supported-db-version"}, "7.15.0", 0, "1700071500\n", ""},
		{[]string{"--supported-db-version"}, "dev", 1, "", "no major.minor"},
		{nil, "7.14.3", 1, "", "must specify one of"},
		{[]string{"--current-db-version"}, "7.14.3", 2, "", "not implemented"},
	} {
		var out, errOut bytes.Buffer
		code := runMigrate(tc.args, tc.version, &out, &errOut)
		if code != tc.code || out.String() != tc.stdout || !strings.Contains(errOut.String(), tc.stderrIn) {
			t.Errorf("migrate %v (%s): exit %d, stdout %q, stderr %q", tc.args, tc.version, code, out.String(), errOut.String())
		}
	}
	if n, err := supportedDBVersion("7.14.3", "42"); n != 42 || err != nil {
		t.Errorf("pinned: %d, %v", n, err)
	}
}
