package rollout

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// world is an application in miniature: the leader steps the plan, every unit decides and, when
// it switches, reports the outcome (or fails, or is killed halfway, as a test says).
type world struct {
	t       *testing.T
	plan    Plan
	target  string
	units   []*unit
	now     time.Time
	bound   time.Duration
	webs    string // WebsAt, for a worker application
	sep     bool
	floor   string   // Input.Floor: the highest version a web has run
	same    bool     // Input.SameSchema
	history []string // "unit:from->to" in the order switches completed
	maxDown int      // the most units switching at once
}

type unit struct {
	name    string
	web     bool
	running string
	report  Report
	fail    string // the next switch fails with this
	stall   bool   // the next switch is killed halfway: no report
}

func newWorld(t *testing.T, version string, webs, workers int) *world {
	w := &world{t: t, target: version, now: t0, bound: time.Hour}
	for i := 0; i < webs+workers; i++ {
		u := &unit{name: fmt.Sprintf("ci/%d", i), web: i < webs, running: version}
		u.report = Report{Running: version}
		w.units = append(w.units, u)
	}
	w.plan = Plan{ID: 1, To: version}
	return w
}

func (w *world) members() []Member {
	ms := make([]Member, len(w.units))
	for i, u := range w.units {
		ms[i] = Member{Unit: u.name, Web: u.web, Report: u.report}
	}
	return ms
}

// round is one leader step and one hook on every unit.
func (w *world) round() {
	w.now = w.now.Add(time.Minute)
	w.plan = Step(w.plan, Input{Target: w.target, Members: w.members(), Now: w.now, TurnBound: w.bound, WebsAt: w.webs, SeparateWebs: w.sep,
		Floor: w.floor, SameSchema: w.same})
	down := 0
	for _, u := range w.units {
		d := Decide(w.plan, u.name, u.running, w.target)
		if !d.Switching || u.running == d.Run && u.report.Plan == w.plan.ID {
			continue
		}
		down++
		switch {
		case u.stall:
			u.stall = false // killed halfway: the next hook tries again
		case u.fail != "":
			u.report = Report{Plan: w.plan.ID, Running: u.running, Failed: u.fail, Turn: w.plan.TurnSince}
		default:
			w.history = append(w.history, fmt.Sprintf("%s:%s->%s", u.name, u.running, d.Run))
			u.running = d.Run
			u.report = Report{Plan: w.plan.ID, Running: d.Run}
		}
	}
	w.maxDown = max(w.maxDown, down)
}

func (w *world) settle(rounds int) {
	for i := 0; i < rounds; i++ {
		w.round()
	}
}

func (w *world) versions() map[string]string {
	out := map[string]string{}
	for _, u := range w.units {
		out[u.name] = u.running
	}
	return out
}

func (w *world) allOn(v string) bool {
	for _, u := range w.units {
		if u.running != v {
			return false
		}
	}
	return true
}

func (w *world) unit(name string) *unit {
	for _, u := range w.units {
		if u.name == name {
			return u
		}
	}
	w.t.Fatalf("no unit %s", name)
	return nil
}

func TestRollingUpgradeOneAtATimeWebFirst(t *testing.T) {
	w := newWorld(t, "7.14.3", 1, 3)
	w.target = "7.15.0"
	w.settle(12)
	if !w.allOn("7.15.0") || !w.plan.Complete(w.members()) {
		t.Fatalf("not complete: %v, plan %+v", w.versions(), w.plan)
	}
	want := []string{"ci/0:7.14.3->7.15.0", "ci/1:7.14.3->7.15.0", "ci/2:7.14.3->7.15.0", "ci/3:7.14.3->7.15.0"}
	if !slices.Equal(w.history, want) {
		t.Errorf("order %v, want %v (web first, then workers by number)", w.history, want)
	}
	if w.maxDown != 1 {
		t.Errorf("%d units switching at once, want 1", w.maxDown)
	}
	if w.plan.From != "7.14.3" || w.plan.To != "7.15.0" {
		t.Errorf("plan %s -> %s", w.plan.From, w.plan.To)
	}
}

func TestFailureHaltsAndResumeCompletes(t *testing.T) {
	w := newWorld(t, "1.0.0", 1, 3)
	w.target = "2.0.0"
	w.unit("ci/2").fail = "worker did not register again within 2m"
	w.settle(10)
	if !strings.Contains(w.plan.Halted, "ci/2") || !strings.Contains(w.plan.Halted, "did not register") {
		t.Fatalf("plan not halted on ci/2: %+v", w.plan)
	}
	if got := w.versions(); got["ci/0"] != "2.0.0" || got["ci/1"] != "2.0.0" || got["ci/3"] != "1.0.0" || got["ci/2"] != "1.0.0" {
		t.Fatalf("versions while halted: %v (ci/3 must stay on 1.0.0)", got)
	}
	if d := Decide(w.plan, "ci/3", "1.0.0", w.target); d.Run != "1.0.0" || d.Switching || d.Fetch != "2.0.0" {
		t.Errorf("a waiting unit decides %+v, want to keep 1.0.0 and fetch 2.0.0", d)
	}
	w.unit("ci/2").fail = ""
	w.settle(3)
	if w.plan.Halted == "" {
		t.Fatal("the halt cleared by itself: only an operator may resume")
	}
	w.plan = w.plan.Resume(w.now)
	w.settle(6)
	if !w.allOn("2.0.0") || w.maxDown != 1 {
		t.Errorf("after resume: %v, at most %d down", w.versions(), w.maxDown)
	}
}

func TestKilledHookKeepsTheTurnUntilItReports(t *testing.T) {
	w := newWorld(t, "1.0.0", 1, 2)
	w.target = "2.0.0"
	w.unit("ci/0").stall = true
	w.round()
	if w.plan.Turn != "ci/0" || w.unit("ci/0").running != "1.0.0" {
		t.Fatalf("plan %+v after a killed switch", w.plan)
	}
	w.round() // the next hook of ci/0 finishes the switch
	w.settle(6)
	if !w.allOn("2.0.0") || w.maxDown != 1 {
		t.Errorf("%v, %d down at once", w.versions(), w.maxDown)
	}
}

func TestSecondVersionChangeWinsWithoutHalfState(t *testing.T) {
	w := newWorld(t, "1.0.0", 1, 3)
	w.target = "2.0.0"
	w.settle(3) // web and one worker on 2.0.0, the next turn handed out
	holder := w.plan.Turn
	w.target = "3.0.0"
	w.round()
	if w.plan.To != "3.0.0" || w.plan.Turn != holder {
		t.Fatalf("new plan %+v: the turn must stay with %s", w.plan, holder)
	}
	w.settle(10)
	if !w.allOn("3.0.0") || w.maxDown != 1 {
		t.Errorf("%v, %d down at once", w.versions(), w.maxDown)
	}
	for _, h := range w.history {
		if strings.HasSuffix(h, "->2.0.0") && strings.HasPrefix(h, "ci/3:") {
			t.Errorf("ci/3 went through 2.0.0 after 3.0.0 was asked for: %v", w.history)
		}
	}
}

func TestUnitsComingAndGoingMidRollout(t *testing.T) {
	w := newWorld(t, "1.0.0", 1, 3)
	w.target = "2.0.0"
	w.settle(2)
	// The turn holder is removed mid-switch: the turn moves on.
	holder := w.plan.Turn
	w.unit(holder).stall = true
	w.units = slices.DeleteFunc(w.units, func(u *unit) bool { return u.name == holder })
	// A new unit arrives with nothing running: it starts on the target, needs no turn.
	w.units = append(w.units, &unit{name: "ci/9"})
	// One more arrives on the old version (a machine restored from a backup): it joins the order.
	w.units = append(w.units, &unit{name: "ci/10", running: "1.0.0", report: Report{Running: "1.0.0"}})
	w.settle(10)
	if !w.allOn("2.0.0") {
		t.Fatalf("%v, plan %+v", w.versions(), w.plan)
	}
	if slices.Contains(w.plan.Order, holder) || slices.Contains(w.plan.Done, holder) {
		t.Errorf("departed %s still in the plan %+v", holder, w.plan)
	}
}

func TestLateTurnHalts(t *testing.T) {
	w := newWorld(t, "1.0.0", 1, 1)
	w.target = "2.0.0"
	w.bound = 3 * time.Minute
	for i := 0; i < 4; i++ { // one round a minute: the turn is 3 minutes old at the 4th round
		w.unit("ci/0").stall = true
		w.round()
		if w.plan.Halted != "" {
			t.Fatalf("halted after %d rounds, within the bound: %+v", i+1, w.plan)
		}
	}
	w.unit("ci/0").stall = true
	w.round()
	if !strings.Contains(w.plan.Halted, "did not report 2.0.0 within 3m") {
		t.Fatalf("plan %+v", w.plan)
	}
	if w.unit("ci/1").running != "1.0.0" {
		t.Error("a worker moved while the web's turn was late")
	}
}

func TestWorkerApplicationWaitsForTheWebs(t *testing.T) {
	w := newWorld(t, "1.0.0", 0, 2)
	w.sep, w.webs = true, "1.0.0"
	w.target = "2.0.0"
	w.settle(4)
	if w.plan.Turn != "" || !w.allOn("1.0.0") {
		t.Fatalf("workers moved before the webs: %v, plan %+v", w.versions(), w.plan)
	}
	w.webs = "2.0.0"
	w.settle(4)
	if !w.allOn("2.0.0") {
		t.Errorf("%v after the webs moved", w.versions())
	}
}

func TestRollbackStaysRolledBack(t *testing.T) {
	w := newWorld(t, "1.0.0", 1, 2)
	w.target = "2.0.0"
	w.unit("ci/1").fail = "boom"
	w.settle(5)
	back, err := w.plan.Rollback(w.members(), w.now)
	if err != nil {
		t.Fatal(err)
	}
	w.plan = back
	w.unit("ci/1").fail = ""
	w.settle(6)
	if !w.allOn("1.0.0") {
		t.Fatalf("%v after rollback, plan %+v", w.versions(), w.plan)
	}
	if w.plan.Abandoned != "2.0.0" || w.plan.To != "1.0.0" {
		t.Errorf("plan %+v: config still says 2.0.0, the rollback must hold", w.plan)
	}
	w.target = "2.0.1"
	w.settle(6)
	if !w.allOn("2.0.1") {
		t.Errorf("a new target after a rollback: %v", w.versions())
	}
}

func TestFreshDeployNeedsNoTurns(t *testing.T) {
	ms := []Member{{Unit: "ci/0", Web: true}, {Unit: "ci/1"}}
	p := Step(Plan{}, Input{Target: "7.14.3", Members: ms, Now: t0})
	if p.Turn != "" || len(p.Order) != 0 || p.To != "7.14.3" {
		t.Fatalf("plan %+v", p)
	}
	if d := Decide(p, "ci/1", "", "7.14.3"); d.Run != "7.14.3" || !d.Switching {
		t.Errorf("fresh unit decides %+v", d)
	}
}

func TestCompare(t *testing.T) {
	for _, c := range []struct {
		a, b string
		sign int
	}{{"7.14.3", "7.14.10", -1}, {"7.14.3", "7.14.3", 0}, {"8.0.0", "7.99.99", 1}, {"7.14", "7.14.0", 0}} {
		got := Compare(c.a, c.b)
		if (got > 0) != (c.sign > 0) || (got < 0) != (c.sign < 0) {
			t.Errorf("Compare(%s, %s) = %d, want sign %d", c.a, c.b, got, c.sign)
		}
	}
}
