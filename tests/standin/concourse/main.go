// Command concourse is a stand-in for the real Concourse binary, used only by
// tests. It mimics the CLI surface the charm relies on; nothing here is copied
// from Concourse.
//
// Today it implements `--version` (printing the version baked in at build time
// with -ldflags "-X main.version=<v>", bare like the real binary prints it);
// every other subcommand reports that it is not implemented yet.
package main

import (
	"fmt"
	"io"
	"os"
)

// version is set at link time; "dev" marks a build without -ldflags.
var version = "dev"

// subcommands lists what the real binary offers, so a caller that asks for one
// gets a precise "not implemented yet" rather than a usage error.
var subcommands = map[string]bool{
	"web": true, "worker": true, "migrate": true, "land-worker": true,
	"retire-worker": true, "generate-key": true, "quickstart": true,
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "stand-in: usage: concourse [--version] <subcommand>")
		return 2
	}
	switch arg := args[0]; {
	case arg == "--version" || arg == "-v":
		fmt.Fprintln(stdout, version)
		return 0
	case subcommands[arg]:
		fmt.Fprintf(stderr, "stand-in: %s not implemented yet\n", arg)
		return 2
	default:
		fmt.Fprintf(stderr, "stand-in: unknown command %q\n", arg)
		return 2
	}
}
