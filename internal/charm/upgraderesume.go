package charm

import (
	"context"
	"fmt"
)

// upgradeResumeAction lifts a halt (rollout.Plan.Resume): the unit that failed, or took too long,
// gets its turn again afresh; a downgrade held for the database goes ahead, the operator having
// migrated it down. Only a halted plan resumes: anything else would hide a mistake.
func (c *Charm) upgradeResumeAction(ctx context.Context) error {
	if err := c.requireRolloutLeader(ctx, "upgrade-resume"); err != nil {
		return err
	}
	st, err := c.readRolloutState(ctx)
	if err != nil {
		return err
	}
	app := c.env.AppName()
	p := st.plan
	switch {
	case p.To == "":
		return fmt.Errorf("no rollout has been planned yet, so nothing is halted: the leader plans one in its next hook (juju run %s/leader upgrade-status)", app)
	case p.Halted == "":
		return fmt.Errorf("nothing is halted: %s; juju run %s/leader upgrade-status shows where each unit stands", rolloutProgress(p, st.members), app)
	}
	if err := c.publishPlan(ctx, st, p.Resume(c.now().UTC())); err != nil {
		return err
	}
	now, err := c.currentPlan(ctx, st)
	if err != nil {
		return err
	}
	results := map[string]string{"resumed": p.Halted, "to": now.To}
	if now.Turn != "" {
		results["turn"] = now.Turn
	}
	switch {
	case p.DBHold:
		results["message"] = fmt.Sprintf("the downgrade to %s goes ahead, web units first, taking your word that the database was migrated down to what %s knows (`concourse migrate --current-db-version` says where it is)", now.To, now.To)
	case p.Turn != "" && p.Turn == now.Turn:
		results["message"] = fmt.Sprintf("%s tries its switch to %s again in its next hook, the other units after it one at a time", now.Turn, now.To)
	default:
		results["message"] = fmt.Sprintf("the rollout to %s goes on one unit at a time: %s", now.To, rolloutProgress(now, st.members))
	}
	if now.Halted != "" {
		results["message"] = "resumed, and halted again at once: " + now.Halted
	}
	results["message"] += fmt.Sprintf("; juju run %s/leader upgrade-status follows it", app)
	return c.tools.ActionSet(ctx, results)
}
