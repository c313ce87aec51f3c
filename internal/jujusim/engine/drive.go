package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/state"
)

// DriveOptions choose between `wait` (return once idle) and `controller`
// (run forever).
type DriveOptions struct {
	// Forever keeps driving (controller mode): failed hooks are retried on
	// Juju's schedule for ever, and new work is picked up every Tick.
	Forever bool
	Tick    time.Duration
	// UpdateStatusEvery queues update-status on every unit (controller mode).
	UpdateStatusEvery time.Duration
	// MaxRetries is how many automatic retries a failed hook gets before
	// Drive gives up and returns a *HookError (not in Forever mode).
	MaxRetries int
	// Until stops driving as soon as it returns true.
	Until func(*state.Model) bool
}

// HookError is returned by Drive when a unit is stuck in a failed hook.
type HookError struct {
	Unit    string
	Hook    string
	LogTail string
}

func (e *HookError) Error() string {
	return fmt.Sprintf("unit %s: hook failed: %q\n--- last lines of %s's log ---\n%s", e.Unit, e.Hook, e.Unit, e.LogTail)
}

// ErrDriven is returned when another process (a controller) drives the model.
var ErrDriven = errors.New("another jujusim process (controller or wait) is driving this model")

// retryDelay is Juju's hook retry schedule (uniter retry strategy: 5s,
// doubling, at most 5 minutes), scaled for tests.
func (e *Engine) retryDelay(retries int) time.Duration {
	d := 5 * time.Second
	for i := 0; i < retries && d < 5*time.Minute; i++ {
		d *= 2
	}
	if d > 5*time.Minute {
		d = 5 * time.Minute
	}
	scale := e.RetryScale
	if scale <= 0 {
		scale = 1
	}
	return time.Duration(float64(d) * scale)
}

// lockDriver makes sure one process at a time runs hooks for the model.
func (e *Engine) lockDriver() (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(e.ModelDir, "driver.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open driver lock: %w", err)
	}
	// A child forked by this process between fork and exec briefly shares
	// the lock's open file description (close-on-exec acts only at exec),
	// so a just-released lock can look held for a moment: retry briefly.
	for attempt := 0; ; attempt++ {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock driver: %w", err)
		}
		if attempt == 40 {
			f.Close()
			return nil, ErrDriven
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// Drive runs queued hooks until the model is idle (or forever). Units run in
// parallel; each unit runs one hook at a time, picked as Juju's resolvers
// pick (nextHook).
func (e *Engine) Drive(ctx context.Context, opts DriveOptions) error {
	if err := e.linkTools(); err != nil {
		return err
	}
	lock, err := e.lockDriver()
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := e.clearStale(); err != nil {
		return err
	}
	if opts.Tick <= 0 {
		opts.Tick = 250 * time.Millisecond
	}
	done := make(chan error)
	running := 0
	lastUpdate := e.now()
	var firstErr error
	for {
		p, err := e.plan(opts)
		if err != nil {
			firstErr = err
		}
		for _, j := range p.jobs {
			running++
			go func(j job) { done <- e.runJob(ctx, j) }(j)
		}
		if firstErr == nil && running == 0 && p.stop {
			return p.stopErr
		}
		if firstErr != nil && running == 0 {
			return firstErr
		}
		var timer <-chan time.Time
		if !p.nextRetry.IsZero() {
			timer = time.After(time.Until(p.nextRetry))
		}
		var tick <-chan time.Time
		if opts.Forever {
			tick = time.After(opts.Tick)
		}
		select {
		case err := <-done:
			running--
			if err != nil && firstErr == nil {
				firstErr = err
			}
		case <-timer:
		case <-tick:
			if opts.UpdateStatusEvery > 0 && e.now().Sub(lastUpdate) >= opts.UpdateStatusEvery {
				lastUpdate = e.now()
				if err := e.UpdateStatus(); err != nil && firstErr == nil {
					firstErr = err
				}
			}
		case <-ctx.Done():
			for ; running > 0; running-- {
				<-done
			}
			return ctx.Err()
		}
	}
}

// clearStale forgets contexts left by a driver that died mid-hook; their
// hooks run next, as Juju reruns the hook its operation state records.
func (e *Engine) clearStale() error {
	return e.store().Update(func(m *state.Model) error {
		for id, hc := range m.Contexts {
			if u := m.Units[hc.Unit]; u != nil && u.Running == id {
				u.Running = ""
				u.Agent = state.Status{Current: "idle"}
				if hc.Hook.Kind != "action" && (u.Error == nil || u.Error.Hook != hc.Hook) {
					rerunNext(u, hc.Hook)
				}
			}
			delete(m.Contexts, id)
		}
		return nil
	})
}

type job struct {
	unit    string
	ctxID   string
	hook    state.Hook
	retry   bool
	machine state.Machine
	app     state.Application
	charmTo int  // copy this charm revision onto the machine first (-1: none)
	skip    bool // finish the hook without running the charm
}

type plan struct {
	jobs      []job
	nextRetry time.Time
	stop      bool
	stopErr   error
}

// plan picks the next hook of every idle unit and records its context.
func (e *Engine) plan(opts DriveOptions) (plan, error) {
	var p plan
	err := e.store().Update(func(m *state.Model) error {
		if opts.Until != nil && opts.Until(m) {
			p.stop = true
			return nil
		}
		names := make([]string, 0, len(m.Units))
		for name := range m.Units {
			names = append(names, name)
		}
		state.SortUnits(names)
		busy, waiting := false, false
		var stuck *state.Unit
		for _, name := range names {
			u := m.Units[name]
			if u.Running != "" {
				busy = true
				continue
			}
			if u.Lost {
				continue
			}
			h, retry, ok := e.nextHook(m, u, &p)
			if !ok {
				if u.Error != nil {
					if opts.Forever || u.Error.Retries < opts.MaxRetries {
						waiting = true
					} else if stuck == nil {
						stuck = u
					}
				}
				continue
			}
			p.jobs = append(p.jobs, e.startJob(m, u, h, retry))
		}
		if busy || len(p.jobs) > 0 || opts.Forever {
			return nil
		}
		if stuck != nil {
			p.stop = true
			p.stopErr = &HookError{Unit: stuck.Name, Hook: stuck.Error.Hook.Name, LogTail: logTail(state.LogPath(e.ModelDir, stuck.Name), 20)}
			return nil
		}
		if !waiting {
			p.stop = true
			if opts.Until != nil {
				p.stopErr = errors.New("model is idle but the awaited operation did not complete")
			}
		}
		return nil
	})
	return p, err
}

// startJob records the hook context and the relation membership Juju shows
// during the hook: the joining unit is listed in relation-joined, the
// departing one no longer in relation-departed.
func (e *Engine) startJob(m *state.Model, u *state.Unit, h state.Hook, retry bool) job {
	id := fmt.Sprintf("%s-%d", state.UnitTag(u.Name), m.Next("context"))
	m.Contexts[id] = &state.HookContext{ID: id, Unit: u.Name, Hook: h}
	u.Running = id
	u.Agent = state.Status{Current: "executing", Message: fmt.Sprintf("running %s hook", h.Name)}
	if h.Kind == "action" {
		u.Agent.Message = fmt.Sprintf("running action %s", h.Name)
		if a := m.Actions[h.ActionID]; a != nil {
			a.Status = "running"
		}
	}
	if h.Kind == "install" && u.Workload.Current == "waiting" {
		u.Workload = state.Status{Current: "maintenance", Message: "installing charm software"}
	}
	if r := m.Relations[h.RelationID]; r != nil {
		switch h.Kind {
		case "relation-joined":
			if !state.HasString(r.Joined[u.Name], h.RemoteUnit) {
				r.Joined[u.Name] = append(r.Joined[u.Name], h.RemoteUnit)
			}
		case "relation-departed":
			r.Joined[u.Name] = state.RemoveString(r.Joined[u.Name], h.Departing)
		case "relation-created":
			enterScope(m, r, u)
		}
	}
	app := m.Applications[u.App]
	j := job{unit: u.Name, ctxID: id, hook: h, retry: retry, machine: *m.Machines[u.Machine], app: *app, charmTo: -1}
	// A unit that never installed has no remove hook to run (uniter resolver:
	// remove only if "localState.Installed"); the job only removes the unit.
	j.skip = h.Kind == "remove" && !u.Installed
	if !j.machine.Ready || h.Kind == "upgrade-charm" && u.CharmRev != app.Revision {
		j.charmTo = app.Revision
	}
	return j
}

func logTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func sortedKeys[V any](mp map[string]V) []string {
	out := make([]string, 0, len(mp))
	for k := range mp {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
