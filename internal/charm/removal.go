package charm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/concourse"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/storage"
)

// forgetUnit drops this unit's reference on its release root, so that the leader may remove
// releases no remaining unit uses. The release itself stays: other units may run it. dataDir is
// the unit's concourse-data location; empty means its default location. Nothing is created: in the
// remove hook the storage may already be gone, and then there is nothing left to forget here.
//
// A unit that disappears without running these hooks keeps its reference, and with it the release
// it used: the safe side (disk, never a release pulled from under a running unit).
func (c *Charm) forgetUnit(dataDir string) error {
	if dataDir == "" {
		dataDir = defaultDataDir
	}
	p, err := readPlacement(dataDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		fmt.Fprintf(c.out, "release root unusable, nothing to forget: %v\n", err)
		return nil
	}
	if err := p.root.ForgetUnit(c.env.UnitName); err != nil {
		return fmt.Errorf("forget unit on %s: %w", p.Root, err)
	}
	fmt.Fprintf(c.out, "%s no longer refers to any release on %s\n", c.env.UnitName, p.Root)
	return nil
}

// leaveRoot is called once the unit runs from another root than before (shared storage became
// usable, or stopped being so): it drops the unit's reference on the old root, and when that root
// was the unit's own, removes the releases on it, which nobody else can use: without this a unit
// that moves to shared storage would keep a full private copy forever. Failures are only logged:
// the next reconcile tries again, and the unit runs fine meanwhile.
func (c *Charm) leaveRoot(ctx context.Context, old placement) {
	if err := old.root.ForgetUnit(c.env.UnitName); err != nil {
		fmt.Fprintf(c.out, "leaving %s: %v\n", old.Root, err)
		return
	}
	fmt.Fprintf(c.out, "%s moved its release from %s\n", c.env.UnitName, old.Root)
	if old.Shared {
		return // the leader collects what nobody uses there
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	host, _ := os.Hostname()
	removed, err := old.root.GC(ctx, storage.Owner{Unit: c.env.UnitName, PID: os.Getpid(), Host: host})
	if err != nil {
		fmt.Fprintf(c.out, "clean-up of %s: %v\n", old.Root, err)
		return
	}
	for _, name := range removed {
		fmt.Fprintf(c.out, "removed own copy %s from %s\n", name, old.Root)
	}
}

// stopServices runs in the stop hook, when the unit is going away for good: the web stops, and
// the worker is retired (SIGUSR2: it drains, unregisters and exits) so that it never stays behind
// as a stalled worker, bounded by drain-timeout, then SIGTERM, then SIGKILL. Juju sets no time
// limit on a hook, so the stop hook may take as long as the bound.
func (c *Charm) stopServices(ctx context.Context) error {
	mgr, err := c.serviceManager(ctx)
	if err != nil {
		// No supervisor means nothing of ours can be running: the unit never got past blocked.
		fmt.Fprintf(c.out, "no service supervisor, nothing to stop: %v\n", err)
		return nil
	}
	svc := serviceRun{c: c, mgr: mgr, dataDir: defaultDataDir, drain: c.configuredDrainPlan(ctx)}
	if err := c.removeWorker(ctx, svc); err != nil {
		return err
	}
	return svc.remove(ctx, concourse.WebService)
}

// removeWorker retires the worker of a unit that stops running one for good (removed, or its
// role changed), then removes the service: a worker merely stopped would stay listed in the web
// as landed or stalled forever. A plain stop would land it (the unit's KillSignal), so the
// retirement is done here, before.
func (c *Charm) removeWorker(ctx context.Context, svc serviceRun) error {
	if _, err := c.landOrRetire(ctx, svc.mgr, retiring, svc.drainPlan()); err != nil {
		return err
	}
	return svc.remove(ctx, concourse.WorkerService)
}
