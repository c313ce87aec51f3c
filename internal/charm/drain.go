package charm

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"syscall"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/concourse"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/service"
)

// A worker leaves in one of two ways. Landing (SIGUSR1) is for a restart: it drains, keeps its
// volumes and comes back under the same name. Retiring (SIGUSR2) is for good: it drains and
// unregisters, so the web never lists it as stalled. Either way the charm, not the supervisor,
// waits for the drain: it says in status how many containers are left and until when, and when
// the bound is hit it says so (juju-log WARNING) before SIGTERM, then SIGKILL.
type drainKind struct {
	sig        syscall.Signal
	verb, done string // "landing", "landed"
	title      string // for status: "Landing"
}

var (
	landing  = drainKind{syscall.SIGUSR1, "landing", "landed", "Landing"}
	retiring = drainKind{syscall.SIGUSR2, "retiring", "retired", "Retiring"}
)

// drainPlan bounds a drain.
type drainPlan struct {
	drain time.Duration // drain-timeout: how long builds may keep the worker
	term  time.Duration // then how long SIGTERM gets before SIGKILL
	// garden is the worker's Garden API (its --bind-ip/--bind-port defaults), asked how many
	// containers are still running; "" skips the count.
	garden string
}

const (
	termGrace      = 10 * time.Second
	defaultGarden  = "http://127.0.0.1:7777"
	exitPoll       = 250 * time.Millisecond // neither supervisor notifies this client of an exit
	containersPoll = 2 * time.Second
)

// drainPlanFor is the drain bound the configuration asks for: drain-timeout, or its default
// (drainBound) for a Config that was never parsed.
func drainPlanFor(cfg Config) drainPlan {
	drain := cfg.DrainTimeout
	if drain <= 0 {
		drain = drainBound
	}
	return drainPlan{drain: drain, term: termGrace, garden: defaultGarden}
}

// configuredDrainPlan is drainPlanFor in hooks that do not reconcile (stop, removal): the
// configuration is read again; a bad one falls back to the default bound, and says so.
func (c *Charm) configuredDrainPlan(ctx context.Context) drainPlan {
	raw, err := c.tools.ConfigGet(ctx)
	if err == nil {
		var cfg Config
		if cfg, err = ParseConfig(raw); err == nil {
			return drainPlanFor(cfg)
		}
	}
	plan := drainPlanFor(Config{})
	c.say("configuration unreadable (%v): draining the worker with the default bound %s", err, plan.drain)
	return plan
}

// drainOutcome is how a drain ended, for the caller's messages.
type drainOutcome struct {
	ran    bool // a worker was running
	took   time.Duration
	cut    bool // the bound was hit: SIGTERM
	killed bool // SIGTERM was not enough: SIGKILL
}

// landOrRetire lands or retires the running worker and returns once its process is gone. Nothing
// runs: nothing to do. The error is only for a supervisor that cannot be reached or a hook that
// is being cancelled; a drain cut short is a result, logged as a warning.
func (c *Charm) landOrRetire(ctx context.Context, mgr service.Manager, kind drainKind, plan drainPlan) (drainOutcome, error) {
	name := concourse.WorkerService
	st, err := mgr.State(ctx, name)
	if err != nil {
		return drainOutcome{}, fmt.Errorf("state of %s: %w", name, err)
	}
	if !st.Active {
		return drainOutcome{}, nil
	}
	start := time.Now()
	deadline := start.Add(plan.drain)
	n := countContainers(ctx, plan.garden)
	c.log(ctx, juju.LevelInfo, fmt.Sprintf("%s %s (%s), up to %s: %s", kind.verb, name, signalName(kind.sig), plan.drain, containersText(n)))
	c.drainStatus(ctx, kind, n, deadline)
	if err := mgr.Signal(ctx, name, kind.sig); err != nil {
		return drainOutcome{}, fmt.Errorf("%s %s: %w", kind.verb, name, err)
	}
	res := drainOutcome{ran: true}
	lastCount, nextCount := n, time.Now().Add(containersPoll)
	exited, err := waitExit(ctx, mgr, plan.drain, func() {
		if time.Now().Before(nextCount) {
			return
		}
		nextCount = time.Now().Add(containersPoll)
		if n := countContainers(ctx, plan.garden); n != lastCount {
			lastCount = n
			c.drainStatus(ctx, kind, n, deadline)
		}
	})
	if err != nil {
		return res, err
	}
	if !exited {
		res.cut = true
		left := containersText(countContainers(ctx, plan.garden))
		c.log(ctx, juju.LevelWarning, fmt.Sprintf("%s did not finish %s within its drain bound (drain-timeout %s): sending SIGTERM; %s cut short", name, kind.verb, plan.drain, left))
		_ = c.tools.StatusSet(ctx, juju.Status{State: juju.Maintenance, Message: fmt.Sprintf("Stopping worker: drain-timeout %s reached while %s, %s", plan.drain, kind.verb, left)})
		if err := mgr.Signal(ctx, name, syscall.SIGTERM); err != nil {
			return res, fmt.Errorf("stop %s: %w", name, err)
		}
		if exited, err = waitExit(ctx, mgr, plan.term, nil); err != nil {
			return res, err
		}
	}
	if !exited {
		res.killed = true
		pid := 0
		if st, err := mgr.State(ctx, name); err == nil {
			pid = st.MainPID
		}
		c.log(ctx, juju.LevelWarning, fmt.Sprintf("%s did not stop within %s of SIGTERM: killing it (SIGKILL, main PID %d)", name, plan.term, pid))
		if err := mgr.Signal(ctx, name, syscall.SIGKILL); err != nil {
			return res, fmt.Errorf("kill %s: %w", name, err)
		}
		if exited, err = waitExit(ctx, mgr, plan.term, nil); err != nil {
			return res, err
		}
		if !exited {
			return res, fmt.Errorf("%s still runs after SIGKILL", name)
		}
	}
	res.took = time.Since(start).Round(100 * time.Millisecond)
	if !res.cut {
		c.log(ctx, juju.LevelInfo, fmt.Sprintf("%s %s in %s", name, kind.done, res.took))
	}
	return res, nil
}

// waitExit polls the supervisor until the worker is no longer active (true) or bound passes
// (false); tick, when set, runs on every poll. Only ctx ending is an error.
func waitExit(ctx context.Context, mgr service.Manager, bound time.Duration, tick func()) (bool, error) {
	timer := time.NewTimer(bound)
	defer timer.Stop()
	poll := time.NewTicker(exitPoll)
	defer poll.Stop()
	for {
		st, err := mgr.State(ctx, concourse.WorkerService)
		if err != nil {
			return false, fmt.Errorf("state of %s: %w", concourse.WorkerService, err)
		}
		if !st.Active {
			return true, nil
		}
		if tick != nil {
			tick()
		}
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("waiting for %s to exit: %w", concourse.WorkerService, ctx.Err())
		case <-timer.C:
			return false, nil
		case <-poll.C:
		}
	}
}

// drainStatus tells the operator why the unit is busy: status-set is immediate in Juju, even in
// a hook that runs for minutes.
func (c *Charm) drainStatus(ctx context.Context, kind drainKind, n int, deadline time.Time) {
	msg := fmt.Sprintf("%s worker: %s, up to %s", kind.title, containersText(n), deadline.UTC().Format(time.RFC3339))
	c.say("status maintenance: %s", msg)
	if err := c.tools.StatusSet(ctx, juju.Status{State: juju.Maintenance, Message: msg}); err != nil {
		c.say("status: %v", err)
	}
}

// log writes to juju-log (and the hook's output); a failing juju-log is not worth failing a drain.
func (c *Charm) log(ctx context.Context, level juju.Level, msg string) {
	c.say("%s: %s", level, msg)
	if err := c.tools.Log(ctx, level, msg); err != nil {
		c.say("juju-log: %v", err)
	}
}

// countContainers asks the worker's Garden server how many containers it runs; -1 when it
// cannot tell (no server, or not the Garden API).
func countContainers(ctx context.Context, garden string) int {
	if garden == "" {
		return -1
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, garden+"/containers", nil)
	if err != nil {
		return -1
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var list struct{ Handles []string } // Garden's ListResponse
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&list) != nil {
		return -1
	}
	return len(list.Handles)
}

func containersText(n int) string {
	switch {
	case n < 0:
		return "containers unknown"
	case n == 1:
		return "1 container still running"
	}
	return fmt.Sprintf("%d containers still running", n)
}

func signalName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGUSR1:
		return "SIGUSR1"
	case syscall.SIGUSR2:
		return "SIGUSR2"
	}
	return sig.String()
}

// restartWorker lands the worker, then starts it again (with whatever its unit and environment
// now say). A plain supervisor restart would land it too (KillSignal=SIGUSR1), but silently: no
// status while builds finish, and a SIGKILL at the bound that nobody hears of.
func (c *Charm) restartWorker(ctx context.Context, svc serviceRun) error {
	if _, err := c.landOrRetire(ctx, svc.mgr, landing, svc.drainPlan()); err != nil {
		return err
	}
	if err := svc.mgr.Start(ctx, concourse.WorkerService); err != nil {
		return fmt.Errorf("start %s after landing it: %w", concourse.WorkerService, err)
	}
	return nil
}
