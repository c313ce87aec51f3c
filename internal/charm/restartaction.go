package charm

import (
	"context"
	"fmt"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/concourse"
)

// restartAction restarts what this unit runs (param role: web, worker or all). The worker is
// landed first (SIGUSR1, bounded by the drain bound) so that no build is lost, the web restarts,
// and the reconcile then starts the worker with what the unit should run now. It also lifts an
// operator hold left by land-worker or retire-worker: this is how a held worker comes back.
func (c *Charm) restartAction(ctx context.Context) error {
	params, err := c.tools.ActionGet(ctx)
	if err != nil {
		return fmt.Errorf("read parameters: %w", err)
	}
	role, _ := params["role"].(string)
	if role == "" {
		role = "all"
	}
	if role != "web" && role != "worker" && role != "all" {
		return fmt.Errorf("role=%q: want web, worker or all", role)
	}
	mgr, err := c.serviceManager(ctx)
	if err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	web, err := mgr.State(ctx, concourse.WebService)
	if err != nil {
		return fmt.Errorf("state of %s: %w", concourse.WebService, err)
	}
	worker, err := mgr.State(ctx, concourse.WorkerService)
	if err != nil {
		return fmt.Errorf("state of %s: %w", concourse.WorkerService, err)
	}
	unit := c.env.UnitName
	doWeb, doWorker := web.Installed && role != "worker", worker.Installed && role != "web"
	switch {
	case role == "web" && !web.Installed:
		return fmt.Errorf("%s runs no web: run `restart role=web` on the unit whose `juju status` message starts with \"web\", or `restart role=worker` here", unit)
	case role == "worker" && !worker.Installed:
		return fmt.Errorf("%s runs no worker: run `restart role=worker` on a unit whose `juju status` message starts with \"worker\" or \"web+worker\", or `restart role=web` here", unit)
	case !doWeb && !doWorker:
		return fmt.Errorf("%s runs neither web nor worker yet: `juju status %s` says what it waits for", unit, unit)
	}
	dataDir, err := c.dataDir(ctx)
	if err != nil {
		return err
	}

	results := map[string]string{}
	if doWorker {
		if lifted, err := clearWorkerHold(dataDir); err != nil {
			return err
		} else if lifted {
			results["worker.hold"] = "lifted"
		}
		if worker.Active {
			plan := c.actionDrainPlan(ctx)
			_ = c.tools.ActionLog(ctx, fmt.Sprintf("landing %s first (SIGUSR1), at most %s (drain-timeout)", concourse.WorkerService, plan.drain))
			res, err := c.landOrRetire(ctx, mgr, landing, plan)
			if err != nil {
				return fmt.Errorf("land %s before its restart: %w", concourse.WorkerService, err)
			}
			results["worker.landed-in"] = res.took.String()
			if res.cut {
				results["worker.landed-in"] = fmt.Sprintf("did not land within %s: stopped hard (SIGTERM, then SIGKILL if needed)", plan.drain)
			}
		}
		// The reconcile below starts it as a plain start, with the configuration of this moment.
		if err := forgetServiceHash(dataDir, concourse.WorkerService); err != nil {
			return err
		}
	}
	if doWeb {
		_ = c.tools.ActionLog(ctx, "restarting "+concourse.WebService)
		if err := mgr.Restart(ctx, concourse.WebService); err != nil {
			return fmt.Errorf("restart %s: %w", concourse.WebService, err)
		}
		if err := c.requireRunning(ctx, concourse.WebService); err != nil {
			return err
		}
		results["web"] = "restarted"
	}
	if doWorker {
		if err := c.Reconcile(ctx); err != nil {
			return fmt.Errorf("start %s again: %w", concourse.WorkerService, err)
		}
		if err := c.requireRunning(ctx, concourse.WorkerService); err != nil {
			return err
		}
		results["worker"] = "restarted"
	}
	return c.tools.ActionSet(ctx, results)
}

// requireRunning fails when the supervisor does not see name running, with what it last logged.
func (c *Charm) requireRunning(ctx context.Context, name string) error {
	mgr, err := c.serviceManager(ctx)
	if err != nil {
		return err
	}
	st, err := mgr.State(ctx, name)
	if err != nil {
		return fmt.Errorf("state of %s: %w", name, err)
	}
	if !st.Active {
		return fmt.Errorf("%s; `juju status %s` and `juju debug-log --include %s` say why", c.notRunning(ctx, mgr, name, st), c.env.UnitName, c.env.UnitName)
	}
	return nil
}
