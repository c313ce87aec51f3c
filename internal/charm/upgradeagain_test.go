package charm

import (
	"slices"
	"strings"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
)

// TestLeaderLastCompletesInItsOwnHook: the leader is the last unit to move (leadership moved to a
// worker). In the hook of its own switch it marks itself done, so the plan is complete, the
// application no longer says "rolling out" and the old release is gone (collected in the same
// hook: the leader's reference moved first), without waiting for a
// later hook (no hook tells a leader about its own writes).
func TestLeaderLastCompletesInItsOwnHook(t *testing.T) {
	t.Parallel()
	srv := serveReleases(t, "1.2.3", "1.2.4")
	m, _, root := sharedModel(t, srv)
	units := unitNames(4)
	reconcileAll(t, m, units)
	m.mu.Lock()
	m.leader = "concourse-ci/3"
	m.mu.Unlock()
	m.setConfig("version", "1.2.4")
	for round := 0; round < 8; round++ {
		moved := hookRound(t, m, units)
		if !slices.ContainsFunc(moved, func(s string) bool { return strings.HasPrefix(s, "concourse-ci/3:") }) {
			continue
		}
		// The round in which the leader moved, last of all.
		if !allOn(m, units, "1.2.4") {
			t.Fatalf("the leader moved before the others: plan %s", m.app[keyRollout])
		}
		if p := readPlan(m.app); p.Turn != "" || len(p.Done) != 4 {
			t.Errorf("plan %s after the leader's own switch, want complete", m.app[keyRollout])
		}
		if st := m.appStatus; st.State != juju.Active || strings.Contains(st.Message, "rolling out") {
			t.Errorf("application status %+v after the leader's own switch, want active, no rollout", st)
		}
		if _, _, ok, _ := root.Release("1.2.3", "amd64"); ok {
			t.Error("1.2.3 still on the shared root after the last switch")
		}
		return
	}
	t.Fatalf("the leader never moved: plan %s", m.app[keyRollout])
}
