package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRolloutHaltsOnFailedHealth: the second worker's healthcheck answers 503 (the stand-in's fault
// switch) when its turn comes: the rollout halts there, that worker goes back to V1, so two units
// still run V1, registered; the unit, the application and upgrade-status tell an operator what
// failed and what to run. Once the fault is cleared, upgrade-resume on the leader completes the
// rollout. At most one unit is ever down. The failed check waits out its 2-minute bound.
func TestRolloutHaltsOnFailedHealth(t *testing.T) {
	t.Parallel()
	m := newRolloutModel(t, 4, []string{version, v2}, "--config", "drain-timeout=1m")
	m.registered(rolloutWeb, workerNames(rolloutWorkers))
	const faulty = "concourse-ci/2"
	m.juju("exec", "--unit", faulty, "--", "sh", "-c", "echo injected by TestRolloutHaltsOnFailedHealth > /run/standin-unhealthy")

	since := time.Now()
	m.juju("config", "concourse-ci", "version="+v2)
	m.juju("wait")

	p := m.rolloutPlan()
	if p.Turn != faulty || !strings.Contains(p.Halted, "unit "+faulty+" failed to move to "+v2) {
		t.Fatalf("plan %+v, want halted on %s", p, faulty)
	}
	// Two units on V1, both registered and serving; the two before them on V2.
	want := map[string]string{
		workerName("concourse-ci/1"): "running " + v2,
		workerName(faulty):           "running " + version,
		workerName("concourse-ci/3"): "running " + version,
	}
	m.registered(rolloutWeb, workerNames(rolloutWorkers))
	for name, got := range m.workerVersions(rolloutWeb) {
		if got != want[name] {
			t.Errorf("worker %s: %s, want %s", name, got, want[name])
		}
	}
	if got := m.infoVersion(rolloutWeb); got != v2 {
		t.Errorf("the web reports %s, want %s", got, v2)
	}
	// What the operator reads.
	for unit, want := range map[string][]string{
		faulty: {"blocked", "back on " + version, "upgrade to " + v2 + " failed: worker healthcheck: HTTP 503",
			"fault injected", "juju run concourse-ci/leader upgrade-resume"},
		"concourse-ci/3": {"active", "worker " + version, v2 + " ready, waiting for its upgrade turn"},
	} {
		st, msg := m.unitStatus(unit)
		for _, w := range want[1:] {
			if st != want[0] || !strings.Contains(msg, w) {
				t.Errorf("%s: %s %q, want %s saying %q", unit, st, msg, want[0], w)
			}
		}
	}
	app := m.status().Applications["concourse-ci"].ApplicationStatus
	for _, w := range []string{"rollout to " + v2 + " halted", faulty, "upgrade-resume"} {
		if app.Current != "blocked" || !strings.Contains(app.Message, w) {
			t.Errorf("application status %s %q, want blocked saying %q", app.Current, app.Message, w)
		}
	}
	out := m.juju("run", "concourse-ci/3", "upgrade-status")
	for _, w := range []string{"halted: 'unit " + faulty + " failed to move to " + v2, "failed: worker healthcheck", "waiting: the rollout is halted", "upgrade-resume"} {
		if !strings.Contains(out, w) {
			t.Errorf("upgrade-status does not say %q:\n%s", w, out)
		}
	}
	_, msg := m.unitStatus(faulty)
	t.Logf("halted: %s %q; application %q", faulty, msg, app.Message)

	// The fault clears; the operator resumes on the leader.
	m.juju("exec", "--unit", faulty, "--", "rm", "/run/standin-unhealthy")
	out = m.juju("run", m.leaderOf("concourse-ci"), "upgrade-resume")
	if !strings.Contains(out, "resumed:") {
		t.Errorf("upgrade-resume printed:\n%s", out)
	}
	m.juju("wait")
	tl := m.rolloutTimeline(since, rolloutWeb, rolloutWorkers)
	t.Logf("timeline:\n%s", tl)
	for _, p := range tl.problems {
		t.Error(p)
	}
	if n := tl.maxDown(); n != 1 {
		t.Errorf("%d units down at once, want 1", n)
	}
	// The web, ci/1, ci/2 to V2, ci/2 back to V1, then after the resume ci/2 again and ci/3.
	wantOrder := []string{rolloutWeb, "concourse-ci/1", faulty, faulty, faulty, "concourse-ci/3"}
	if got := tl.order(); strings.Join(got, " ") != strings.Join(wantOrder, " ") {
		t.Errorf("units went down in the order %v, want %v", got, wantOrder)
	}
	wantAllOn(t, m, v2)
	if n := m.srv.downloads(v2); n != 1 {
		t.Errorf("%d downloads of %s, want 1", n, v2)
	}
	if _, err := os.Stat(filepath.Join(m.shared, "releases", version+"-amd64")); !os.IsNotExist(err) {
		t.Errorf("%s still on shared storage after the resumed rollout (err %v)", version, err)
	}
}

// leaderOf is the application's leader unit (what `juju run app/leader` reaches).
func (m *model) leaderOf(app string) string {
	m.t.Helper()
	for name, u := range m.status().Applications[app].Units {
		if u.Leader {
			return name
		}
	}
	m.t.Fatalf("%s has no leader", app)
	return ""
}
