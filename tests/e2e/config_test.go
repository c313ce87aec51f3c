package e2e

import (
	"strings"
	"testing"
)

// TestDay2OptionsReachConcourse: tsa-port moves the TSA and the workers follow it through relation
// data; admin-username renames the admin (the old name is refused, the password kept, the secret
// tells the new name); worker-team, baggageclaim-driver and a worker-only extra-env line reach the
// workers; an extra-env line naming a variable the charm manages is refused naming it, without
// its value anywhere, and restarts nothing.
func TestDay2OptionsReachConcourse(t *testing.T) {
	t.Parallel()
	m := newConcourseModel(t)
	m.deploy("concourse-ci", 2)
	m.juju("wait")
	web, worker := "concourse-ci/0", "concourse-ci/1"
	m.registered(web, []string{workerName(worker)})
	_, oldPW := m.adminPassword(web)

	m.juju("config", "concourse-ci", "tsa-port=2223", "admin-username=ops", "worker-team=main",
		"baggageclaim-driver=naive", "extra-env=worker:CONCOURSE_EPHEMERAL=true")
	m.juju("wait")
	if p := strings.Join(m.status().Applications["concourse-ci"].Units[web].OpenPorts, ","); p != "2223/tcp,8080/tcp" {
		t.Errorf("web ports %s, want 2223/tcp,8080/tcp", p)
	}
	user, pw := m.adminPassword(web)
	if user != "ops" || pw != oldPW {
		t.Errorf("get-admin-password: %q (same password %v), want ops with the same password", user, pw == oldPW)
	}
	// Registered again through the TSA's new port: the web no longer listens on 2222.
	m.registered(web, []string{workerName(worker)})
	var workers []struct {
		Name               string `json:"name"`
		Team               string `json:"team"`
		BaggageclaimDriver string `json:"baggageclaim_driver"`
	}
	if err := m.api(web, "/api/v1/workers", "ops", pw, &workers); err != nil {
		t.Fatal(err)
	}
	if len(workers) != 1 || workers[0].Team != "main" || workers[0].BaggageclaimDriver != "naive" {
		t.Errorf("workers %+v, want one of team main with the naive driver", workers)
	}
	if err := m.api(web, "/api/v1/workers", "admin", pw, &workers); err == nil {
		t.Error("the old admin name still logs in")
	}
	env := m.juju("exec", "--unit", worker, "--", "cat", "/var/lib/concourse-data/worker/worker.env")
	for _, line := range []string{"CONCOURSE_EPHEMERAL=true", "CONCOURSE_TEAM=main"} {
		if !strings.Contains(env, line+"\n") {
			t.Errorf("worker.env lacks %s", line)
		}
	}
	if !strings.Contains(env, ":2223\n") || strings.Contains(env, ":2222") {
		t.Errorf("worker does not dial the TSA on 2223:\n%s", env)
	}
	webEnv := m.juju("exec", "--unit", web, "--", "cat", "/var/lib/concourse-data/web/web.env")
	if strings.Contains(webEnv, "EPHEMERAL") {
		t.Error("a worker: line reached the web")
	}

	invocations := map[string]string{web: m.invocation(web, "concourse-web"), worker: m.invocation(worker, "concourse-worker")}
	const secret = "hunter2-in-extra-env"
	m.juju("config", "concourse-ci", "extra-env=CONCOURSE_POSTGRES_PASSWORD="+secret)
	m.juju("wait")
	for _, u := range []string{web, worker} {
		st, msg := m.unitStatus(u)
		if st != "blocked" || !strings.Contains(msg, `"extra-env"`) || !strings.Contains(msg, "CONCOURSE_POSTGRES_PASSWORD") {
			t.Errorf("%s: %s %q, want blocked naming extra-env and the variable", u, st, msg)
		}
		if strings.Contains(msg, secret) {
			t.Errorf("%s: status shows the value: %q", u, msg)
		}
		if log, _ := m.cmd("debug-log", u, "--lines", "200"); strings.Contains(log, secret) {
			t.Errorf("%s: debug-log shows the value", u)
		}
	}
	if got := m.invocation(web, "concourse-web"); got != invocations[web] {
		t.Error("a refused extra-env restarted the web")
	}
	if got := m.invocation(worker, "concourse-worker"); got != invocations[worker] {
		t.Error("a refused extra-env restarted the worker")
	}
	m.registered(web, []string{workerName(worker)}) // still registered
}
