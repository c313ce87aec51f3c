package charm

import (
	"strings"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
)

// upgradedModel is 1 web + 2 workers on shared storage that went from 1.2.3 to 1.2.4: the web
// has run 1.2.4, which the leader records as the database's floor.
func upgradedModel(t *testing.T) (*fakeModel, []string) {
	t.Helper()
	srv := serveReleases(t, "1.2.3", "1.2.4")
	m, _, _ := sharedModel(t, srv)
	units := unitNames(3)
	reconcileAll(t, m, units)
	m.setConfig("version", "1.2.4")
	for round := 0; round < 8 && !allOn(m, units, "1.2.4"); round++ {
		hookRound(t, m, units)
	}
	hookRound(t, m, units)
	if !allOn(m, units, "1.2.4") || m.app[keyWebFloor] != "1.2.4" {
		t.Fatalf("upgrade: plan %s, floor %q", m.app[keyRollout], m.app[keyWebFloor])
	}
	return m, units
}

// TestDowngradeTheDatabaseCannotTakeIsRefused: version=1.2.3 after a web ran 1.2.4, whose
// migrations 1.2.3 does not know: every unit keeps 1.2.4, the application and the leader are
// blocked with the route (N told by 1.2.3's own binary, fetched meanwhile); upgrade-resume, once
// the operator migrated down, lets the downgrade go, web first.
func TestDowngradeTheDatabaseCannotTakeIsRefused(t *testing.T) {
	t.Parallel()
	m, units := upgradedModel(t)
	m.dbVersions = map[string]int64{"1.2.3": 1700000100, "1.2.4": 1700000200}
	m.setConfig("version", "1.2.3")
	for range 4 {
		if moved := hookRound(t, m, units); len(moved) > 0 {
			t.Fatalf("units moved under a refused downgrade: %v", moved)
		}
	}
	if p := readPlan(m.app); !p.DBHold || p.Turn != "" {
		t.Fatalf("plan %s, want held with no turn", m.app[keyRollout])
	}
	app := m.appStatus
	for _, s := range []string{"rollout to 1.2.3 held: 1.2.3 is older than 1.2.4, which a web unit has run",
		"1.2.3 knows up to 1700000100, 1.2.4 up to 1700000200",
		"with the 1.2.4 binary run `concourse migrate --migrate-db-to-version=1700000100`",
		"then juju run concourse-ci/leader upgrade-resume", "to stay, juju config concourse-ci version=1.2.4"} {
		if app.State != juju.Blocked || !strings.Contains(app.Message, s) {
			t.Errorf("application status %+v does not say %q", app, s)
		}
	}
	if st := m.lastStatus("concourse-ci/0"); st.State != juju.Blocked || !strings.Contains(st.Message, "upgrade-resume") {
		t.Errorf("leader status %+v, want blocked with the route", st)
	}
	if st := m.lastStatus("concourse-ci/2"); st.State != juju.Active || !strings.Contains(st.Message, "1.2.3 ready, held until the database can take it") {
		t.Errorf("worker status %+v", st)
	}

	run := runTestAction(t, m, "concourse-ci/0", "upgrade-resume", "")
	run.mustSucceed(t)
	if !strings.Contains(run.results["message"], "the downgrade to 1.2.3 goes ahead") {
		t.Errorf("resume results %v", run.results)
	}
	if v := m.runningVersion("concourse-ci/0"); v != "1.2.3" {
		t.Errorf("the web (leader) runs %s after resume, want 1.2.3 first", v)
	}
	for round := 0; round < 6 && !allOn(m, units, "1.2.3"); round++ {
		hookRound(t, m, units)
	}
	if !allOn(m, units, "1.2.3") {
		t.Fatalf("after resume: plan %s", m.app[keyRollout])
	}
	hookRound(t, m, units)
	if st := m.appStatus; st.State != juju.Active || m.app[keyWebFloor] != "1.2.4" {
		t.Errorf("after the downgrade: application %+v, floor %q (it never decreases)", st, m.app[keyWebFloor])
	}
}

// TestDowngradeWithTheSameMigrationsGoesAhead: when both binaries report the same migrations the
// hold lifts by itself once 1.2.3 is fetched, and every unit moves back, one at a time.
func TestDowngradeWithTheSameMigrationsGoesAhead(t *testing.T) {
	t.Parallel()
	m, units := upgradedModel(t)
	m.dbVersions = map[string]int64{"1.2.3": 1700000100, "1.2.4": 1700000100}
	m.setConfig("version", "1.2.3")
	for round := 0; round < 8 && !allOn(m, units, "1.2.3"); round++ {
		if moved := hookRound(t, m, units); len(moved) > 1 {
			t.Errorf("round %d moved %v at once", round, moved)
		}
	}
	if !allOn(m, units, "1.2.3") {
		t.Fatalf("plan %s, application %+v", m.app[keyRollout], m.appStatus)
	}
}

// TestDowngradeUnknownMigrationsIsRefused: binaries that cannot tell count as different; the
// route says how to find N.
func TestDowngradeUnknownMigrationsIsRefused(t *testing.T) {
	t.Parallel()
	m, units := upgradedModel(t)
	m.setConfig("version", "1.2.3")
	for range 3 {
		hookRound(t, m, units)
	}
	if !allOn(m, units, "1.2.4") || !strings.Contains(m.appStatus.Message, "cannot tell whether their database migrations differ") || !strings.Contains(m.appStatus.Message, "N being what `concourse migrate --supported-db-version` of 1.2.3 prints") {
		t.Errorf("application %+v", m.appStatus)
	}
}

// TestUpgradeAgainAfterARefusedDowngrade: going back to the version the webs run ends the hold
// with nobody moved.
func TestUpgradeAgainAfterARefusedDowngrade(t *testing.T) {
	t.Parallel()
	m, units := upgradedModel(t)
	m.setConfig("version", "1.2.3")
	hookRound(t, m, units)
	m.setConfig("version", "1.2.4")
	for range 2 {
		if moved := hookRound(t, m, units); len(moved) > 0 {
			t.Errorf("moved %v", moved)
		}
	}
	if p := readPlan(m.app); p.Halted != "" || m.appStatus.State != juju.Active {
		t.Errorf("plan %s, application %+v", m.app[keyRollout], m.appStatus)
	}
}
