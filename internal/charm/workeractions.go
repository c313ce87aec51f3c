package charm

import (
	"context"
	"fmt"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/concourse"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/service"
)

// workerStop is land-worker or retire-worker: how this unit's worker is drained (drain.go).
type workerStop struct {
	action string
	kind   drainKind
}

var (
	// landAction: the worker drains and exits keeping its volumes; the web lists it as landed and
	// it comes back under the same name.
	landAction = workerStop{action: "land-worker", kind: landing}
	// retireAction: the worker drains, unregisters (the web no longer lists it) and exits.
	retireAction = workerStop{action: "retire-worker", kind: retiring}
)

// actionDrainPlan bounds a land or retire an operator starts: drain-timeout, as in hooks. Tests
// shorten it with c.drainTimeout (and skip asking Garden for its containers).
func (c *Charm) actionDrainPlan(ctx context.Context) drainPlan {
	plan := c.configuredDrainPlan(ctx)
	if c.drainTimeout > 0 {
		plan.drain, plan.garden = c.drainTimeout, ""
	}
	return plan
}

// stopWorkerAction lands or retires this unit's worker, bounded by the drain bound, and holds it
// stopped until the `restart` action: an operator who landed a worker expects it to stay landed
// through the next config change or update-status.
func (c *Charm) stopWorkerAction(ctx context.Context, a workerStop) error {
	mgr, err := c.serviceManager(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", a.action, err)
	}
	st, err := mgr.State(ctx, concourse.WorkerService)
	if err != nil {
		return fmt.Errorf("state of %s: %w", concourse.WorkerService, err)
	}
	if !st.Installed {
		return c.noWorkerHere(ctx, mgr, a.action)
	}
	dataDir, err := c.dataDir(ctx)
	if err != nil {
		return err
	}
	unit := c.env.UnitName
	hold, held, err := readWorkerHold(dataDir)
	if err != nil {
		return err
	}
	if !st.Active {
		switch {
		case held && (hold.Action == a.action || a == landAction):
			// Asked again, or landing a retired worker: it is stopped and held either way.
		case a == retireAction:
			return fmt.Errorf("%s is not running (%s): a stopped worker cannot retire itself through the TSA; "+
				"run `juju run %s restart role=worker`, wait until `juju status %s` shows it active, then run retire-worker again",
				concourse.WorkerService, st.Status, unit, unit)
		default:
			// Stopped by itself: held from now on, so no hook starts it behind the operator's back.
			hold = workerHold{Action: a.action, At: c.now().UTC()}
			if err := writeWorkerHold(dataDir, hold); err != nil {
				return err
			}
		}
		if err := c.status(ctx, juju.Maintenance, hold.message(unit)); err != nil {
			return err
		}
		return c.tools.ActionSet(ctx, map[string]string{"outcome": "already-stopped",
			"message": fmt.Sprintf("%s was not running; %s", concourse.WorkerService, hold.message(unit))})
	}

	// Held before the signal: an action killed while it waits still leaves the worker held.
	hold = workerHold{Action: a.action, At: c.now().UTC()}
	if err := writeWorkerHold(dataDir, hold); err != nil {
		return err
	}
	plan := c.actionDrainPlan(ctx)
	_ = c.tools.ActionLog(ctx, fmt.Sprintf("%s: sending %s to %s, waiting up to %s (drain-timeout) for it to drain", a.action, signalName(a.kind.sig), concourse.WorkerService, plan.drain))
	res, err := c.landOrRetire(ctx, mgr, a.kind, plan)
	if err != nil {
		return fmt.Errorf("%s: %w", a.action, err)
	}
	bound, forced := plan.drain, res.cut
	if err := c.status(ctx, juju.Maintenance, hold.message(unit)); err != nil {
		return err
	}
	results := map[string]string{
		"outcome":       a.kind.done,
		"took":          res.took.String(),
		"drain-timeout": bound.String(),
		"message":       fmt.Sprintf("%s %s in %s; %s", concourse.WorkerService, a.kind.done, res.took, hold.message(unit)),
	}
	if forced {
		results["outcome"] = "stopped-hard"
		results["message"] = fmt.Sprintf("%s did not finish draining within %s: stopped with SIGTERM, then SIGKILL; builds still running on it were interrupted; %s",
			concourse.WorkerService, bound, hold.message(unit))
	}
	if err := c.tools.ActionSet(ctx, results); err != nil {
		return err
	}
	if forced {
		return fmt.Errorf("%s did not finish draining within the drain bound %s and was stopped hard: builds still running on it were interrupted", concourse.WorkerService, bound)
	}
	return nil
}

// noWorkerHere is the failure of a worker action on a unit that runs no worker.
func (c *Charm) noWorkerHere(ctx context.Context, mgr service.Manager, action string) error {
	web, err := mgr.State(ctx, concourse.WebService)
	if err != nil {
		return fmt.Errorf("state of %s: %w", concourse.WebService, err)
	}
	if web.Installed {
		return fmt.Errorf("%s runs web only, no worker: run %s on a unit whose `juju status` message starts with \"worker\" or \"web+worker\"", c.env.UnitName, action)
	}
	return fmt.Errorf("%s runs no worker yet: `juju status %s` says what it waits for; run %s once it runs one", c.env.UnitName, c.env.UnitName, action)
}
