package e2e

import (
	"strings"
	"testing"
)

// TestDeployThreeUnitsRunsConcourse: `deploy -n 3` + postgresql gives one web and two workers
// registered with it, the web connected with the credentials from the provider's secret.
func TestDeployThreeUnitsRunsConcourse(t *testing.T) {
	t.Parallel()
	m := newConcourseModel(t)
	m.deploy("concourse-ci", 3)
	m.juju("wait")

	web := "concourse-ci/0" // the first leader
	m.registered(web, []string{workerName("concourse-ci/1"), workerName("concourse-ci/2")})
	for unit, want := range map[string]string{web: "web " + version, "concourse-ci/1": "worker " + version + ", 1 TSA host", "concourse-ci/2": "worker " + version + ", 1 TSA host"} {
		if st, msg := m.unitStatus(unit); st != "active" || !strings.HasPrefix(msg, want) {
			t.Errorf("%s: %s %q, want active %q", unit, st, msg, want)
		}
	}
	if s := m.activeState(web, "concourse-worker"); s == "active" {
		t.Errorf("web unit of a 3-unit app runs a worker too")
	}
	app := m.status().Applications["concourse-ci"]
	if app.Version != version || !strings.Contains(app.ApplicationStatus.Message, "1 web, 2 workers") {
		t.Errorf("application: version %q status %+v", app.Version, app.ApplicationStatus)
	}
	if ports := app.Units[web].OpenPorts; strings.Join(ports, ",") != "2222/tcp,8080/tcp" {
		t.Errorf("web ports %v, want 2222/tcp and 8080/tcp", ports)
	}
	if ports := app.Units["concourse-ci/1"].OpenPorts; len(ports) != 0 {
		t.Errorf("worker opened %v", ports)
	}

	// The web logged in to PostgreSQL as the user in the provider's secret.
	st := m.modelState()
	r := relationBetween(t, st, "concourse-ci", "postgresql")
	creds := latestSecret(t, st, r.AppData["postgresql"]["secret-user"])
	user, pw := m.adminPassword(web)
	var db struct{ User, Database string }
	if err := m.api(web, "/api/v1/standin/db", user, pw, &db); err != nil {
		t.Fatal(err)
	}
	if db.User != creds["username"] || db.Database != "concourse" {
		t.Errorf("web connected as %q to %q, want %q to concourse", db.User, db.Database, creds["username"])
	}
}
