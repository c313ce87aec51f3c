package charm

import (
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/concourse"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/rollout"
)

// runningVersion is the release the unit's services are configured with ("" when none runs).
func (m *fakeModel) runningVersion(unit string) string {
	svc := m.services[unit]
	svc.mu.Lock()
	defer svc.mu.Unlock()
	for _, name := range []string{concourse.WebService, concourse.WorkerService} {
		if spec, ok := svc.specs[name]; ok && svc.states[name].Active && len(spec.Exec) > 0 {
			for _, part := range strings.Split(spec.Exec[0], "/") {
				if v, ok := strings.CutSuffix(part, "-amd64"); ok {
					return v
				}
			}
		}
	}
	return ""
}

// hookRound runs one hook on every unit in turn (in order: Juju serialises nothing across
// units, but in-turn rounds make "at most one unit moved per round" a strict measure). The leader
// goes last: it hands the next turn out at the end of a hook in which its own turn ended, so a
// unit after it in the same round would otherwise move in the round it moved.
func hookRound(t *testing.T, m *fakeModel, units []string) (moved []string) {
	t.Helper()
	m.mu.Lock()
	leader := m.leader
	m.mu.Unlock()
	if slices.Contains(units, leader) {
		units = append(slices.DeleteFunc(slices.Clone(units), func(u string) bool { return u == leader }), leader)
	}
	for _, u := range units {
		before := m.runningVersion(u)
		if err := m.unit(u).Reconcile(t.Context()); err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if after := m.runningVersion(u); after != before {
			moved = append(moved, fmt.Sprintf("%s:%s->%s", u, before, after))
		}
	}
	return moved
}

// TestVersionChangeRollsOutOneUnitAtATime: config version=V2 on 1 web + 3 workers sharing a root:
// V2 is downloaded once, units move one per hook round, the web first, each worker landed before
// its restart, all on V2 at the end, V1 removed from the root.
func TestVersionChangeRollsOutOneUnitAtATime(t *testing.T) {
	t.Parallel()
	srv := serveReleases(t, "1.2.3", "1.2.4")
	m, _, root := sharedModel(t, srv)
	units := unitNames(4)
	reconcileAll(t, m, units)
	for _, u := range units {
		if v := m.runningVersion(u); v != "1.2.3" {
			t.Fatalf("%s runs %q before the upgrade", u, v)
		}
	}
	m.setConfig("version", "1.2.4")
	var history []string
	for round := 0; round < 12 && !allOn(m, units, "1.2.4"); round++ {
		moved := hookRound(t, m, units)
		if len(moved) > 1 {
			t.Errorf("round %d moved %d units at once: %v", round, len(moved), moved)
		}
		history = append(history, moved...)
	}
	if !allOn(m, units, "1.2.4") {
		t.Fatalf("not all on 1.2.4 after 12 rounds: history %v, plan %s", history, m.app[keyRollout])
	}
	want := []string{"concourse-ci/0:1.2.3->1.2.4", "concourse-ci/1:1.2.3->1.2.4", "concourse-ci/2:1.2.3->1.2.4", "concourse-ci/3:1.2.3->1.2.4"}
	if !slices.Equal(history, want) {
		t.Errorf("order %v, want %v", history, want)
	}
	if n := downloads(srv, "1.2.4"); n != 1 {
		t.Errorf("%d downloads of 1.2.4 for 4 units on one root, want 1", n)
	}
	for _, u := range units[1:] {
		if sig := m.services[u].signalsOf(concourse.WorkerService); !slices.Contains(sig, syscall.SIGUSR1) {
			t.Errorf("%s restarted without landing: signals %v", u, sig)
		}
	}
	hookRound(t, m, units) // the leader collects what no unit refers to any more
	if _, _, ok, _ := root.Release("1.2.3", "amd64"); ok {
		t.Error("1.2.3 is still on the shared root after every unit moved")
	}
}

// TestFailedHealthHaltsTheRollout: the second worker fails its health check on V2: the rollout
// halts there, the units after it stay on V1, the unit and the application say what to do;
// once the fault is cleared, upgrade-resume's plan completes it.
func TestFailedHealthHaltsTheRollout(t *testing.T) {
	t.Parallel()
	srv := serveReleases(t, "1.2.3", "1.2.4")
	m, _, _ := sharedModel(t, srv)
	units := unitNames(4)
	reconcileAll(t, m, units)
	m.unhealthy = map[string]string{"concourse-ci/2": "worker healthcheck: HTTP 503: not registered with any TSA"}
	m.setConfig("version", "1.2.4")
	for range 8 {
		hookRound(t, m, units)
	}
	plan := readPlan(m.app)
	if !strings.Contains(plan.Halted, "concourse-ci/2") {
		t.Fatalf("plan not halted on concourse-ci/2: %s", m.app[keyRollout])
	}
	if v := m.runningVersion("concourse-ci/3"); v != "1.2.3" {
		t.Errorf("concourse-ci/3 runs %s while the rollout is halted, want 1.2.3", v)
	}
	if st := m.lastStatus("concourse-ci/2"); st.State != "blocked" || !strings.Contains(st.Message, "upgrade-resume") {
		t.Errorf("failed unit's status %+v", st)
	}
	if st := m.lastStatus("concourse-ci/3"); st.State != "active" || !strings.Contains(st.Message, "waiting for its upgrade turn") {
		t.Errorf("waiting unit's status %+v", st)
	}
	m.unhealthy = nil
	for range 2 {
		hookRound(t, m, units)
	}
	if readPlan(m.app).Halted == "" {
		t.Fatal("the halt cleared itself: only an operator resumes")
	}
	m.app[keyRollout] = encodePlan(readPlan(m.app).Resume(m.unit("concourse-ci/0").now().UTC()))
	for round := 0; round < 8 && !allOn(m, units, "1.2.4"); round++ {
		hookRound(t, m, units)
	}
	if !allOn(m, units, "1.2.4") {
		t.Errorf("after resume: plan %s", m.app[keyRollout])
	}
}

func allOn(m *fakeModel, units []string, v string) bool {
	for _, u := range units {
		if m.runningVersion(u) != v {
			return false
		}
	}
	return true
}

// TestRolloutNoteOnlyForARollout: a fresh deploy (no unit to move) gets no rollout words in the
// application status; a plan with a turn or units left to move does.
func TestRolloutNoteOnlyForARollout(t *testing.T) {
	t.Parallel()
	fresh := rollout.Plan{ID: 1, To: "1.2.3"}
	if note, _ := rolloutAppNote("ci", fresh, 1, 4); note != "" {
		t.Errorf("fresh deploy: %q, want no rollout note", note)
	}
	turn := rollout.Plan{ID: 2, From: "1.2.3", To: "1.2.4", Order: []string{"ci/0", "ci/1"}, Done: []string{"ci/0"}, Turn: "ci/1"}
	if note, _ := rolloutAppNote("ci", turn, 1, 2); note != "rolling out 1.2.4: 1/2 units, turn ci/1" {
		t.Errorf("turn out: %q", note)
	}
	waiting := rollout.Plan{ID: 2, From: "1.2.3", To: "1.2.4", Order: []string{"ci/0"}}
	if note, _ := rolloutAppNote("ci", waiting, 0, 1); note != "rolling out 1.2.4: 0/1 units" {
		t.Errorf("waiting: %q", note)
	}
}
