package charm

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/concourse"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/releasetest"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/storage"
)

// The faults of issue 10 at the charm level, on the fake model: 1 web + 3 workers on one shared
// root moving 1.2.3 -> 1.2.4 while leadership moves, units come and go, a hook is killed halfway
// through a switch, or the version changes again. Each test drives hooks one unit at a time and
// checks, after every hook, that no more than one unit is down (a killed hook can leave one so)
// and that a unit that moved held the turn.

// faultRun drives hooks on a fake model and keeps the record every fault test checks.
type faultRun struct {
	t       *testing.T
	m       *fakeModel
	srv     *releasetest.Server
	root    *storage.Root
	history []string // "unit:from->to", in the order the moves happened
	ran     map[string][]string
}

// hook runs one hook on unit; its error is returned (a killed hook), not fatal.
func (r *faultRun) hook(ctx context.Context, unit string) error {
	r.t.Helper()
	c := r.m.unit(unit)
	before := r.m.runningVersion(unit)
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("hook killed: %v", p)
			}
		}()
		return c.Reconcile(ctx)
	}()
	after := r.m.runningVersion(unit)
	if after != before {
		r.history = append(r.history, unit+":"+before+"->"+after)
		// The leader steps the plan first thing in a hook: whoever moved held the turn (a leader
		// whose own turn just ended has handed it on already: it is done).
		p := readPlan(r.m.app)
		if p.Turn != unit && !(r.m.leader == unit && slices.Contains(p.Done, unit)) && before != "" && after != "" {
			r.t.Errorf("%s moved %s->%s without the turn (plan %s)", unit, before, after, r.m.app[keyRollout])
		}
	}
	if after != "" && (len(r.ran[unit]) == 0 || r.ran[unit][len(r.ran[unit])-1] != after) {
		r.ran[unit] = append(r.ran[unit], after)
	}
	down := 0
	for _, u := range r.m.members {
		if r.m.runningVersion(u) == "" {
			down++
		}
	}
	if down > 1 {
		r.t.Errorf("after %s's hook %d units run nothing", unit, down)
	}
	return err
}

// round runs one hook on each unit, in order; no error is expected.
func (r *faultRun) round(units []string) {
	r.t.Helper()
	for _, u := range units {
		if err := r.hook(context.Background(), u); err != nil {
			r.t.Fatalf("%s: %v", u, err)
		}
	}
}

// until runs rounds until every unit runs v (at most max rounds).
func (r *faultRun) until(units []string, v string, max int) {
	r.t.Helper()
	for i := 0; i < max && !allOn(r.m, units, v); i++ {
		r.round(units)
	}
	if !allOn(r.m, units, v) {
		r.t.Fatalf("not all on %s after %d rounds: history %v, plan %s", v, max, r.history, r.m.app[keyRollout])
	}
}

// startRollout is 4 units on 1.2.3, then config version=to.
func startRollout(t *testing.T, versions ...string) (*fakeModel, *faultRun, []string) {
	t.Helper()
	srv := serveReleases(t, versions...)
	m, _, root := sharedModel(t, srv)
	units := unitNames(4)
	reconcileAll(t, m, units)
	for _, u := range units {
		if v := m.runningVersion(u); v != "1.2.3" {
			t.Fatalf("%s runs %q before the upgrade", u, v)
		}
	}
	m.setConfig("version", "1.2.4")
	return m, &faultRun{t: t, m: m, srv: srv, root: root, ran: map[string][]string{}}, units
}

// TestRolloutLeadershipMovesWhileATurnIsOut: the leader hands concourse-ci/1 the turn, then
// leadership moves to concourse-ci/3 before concourse-ci/1 switches. The new leader carries on with
// the same plan (same ID, the turn not handed out again), the old one writes nothing more, and the
// rollout completes in order, one unit at a time; the application status comes from the new leader.
func TestRolloutLeadershipMovesWhileATurnIsOut(t *testing.T) {
	t.Parallel()
	m, r, units := startRollout(t, "1.2.3", "1.2.4")
	// The leader (the web) takes its own turn and, done, hands the next one out in the same hook.
	if err := r.hook(context.Background(), "concourse-ci/0"); err != nil {
		t.Fatal(err)
	}
	before := readPlan(m.app)
	if before.Turn != "concourse-ci/1" {
		t.Fatalf("turn %q after the web's, want concourse-ci/1: %s", before.Turn, m.app[keyRollout])
	}
	m.mu.Lock()
	m.leader = "concourse-ci/3"
	m.mu.Unlock()
	// The new leader's leader-elected runs first; the turn holder is still in its switch.
	if err := r.hook(context.Background(), "concourse-ci/3"); err != nil {
		t.Fatal(err)
	}
	after := readPlan(m.app)
	if after.ID != before.ID || after.Turn != before.Turn || !after.TurnSince.Equal(before.TurnSince) {
		t.Fatalf("the new leader changed the plan under the turn holder: %+v, was %+v", after, before)
	}
	r.until(units, "1.2.4", 10)
	want := []string{"concourse-ci/0:1.2.3->1.2.4", "concourse-ci/1:1.2.3->1.2.4", "concourse-ci/2:1.2.3->1.2.4", "concourse-ci/3:1.2.3->1.2.4"}
	if !slices.Equal(r.history, want) {
		t.Errorf("order %v, want %v", r.history, want)
	}
	// The new leader moved last: its own hook marked it done.
	if p := readPlan(m.app); p.ID != before.ID || p.Turn != "" || p.Halted != "" {
		t.Errorf("final plan %+v, want plan %d complete", p, before.ID)
	}
	if st := m.appStatus; st.State != juju.Active || strings.Contains(st.Message, "rolling out") {
		t.Errorf("application status %+v after the rollout, want active with no rollout under way", st)
	}
}

// TestRolloutUnitsAddedAndRemoved: mid-rollout the unit holding the turn leaves (its removal
// hooks drop its reference) and a new unit arrives: the turn moves on, the newcomer starts on the
// target without a turn (never running the old version), the others finish one at a time, and the
// old version leaves the shared root once no unit refers to it.
func TestRolloutUnitsAddedAndRemoved(t *testing.T) {
	t.Parallel()
	m, r, _ := startRollout(t, "1.2.3", "1.2.4")
	// The leader (the web) takes its own turn and, done, hands the next one out in the same hook.
	if err := r.hook(context.Background(), "concourse-ci/0"); err != nil {
		t.Fatal(err)
	}
	if turn := readPlan(m.app).Turn; turn != "concourse-ci/1" {
		t.Fatalf("turn %q, want concourse-ci/1", turn)
	}
	// concourse-ci/1 is removed before it switches: storage-detaching forgets its reference.
	gone := m.unit("concourse-ci/1")
	if err := gone.forgetUnit(m.dataDirs["concourse-ci/1"]); err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	m.members = slices.DeleteFunc(m.members, func(u string) bool { return u == "concourse-ci/1" })
	delete(m.units, "concourse-ci/1")
	m.mu.Unlock()
	units := []string{"concourse-ci/0", "concourse-ci/2", "concourse-ci/3", "concourse-ci/4"}
	r.until(units, "1.2.4", 10)
	if slices.Contains(r.ran["concourse-ci/4"], "1.2.3") {
		t.Errorf("the new unit ran %v, want 1.2.4 only", r.ran["concourse-ci/4"])
	}
	r.round(units) // the leader hears the last report and collects what no unit refers to any more
	if p := readPlan(m.app); slices.Contains(p.Order, "concourse-ci/1") || slices.Contains(p.Done, "concourse-ci/1") || p.Turn != "" {
		t.Errorf("plan %s still names the removed unit or holds a turn", m.app[keyRollout])
	}
	if _, _, ok, _ := r.root.Release("1.2.3", "amd64"); ok {
		t.Error("1.2.3 is still on the shared root after every unit left it")
	}
}

// TestRolloutHookKilledMidSwitch: the hook of the turn holder (a worker) is killed once it has
// landed its worker, before the restart. Until Juju runs it again no other unit moves and the
// turn stays where it is; the retried hook finishes the switch, and the rollout goes on.
func TestRolloutHookKilledMidSwitch(t *testing.T) {
	t.Parallel()
	m, r, units := startRollout(t, "1.2.3", "1.2.4")
	// The leader (the web) takes its own turn and, done, hands the next one out in the same hook.
	if err := r.hook(context.Background(), "concourse-ci/0"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	m.onStatus = func(unit string, st juju.Status) {
		if unit == "concourse-ci/1" && strings.HasPrefix(st.Message, "Landing worker") {
			once.Do(func() {
				// The hook sends SIGUSR1 and dies right after: the worker lands on its own.
				_ = m.services[unit].Signal(context.Background(), concourse.WorkerService, syscall.SIGUSR1)
				panic("SIGKILL")
			})
		}
	}
	if err := r.hook(context.Background(), "concourse-ci/1"); err == nil {
		t.Fatal("the killed hook succeeded")
	}
	m.onStatus = nil
	if v := m.runningVersion("concourse-ci/1"); v != "" {
		t.Fatalf("concourse-ci/1 runs %q after its hook died with the worker landing, want nothing", v)
	}
	// Other units' hooks run before Juju retries the failed one: nobody else moves.
	for _, u := range []string{"concourse-ci/0", "concourse-ci/2", "concourse-ci/3", "concourse-ci/0"} {
		if err := r.hook(context.Background(), u); err != nil {
			t.Fatal(err)
		}
	}
	if p := readPlan(m.app); p.Turn != "concourse-ci/1" || p.Halted != "" {
		t.Fatalf("plan %s while concourse-ci/1's hook waits for its retry, want its turn kept", m.app[keyRollout])
	}
	if v := m.runningVersion("concourse-ci/2"); v != "1.2.3" {
		t.Errorf("concourse-ci/2 runs %s before concourse-ci/1 finished", v)
	}
	r.until(units, "1.2.4", 10)
	want := []string{"concourse-ci/0:1.2.3->1.2.4", "concourse-ci/1:1.2.3->", "concourse-ci/1:->1.2.4", "concourse-ci/2:1.2.3->1.2.4", "concourse-ci/3:1.2.3->1.2.4"}
	if !slices.Equal(r.history, want) {
		t.Errorf("history %v, want %v", r.history, want)
	}
}

// TestRolloutSecondVersionChange: 1.2.5 is asked for while concourse-ci/1 holds its 1.2.4 turn
// (the web already on 1.2.4): concourse-ci/1 keeps the turn and goes straight to 1.2.5; every unit
// ends on 1.2.5, none is left on 1.2.4, the units after it never run 1.2.4, and neither 1.2.3 nor
// 1.2.4 stays on the shared root; each version is downloaded once.
func TestRolloutSecondVersionChange(t *testing.T) {
	t.Parallel()
	m, r, units := startRollout(t, "1.2.3", "1.2.4", "1.2.5")
	// The leader (the web) takes its own turn and, done, hands the next one out in the same hook.
	if err := r.hook(context.Background(), "concourse-ci/0"); err != nil {
		t.Fatal(err)
	}
	first := readPlan(m.app)
	if first.Turn != "concourse-ci/1" {
		t.Fatalf("turn %q, want concourse-ci/1", first.Turn)
	}
	m.setConfig("version", "1.2.5")
	r.until(units, "1.2.5", 12)
	if p := readPlan(m.app); p.ID != first.ID+1 || p.To != "1.2.5" {
		t.Errorf("final plan %s, want plan %d to 1.2.5", m.app[keyRollout], first.ID+1)
	}
	for _, u := range units[1:] {
		if slices.Contains(r.ran[u], "1.2.4") {
			t.Errorf("%s ran %v: a worker went through 1.2.4 after 1.2.5 was asked for", u, r.ran[u])
		}
	}
	if r.ran["concourse-ci/0"][len(r.ran["concourse-ci/0"])-1] != "1.2.5" {
		t.Errorf("the web ran %v, want it to end on 1.2.5", r.ran["concourse-ci/0"])
	}
	for _, v := range []string{"1.2.4", "1.2.5"} {
		if n := downloads(r.srv, v); n != 1 {
			t.Errorf("%d downloads of %s, want 1", n, v)
		}
	}
	r.round(units) // the leader collects what no unit refers to any more
	for _, v := range []string{"1.2.3", "1.2.4"} {
		if _, _, ok, _ := r.root.Release(v, "amd64"); ok {
			t.Errorf("%s is still on the shared root after every unit moved to 1.2.5", v)
		}
	}
}
