// Package rollout decides, one unit at a time, when each unit of an application moves to a new
// Concourse version: the leader's plan (kept in peer application data) and each unit's part in it.
// It is pure: no Juju, no services, no clock of its own, so every fault the charm can meet
// (leadership moving, units coming and going, a second version change, a hook killed halfway) is a
// table row in its tests.
//
// The protocol:
//   - The leader turns the configured version into a Plan: From (what the units run) -> To, the
//     units to move in order (web units first, then workers, by unit number), one Turn at a time.
//   - Every unit fetches To as soon as the plan names it (shared storage: once for all), and keeps
//     running what it runs until it holds the turn.
//   - The turn holder lands its worker or stops its web, switches, restarts, checks its own health
//     and publishes Report{Plan: ID, Running: To} (or Failed with the reason).
//   - The leader then moves the turn on. A failure or a turn that outlives its bound halts the
//     plan: nobody else moves until an operator resumes it (or rolls it back).
package rollout

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Plan is the leader's record of a rollout, published in peer application data as JSON.
type Plan struct {
	ID   int    `json:"id"`             // changes with every new target, so reports name the plan they answer
	From string `json:"from,omitempty"` // the version most units ran when the plan began
	To   string `json:"to"`
	// Order lists the units that had to move when the plan began (or joined it on an old version).
	Order []string `json:"order,omitempty"`
	Done  []string `json:"done,omitempty"`
	Turn  string   `json:"turn,omitempty"`
	// TurnSince is when Turn was handed out, for the turn's bound.
	TurnSince time.Time `json:"turn-since,omitzero"`
	// Halted says why the rollout stopped; nobody moves while it is set.
	Halted string `json:"halted,omitempty"`
	// Abandoned is a target rolled back by an operator: the config may still name it, but no plan
	// moves towards it again until the config names another version.
	Abandoned string `json:"abandoned,omitempty"`
	// DBHold marks a halt that guards the database: To is older than a version a web has run, and
	// Concourse's database may hold migrations that To's web neither knows nor undoes. It lifts
	// when both versions are known to have the same migrations (Input.SameSchema), or when an
	// operator resumes after migrating the database down.
	DBHold bool `json:"db-hold,omitempty"`
}

// Member is what the leader reads about one unit of the application.
type Member struct {
	Unit string
	Web  bool
	Report
}

// Report is what a unit publishes about its part in the plan.
type Report struct {
	Plan    int    // the plan ID the report answers; 0 before any
	Running string // the version the unit's services run now, healthy; "" when it runs nothing yet
	Failed  string // why its switch to the plan's To failed; "" when it did not
	// Turn is the TurnSince of the turn a failure answers: a failure of an earlier turn (before a
	// Resume handed it out afresh) does not halt the plan again.
	Turn time.Time
}

// Input is everything Step decides from.
type Input struct {
	Target  string   // the configured version
	Members []Member // every unit of the application now, the leader included
	// WebsAt is the version every web of the related web application runs, for a worker
	// application ("" when this application runs its own webs, or when they disagree).
	WebsAt       string
	SeparateWebs bool // this application's workers register with another application's webs
	Now          time.Time
	TurnBound    time.Duration // how long a turn may take before the plan halts
	// Floor is the highest version a web of this application has run (or been handed the turn
	// to): the database may hold its migrations. A new target below it starts on hold (DBHold).
	Floor string
	// SameSchema says Target and Floor are known to have the same database migrations (the
	// charm asked both releases' binaries), so going below Floor needs no migration.
	SameSchema bool
}

// Step returns the leader's next plan. It never takes the turn from a unit that holds it: a new
// target while a unit switches gives that unit the first turn of the new plan, so no unit is left
// between versions.
func Step(cur Plan, in Input) Plan {
	p := clonePlan(cur)
	if in.Target != p.To && in.Target != p.Abandoned {
		p = newPlan(p, in)
	}
	p.forgetDeparted(in.Members)
	p.adopt(in.Members)
	if p.DBHold && in.SameSchema && in.Target == p.To {
		p.Halted, p.DBHold = "", false // nothing to migrate after all
	}
	if p.Halted != "" {
		return p
	}
	if p.Turn != "" {
		p.judgeTurn(in)
	}
	if p.Turn == "" && p.Halted == "" {
		p.handOut(in)
	}
	return p
}

// newPlan starts a plan towards in.Target from whatever the units run.
func newPlan(prev Plan, in Input) Plan {
	p := Plan{ID: prev.ID + 1, To: in.Target, From: commonVersion(in.Members, prev.To)}
	if prev.Turn != "" && prev.Halted == "" {
		// The unit in the middle of a switch keeps its turn, towards the new target.
		p.Turn, p.TurnSince = prev.Turn, in.Now
	}
	p.Order = upgradeOrder(in.Members, in.Target)
	if in.Floor != "" && Compare(in.Target, in.Floor) < 0 && !in.SameSchema {
		// Nobody moves, not even a unit halfway through the previous plan: its web could
		// start on a database that its version no longer knows.
		p.Turn, p.TurnSince, p.DBHold = "", time.Time{}, true
		p.Halted = fmt.Sprintf("%s is older than %s, which a web unit has run: the database may hold migrations that %s does not know", in.Target, in.Floor, in.Target)
	}
	return p
}

// upgradeOrder is the units that run another version than to: webs first, then by unit number.
func upgradeOrder(members []Member, to string) []string {
	var ms []Member
	for _, m := range members {
		if m.Running != "" && m.Running != to {
			ms = append(ms, m)
		}
	}
	slices.SortFunc(ms, func(a, b Member) int {
		if a.Web != b.Web {
			if a.Web {
				return -1
			}
			return 1
		}
		return unitNumber(a.Unit) - unitNumber(b.Unit)
	})
	order := make([]string, len(ms))
	for i, m := range ms {
		order[i] = m.Unit
	}
	return order
}

// forgetDeparted drops units that left the application; a departed turn holder frees the turn.
func (p *Plan) forgetDeparted(members []Member) {
	present := map[string]bool{}
	for _, m := range members {
		present[m.Unit] = true
	}
	keep := func(u string) bool { return !present[u] }
	p.Order = slices.DeleteFunc(p.Order, keep)
	p.Done = slices.DeleteFunc(p.Done, keep)
	if p.Turn != "" && !present[p.Turn] {
		p.Turn, p.TurnSince = "", time.Time{}
		if strings.HasPrefix(p.Halted, "unit "+p.Turn+" ") {
			p.Halted = ""
		}
	}
}

// adopt appends units that run an old version and are not in the order yet (added during the
// rollout with the old version, or moved back by an operator).
func (p *Plan) adopt(members []Member) {
	for _, u := range upgradeOrder(members, p.To) {
		if !slices.Contains(p.Order, u) {
			p.Order = append(p.Order, u)
		}
		p.Done = slices.DeleteFunc(p.Done, func(d string) bool { return d == u })
	}
}

// judgeTurn reads the turn holder's report: done, failed, or late.
func (p *Plan) judgeTurn(in Input) {
	m, _ := member(in.Members, p.Turn)
	switch {
	case m.Plan == p.ID && m.Failed != "" && m.Turn.Equal(p.TurnSince):
		p.Halted = fmt.Sprintf("unit %s failed to move to %s: %s", p.Turn, p.To, m.Failed)
	case m.Running == p.To:
		p.Done = append(p.Done, p.Turn)
		p.Turn, p.TurnSince = "", time.Time{}
	case in.TurnBound > 0 && !p.TurnSince.IsZero() && in.Now.Sub(p.TurnSince) > in.TurnBound:
		p.Halted = fmt.Sprintf("unit %s did not report %s within %s", p.Turn, p.To, in.TurnBound)
	}
}

// handOut gives the turn to the next unit still on an old version, workers of a worker-only
// application only once the related webs run the target.
func (p *Plan) handOut(in Input) {
	for _, u := range p.Order {
		m, ok := member(in.Members, u)
		if !ok || m.Running == p.To || m.Running == "" {
			continue
		}
		if in.SeparateWebs && !m.Web && in.WebsAt != p.To {
			return // the webs go first, even in another application
		}
		p.Turn, p.TurnSince = u, in.Now
		return
	}
}

// Resume clears a halt: the unit that failed gets its turn again, afresh; a DBHold lifts (the
// operator says the database was migrated down).
func (p Plan) Resume(now time.Time) Plan {
	p = clonePlan(p)
	p.Halted, p.DBHold = "", false
	if p.Turn != "" {
		p.TurnSince = now
	}
	return p
}

// Rollback abandons the plan's target: a new plan moves every unit that switched back to From.
func (p Plan) Rollback(members []Member, now time.Time) (Plan, error) {
	if p.From == "" || p.From == p.To {
		return p, fmt.Errorf("plan %d has no earlier version to go back to", p.ID)
	}
	back := Plan{ID: p.ID + 1, From: p.To, To: p.From, Abandoned: p.To}
	back.Order = upgradeOrder(members, back.To)
	if p.Turn != "" && p.Halted == "" {
		back.Turn, back.TurnSince = p.Turn, now
	}
	return back, nil
}

// Complete says every unit runs To.
func (p Plan) Complete(members []Member) bool {
	for _, m := range members {
		if m.Running != p.To {
			return false
		}
	}
	return p.Turn == "" && p.Halted == ""
}

func member(ms []Member, unit string) (Member, bool) {
	for _, m := range ms {
		if m.Unit == unit {
			return m, true
		}
	}
	return Member{}, false
}

// commonVersion is the version most units run (the highest on a tie), else fallback.
func commonVersion(ms []Member, fallback string) string {
	count := map[string]int{}
	best := ""
	for _, m := range ms {
		if m.Running == "" {
			continue
		}
		count[m.Running]++
		if c := count[m.Running]; c > count[best] || c == count[best] && Compare(m.Running, best) > 0 {
			best = m.Running
		}
	}
	if best == "" {
		return fallback
	}
	return best
}

func unitNumber(unit string) int {
	_, n, _ := strings.Cut(unit, "/")
	i, err := strconv.Atoi(n)
	if err != nil {
		return 1 << 30
	}
	return i
}

func clonePlan(p Plan) Plan {
	p.Order = slices.Clone(p.Order)
	p.Done = slices.Clone(p.Done)
	return p
}

// Compare orders dotted versions numerically (7.14.3 < 7.14.10); non-numeric parts compare as text.
func Compare(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		x, y := part(as, i), part(bs, i)
		xi, xerr := strconv.Atoi(x)
		yi, yerr := strconv.Atoi(y)
		switch {
		case xerr == nil && yerr == nil && xi != yi:
			return xi - yi
		case (xerr != nil || yerr != nil) && x != y:
			return strings.Compare(x, y)
		}
	}
	return 0
}

func part(ps []string, i int) string {
	if i < len(ps) {
		return ps[i]
	}
	return "0"
}
