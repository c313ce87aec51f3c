package charm

import "context"

// afterOwnTurn lets a leader that has just finished its own turn, healthy, step the plan again in
// the same hook. No hook tells a leader about its own writes (its report, its plan), so otherwise
// a rollout whose last turn is the leader's stays "rolling out" until some later hook
// (update-status, up to 5 minutes), and one whose first turn is the leader's waits for another
// unit's hook to hand out the next turn.
func (c *Charm) afterOwnTurn(ctx context.Context, cfg Config, leader bool, view peerView, dataDir string, up upgradeView) (upgradeView, error) {
	if !leader || !up.decision.Switching || up.plan.Turn != c.env.UnitName {
		return up, nil
	}
	healthy, err := readRunningVersion(dataDir)
	if err != nil || healthy != up.plan.To {
		return up, err // failed, or not running yet: the plan stays as it is
	}
	return c.planRollout(ctx, cfg, leader, view, dataDir)
}
