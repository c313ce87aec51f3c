package charm

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/rollout"
)

// upgradeStatusAction reports the rollout: the leader's plan, and per unit its version and where
// it stands. It only reads, so it runs on any unit (every unit sees the plan and the reports in
// the peer relation).
func (c *Charm) upgradeStatusAction(ctx context.Context) error {
	st, err := c.readRolloutState(ctx)
	if err != nil {
		return err
	}
	p := st.plan
	results := map[string]string{}
	if st.cfgErr == nil {
		results["configured-version"] = st.cfg.Version
	}
	if p.To != "" {
		results["plan.id"] = strconv.Itoa(p.ID)
		results["plan.to"] = p.To
		for key, value := range map[string]string{"plan.from": p.From, "plan.turn": p.Turn, "plan.halted": p.Halted, "plan.abandoned": p.Abandoned} {
			if value != "" {
				results[key] = value
			}
		}
		if !p.TurnSince.IsZero() {
			results["plan.turn-since"] = p.TurnSince.UTC().Format(time.RFC3339)
		}
		if p.DBHold {
			results["plan.held-for-database"] = "true"
		}
	}
	floor := st.peers.app[keyWebFloor]
	if floor != "" {
		results["highest-web-version"] = floor
	}
	var webs relatedWebs
	if st.cfgErr == nil && st.cfg.Mode == ModeWorker {
		flight, err := c.readRelations(ctx, flightEndpoint)
		if err != nil {
			return err
		}
		if webs = readRelatedWebs(flight); webs.seen != "" {
			results["related-webs"] = webs.seen
		}
	}
	for _, m := range st.members {
		key := "units." + strings.ReplaceAll(m.Unit, "/", "-")
		if m.Running != "" {
			results[key+".version"] = m.Running
		}
		if role := st.roles[m.Unit]; role != "" {
			results[key+".role"] = role
		}
		results[key+".stands"] = standing(p, m, webs)
	}
	results["summary"] = c.rolloutSummary(ctx, st, floor, webs)
	return c.tools.ActionSet(ctx, results)
}

// standing says where one unit is in the plan: done, turn, failed, waiting or new.
func standing(p rollout.Plan, m rollout.Member, webs relatedWebs) string {
	failed := m.Plan == p.ID && m.Failed != "" && m.Running != p.To
	switch {
	case p.To == "":
		return "no rollout planned yet"
	case m.Running == "" && m.Unit != p.Turn:
		return "new unit: starts on the plan's version, no turn needed"
	case m.Running == p.To:
		return "done"
	case failed:
		return "failed: " + m.Failed
	case m.Unit == p.Turn && p.Halted != "":
		return "turn, halted: " + p.Halted
	case m.Unit == p.Turn:
		return fmt.Sprintf("turn: switching to %s since %s", p.To, p.TurnSince.UTC().Format(time.RFC3339))
	case p.DBHold:
		return fmt.Sprintf("waiting: the downgrade to %s is held for the database", p.To)
	case p.Halted != "":
		return "waiting: the rollout is halted"
	case webs.known && !m.Web && webs.at != p.To:
		return fmt.Sprintf("waiting for the related webs to run %s", p.To)
	}
	return "waiting for its turn"
}

// rolloutProgress is one line on how far the plan is.
func rolloutProgress(p rollout.Plan, members []rollout.Member) string {
	done := 0
	for _, m := range members {
		if m.Running == p.To {
			done++
		}
	}
	switch {
	case p.Complete(members):
		return fmt.Sprintf("all %s run %s", plural(len(members), "unit", "units"), p.To)
	case p.Turn != "":
		return fmt.Sprintf("the rollout to %s is under way, %d/%d units done, %s switching", p.To, done, len(members), p.Turn)
	}
	return fmt.Sprintf("the rollout to %s is under way, %d/%d units done, the next turn not handed out yet", p.To, done, len(members))
}

// rolloutSummary tells an operator what happens next, and what to run when it is up to them.
func (c *Charm) rolloutSummary(ctx context.Context, st rolloutState, floor string, webs relatedWebs) string {
	p, app := st.plan, c.env.AppName()
	switch {
	case p.To == "":
		return "no rollout planned yet: the leader plans one in its next hook"
	case p.DBHold:
		return dbHoldMessage(app, p, floor, c.compareMigrations(ctx, st.dataDir, p.To, floor))
	case p.Halted != "":
		failed := ""
		for _, m := range st.members {
			if m.Plan == p.ID && m.Failed != "" && m.Running != p.To && !strings.Contains(p.Halted, m.Failed) {
				failed = fmt.Sprintf(" (%s says: %s)", m.Unit, m.Failed)
			}
		}
		return fmt.Sprintf("rollout to %s halted: %s%s; the units not yet moved keep their version: fix it, then juju run %s/leader upgrade-resume (or upgrade-rollback)",
			p.To, p.Halted, failed, app)
	case p.Turn == "" && webs.known && webs.at != p.To && !p.Complete(st.members):
		return fmt.Sprintf("the workers wait for the related webs to run %s (they run %s)", p.To, webs.seen)
	}
	s := rolloutProgress(p, st.members)
	if i := slices.IndexFunc(st.members, func(m rollout.Member) bool { return m.Running == "" }); i >= 0 {
		s += "; " + st.members[i].Unit + " is starting"
	}
	return s
}
