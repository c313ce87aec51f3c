package charm

import (
	"context"
	"fmt"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/rollout"
)

// rolloutGuards is what the leader learnt, beyond the members, before stepping the plan.
type rolloutGuards struct {
	floor string      // keyWebFloor, raised by what the webs report now
	db    *migrations // the target's and the floor's migrations, when a downgrade had to be checked
	webs  relatedWebs // a worker application's related webs
}

// rolloutInput is the leader's rollout.Input: the members, the database's floor (a target below
// it is held until both versions are known to have the same migrations) and, for a worker
// application, the version its related webs run (its workers wait for them).
func (c *Charm) rolloutInput(ctx context.Context, cfg Config, plan rollout.Plan, peers peerView, members []rollout.Member, dataDir string) (rollout.Input, rolloutGuards, error) {
	in := rollout.Input{Target: cfg.Version, Members: members, Now: c.now().UTC(), TurnBound: cfg.DrainTimeout + turnBoundExtra}
	g := rolloutGuards{floor: raiseFloor(peers.app[keyWebFloor], members, plan)}
	in.Floor = g.floor
	newTarget := cfg.Version != plan.To && cfg.Version != plan.Abandoned
	held := plan.DBHold && plan.To == cfg.Version
	if g.floor != "" && rollout.Compare(cfg.Version, g.floor) < 0 && (newTarget || held) {
		// Only then: the binaries run once per leader hook while a downgrade waits, never
		// during an ordinary rollout.
		m := c.compareMigrations(ctx, dataDir, cfg.Version, g.floor)
		g.db = &m
		in.SameSchema = m.same()
	}
	if cfg.Mode == ModeWorker {
		flight, err := c.readRelations(ctx, flightEndpoint)
		if err != nil {
			return in, g, err
		}
		g.webs = readRelatedWebs(flight)
		in.SeparateWebs, in.WebsAt = g.webs.known, g.webs.at
	}
	return in, g, nil
}

// note is the leader's word on what the guards hold back: a downgrade waiting on the database
// (hold: the application and the leader are blocked with it), or workers waiting for the
// related webs; "" when neither.
func (g rolloutGuards) note(app string, p rollout.Plan, done, total int) (msg string, hold bool) {
	switch {
	case p.DBHold:
		m := migrations{older: p.To, newer: g.floor, unknown: "not compared yet"}
		if g.db != nil {
			m = *g.db
		}
		return dbHoldMessage(app, p, g.floor, m), true
	case p.Halted == "" && p.Turn == "" && done < total && g.webs.known && g.webs.at != p.To:
		return fmt.Sprintf("rolling out %s: %d/%d units; the workers wait for the related webs to run %s (they run %s)", p.To, done, total, p.To, g.webs.seen), false
	}
	return "", false
}
