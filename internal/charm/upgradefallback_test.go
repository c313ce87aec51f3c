package charm

import (
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/concourse"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
)

// TestFailedWorkerGoesBackWhileHalted: concourse-ci/2 fails its health check on 1.2.4; while the
// rollout is halted on it, it goes back to 1.2.3 (landed first) and serves, so two units run the
// old version; its status says it is back, what failed and what to run. upgrade-resume sends it to
// 1.2.4 again and the rollout completes.
func TestFailedWorkerGoesBackWhileHalted(t *testing.T) {
	t.Parallel()
	srv := serveReleases(t, "1.2.3", "1.2.4")
	m, _, _ := sharedModel(t, srv)
	units := unitNames(4)
	reconcileAll(t, m, units)
	m.unhealthy = map[string]string{"concourse-ci/2": "worker healthcheck: HTTP 503: fault injected"}
	m.setConfig("version", "1.2.4")
	for range 6 {
		hookRound(t, m, units)
	}
	if p := readPlan(m.app); !strings.Contains(p.Halted, "concourse-ci/2") || p.Turn != "concourse-ci/2" {
		t.Fatalf("plan %s, want halted on concourse-ci/2", m.app[keyRollout])
	}
	got := map[string]string{}
	for _, u := range units {
		got[u] = m.runningVersion(u)
	}
	if got["concourse-ci/0"] != "1.2.4" || got["concourse-ci/1"] != "1.2.4" || got["concourse-ci/2"] != "1.2.3" || got["concourse-ci/3"] != "1.2.3" {
		t.Errorf("versions while halted %v, want the failed worker back on 1.2.3 with the one after it", got)
	}
	if sig := m.services["concourse-ci/2"].signalsOf(concourse.WorkerService); len(slices.DeleteFunc(sig, func(s syscall.Signal) bool { return s != syscall.SIGUSR1 })) < 2 {
		t.Errorf("concourse-ci/2's worker got %v: want it landed before going to 1.2.4 and again before going back", sig)
	}
	st := m.lastStatus("concourse-ci/2")
	for _, want := range []string{"back on 1.2.3", "upgrade to 1.2.4 failed: worker healthcheck: HTTP 503", "upgrade-resume"} {
		if st.State != juju.Blocked || !strings.Contains(st.Message, want) {
			t.Errorf("failed unit's status %+v, want blocked saying %q", st, want)
		}
	}
	// It stays back: no hook retries the failed version by itself.
	hookRound(t, m, units)
	if v := m.runningVersion("concourse-ci/2"); v != "1.2.3" {
		t.Errorf("concourse-ci/2 runs %s a round later, want 1.2.3 until an operator resumes", v)
	}

	m.unhealthy = nil
	runTestAction(t, m, "concourse-ci/0", "upgrade-resume", "").mustSucceed(t)
	for round := 0; round < 8 && !allOn(m, units, "1.2.4"); round++ {
		hookRound(t, m, units)
	}
	if !allOn(m, units, "1.2.4") {
		t.Errorf("after upgrade-resume: plan %s", m.app[keyRollout])
	}
}

// TestFailedWebStaysOnItsAttempt: a web that fails its health check does not go back: it may have
// migrated the database on start, which the older web cannot undo. It stays, blocked.
func TestFailedWebStaysOnItsAttempt(t *testing.T) {
	t.Parallel()
	srv := serveReleases(t, "1.2.3", "1.2.4")
	m, _, _ := sharedModel(t, srv)
	units := unitNames(3)
	reconcileAll(t, m, units)
	m.unhealthy = map[string]string{"concourse-ci/0": "web reports version \"1.2.3\", want 1.2.4"}
	m.setConfig("version", "1.2.4")
	for range 4 {
		hookRound(t, m, units)
	}
	if p := readPlan(m.app); !strings.Contains(p.Halted, "concourse-ci/0") {
		t.Fatalf("plan %s, want halted on the web", m.app[keyRollout])
	}
	if v := m.runningVersion("concourse-ci/0"); v != "1.2.4" {
		t.Errorf("the failed web runs %s, want its attempt 1.2.4", v)
	}
	if st := m.lastStatus("concourse-ci/0"); st.State != juju.Blocked || strings.Contains(st.Message, "back on") || !strings.Contains(st.Message, "upgrade to 1.2.4 failed") {
		t.Errorf("failed web's status %+v", st)
	}
	for _, u := range units[1:] {
		if v := m.runningVersion(u); v != "1.2.3" {
			t.Errorf("%s runs %s while the rollout is halted on the web, want 1.2.3", u, v)
		}
	}
}
