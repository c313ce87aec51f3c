// Command demo is `make demo`: it deploys the packed charm through the Juju simulator as 3 units
// on one shared directory, each on its own systemd-nspawn machine, with the stand-in Concourse
// served from loopback and a real PostgreSQL related to it, shows the status table as the model
// converges, and ends with the figures that matter: downloads, shared bytes over one release's
// bytes, time to all active. It removes everything it made unless --keep is given.
//
//	go run ./tests/demo --charm concourse-ci-machine_amd64.charm [--units 3] [--keep]
//
// It needs root, a host that can run nspawn machines (`bash .ci/machines.sh`) and Debian's
// postgresql server binaries; `make demo` sees to all three.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/machine"
)

// version is the Concourse version the demo's stand-in release claims to be.
const version = "7.14.3"

type options struct {
	charm string
	units int
	keep  bool
	mb    int64
}

func main() {
	var o options
	flag.StringVar(&o.charm, "charm", "concourse-ci-machine_amd64.charm", "the packed charm to deploy (make charm)")
	flag.IntVar(&o.units, "units", 3, "units of concourse-ci on the shared directory")
	flag.BoolVar(&o.keep, "keep", false, "leave the model, PostgreSQL and the release server running")
	flag.Int64Var(&o.mb, "release-mb", 64, "size of the stand-in release's padding in MiB")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if err := preflight(ctx, o); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "concourse-demo-")
	if err != nil {
		return err
	}
	d := &demo{opts: o, work: work, started: time.Now()}
	defer d.cleanup()
	steps := []struct {
		say string
		do  func(context.Context) error
	}{
		{"building the simulator, the stand-in concourse and the PostgreSQL provider charm", d.build},
		{"writing the stand-in release and serving it from the host", d.serveRelease},
		{"starting a PostgreSQL cluster the machines can reach", d.startPostgres},
		{fmt.Sprintf("deploying concourse-ci (%d units on one shared directory) and postgresql", o.units), d.deploy},
		{"waiting for the model to settle (status below as it changes)", d.converge},
		{"checking Concourse itself: the web's workers", d.checkWorkers},
	}
	for i, s := range steps {
		d.step(i+1, len(steps), s.say)
		if err := s.do(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.say, err)
		}
	}
	d.figures()
	return nil
}

// preflight says, before any work, what is missing and how to get it.
func preflight(ctx context.Context, o options) error {
	if os.Geteuid() != 0 {
		return errors.New("run as root: the units are systemd-nspawn machines")
	}
	if _, err := os.Stat(o.charm); err != nil {
		return fmt.Errorf("charm %s: %w (run make charm)", o.charm, err)
	}
	if err := machine.HostSupport(ctx); err != nil {
		return fmt.Errorf("this host cannot run nspawn machines (run bash .ci/machines.sh): %w", err)
	}
	if o.units < 1 {
		return fmt.Errorf("--units %d: want at least 1", o.units)
	}
	return nil
}

type demo struct {
	opts    options
	work    string
	started time.Time

	jujusim, standin, provider string // built binaries and charm
	model, shared              string // model dir, host side of the shared directory
	server                     *releaseServer
	pg                         interface{ Stop() error }
	pgArgs                     []string
	activeAfter                time.Duration
	cleanups                   []func()
}

func (d *demo) step(i, n int, say string) {
	fmt.Printf("\n==> [%d/%d %5.1fs] %s\n", i, n, time.Since(d.started).Seconds(), say)
}

func (d *demo) onCleanup(fn func()) { d.cleanups = append(d.cleanups, fn) }

// cleanup undoes what the demo made, newest first (the model before PostgreSQL and the server).
func (d *demo) cleanup() {
	if d.opts.keep {
		fmt.Printf("\nleft running (--keep): JUJUSIM_MODEL=%s %s status; remove with %s --model %s destroy-model\n",
			d.model, d.jujusim, d.jujusim, d.model)
		return
	}
	fmt.Println("\n==> cleaning up: destroying the model, stopping PostgreSQL and the release server")
	for i := len(d.cleanups) - 1; i >= 0; i-- {
		d.cleanups[i]()
	}
	_ = os.RemoveAll(d.work)
}

func (d *demo) path(name string) string { return filepath.Join(d.work, name) }
