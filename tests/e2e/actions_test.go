package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// runAction runs action on unit with key=value params, as `juju run` does, and returns its
// results, or the error naming why it failed (action-fail's message).
func (m *model) runAction(unit, action string, params ...string) (map[string]any, error) {
	m.t.Helper()
	out, err := m.cmd(append([]string{"run", unit, action, "--format", "json"}, params...)...)
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, out)
	}
	res := map[string]any{}
	if i := strings.Index(out, "{"); i >= 0 {
		if err := json.Unmarshal([]byte(out[i:]), &res); err != nil {
			m.t.Fatalf("%s %s printed %q", unit, action, out)
		}
	}
	return res, nil
}

// mustFailAction runs an action that must fail, with a message holding every want.
func (m *model) mustFailAction(unit, action string, want ...string) {
	m.t.Helper()
	res, err := m.runAction(unit, action)
	if err == nil {
		m.t.Fatalf("%s on %s succeeded (%v), want a failure", action, unit, res)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			m.t.Errorf("%s on %s failed with %q, which does not say %q", action, unit, err, w)
		}
	}
}

// peerApp is the peer application bag of app.
func (m *model) peerApp(app string) map[string]string {
	m.t.Helper()
	st := m.modelState()
	for _, r := range st.Relations {
		if r.IsPeer() && len(r.Endpoints) == 1 && r.Endpoints[0].App == app {
			return r.AppData[app]
		}
	}
	m.t.Fatalf("no peer relation of %s", app)
	return nil
}

// workerState is the state the web on webUnit lists worker in ("" when it does not list it).
func (m *model) workerState(webUnit, worker, user, pw string) string {
	m.t.Helper()
	var ws []struct{ Name, State string }
	if err := m.api(webUnit, "/api/v1/workers", user, pw, &ws); err != nil {
		m.t.Fatal(err)
	}
	for _, w := range ws {
		if w.Name == worker {
			return w.State
		}
	}
	return ""
}

// TestDayTwoActions runs the actions on real machines with the stand-in Concourse: a new admin
// password is what the web accepts afterwards (and the old one is refused); land-worker lands the
// worker in the web and keeps it stopped through a config change until restart, which brings it
// back with that config; rotate-keys ends with every worker registered with the web presenting
// the new key and no rotation left in the peer data. The failing case of each comes first.
func TestDayTwoActions(t *testing.T) {
	t.Parallel()
	m := newConcourseModel(t)
	m.deploy("concourse-ci", 3)
	m.juju("wait")
	web, w1, w2 := "concourse-ci/0", "concourse-ci/1", "concourse-ci/2"
	m.registered(web, []string{workerName(w1), workerName(w2)})

	// set-admin-password
	m.mustFailAction(w1, "set-admin-password", "juju run concourse-ci/leader set-admin-password")
	user, oldPW := m.adminPassword(web)
	webBefore := m.invocation(web, "concourse-web")
	const newPW = "e2e-new-admin-password"
	res, err := m.runAction(web, "set-admin-password", "password="+newPW)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(fmt.Sprint(res), newPW) {
		t.Errorf("a chosen password is in the results: %v", res)
	}
	m.juju("wait")
	if _, pw := m.adminPassword(web); pw != newPW {
		t.Fatalf("get-admin-password says %q after set-admin-password", pw)
	}
	if got := m.invocation(web, "concourse-web"); got == webBefore {
		t.Error("the web was not restarted with the new password")
	}
	var ws []worker
	if err := m.api(web, "/api/v1/workers", user, newPW, &ws); err != nil {
		t.Errorf("the web refuses the new password: %v", err)
	}
	if err := m.api(web, "/api/v1/workers", user, oldPW, &ws); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("the web still accepts the old password (%v)", err)
	}
	if log, _ := m.cmd("debug-log", web, "--lines", "400"); strings.Contains(log, newPW) {
		t.Error("the password is in the unit's log")
	}

	// land-worker, held through a config change, then restart
	m.mustFailAction(web, "land-worker", "runs web only, no worker")
	if _, err := m.runAction(w1, "land-worker"); err != nil {
		t.Fatal(err)
	}
	if s := m.activeState(w1, "concourse-worker"); s == "active" {
		t.Fatal("the worker still runs after land-worker")
	}
	if got := m.workerState(web, workerName(w1), user, newPW); got != "landed" {
		t.Errorf("the web lists %s as %q, want landed", workerName(w1), got)
	}
	m.juju("config", "concourse-ci", "worker-tags=e2e")
	m.juju("wait")
	if s := m.activeState(w1, "concourse-worker"); s == "active" {
		t.Fatal("a config change started the landed worker again")
	}
	if st, msg := m.unitStatus(w1); st != "maintenance" || !strings.Contains(msg, "restart role=worker") {
		t.Errorf("%s: %s %q, want maintenance naming restart", w1, st, msg)
	}
	if _, err := m.runAction(w1, "restart", "role=worker"); err != nil {
		t.Fatal(err)
	}
	m.juju("wait")
	reg := m.registered(web, []string{workerName(w1), workerName(w2)})
	for _, w := range reg {
		if w.Name == workerName(w1) && strings.Join(w.Tags, ",") != "e2e" {
			t.Errorf("restarted worker has tags %v, want the e2e tag set while it was landed", w.Tags)
		}
	}
	if _, err := m.runAction(web, "restart", "role=worker"); err == nil || !strings.Contains(err.Error(), "runs no worker") {
		t.Errorf("restart role=worker on the web unit: %v, want a failure saying it runs no worker", err)
	}

	// rotate-keys
	m.mustFailAction(w1, "rotate-keys", "juju run concourse-ci/leader rotate-keys")
	oldKey := m.peerApp("concourse-ci")["tsa-public-key"]
	res, err = m.runAction(web, "rotate-keys")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rotate-keys: %v", res)
	m.juju("wait")
	app := m.peerApp("concourse-ci")
	if app["tsa-public-key"] == oldKey || app["tsa-public-key-next"] != "" || app["tsa-public-key-old"] != "" {
		t.Fatalf("after the rotation the peer data holds key changed=%v, next %q, old %q; app status %+v",
			app["tsa-public-key"] != oldKey, app["tsa-public-key-next"], app["tsa-public-key-old"], m.status().Applications["concourse-ci"].ApplicationStatus)
	}
	m.registered(web, []string{workerName(w1), workerName(w2)})
	for _, w := range []string{w1, w2} {
		// The stand-in worker logs every TSA whose host key it refuses: none may have been.
		out := m.juju("exec", "--unit", w, "--", "journalctl", "--unit", "concourse-worker", "--no-pager", "--output", "cat")
		if strings.Contains(out, "is not in CONCOURSE_TSA_PUBLIC_KEY") {
			t.Errorf("%s's worker refused the web's host key during the rotation:\n%s", w, out)
		}
	}
	if msg := m.status().Applications["concourse-ci"].ApplicationStatus.Message; strings.Contains(msg, "rotation") {
		t.Errorf("application status still mentions the rotation: %q", msg)
	}
}

// TestRotateKeysAcrossApplications: a worker application trusts the host key of the web
// application it is related to (flight/tsa); a rotation on the web application's leader waits for
// those workers and for both webs, and ends with every worker registered through both webs, none
// having refused a host key. The worker application cannot rotate a key it does not own.
func TestRotateKeysAcrossApplications(t *testing.T) {
	t.Parallel()
	m := newConcourseModel(t)
	m.deploy("web", 2, "--config", "mode=web")
	args := deployArgs(m.model, m.srv, 2, "--config", "mode=worker")
	args[2] = "worker"
	m.juju(args...)
	m.juju("integrate", "worker:flight", "web:tsa")
	m.juju("wait")
	workers := []string{workerName("worker/0"), workerName("worker/1")}
	webs := []string{m.address("web/0"), m.address("web/1")}
	m.registered("web/0", workers, webs...)

	m.mustFailAction("worker/0", "rotate-keys", "mode=worker", "run rotate-keys on its leader")
	oldKey := m.peerApp("web")["tsa-public-key"]
	if _, err := m.runAction("web/0", "rotate-keys"); err != nil {
		t.Fatal(err)
	}
	m.juju("wait")
	app := m.peerApp("web")
	if app["tsa-public-key"] == oldKey || app["tsa-public-key-next"] != "" || app["tsa-public-key-old"] != "" {
		t.Fatalf("after the rotation: key changed=%v, next %q, old %q; web status %+v", app["tsa-public-key"] != oldKey,
			app["tsa-public-key-next"], app["tsa-public-key-old"], m.status().Applications["web"].ApplicationStatus)
	}
	tsa := relationBetween(t, m.modelState(), "web", "worker").AppData["web"]
	if tsa["tsa-public-key"] != app["tsa-public-key"] || tsa["tsa-public-key-next"] != "" || tsa["tsa-public-key-old"] != "" {
		t.Errorf("the tsa relation's web data does not hold the new key alone: %v", tsa)
	}
	m.registered("web/0", workers, webs...)
	for _, w := range []string{"worker/0", "worker/1"} {
		out := m.juju("exec", "--unit", w, "--", "journalctl", "--unit", "concourse-worker", "--no-pager", "--output", "cat")
		if strings.Contains(out, "is not in CONCOURSE_TSA_PUBLIC_KEY") {
			t.Errorf("%s refused a web's host key during the rotation:\n%s", w, out)
		}
	}
}
