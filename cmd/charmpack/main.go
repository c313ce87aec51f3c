// Command charmpack packs concourse-ci-machine into a .charm without charmcraft (see `make charm`),
// or, with -link-hooks, refreshes the repository's hooks/ symlinks from metadata.yaml.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/charmpack"
)

func main() {
	var opts charmpack.Options
	flag.StringVar(&opts.SourceDir, "src", ".", "directory holding metadata.yaml, config.yaml, actions.yaml")
	flag.StringVar(&opts.Dispatch, "dispatch", "", "built charm binary to pack as dispatch")
	flag.StringVar(&opts.Arch, "arch", "amd64", "architecture of the binary: amd64 or arm64")
	flag.StringVar(&opts.Version, "version", "dev", "charm version written to the archive")
	flag.StringVar(&opts.Output, "o", "", "the .charm file to write")
	linkHooks := flag.String("link-hooks", "", "only refresh the symlinks in this hooks directory")
	flag.Parse()

	var err error
	switch {
	case *linkHooks != "":
		err = charmpack.LinkHooks(opts.SourceDir, *linkHooks)
	case opts.Dispatch == "" || opts.Output == "":
		err = fmt.Errorf("-dispatch and -o are required")
	default:
		err = charmpack.Pack(opts)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "charmpack:", err)
		os.Exit(1)
	}
}
