package charm

import (
	"context"
	"fmt"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/rollout"
)

// upgradeRollbackAction abandons the plan's target (rollout.Plan.Rollback): a new plan moves every
// unit that switched back to the version the plan started from, one at a time, webs first, and
// the configured version is not moved to again until it changes. Refused when there is nothing
// to go back to, and when a web has run a version whose database migrations the older one does
// not have, unless the operator says the database was migrated down (database-migrated=true).
func (c *Charm) upgradeRollbackAction(ctx context.Context) error {
	if err := c.requireRolloutLeader(ctx, "upgrade-rollback"); err != nil {
		return err
	}
	params, err := c.tools.ActionGet(ctx)
	if err != nil {
		return fmt.Errorf("read parameters: %w", err)
	}
	migrated, _ := params["database-migrated"].(bool)
	st, err := c.readRolloutState(ctx)
	if err != nil {
		return err
	}
	app, p := c.env.AppName(), st.plan
	if p.To == "" {
		return fmt.Errorf("no rollout has been planned yet, so there is nothing to roll back: to run another version, juju config %s version=<version>", app)
	}
	back, err := p.Rollback(st.members, c.now().UTC())
	if err != nil {
		return fmt.Errorf("nothing to go back to: every unit ran %s when plan %d began, it has no earlier version; to run another version, juju config %s version=<version>", p.To, p.ID, app)
	}
	floor := raiseFloor(st.peers.app[keyWebFloor], st.members, p)
	if floor != "" && rollout.Compare(back.To, floor) < 0 && !migrated {
		m := c.compareMigrations(ctx, st.dataDir, back.To, floor)
		if !m.same() {
			return fmt.Errorf("cannot roll back to %s: a web unit has run %s, and %s", back.To, floor,
				downgradeRoute(m, "juju run "+app+"/leader upgrade-rollback database-migrated=true",
					"fix what stopped the rollout and juju run "+app+"/leader upgrade-resume"))
		}
	}
	if err := c.publishPlan(ctx, st, back); err != nil {
		return err
	}
	now, err := c.currentPlan(ctx, st)
	if err != nil {
		return err
	}
	results := map[string]string{"from": back.From, "to": back.To, "abandoned": back.Abandoned,
		"message": fmt.Sprintf("rolling back to %s one unit at a time, web units first: %s; the configuration still says %s, which the charm does not move to again: juju config %s version=%s makes them agree (a later version starts a new rollout)",
			back.To, rolloutProgress(now, st.members), back.Abandoned, app, back.To)}
	if now.Turn != "" {
		results["turn"] = now.Turn
	}
	return c.tools.ActionSet(ctx, results)
}
