package charm

import (
	"context"
	"fmt"
	"strings"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/rollout"
)

// rolloutState is the rollout as the upgrade actions read it: the leader's plan and every unit's
// role and report, this unit's own running version from its state directory.
type rolloutState struct {
	peers   peerView
	plan    rollout.Plan
	dataDir string
	cfg     Config
	cfgErr  error            // a bad configuration: the actions still read, never write
	members []rollout.Member // this unit first, then its peers by number
	roles   map[string]string
}

func (c *Charm) readRolloutState(ctx context.Context) (rolloutState, error) {
	var st rolloutState
	raw, err := c.tools.ConfigGet(ctx)
	if err != nil {
		return st, fmt.Errorf("read config: %w", err)
	}
	st.cfg, st.cfgErr = ParseConfig(raw)
	relID, err := c.peerRelation(ctx)
	if err != nil {
		return st, err
	}
	if relID == "" {
		return st, fmt.Errorf("this unit has not joined its peers yet: wait for its hooks to run (juju status), then retry")
	}
	if st.peers, err = c.readPeers(ctx, relID); err != nil {
		return st, err
	}
	if st.dataDir, err = c.dataDir(ctx); err != nil {
		return st, err
	}
	running, err := readRunningVersion(st.dataDir)
	if err != nil {
		return st, err
	}
	ownBag, err := c.ownPeerBag(ctx, st.peers)
	if err != nil {
		return st, err
	}
	web := st.peers.app[keyWebUnit] == c.env.UnitName || strings.Contains(ownBag[keyRole], "web")
	st.plan = readPlan(st.peers.app)
	st.members = c.rolloutMembers(st.peers, web, running, readReport(ownBag))
	st.roles = map[string]string{c.env.UnitName: ownBag[keyRole]}
	for _, u := range st.peers.members {
		st.roles[u] = st.peers.units[u][keyRole]
	}
	return st, nil
}

// requireRolloutLeader refuses a rollout action on a unit that is not the leader: only the
// leader writes the plan (peer application data).
func (c *Charm) requireRolloutLeader(ctx context.Context, action string) error {
	leader, err := c.tools.IsLeader(ctx)
	if err != nil {
		return fmt.Errorf("leadership: %w", err)
	}
	if !leader {
		return fmt.Errorf("%s changes the rollout plan, which only the leader may do: run it on the leader: juju run %s/leader %s", action, c.env.AppName(), action)
	}
	return nil
}

// publishPlan writes the leader's new plan, then reconciles this unit once: no hook tells the
// leader about its own write, and the plan moves on (the next turn handed out, the leader's own
// switch made) only in the leader's reconcile.
func (c *Charm) publishPlan(ctx context.Context, st rolloutState, next rollout.Plan) error {
	if err := c.tools.RelationSet(ctx, st.peers.relID, true, map[string]string{keyRollout: encodePlan(next)}); err != nil {
		return fmt.Errorf("publish the rollout plan: %w", err)
	}
	if err := c.Reconcile(ctx); err != nil {
		return fmt.Errorf("the plan is published, but applying it on this unit failed (its next hook retries): %w", err)
	}
	return nil
}

// currentPlan re-reads the plan the leader's reconcile left.
func (c *Charm) currentPlan(ctx context.Context, st rolloutState) (rollout.Plan, error) {
	app, err := c.tools.RelationGet(ctx, st.peers.relID, c.env.AppName(), true)
	if err != nil {
		return rollout.Plan{}, fmt.Errorf("read peer application data: %w", err)
	}
	return readPlan(app), nil
}
