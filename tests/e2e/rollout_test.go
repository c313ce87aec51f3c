package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// rolloutUnits: one web (the leader, mode auto), three workers.
var (
	rolloutWeb     = "concourse-ci/0"
	rolloutWorkers = []string{"concourse-ci/1", "concourse-ci/2", "concourse-ci/3"}
)

// TestRollingUpgrade: `config version=V2` on 1 web + 3 workers on shared storage, a build in
// progress on a worker: V2 downloaded once; the stand-in's records on every unit give a timeline
// with at most one unit down at any instant, the web first, then the workers by number, each
// landed before its restart (the busy one after its build, which finished); all units on V2 at
// the end (statuses, /api/v1/info, workers registered with V2), V1 gone from shared storage.
func TestRollingUpgrade(t *testing.T) {
	t.Parallel()
	recordRolloutSkipped(t)
	m := newRolloutModel(t, 4, []string{version, v2}, "--config", "drain-timeout=1m")
	m.registered(rolloutWeb, workerNames(rolloutWorkers))

	const build = 15 * time.Second
	since := time.Now()
	buildStart := m.startBuild("concourse-ci/2", build)
	m.juju("config", "concourse-ci", "version="+v2)
	m.juju("wait")
	wall := time.Since(since)

	tl := m.rolloutTimeline(since, rolloutWeb, rolloutWorkers)
	t.Logf("config version=%s to settled: %s; timeline:\n%s", v2, wall.Round(100*time.Millisecond), tl)
	for _, p := range tl.problems {
		t.Error(p)
	}
	if n := tl.maxDown(); n != 1 {
		t.Errorf("%d units down at once, want 1", n)
	}
	if want := append([]string{rolloutWeb}, rolloutWorkers...); !slices.Equal(tl.order(), want) {
		t.Errorf("units went down in the order %v, want %v (the web first, then the workers by number)", tl.order(), want)
	}
	if n := m.srv.downloads(v2); n != 1 {
		t.Errorf("%d downloads of %s for 4 units on one shared directory, want 1", n, v2)
	}
	// The busy worker landed once its build was over: the build finished, it was not cut.
	ev := m.workerEvents("concourse-ci/2")
	landing, i := find(ev, 0, "landing")
	landed, _ := find(ev, i, "landed")
	if i < 0 || landing.Containers != 1 || landed.Time.Before(buildStart.Add(build)) {
		t.Errorf("concourse-ci/2 events %s: want landing with its build's 1 container, landed after the build's end %s",
			eventNames(ev), buildStart.Add(build).Format(time.TimeOnly))
	}
	if tl.aborted != 0 {
		t.Errorf("%d builds aborted, want 0", tl.aborted)
	}
	// The web's own record agrees: each worker landed, then registered again.
	for _, u := range rolloutWorkers {
		ev := m.webEvents(rolloutWeb, workerName(u))
		_, i := find(ev, 0, "landed")
		if _, j := find(ev, i, "registered"); i < 0 || j < 0 {
			t.Errorf("web events of %s: %s, want landed, then registered again", u, eventNames(ev))
		}
	}
	wantAllOn(t, m, v2)
	if _, err := os.Stat(filepath.Join(m.shared, "releases", version+"-amd64")); !os.IsNotExist(err) {
		t.Errorf("%s still on shared storage after every unit moved to %s (err %v)", version, v2, err)
	}
	recordRolloutFigures(t, m.srv.downloads(v2), tl, wall)
}

// wantAllOn checks every unit's status names v, the web reports v, every worker is registered
// with a v binary, and the application's version and status say v with no rollout under way.
func wantAllOn(t *testing.T, m *rolloutModel, v string) {
	t.Helper()
	app := m.status().Applications["concourse-ci"]
	for name, u := range app.Units {
		if ws := u.WorkloadStatus; ws.Current != "active" || !strings.Contains(ws.Message, v) {
			t.Errorf("%s: %s %q, want active on %s", name, ws.Current, ws.Message, v)
		}
	}
	if app.Version != v || strings.Contains(app.ApplicationStatus.Message, "rolling out") {
		t.Errorf("application version %q, status %+v: want %s, no rollout under way", app.Version, app.ApplicationStatus, v)
	}
	if got := m.infoVersion(rolloutWeb); got != v {
		t.Errorf("/api/v1/info version %q, want %s", got, v)
	}
	m.registered(rolloutWeb, workerNames(rolloutWorkers))
	for name, got := range m.workerVersions(rolloutWeb) {
		if got != "running "+v {
			t.Errorf("worker %s: %s, want running %s", name, got, v)
		}
	}
	if p := m.rolloutPlan(); p.To != v || p.Turn != "" || p.Halted != "" {
		t.Errorf("plan %+v, want complete on %s", p, v)
	}
}

func workerNames(units []string) []string {
	var names []string
	for _, u := range units {
		names = append(names, workerName(u))
	}
	return names
}
