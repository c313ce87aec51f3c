package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/benchfig"
)

// rolloutArea names the rollout's rows in make bench's table.
const rolloutArea = "rollout 1 web + 3 workers (nspawn, stand-in)"

// recordRolloutFigures records, for `make bench` (BENCH_FIGURES set), what TestRollingUpgrade's
// rollout cost: downloads of the new version, the most units down at once, builds lost, and its
// wall time against the time its units spent restarting. A unit's restart is its own stop and
// start: the web's from "web stopping" to "web started", a worker's from "landed" (its builds
// over) to "started"; what is left of the wall time is the protocol (hooks, turns handed out one
// after another, health checks) and the builds' drain.
func recordRolloutFigures(t *testing.T, downloads int, tl timeline, wall time.Duration) {
	t.Helper()
	var restarts, drains time.Duration
	for _, w := range tl.windows {
		restarts += w.restart()
		drains += w.drained
	}
	secs := func(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }
	rec := func(name, goal string, met *bool, value string) {
		benchfig.Record(t, benchfig.Figure{Area: rolloutArea, Name: name, Value: value, Goal: goal, Met: met})
	}
	rec("V2 downloads", "1", benchfig.Verdict(downloads == 1), fmt.Sprint(downloads))
	rec("most units down at once", "1", benchfig.Verdict(tl.maxDown() == 1), fmt.Sprint(tl.maxDown()))
	rec("builds lost", "0", benchfig.Verdict(tl.lost() == 0), fmt.Sprint(tl.lost()))
	rec("rollout wall time (config to settled)", "", nil, secs(wall))
	rec("sum of the units' own restarts", "", nil, fmt.Sprintf("%s (%d units)", secs(restarts), len(tl.windows)))
	rec("sum of drains (a build finishing)", "", nil, secs(drains))
	if restarts > 0 {
		rec("wall / sum of restarts", "", nil, fmt.Sprintf("%.1fx", wall.Seconds()/restarts.Seconds()))
		rec("(wall - drains) / sum of restarts", "", nil, fmt.Sprintf("%.1fx", (wall-drains).Seconds()/restarts.Seconds()))
	}
	if n := len(tl.windows); n > 0 {
		rec("protocol per turn: (wall - drains - restarts) / turns", "", nil, secs((wall-drains-restarts)/time.Duration(n)))
	}
}

// recordRolloutSkipped says in the table why the rollout was not measured.
func recordRolloutSkipped(t *testing.T) {
	t.Helper()
	if built.provider != "nspawn" {
		benchfig.Recordf(t, rolloutArea, "not measured", "", nil, "needs nspawn machines (provider %s: %s)", built.provider, built.skip)
	}
}
