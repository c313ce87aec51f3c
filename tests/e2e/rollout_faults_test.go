package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/releasetest"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/storage"
)

// TestRolloutFaultsOnMachines: one rollout V1 -> V2 on 1 web + 3 workers sharing a directory,
// with the faults where the machines matter, each at its moment:
//   - the unit holding the install lock while it downloads V2 (the download held by the server)
//     is SIGKILLed: the lock dies with it and another unit completes the download;
//   - leadership moves to concourse-ci/3 while concourse-ci/1 holds its turn (landing its build);
//   - concourse-ci/2's hook is SIGKILLed while it lands its worker (a build in progress): the
//     worker lands by itself, nobody else moves, and the retried hook finishes the switch.
//
// It ends as the plain rollout does: at most one unit down at any instant, the web first, every
// worker landed before its restart, no build lost, all on V2, V1 gone from shared storage.
func TestRolloutFaultsOnMachines(t *testing.T) {
	t.Parallel()
	m := newRolloutModel(t, 4, []string{version, v2}, "--config", "drain-timeout=1m")
	m.registered(rolloutWeb, workerNames(rolloutWorkers))
	tarball := releasetest.URLPath(v2, "amd64")
	m.srv.SetFault(tarball, releasetest.Fault{StallAfter: 512 << 10, StallTimes: 1})

	since := time.Now()
	m.startBuild("concourse-ci/1", 20*time.Second)
	m.startBuild("concourse-ci/2", 45*time.Second)
	m.juju("config", "concourse-ci", "version="+v2)
	driver := m.driveInBackground()

	// 1. The install lock's holder dies mid-download.
	holder := m.waitLockHolder(v2, driver)
	t.Logf("%s holds the install lock, downloading %s (pid %d): killed", holder.Unit, v2, holder.PID)
	m.kill(holder.Unit, holder.PID)

	// 2. Leadership moves while concourse-ci/1 holds its turn.
	m.waitFor(driver, "concourse-ci/1 holds the turn", func() bool { return m.rolloutPlan().Turn == "concourse-ci/1" })
	planBefore := m.rolloutPlan()
	m.juju("set-leader", "concourse-ci/3")
	t.Logf("leadership moved to concourse-ci/3 during concourse-ci/1's turn of plan %d", planBefore.ID)

	// 3. concourse-ci/2's hook dies while its worker lands.
	m.waitFor(driver, "concourse-ci/2 landing", func() bool {
		_, i := find(m.workerEventsSince("concourse-ci/2", since), 0, "landing")
		return i >= 0
	})
	pid := m.hookPID("concourse-ci/2")
	m.kill("concourse-ci/2", pid)
	t.Logf("concourse-ci/2's hook (pid %d) killed while its worker lands", pid)

	if err := <-driver; err != nil {
		t.Fatal(err)
	}
	tl := m.rolloutTimeline(since, rolloutWeb, rolloutWorkers)
	t.Logf("config version=%s to settled: %s; timeline:\n%s", v2, time.Since(since).Round(100*time.Millisecond), tl)

	// The download: the killed holder's GET, then another unit's complete one.
	var installers []string
	for _, u := range append([]string{rolloutWeb}, rolloutWorkers...) {
		if strings.Contains(m.unitLog(u), "installed Concourse "+v2+" into ") {
			installers = append(installers, u)
		}
	}
	if len(installers) != 1 || installers[0] == holder.Unit {
		t.Errorf("%s installed by %v, want one unit other than the killed holder %s", v2, installers, holder.Unit)
	}
	if n := m.srv.downloads(v2); n != 2 {
		t.Errorf("%d GETs of %s, want 2 (the killed holder's and the one that completed)", n, v2)
	}
	// Leadership: the new leader carried the same plan to the end.
	if p := m.rolloutPlan(); p.ID != planBefore.ID {
		t.Errorf("plan %d at the end, %d when leadership moved: the new leader started another", p.ID, planBefore.ID)
	}
	if !m.status().Applications["concourse-ci"].Units["concourse-ci/3"].Leader {
		t.Error("concourse-ci/3 is not the leader")
	}
	// The killed switch: the worker landed on its own after its build; the retried hook started it.
	ev := m.workerEventsSince("concourse-ci/2", since)
	landing, i := find(ev, 0, "landing")
	_, j := find(ev, i, "landed")
	_, k := find(ev, j, "started")
	if i < 0 || j < 0 || k < 0 || landing.Containers != 1 {
		t.Errorf("concourse-ci/2 events %s: want landing with 1 container, landed, started", eventNames(ev))
	}
	// Both killed hooks failed as SIGKILLed processes do, and were run again.
	for _, u := range []string{holder.Unit, "concourse-ci/2"} {
		if !strings.Contains(m.unitLog(u), "(exit 137)") {
			t.Errorf("%s's log shows no hook killed (exit 137)", u)
		}
	}

	for _, p := range tl.problems {
		t.Error(p)
	}
	if n := tl.maxDown(); n != 1 {
		t.Errorf("%d units down at once, want 1", n)
	}
	if want := append([]string{rolloutWeb}, rolloutWorkers...); !slices.Equal(tl.order(), want) {
		t.Errorf("units went down in the order %v, want %v", tl.order(), want)
	}
	if tl.aborted != 0 {
		t.Errorf("%d builds aborted, want 0", tl.aborted)
	}
	wantAllOn(t, m, v2)
	if _, err := os.Stat(filepath.Join(m.shared, "releases", version+"-amd64")); !os.IsNotExist(err) {
		t.Errorf("%s still on shared storage after every unit moved to %s (err %v)", version, v2, err)
	}
}

// driveInBackground runs `wait` (failed hooks retried, as Juju retries them) while the test
// injects faults; the channel gets its outcome. A test that fails first stops it (SIGTERM, which
// jujusim handles) before the model is destroyed.
func (m *model) driveInBackground() <-chan error {
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, built.jujusim, "--model", m.dir, "wait", "--max-retries", "3")
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = time.Minute
	done, result := make(chan error, 1), make(chan error, 1)
	go func() {
		out, err := cmd.CombinedOutput()
		if err != nil {
			err = fmt.Errorf("wait: %v\n%s", err, out)
		}
		done <- err
		result <- err
	}()
	m.t.Cleanup(func() {
		cancel()
		<-done
	})
	return result
}

// waitFor polls cond (an external state: the model, the machines) until it holds; it fails the
// test if the driver finishes first or a deadline passes.
func (m *model) waitFor(driver <-chan error, what string, cond func() bool) {
	m.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		select {
		case err := <-driver:
			m.t.Fatalf("the model settled before %s (wait: %v)", what, err)
		case <-time.After(200 * time.Millisecond): // polling the model, not synchronising
		}
	}
	m.t.Fatalf("timed out waiting for %s", what)
}

// waitLockHolder waits until the shared directory's install lock is held by a unit downloading
// version, and returns its owner record (the pid is in that unit's machine).
func (m *rolloutModel) waitLockHolder(version string, driver <-chan error) storage.Owner {
	m.t.Helper()
	var o storage.Owner
	m.waitFor(driver, "a unit downloading "+version+" under the install lock", func() bool {
		data, err := os.ReadFile(filepath.Join(m.shared, "locks", "install.owner"))
		if err != nil || json.Unmarshal(data, &o) != nil {
			return false
		}
		return o.PID > 0 && strings.Contains(o.Purpose, version) && m.srv.downloads(version) > 0
	})
	return o
}

// hookPID is the pid of the hook running on unit's machine (the charm's dispatch process).
func (m *model) hookPID(unit string) int {
	m.t.Helper()
	script := `for p in /proc/[0-9]*; do case "$(readlink "$p/exe")" in */charm/dispatch) echo "${p#/proc/}";; esac; done`
	out := strings.Fields(m.juju("exec", "--unit", unit, "--", "sh", "-c", script))
	if len(out) != 1 {
		m.t.Fatalf("hook processes on %s: %v, want exactly one", unit, out)
	}
	var pid int
	fmt.Sscan(out[0], &pid)
	return pid
}

// kill SIGKILLs process pid on unit's machine (the test's own hook processes there).
func (m *model) kill(unit string, pid int) {
	m.t.Helper()
	m.juju("exec", "--unit", unit, "--", "sh", "-c", fmt.Sprintf("kill -KILL %d", pid))
}

// workerEventsSince is the worker's own records from since on.
func (m *model) workerEventsSince(unit string, since time.Time) []standinEvent {
	m.t.Helper()
	var out []standinEvent
	for _, e := range m.workerEvents(unit) {
		if !e.Time.Before(since) {
			out = append(out, e)
		}
	}
	return out
}
