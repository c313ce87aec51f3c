package charm

import (
	"slices"
	"syscall"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/concourse"
)

// TestAutoWebChosenOnceMovesOnlyWhenItsUnitLeaves: the first leader runs web; a leadership change
// keeps it there (no restart); when that unit leaves, the leader takes web over and retires its
// own worker first.
func TestAutoWebChosenOnceMovesOnlyWhenItsUnitLeaves(t *testing.T) {
	t.Parallel()
	srv := serveReleases(t, "1.2.3")
	m := newFakeModel(t, testConfig(srv, ""))
	units := unitNames(3)
	reconcileAll(t, m, units)
	if m.app[keyWebUnit] != "concourse-ci/0" {
		t.Fatalf("web unit %q, want the first leader concourse-ci/0", m.app[keyWebUnit])
	}
	web := m.services["concourse-ci/0"].snapshot(concourse.WebService)
	if !web.Active || m.services["concourse-ci/0"].snapshot(concourse.WorkerService).Installed {
		t.Fatalf("concourse-ci/0 should run web only: web %+v", web)
	}
	for _, u := range units[1:] {
		if !m.services[u].snapshot(concourse.WorkerService).Active || m.services[u].snapshot(concourse.WebService).Installed {
			t.Errorf("%s should run a worker only", u)
		}
	}

	m.mu.Lock()
	m.leader = "concourse-ci/1"
	m.mu.Unlock()
	reconcileAll(t, m, units)
	if m.app[keyWebUnit] != "concourse-ci/0" {
		t.Fatalf("leadership moved the web to %q", m.app[keyWebUnit])
	}
	if got := m.services["concourse-ci/0"].snapshot(concourse.WebService).InvocationID; got != web.InvocationID {
		t.Errorf("leadership change restarted the web: %s -> %s", web.InvocationID, got)
	}

	m.mu.Lock()
	m.members = slices.DeleteFunc(m.members, func(u string) bool { return u == "concourse-ci/0" })
	m.mu.Unlock()
	reconcileAll(t, m, units[1:])
	if m.app[keyWebUnit] != "concourse-ci/1" {
		t.Fatalf("web unit %q after concourse-ci/0 left, want the leader concourse-ci/1", m.app[keyWebUnit])
	}
	next := m.services["concourse-ci/1"]
	if !next.snapshot(concourse.WebService).Active || next.snapshot(concourse.WorkerService).Installed {
		t.Error("concourse-ci/1 should now run web only")
	}
	if !slices.Contains(next.signalsOf(concourse.WorkerService), syscall.SIGUSR2) {
		t.Errorf("concourse-ci/1's worker was removed without retiring: signals %v", next.signalsOf(concourse.WorkerService))
	}
}

// TestNewWorkerKeyReloadsTheWeb: a unit joining adds its key to the web's authorized keys with a
// SIGHUP, not a restart.
func TestNewWorkerKeyReloadsTheWeb(t *testing.T) {
	t.Parallel()
	srv := serveReleases(t, "1.2.3")
	m := newFakeModel(t, testConfig(srv, ""))
	reconcileAll(t, m, unitNames(2))
	webSvc := m.services["concourse-ci/0"]
	before := webSvc.snapshot(concourse.WebService)
	reconcileAll(t, m, unitNames(3))
	after := webSvc.snapshot(concourse.WebService)
	if after.InvocationID != before.InvocationID {
		t.Errorf("a new worker restarted the web: %s -> %s", before.InvocationID, after.InvocationID)
	}
	if !slices.Contains(webSvc.signalsOf(concourse.WebService), syscall.SIGHUP) {
		t.Errorf("web never got SIGHUP: %v", webSvc.signalsOf(concourse.WebService))
	}
}

// TestSingleUnitRunsWebAndWorker: one unit in mode auto is a whole CI.
func TestSingleUnitRunsWebAndWorker(t *testing.T) {
	t.Parallel()
	srv := serveReleases(t, "1.2.3")
	m := newFakeModel(t, testConfig(srv, ""))
	reconcileAll(t, m, unitNames(1))
	svc := m.services["concourse-ci/0"]
	if !svc.snapshot(concourse.WebService).Active || !svc.snapshot(concourse.WorkerService).Active {
		t.Fatalf("status %+v: want web and worker running", m.lastStatus("concourse-ci/0"))
	}
	if st := m.lastStatus("concourse-ci/0"); st.Message != "web+worker 1.2.3, 1 TSA host (local)" {
		t.Errorf("status %q", st.Message)
	}
}
