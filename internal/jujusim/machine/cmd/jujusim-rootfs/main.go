// Command jujusim-rootfs builds the simulator machines' cached Debian rootfs (the same code path the
// tests take, so the lock and completion marker agree) and prints how long it took. The directory is
// the first argument, else $JUJUSIM_ROOTFS, else the package default.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/machine"
)

func main() {
	dir := machine.DefaultRootfsDir()
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Say up front whether machines can run here: otherwise the machine tests skip and the
	// end-to-end tests fall back to the local provider, which a green run would not show.
	if err := machine.HostSupport(ctx); err != nil {
		fmt.Printf("WARNING: this host cannot run nspawn machines (%v): machine tests will skip, e2e tests use the local provider\n", err)
	} else {
		fmt.Println("host can run nspawn machines")
	}
	if machine.RootfsComplete(dir) {
		fmt.Printf("rootfs %s: already complete\n", dir)
		return
	}
	start := time.Now()
	if err := machine.EnsureRootfs(ctx, dir); err != nil {
		fmt.Fprintln(os.Stderr, "jujusim-rootfs:", err)
		os.Exit(1)
	}
	fmt.Printf("rootfs %s: built in %s\n", dir, time.Since(start).Round(time.Millisecond))
}
