package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
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

// TestWebStaysOnLeadershipChangeMovesWhenItsUnitLeaves: in mode auto the web unit is chosen once;
// a new leader does not move it, removing that unit does, and the workers re-register.
func TestWebStaysOnLeadershipChangeMovesWhenItsUnitLeaves(t *testing.T) {
	t.Parallel()
	m := newConcourseModel(t)
	m.deploy("concourse-ci", 3)
	m.juju("wait")
	m.registered("concourse-ci/0", []string{workerName("concourse-ci/1"), workerName("concourse-ci/2")})
	web0 := m.invocation("concourse-ci/0", "concourse-web")

	m.juju("set-leader", "concourse-ci/1")
	m.juju("wait")
	if got := m.invocation("concourse-ci/0", "concourse-web"); got != web0 {
		t.Errorf("a leadership change restarted the web (InvocationID %s -> %s)", web0, got)
	}
	if s := m.activeState("concourse-ci/1", "concourse-web"); s == "active" {
		t.Fatal("the new leader started a web: leadership moved the web")
	}
	m.registered("concourse-ci/0", []string{workerName("concourse-ci/1"), workerName("concourse-ci/2")})

	m.juju("remove-unit", "concourse-ci/0")
	m.juju("wait")
	// The leader (concourse-ci/1) takes web over; concourse-ci/2 registers with it.
	if st, msg := m.unitStatus("concourse-ci/1"); st != "active" || !strings.HasPrefix(msg, "web "+version) {
		t.Errorf("concourse-ci/1: %s %q, want the web", st, msg)
	}
	if s := m.activeState("concourse-ci/1", "concourse-worker"); s == "active" {
		t.Error("the new web unit still runs its worker")
	}
	// concourse-ci/2 re-registers through the new web's TSA. concourse-ci/1's own worker is
	// retired (by name through the new web when the old web went first: docs/graceful.md, and
	// TestPromotedWebLeavesNoStalledWorker); here it only must not be counted as running.
	user, pw := m.adminPassword("concourse-ci/1")
	deadline := time.Now().Add(60 * time.Second)
	for {
		var ws []worker
		err := m.api("concourse-ci/1", "/api/v1/workers", user, pw, &ws)
		running := map[string]bool{}
		for _, w := range ws {
			running[w.Name] = w.State == "running" && slices.Contains(w.TSAPeers, m.address("concourse-ci/1"))
		}
		if err == nil && running[workerName("concourse-ci/2")] && !running[workerName("concourse-ci/1")] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("new web lists %+v (%v), want concourse-ci-2 running through it", ws, err)
		}
		time.Sleep(500 * time.Millisecond) // registration is asynchronous to the hooks
	}
}

// TestModeAllRunsWebHA: mode=all on 2 units gives two webs with the same keys, each its own peer
// address, and each worker registered through both TSAs.
func TestModeAllRunsWebHA(t *testing.T) {
	t.Parallel()
	m := newConcourseModel(t)
	m.deploy("concourse-ci", 2, "--config", "mode=all")
	m.juju("wait")
	a, b := m.address("concourse-ci/0"), m.address("concourse-ci/1")
	both := []string{workerName("concourse-ci/0"), workerName("concourse-ci/1")}
	for _, web := range []string{"concourse-ci/0", "concourse-ci/1"} {
		m.registered(web, both, a, b)
		if st, msg := m.unitStatus(web); st != "active" || !strings.HasPrefix(msg, "web+worker "+version+", 2 TSA hosts") {
			t.Errorf("%s: %s %q", web, st, msg)
		}
	}
	for _, f := range []string{"session_signing_key", "tsa_host_key"} {
		sum := func(unit string) string {
			return strings.Fields(m.juju("exec", "--unit", unit, "--", "sha256sum", "/var/lib/concourse-data/web/"+f))[0]
		}
		if sum("concourse-ci/0") != sum("concourse-ci/1") {
			t.Errorf("%s differs between the webs", f)
		}
	}
	for unit, addr := range map[string]string{"concourse-ci/0": a, "concourse-ci/1": b} {
		env := m.juju("exec", "--unit", unit, "--", "grep", "^CONCOURSE_PEER_ADDRESS=", "/var/lib/concourse-data/web/web.env")
		if strings.TrimSpace(env) != "CONCOURSE_PEER_ADDRESS="+addr {
			t.Errorf("%s: %q, want its own address %s", unit, env, addr)
		}
	}
}

// TestWebAndWorkerApplications: a worker application meets a web application over flight/tsa;
// without the relation it is blocked with the command that fixes it.
func TestWebAndWorkerApplications(t *testing.T) {
	t.Parallel()
	m := newConcourseModel(t)
	m.deploy("web", 1, "--config", "mode=web")
	args := deployArgs(m.model, m.srv, 1, "--config", "mode=worker")
	args[2] = "worker"
	m.juju(args...)
	m.juju("wait")
	if st, msg := m.unitStatus("worker/0"); st != "blocked" || !strings.Contains(msg, "juju integrate worker:flight <web-application>:tsa") {
		t.Errorf("worker/0 without a TSA: %s %q", st, msg)
	}
	if st, msg := m.unitStatus("web/0"); st != "active" || !strings.HasPrefix(msg, "web "+version) {
		t.Errorf("web/0: %s %q", st, msg)
	}
	m.juju("integrate", "worker:flight", "web:tsa")
	m.juju("wait")
	m.registered("web/0", []string{workerName("worker/0")}, m.address("web/0"))
	if st, msg := m.unitStatus("worker/0"); st != "active" || !strings.HasPrefix(msg, "worker "+version+", 1 TSA host") {
		t.Errorf("worker/0: %s %q", st, msg)
	}
}

// TestRestartsOnlyWhatChanged: a worker joining reloads the web (same InvocationID); a
// worker-only option restarts the workers and not the web; a bad value restarts nothing.
func TestRestartsOnlyWhatChanged(t *testing.T) {
	t.Parallel()
	m := newConcourseModel(t)
	m.deploy("concourse-ci", 2)
	m.juju("wait")
	m.registered("concourse-ci/0", []string{workerName("concourse-ci/1")})
	web := m.invocation("concourse-ci/0", "concourse-web")
	keys := func() string {
		return m.juju("exec", "--unit", "concourse-ci/0", "--", "cat", "/var/lib/concourse-data/web/authorized_worker_keys")
	}
	before := strings.Count(keys(), "ssh-rsa ")

	m.juju("add-unit", "concourse-ci")
	m.juju("wait")
	m.registered("concourse-ci/0", []string{workerName("concourse-ci/1"), workerName("concourse-ci/2")})
	if got := m.invocation("concourse-ci/0", "concourse-web"); got != web {
		t.Errorf("a worker joining restarted the web (InvocationID %s -> %s)", web, got)
	}
	if n := strings.Count(keys(), "ssh-rsa "); n != before+1 {
		t.Errorf("authorized keys went from %d to %d, want one more", before, n)
	}
	reloaded := m.juju("exec", "--unit", "concourse-ci/0", "--", "journalctl", "--unit", "concourse-web", "--output", "cat", "--no-pager")
	if !strings.Contains(reloaded, "reloaded") {
		t.Errorf("the web never logged a reload:\n%s", reloaded)
	}

	workers := map[string]string{}
	for _, u := range []string{"concourse-ci/1", "concourse-ci/2"} {
		workers[u] = m.invocation(u, "concourse-worker")
	}
	m.juju("config", "concourse-ci", "worker-tags=e2e")
	m.juju("wait")
	if got := m.invocation("concourse-ci/0", "concourse-web"); got != web {
		t.Errorf("worker-tags restarted the web (InvocationID %s -> %s)", web, got)
	}
	for u, inv := range workers {
		now := m.invocation(u, "concourse-worker")
		if now == inv {
			t.Errorf("%s: worker-tags did not restart the worker", u)
		}
		workers[u] = now
	}
	for _, w := range m.registered("concourse-ci/0", []string{workerName("concourse-ci/1"), workerName("concourse-ci/2")}) {
		if strings.Join(w.Tags, ",") != "e2e" {
			t.Errorf("%s tags %v, want [e2e]", w.Name, w.Tags)
		}
	}

	m.juju("config", "concourse-ci", "worker-tags=not a tag")
	m.juju("wait")
	for _, u := range []string{"concourse-ci/0", "concourse-ci/1", "concourse-ci/2"} {
		if st, msg := m.unitStatus(u); st != "blocked" || !strings.Contains(msg, `"worker-tags"`) {
			t.Errorf("%s: %s %q, want blocked naming worker-tags", u, st, msg)
		}
	}
	if got := m.invocation("concourse-ci/0", "concourse-web"); got != web {
		t.Errorf("a bad value restarted the web")
	}
	for u, inv := range workers {
		if now := m.invocation(u, "concourse-worker"); now != inv {
			t.Errorf("%s: a bad value restarted the worker", u)
		}
	}
}

// TestRemovedWorkerIsRetired: removing a worker unit retires its worker (never left stalled), and
// its key leaves the web with a reload, not a restart.
func TestRemovedWorkerIsRetired(t *testing.T) {
	t.Parallel()
	m := newConcourseModel(t)
	m.deploy("concourse-ci", 3)
	m.juju("wait")
	m.registered("concourse-ci/0", []string{workerName("concourse-ci/1"), workerName("concourse-ci/2")})
	web := m.invocation("concourse-ci/0", "concourse-web")

	m.juju("remove-unit", "concourse-ci/2")
	m.juju("wait")
	m.registered("concourse-ci/0", []string{workerName("concourse-ci/1")})
	keys := m.juju("exec", "--unit", "concourse-ci/0", "--", "cat", "/var/lib/concourse-data/web/authorized_worker_keys")
	if n := strings.Count(keys, "ssh-rsa "); n != 1 {
		t.Errorf("web authorizes %d keys after the removal, want 1", n)
	}
	if got := m.invocation("concourse-ci/0", "concourse-web"); got != web {
		t.Errorf("removing a worker restarted the web")
	}
	hooks := m.hooks("concourse-ci/2")
	if len(hooks) == 0 || hooks[len(hooks)-1] != "remove" {
		t.Errorf("concourse-ci/2 ran %v, want it to end with remove", hooks)
	}
}

// TestRefusedDatabaseCredentialsShowInStatus: when PostgreSQL refuses the web's credentials, the
// web unit's status says so (the service's own last words), instead of claiming to be active.
func TestRefusedDatabaseCredentialsShowInStatus(t *testing.T) {
	t.Parallel()
	m := newConcourseModel(t)
	m.deploy("concourse-ci", 1)
	m.juju("wait")
	st := m.modelState()
	user := latestSecret(t, st, relationBetween(t, st, "concourse-ci", "postgresql").AppData["postgresql"]["secret-user"])["username"]
	admin, err := m.pg.Open("postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec(`ALTER ROLE "` + user + `" PASSWORD 'changed-behind-the-charm'`); err != nil {
		t.Fatal(err)
	}
	m.juju("exec", "--unit", "concourse-ci/0", "--", "systemctl", "restart", "concourse-web")
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; ; i++ {
		// A hook on the concourse units only (update-status would also let the provider charm
		// heal the password): a worker-only option, so the web is not restarted by it.
		m.juju("config", "concourse-ci", fmt.Sprintf("worker-tags=round-%d", i))
		m.juju("wait")
		state, msg := m.unitStatus("concourse-ci/0")
		if state == "blocked" && strings.Contains(msg, "concourse-web is not running") && strings.Contains(msg, user) {
			break
		}
		if time.Now().After(deadline) {
			m.journals()
			t.Fatalf("status %s %q, want blocked saying the web cannot log in as %s", state, msg, user)
		}
	}
}
