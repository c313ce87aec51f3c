package charm

import (
	"context"
	"fmt"
	"strings"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
)

// unitStatus says what the unit runs, or the most pressing thing that stops it: blocked (the
// operator must act) before waiting (it clears by itself).
func (o outcome) unitStatus(version, where string) (juju.StatusState, string) {
	for _, want := range []juju.StatusState{juju.Blocked, juju.Waiting, juju.Maintenance} {
		var msgs []string
		for _, p := range o.problems {
			if p.state == want {
				msgs = append(msgs, p.msg)
			}
		}
		if len(msgs) > 0 {
			return want, strings.Join(msgs, "; ")
		}
	}
	msg := fmt.Sprintf("%s %s", o.roles, version)
	if o.roles.worker {
		msg += ", " + plural(o.tsaHosts, "TSA host", "TSA hosts")
	}
	if o.note != "" {
		msg += "; " + o.note
	}
	return juju.Active, msg + " (" + where + ")"
}

// appStatus is the leader's summary of the application: how many units run web and worker, from
// the roles every unit publishes in the peer relation.
func (c *Charm) appStatus(ctx context.Context, cfg Config, peers peerView, own outcome) {
	webs, workers := 0, 0
	count := func(role string) {
		if strings.Contains(role, "web") {
			webs++
		}
		if strings.Contains(role, "worker") {
			workers++
		}
	}
	count(own.roles.String())
	for _, bag := range peers.units {
		count(bag[keyRole])
	}
	state := juju.Active
	msg := fmt.Sprintf("%s, %s, Concourse %s (mode %s)", plural(webs, "web", "webs"), plural(workers, "worker", "workers"), cfg.Version, cfg.Mode)
	if webs == 0 && cfg.Mode != ModeWorker {
		state = juju.Waiting
	}
	if own.appNote != "" {
		msg += "; " + own.appNote
	}
	if own.appHalt != "" {
		state, msg = juju.Blocked, own.appHalt
	}
	// A halted rollout says more than the leader's own part in it (a held downgrade blocks both).
	if st, m := own.unitStatus(cfg.Version, ""); st == juju.Blocked && own.appHalt == "" {
		state, msg = juju.Blocked, c.env.UnitName+": "+m
	}
	if err := c.tools.AppStatusSet(ctx, juju.Status{State: state, Message: msg}); err != nil {
		fmt.Fprintf(c.out, "application status: %v\n", err)
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
