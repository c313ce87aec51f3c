package charm

import (
	"slices"
	"strings"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
)

// haltedRollout is 1 web + 3 workers on shared storage whose rollout from 1.2.3 to 1.2.4 halted
// on concourse-ci/2's health check: the web and concourse-ci/1 moved, concourse-ci/3 did not.
func haltedRollout(t *testing.T) (*fakeModel, []string) {
	t.Helper()
	srv := serveReleases(t, "1.2.3", "1.2.4")
	m, _, _ := sharedModel(t, srv)
	units := unitNames(4)
	reconcileAll(t, m, units)
	m.unhealthy = map[string]string{"concourse-ci/2": "worker healthcheck: HTTP 503: not registered with any TSA"}
	m.setConfig("version", "1.2.4")
	for range 8 {
		hookRound(t, m, units)
	}
	if !strings.Contains(readPlan(m.app).Halted, "concourse-ci/2") {
		t.Fatalf("the rollout did not halt on concourse-ci/2: %s", m.app[keyRollout])
	}
	return m, units
}

// TestUpgradeStatusTellsEachUnitsPlace: on any unit, each unit's version and where it stands
// (done, failed with the reason, waiting), the plan, and what the operator runs next.
func TestUpgradeStatusTellsEachUnitsPlace(t *testing.T) {
	t.Parallel()
	m, _ := haltedRollout(t)
	run := runTestAction(t, m, "concourse-ci/3", "upgrade-status", "")
	run.mustSucceed(t)
	want := map[string]string{
		"configured-version":           "1.2.4",
		"plan.from":                    "1.2.3",
		"plan.to":                      "1.2.4",
		"plan.turn":                    "concourse-ci/2",
		"highest-web-version":          "1.2.4",
		"units.concourse-ci-0.role":    "web",
		"units.concourse-ci-0.stands":  "done",
		"units.concourse-ci-0.version": "1.2.4",
		"units.concourse-ci-1.stands":  "done",
		"units.concourse-ci-2.version": "1.2.3",
		"units.concourse-ci-2.stands":  "failed: worker healthcheck: HTTP 503: not registered with any TSA",
		"units.concourse-ci-3.version": "1.2.3",
		"units.concourse-ci-3.stands":  "waiting: the rollout is halted",
	}
	for k, v := range want {
		if run.results[k] != v {
			t.Errorf("%s = %q, want %q", k, run.results[k], v)
		}
	}
	for _, s := range []string{"rollout to 1.2.4 halted", "concourse-ci/2 failed to move to 1.2.4: worker healthcheck", "juju run concourse-ci/leader upgrade-resume"} {
		if !strings.Contains(run.results["summary"], s) {
			t.Errorf("summary %q does not say %q", run.results["summary"], s)
		}
		if app := m.appStatus; app.State != juju.Blocked || !strings.Contains(app.Message, s) {
			t.Errorf("application status %+v does not say %q", app, s)
		}
	}
	if run.mentions("relation-set") || len(m.runners["concourse-ci/3"].Calls("relation-set")) != 0 {
		t.Error("upgrade-status wrote relation data")
	}
}

// TestUpgradeStatusBeforeAnyRollout: a fresh model's units are done at their version, and the
// summary says so.
func TestUpgradeStatusBeforeAnyRollout(t *testing.T) {
	t.Parallel()
	m := settledPair(t)
	run := runTestAction(t, m, "concourse-ci/1", "upgrade-status", "")
	run.mustSucceed(t)
	if run.results["units.concourse-ci-1.stands"] != "done" || !strings.Contains(run.results["summary"], "all 2 units run") {
		t.Errorf("results %v", run.results)
	}
}

// TestUpgradeResume: refused off the leader and when nothing is halted; after the fault clears,
// resume gives the failed unit its turn again and the rollout completes.
func TestUpgradeResume(t *testing.T) {
	t.Parallel()
	m, units := haltedRollout(t)
	runTestAction(t, m, "concourse-ci/2", "upgrade-resume", "").
		mustFail(t, "only the leader", "juju run concourse-ci/leader upgrade-resume")
	m.unhealthy = nil
	hookRound(t, m, units)
	if readPlan(m.app).Halted == "" {
		t.Fatal("the halt lifted without the operator")
	}
	run := runTestAction(t, m, "concourse-ci/0", "upgrade-resume", "")
	run.mustSucceed(t)
	if !strings.Contains(run.results["resumed"], "concourse-ci/2 failed") || !strings.Contains(run.results["message"], "concourse-ci/2 tries its switch to 1.2.4 again") {
		t.Errorf("results %v", run.results)
	}
	for round := 0; round < 6 && !allOn(m, units, "1.2.4"); round++ {
		hookRound(t, m, units)
	}
	if !allOn(m, units, "1.2.4") {
		t.Fatalf("after upgrade-resume: plan %s", m.app[keyRollout])
	}
	hookRound(t, m, units)
	runTestAction(t, m, "concourse-ci/0", "upgrade-resume", "").
		mustFail(t, "nothing is halted", "all 4 units run 1.2.4", "upgrade-status")
}

// TestUpgradeResumeWithNoPlan: before the leader has planned anything there is nothing to resume.
func TestUpgradeResumeWithNoPlan(t *testing.T) {
	t.Parallel()
	m := settledPair(t)
	delete(m.app, keyRollout)
	runTestAction(t, m, "concourse-ci/0", "upgrade-resume", "").mustFail(t, "no rollout has been planned yet")
}

// TestUpgradeRollbackRefusedWhenMigrationsDiffer: the web ran 1.2.4, whose migrations 1.2.3 does
// not know: refused with the route (N from 1.2.3's binary) and nothing written; after the
// operator's database-migrated=true every unit goes back to 1.2.3, web first, and stays there
// although the configuration still says 1.2.4.
func TestUpgradeRollbackRefusedWhenMigrationsDiffer(t *testing.T) {
	t.Parallel()
	m, units := haltedRollout(t)
	m.dbVersions = map[string]int64{"1.2.3": 1700000100, "1.2.4": 1700000200}
	runTestAction(t, m, "concourse-ci/1", "upgrade-rollback", "").
		mustFail(t, "only the leader", "juju run concourse-ci/leader upgrade-rollback")
	plan := m.app[keyRollout]
	run := runTestAction(t, m, "concourse-ci/0", "upgrade-rollback", "")
	run.mustFail(t, "cannot roll back to 1.2.3: a web unit has run 1.2.4", "1.2.3 knows up to 1700000100, 1.2.4 up to 1700000200",
		"with the 1.2.4 binary run `concourse migrate --migrate-db-to-version=1700000100`",
		"juju run concourse-ci/leader upgrade-rollback database-migrated=true")
	if m.app[keyRollout] != plan {
		t.Fatalf("a refused rollback changed the plan: %s", m.app[keyRollout])
	}
	m.unhealthy = nil
	run = runTestAction(t, m, "concourse-ci/0", "upgrade-rollback", `{"database-migrated":true}`)
	run.mustSucceed(t)
	if run.results["to"] != "1.2.3" || run.results["abandoned"] != "1.2.4" || !strings.Contains(run.results["message"], "juju config concourse-ci version=1.2.3") {
		t.Errorf("results %v", run.results)
	}
	// The leader is the web: it took the first turn and switched in the action itself.
	if web, worker := m.runningVersion("concourse-ci/0"), m.runningVersion("concourse-ci/1"); web != "1.2.3" || worker != "1.2.4" {
		t.Fatalf("after the action the web runs %s and concourse-ci/1 %s, want the web back first", web, worker)
	}
	var history []string
	for round := 0; round < 8 && !allOn(m, units, "1.2.3"); round++ {
		moved := hookRound(t, m, units)
		// concourse-ci/2, whose 1.2.4 failed, goes back to the 1.2.3 it last ran healthy with
		// no turn: it is down already. The others take turns.
		turns := slices.DeleteFunc(slices.Clone(moved), func(s string) bool { return s == "concourse-ci/2:1.2.4->1.2.3" })
		if len(turns) > 1 {
			t.Errorf("round %d moved %v at once", round, moved)
		}
		history = append(history, moved...)
	}
	if !allOn(m, units, "1.2.3") {
		t.Fatalf("after the rollback: history %v, plan %s", history, m.app[keyRollout])
	}
	for range 2 {
		hookRound(t, m, units)
	}
	if !allOn(m, units, "1.2.3") {
		t.Errorf("the configured 1.2.4 came back after the rollback: plan %s", m.app[keyRollout])
	}
}

// TestUpgradeRollbackWithTheSameMigrations: versions with the same migrations roll back at once.
func TestUpgradeRollbackWithTheSameMigrations(t *testing.T) {
	t.Parallel()
	m, units := haltedRollout(t)
	m.dbVersions = map[string]int64{"1.2.3": 1700000100, "1.2.4": 1700000100}
	m.unhealthy = nil
	runTestAction(t, m, "concourse-ci/0", "upgrade-rollback", "").mustSucceed(t)
	for round := 0; round < 8 && !allOn(m, units, "1.2.3"); round++ {
		hookRound(t, m, units)
	}
	if !allOn(m, units, "1.2.3") {
		t.Fatalf("plan %s", m.app[keyRollout])
	}
}

// TestUpgradeRollbackUnknownMigrations: binaries that cannot tell count as different, and the
// route says how to find N.
func TestUpgradeRollbackUnknownMigrations(t *testing.T) {
	t.Parallel()
	m, _ := haltedRollout(t)
	runTestAction(t, m, "concourse-ci/0", "upgrade-rollback", "").
		mustFail(t, "cannot tell whether their database migrations differ", "--migrate-db-to-version=<N>",
			"N being what `concourse migrate --supported-db-version` of 1.2.3 prints")
}

// TestUpgradeRollbackNothingToGoBackTo: a fresh deployment's plan has no earlier version.
func TestUpgradeRollbackNothingToGoBackTo(t *testing.T) {
	t.Parallel()
	m := settledPair(t)
	run := runTestAction(t, m, "concourse-ci/0", "upgrade-rollback", "")
	run.mustFail(t, "nothing to go back to", "juju config concourse-ci version=<version>")
	if st := statusOf(m, "concourse-ci/0"); st.State != juju.Active {
		t.Errorf("a refused rollback changed the status: %+v", st)
	}
}
