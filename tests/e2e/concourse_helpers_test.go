package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/pgtest"
)

// needMachines skips tests that run several Concourse web nodes: on the local provider every unit
// is a process on this host, so their ports would collide.
func needMachines(t *testing.T) {
	t.Helper()
	if built.provider != "nspawn" {
		t.Skipf("needs nspawn machines (provider %s: %s)", built.provider, built.skip)
	}
}

// concourseModel is a model with the stand-in release served, a real PostgreSQL and the
// postgresql provider charm deployed as "postgresql".
type concourseModel struct {
	*model
	srv *releaseServer
	pg  *pgtest.Cluster
}

func newConcourseModel(t *testing.T) *concourseModel {
	t.Helper()
	needMachines(t)
	pg := startPostgres(t) // before the model: stopped after the machines are gone
	m := newModel(t)
	cm := &concourseModel{model: m, srv: serveRelease(t, version), pg: pg}
	deployPGProvider(t, m, pg, "postgresql")
	t.Cleanup(func() { // before the model is destroyed: say what it looked like
		if t.Failed() {
			out, _ := m.cmd("status")
			t.Logf("status at failure:\n%s", out)
			out, _ = m.cmd("debug-log", "postgresql/0", "--lines", "25")
			t.Logf("postgresql/0 log:\n%s", out)
		}
	})
	return cm
}

// deploy deploys the charm as app with n units and relates it to postgresql.
func (m *concourseModel) deploy(app string, n int, extra ...string) {
	m.t.Helper()
	args := deployArgs(m.model, m.srv, n, extra...)
	args[2] = app
	m.juju(args...)
	m.juju("integrate", app+":postgresql", "postgresql:database")
}

// address is the machine address of unit.
func (m *model) address(unit string) string {
	m.t.Helper()
	st := m.status()
	app, _, _ := strings.Cut(unit, "/")
	u, ok := st.Applications[app].Units[unit]
	if !ok {
		m.t.Fatalf("no unit %s in status", unit)
	}
	ips := st.Machines[u.Machine].IPAddresses
	if len(ips) == 0 {
		m.t.Fatalf("machine %s of %s has no address", u.Machine, unit)
	}
	return ips[0]
}

// adminPassword runs get-admin-password on unit.
func (m *model) adminPassword(unit string) (string, string) {
	m.t.Helper()
	var res map[string]any
	out := m.juju("run", unit, "get-admin-password", "--format", "json")
	// `juju run` prints progress lines before the results.
	if i := strings.Index(out, "{"); i < 0 || json.Unmarshal([]byte(out[i:]), &res) != nil {
		m.t.Fatalf("get-admin-password output %q", out)
	}
	user, pw := findString(res, "username"), findString(res, "password")
	if user == "" || pw == "" {
		m.t.Fatalf("get-admin-password printed %q", out)
	}
	return user, pw
}

// findString finds key anywhere in nested action output.
func findString(v any, key string) string {
	switch x := v.(type) {
	case map[string]any:
		if s, ok := x[key].(string); ok {
			return s
		}
		for _, e := range x {
			if s := findString(e, key); s != "" {
				return s
			}
		}
	}
	return ""
}

// worker is what the stand-in web lists at /api/v1/workers.
type worker struct {
	Name     string   `json:"name"`
	State    string   `json:"state"`
	Tags     []string `json:"tags"`
	TSAPeers []string `json:"tsa_peers"`
}

// api GETs path from the web on unit with the admin's basic auth and decodes the JSON.
func (m *model) api(unit, path, user, pw string, out any) error {
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://%s:8080%s", m.address(unit), path), nil)
	req.SetBasicAuth(user, pw)
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, body)
	}
	return json.Unmarshal(body, out)
}

// registered waits until the web on unit lists exactly want as running workers, each through
// every TSA in peers (when given). Registration is asynchronous to the hooks (the worker dials
// the TSA with backoff), so this polls the API until a deadline.
func (m *model) registered(webUnit string, want []string, peers ...string) []worker {
	m.t.Helper()
	user, pw := m.adminPassword(webUnit)
	slices.Sort(want)
	deadline := time.Now().Add(60 * time.Second)
	var last []worker
	var lastErr error
	for time.Now().Before(deadline) {
		last = nil
		lastErr = m.api(webUnit, "/api/v1/workers", user, pw, &last)
		if lastErr == nil && matches(last, want, peers) {
			return last
		}
		time.Sleep(500 * time.Millisecond) // polling an external service, not synchronising tests
	}
	m.journals()
	m.t.Fatalf("web %s lists workers %+v (%v), want %v running through %v", webUnit, last, lastErr, want, peers)
	return nil
}

// journals logs the last lines each unit's Concourse services wrote, to explain a failure.
func (m *model) journals() {
	st := m.status()
	for _, app := range st.Applications {
		for unit := range app.Units {
			for _, svc := range []string{"concourse-web", "concourse-worker"} {
				out, _ := m.cmd("exec", "--unit", unit, "--", "journalctl", "--unit", svc, "--lines", "15", "--no-pager", "--output", "cat")
				if !strings.Contains(out, "No entries") {
					m.t.Logf("%s %s:\n%s", unit, svc, out)
				}
			}
		}
	}
}

func matches(ws []worker, want, peers []string) bool {
	var names []string
	for _, w := range ws {
		if w.State != "running" {
			return false
		}
		for _, p := range peers {
			if !slices.Contains(w.TSAPeers, p) {
				return false
			}
		}
		names = append(names, w.Name)
	}
	slices.Sort(names)
	return slices.Equal(names, want)
}

// invocation is a service's systemd InvocationID on unit's machine: it changes on every
// (re)start and never on a reload.
func (m *model) invocation(unit, service string) string {
	m.t.Helper()
	out := strings.TrimSpace(m.juju("exec", "--unit", unit, "--", "systemctl", "show", "--property=InvocationID", "--value", service))
	return out
}

// activeState is systemctl is-active of a service on unit's machine.
func (m *model) activeState(unit, service string) string {
	m.t.Helper()
	out, _ := m.cmd("exec", "--unit", unit, "--", "systemctl", "is-active", service)
	return strings.TrimSpace(out)
}

// unitStatus is the workload status of unit.
func (m *model) unitStatus(unit string) (string, string) {
	m.t.Helper()
	app, _, _ := strings.Cut(unit, "/")
	ws := m.status().Applications[app].Units[unit].WorkloadStatus
	return ws.Current, ws.Message
}

func workerName(unit string) string { return strings.ReplaceAll(unit, "/", "-") }
