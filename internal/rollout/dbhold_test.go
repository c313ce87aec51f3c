package rollout

import (
	"strings"
	"testing"
)

// TestDowngradeBelowTheFloorIsHeld: a target older than a version a web has run starts halted
// (DBHold) with nobody moving, not even the unit that held the turn of the previous plan; the
// units fetch it meanwhile; a new unit starts on what the database is at; the operator's resume
// lets it go, web first.
func TestDowngradeBelowTheFloorIsHeld(t *testing.T) {
	w := newWorld(t, "2.0.0", 1, 2)
	w.floor = "2.0.0"
	w.target = "1.9.0"
	w.settle(4)
	if !w.plan.DBHold || !strings.Contains(w.plan.Halted, "1.9.0 is older than 2.0.0") {
		t.Fatalf("plan %+v: a downgrade below the floor must be held", w.plan)
	}
	if !w.allOn("2.0.0") || w.plan.Turn != "" {
		t.Fatalf("units moved under the hold: %v, plan %+v", w.versions(), w.plan)
	}
	if d := Decide(w.plan, "ci/2", "2.0.0", w.target); d.Run != "2.0.0" || d.Fetch != "1.9.0" || d.Switching {
		t.Errorf("a held unit decides %+v, want to keep 2.0.0 and fetch 1.9.0", d)
	}
	if d := Decide(w.plan, "ci/9", "", w.target); d.Run != "2.0.0" {
		t.Errorf("a new unit under the hold starts on %s, want 2.0.0 (what the database is at)", d.Run)
	}
	w.plan = w.plan.Resume(w.now)
	if w.plan.DBHold || w.plan.Halted != "" {
		t.Fatalf("resume left %+v", w.plan)
	}
	w.settle(6)
	if !w.allOn("1.9.0") || w.history[0] != "ci/0:2.0.0->1.9.0" {
		t.Errorf("after resume: %v, history %v", w.versions(), w.history)
	}
}

// TestDowngradeWithTheSameMigrationsGoesAhead: known-same migrations need no hold; a hold lifts by
// itself once the charm learns they are the same (the older release fetched and asked).
func TestDowngradeWithTheSameMigrationsGoesAhead(t *testing.T) {
	w := newWorld(t, "2.0.1", 1, 1)
	w.floor, w.same = "2.0.1", true
	w.target = "2.0.0"
	w.settle(5)
	if !w.allOn("2.0.0") {
		t.Fatalf("same migrations: %v, plan %+v", w.versions(), w.plan)
	}

	w = newWorld(t, "2.0.1", 1, 1)
	w.floor = "2.0.1"
	w.target = "2.0.0"
	w.settle(2)
	if !w.plan.DBHold {
		t.Fatalf("unknown migrations: plan %+v, want held", w.plan)
	}
	w.same = true
	w.settle(5)
	if !w.allOn("2.0.0") || w.plan.DBHold {
		t.Errorf("the hold did not lift: %v, plan %+v", w.versions(), w.plan)
	}
}

// TestUpgradesAndSameVersionAreNotHeld: at or above the floor, and a mid-rollout second change
// above it, nothing is held; a second change back below it is.
func TestUpgradesAndSameVersionAreNotHeld(t *testing.T) {
	w := newWorld(t, "1.0.0", 1, 2)
	w.floor = "1.0.0"
	w.target = "2.0.0"
	w.settle(2) // the web moved; workers under way
	w.floor = "2.0.0"
	w.target = "2.1.0"
	w.round()
	if w.plan.DBHold {
		t.Fatalf("an upgrade held: %+v", w.plan)
	}
	w.target = "1.0.0"
	w.round()
	if !w.plan.DBHold || w.plan.Turn != "" {
		t.Errorf("back below the floor mid-rollout: plan %+v, want held with no turn", w.plan)
	}
}
