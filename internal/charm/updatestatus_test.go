package charm

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/concourse"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju/jujutest"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/service"
)

// hookUnit is m.unit(name) as Juju runs it: with a charm directory kept across its hooks (on a
// machine, /var/lib/juju/agents/unit-*/charm) and status-get answering the last status set.
func (m *fakeModel) hookUnit(t *testing.T, name string) *Charm {
	t.Helper()
	c := m.unit(name)
	m.mu.Lock()
	dataDir, r := m.dataDirs[name], m.runners[name]
	m.mu.Unlock()
	c.env.CharmDir = filepath.Join(filepath.Dir(dataDir), "charm")
	if err := os.MkdirAll(c.env.CharmDir, 0o755); err != nil {
		t.Fatal(err)
	}
	r.Handle("status-get", func(jujutest.Call) ([]byte, error) {
		st := m.lastStatus(name)
		return json.Marshal(map[string]any{"status": st.State, "message": st.Message, "status-data": map[string]any{}})
	})
	return c
}

// settle runs config-changed on every unit at once, round after round, until no status changes:
// what one unit publishes wakes the others, as in reconcileAll.
func settle(t *testing.T, m *fakeModel, names []string) {
	t.Helper()
	for range 6 {
		before := map[string]juju.Status{}
		units := map[string]*Charm{}
		for _, n := range names {
			before[n] = m.lastStatus(n)
			units[n] = m.hookUnit(t, n)
		}
		var wg sync.WaitGroup
		for name, c := range units {
			wg.Go(func() {
				if err := c.RunHook(context.Background(), "config-changed"); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			})
		}
		wg.Wait()
		same := true
		for _, n := range names {
			same = same && m.lastStatus(n) == before[n]
		}
		if same {
			break
		}
	}
	for _, n := range names {
		if st := m.lastStatus(n); st.State != juju.Active {
			t.Fatalf("%s did not settle: %+v", n, st)
		}
	}
}

// hook runs one hook on a unit and returns the hook tools it called.
func hook(t *testing.T, m *fakeModel, unit, name string) [][]string {
	t.Helper()
	c := m.hookUnit(t, unit)
	r := m.runners[unit]
	r.Reset()
	if err := c.RunHook(context.Background(), name); err != nil {
		t.Fatalf("%s on %s: %v", name, unit, err)
	}
	return r.Argv()
}

func calledTool(calls [][]string, tool string) bool {
	return slices.ContainsFunc(calls, func(argv []string) bool { return argv[0] == tool })
}

var statusGetOnly = [][]string{{"status-get", "--include-data", "--format=json"}}

// TestSettledUpdateStatusRunsOneHookTool: on a settled unit update-status calls status-get and
// nothing else (no config, no peer walk, no download, no restart), the same for a unit of a 1-unit
// application as for the web and a worker of a 10-unit one.
func TestSettledUpdateStatusRunsOneHookTool(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 10} {
		srv := serveReleases(t, "1.2.3")
		m := newFakeModel(t, testConfig(srv, ""))
		names := unitNames(n)
		settle(t, m, names)
		downloads := len(srv.AllStats())
		for _, unit := range []string{names[0], names[n-1]} {
			status := m.lastStatus(unit)
			svc := m.services[unit]
			web, worker := svc.snapshot(concourse.WebService), svc.snapshot(concourse.WorkerService)
			for round := range 2 {
				calls := hook(t, m, unit, "update-status")
				if !slices.EqualFunc(calls, statusGetOnly, slices.Equal) {
					t.Errorf("%d units, %s, round %d: update-status called %v, want only status-get", n, unit, round, calls)
				}
			}
			if got := m.lastStatus(unit); got != status {
				t.Errorf("%d units, %s: status %+v after update-status, was %+v", n, unit, got, status)
			}
			if svc.snapshot(concourse.WebService) != web || svc.snapshot(concourse.WorkerService) != worker {
				t.Errorf("%d units, %s: update-status touched a service", n, unit)
			}
		}
		if now := len(srv.AllStats()); now != downloads {
			t.Errorf("%d units: update-status made %d requests to the release server", n, now-downloads)
		}
	}
}

// TestUpdateStatusPutsBackAStatusSetElsewhere: a status set outside the charm's hooks (juju exec
// status-set) is replaced at the next update-status, with one status-set.
func TestUpdateStatusPutsBackAStatusSetElsewhere(t *testing.T) {
	t.Parallel()
	srv := serveReleases(t, "1.2.3")
	m := newFakeModel(t, testConfig(srv, ""))
	settle(t, m, unitNames(1))
	want := m.lastStatus("concourse-ci/0")
	m.mu.Lock()
	m.status["concourse-ci/0"] = append(m.status["concourse-ci/0"], juju.Status{State: juju.Maintenance, Message: "set by hand"})
	m.mu.Unlock()
	calls := hook(t, m, "concourse-ci/0", "update-status")
	if len(calls) != 2 || calls[1][0] != "status-set" || calledTool(calls, "config-get") {
		t.Errorf("update-status called %v, want status-get then status-set", calls)
	}
	if got := m.lastStatus("concourse-ci/0"); got != want {
		t.Errorf("status %+v, want %+v back", got, want)
	}
}

// TestChangesDeliveredByHooksReconcileInFull: config-changed, a peer leaving and an action each
// lead to a full reconcile (their changes are applied), and update-status is cheap again after.
func TestChangesDeliveredByHooksReconcileInFull(t *testing.T) {
	t.Parallel()
	srv := serveReleases(t, "1.2.3")
	m := newFakeModel(t, testConfig(srv, ""))
	names := unitNames(3)
	settle(t, m, names)

	worker := m.services["concourse-ci/2"]
	before := worker.snapshot(concourse.WorkerService)
	m.setConfig("log-level", "debug")
	// Juju runs config-changed for a config change; update-status alone does not look at config.
	if calls := hook(t, m, "concourse-ci/2", "update-status"); calledTool(calls, "config-get") {
		t.Errorf("update-status read the config: %v", calls)
	}
	calls := hook(t, m, "concourse-ci/2", "config-changed")
	if !calledTool(calls, "config-get") || !calledTool(calls, "relation-list") {
		t.Errorf("config-changed did not reconcile in full: %v", calls)
	}
	after := worker.snapshot(concourse.WorkerService)
	if after.InvocationID == before.InvocationID || !strings.Contains(string(readFile(t, m, "concourse-ci/2", "worker/worker.env")), "debug") {
		t.Errorf("config-changed did not apply log-level=debug to the worker (%s -> %s)", before.InvocationID, after.InvocationID)
	}
	if calls := hook(t, m, "concourse-ci/2", "update-status"); !slices.EqualFunc(calls, statusGetOnly, slices.Equal) {
		t.Errorf("update-status after config-changed called %v, want only status-get", calls)
	}

	// concourse-ci/2 leaves: the web hears it in relation-departed and drops its key.
	webKeys := string(readFile(t, m, "concourse-ci/0", "web/authorized_worker_keys"))
	m.mu.Lock()
	m.members = slices.DeleteFunc(m.members, func(u string) bool { return u == "concourse-ci/2" })
	m.mu.Unlock()
	if calls := hook(t, m, "concourse-ci/0", "cluster-relation-departed"); !calledTool(calls, "relation-list") {
		t.Errorf("cluster-relation-departed did not walk the peers: %v", calls)
	}
	if now := string(readFile(t, m, "concourse-ci/0", "web/authorized_worker_keys")); strings.Count(now, "ssh-rsa") != strings.Count(webKeys, "ssh-rsa")-1 {
		t.Errorf("the departed worker's key is still authorized:\n%s", now)
	}

	// Any action: the next update-status reconciles in full.
	c := m.hookUnit(t, "concourse-ci/1")
	if err := c.RunAction(context.Background(), "shared-storage-info"); err != nil {
		t.Fatal(err)
	}
	if calls := hook(t, m, "concourse-ci/1", "update-status"); !calledTool(calls, "config-get") {
		t.Errorf("update-status after an action called %v, want a full reconcile", calls)
	}
	if calls := hook(t, m, "concourse-ci/1", "update-status"); !slices.EqualFunc(calls, statusGetOnly, slices.Equal) {
		t.Errorf("second update-status after an action called %v, want only status-get", calls)
	}
}

// TestFailedHookLeavesNoSettledRecord: a config-changed that fails halfway (and that an operator
// then skips with `juju resolved --no-retry`) leaves no record behind, so the next update-status
// reconciles in full and applies the change.
func TestFailedHookLeavesNoSettledRecord(t *testing.T) {
	t.Parallel()
	srv := serveReleases(t, "1.2.3")
	m := newFakeModel(t, testConfig(srv, ""))
	settle(t, m, unitNames(1))
	m.setConfig("log-level", "debug")
	c := m.hookUnit(t, "concourse-ci/0")
	m.runners["concourse-ci/0"].SetError("network-get", 1, "ERROR connection is shut down")
	if err := c.RunHook(context.Background(), "config-changed"); err == nil {
		t.Fatal("config-changed succeeded although network-get failed")
	}
	if calls := hook(t, m, "concourse-ci/0", "update-status"); !calledTool(calls, "config-get") {
		t.Errorf("update-status after a failed hook called %v, want a full reconcile", calls)
	}
	if env := string(readFile(t, m, "concourse-ci/0", "worker/worker.env")); !strings.Contains(env, "debug") {
		t.Errorf("log-level=debug not applied by the update-status after the failed hook:\n%s", env)
	}
}

// TestDeadServiceFoundByUpdateStatus: a worker that died is reported and started again as every
// full reconcile does (blocked, naming it), and once it runs the unit is active and cheap again.
// A service disabled by hand, or restarted by the supervisor itself, is looked at in full too.
func TestDeadServiceFoundByUpdateStatus(t *testing.T) {
	t.Parallel()
	srv := serveReleases(t, "1.2.3")
	m := newFakeModel(t, testConfig(srv, ""))
	settle(t, m, unitNames(1))
	svc := m.services["concourse-ci/0"]
	dead := svc.snapshot(concourse.WorkerService).InvocationID
	if err := svc.set(concourse.WorkerService, func(s *service.State) { s.Active, s.Status = false, "failed" }); err != nil {
		t.Fatal(err)
	}

	calls := hook(t, m, "concourse-ci/0", "update-status")
	if !calledTool(calls, "config-get") {
		t.Fatalf("update-status with a dead worker called %v, want a full reconcile", calls)
	}
	if st := m.lastStatus("concourse-ci/0"); st.State != juju.Blocked || st.Message != "concourse-worker is not running (failed)" {
		t.Errorf("status %+v, want blocked saying the worker is not running", st)
	}
	if now := svc.snapshot(concourse.WorkerService); !now.Active || now.InvocationID == dead {
		t.Errorf("the dead worker was not started again: %+v", now)
	}
	if calls := hook(t, m, "concourse-ci/0", "update-status"); !calledTool(calls, "config-get") {
		t.Errorf("update-status after a blocked one called %v, want a full reconcile", calls)
	}
	if st := m.lastStatus("concourse-ci/0"); st.State != juju.Active {
		t.Errorf("status %+v once the worker runs again, want active", st)
	}
	if calls := hook(t, m, "concourse-ci/0", "update-status"); !slices.EqualFunc(calls, statusGetOnly, slices.Equal) {
		t.Errorf("update-status on the healed unit called %v, want only status-get", calls)
	}

	if err := svc.Disable(context.Background(), concourse.WebService); err != nil { // systemctl disable by hand
		t.Fatal(err)
	}
	if calls := hook(t, m, "concourse-ci/0", "update-status"); !calledTool(calls, "config-get") {
		t.Errorf("update-status after the web was disabled called %v, want a full reconcile", calls)
	}
	if !svc.snapshot(concourse.WebService).Enabled {
		t.Error("the full reconcile did not enable the web again")
	}

	if err := svc.Restart(context.Background(), concourse.WebService); err != nil { // Restart=on-failure did it
		t.Fatal(err)
	}
	if calls := hook(t, m, "concourse-ci/0", "update-status"); !calledTool(calls, "config-get") {
		t.Errorf("update-status after the supervisor restarted the web called %v, want a full reconcile", calls)
	}
	if st := m.lastStatus("concourse-ci/0"); st.State != juju.Active {
		t.Errorf("status %+v, want active", st)
	}
}

// TestUpdateStatusNoticesWhatNoHookAnnounces: changes on the machine or the storage that no hook
// announces make update-status reconcile in full, which puts each right.
func TestUpdateStatusNoticesWhatNoHookAnnounces(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		shared bool // on a shared path that does not exist yet
		change func(t *testing.T, m *fakeModel, dataDir, sharedPath string)
		check  func(t *testing.T, m *fakeModel, dataDir, sharedPath string)
	}{{
		name: "release marker removed",
		change: func(t *testing.T, m *fakeModel, dataDir, _ string) {
			must(t, os.Remove(filepath.Join(dataDir, "releases-local", "releases", "1.2.3-amd64", ".complete")))
		},
		check: func(t *testing.T, m *fakeModel, dataDir, _ string) {
			if _, err := os.Stat(filepath.Join(dataDir, "releases-local", "releases", "1.2.3-amd64", ".complete")); err != nil {
				t.Errorf("the release was not installed again: %v", err)
			}
		},
	}, {
		name: "environment file chmod'ed",
		change: func(t *testing.T, m *fakeModel, dataDir, _ string) {
			must(t, os.Chmod(filepath.Join(dataDir, "worker", "worker.env"), 0o644))
		},
		check: func(t *testing.T, m *fakeModel, dataDir, _ string) {
			if fi, err := os.Stat(filepath.Join(dataDir, "worker", "worker.env")); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("worker.env mode not put back to 0600: %v %v", fi.Mode(), err)
			}
		},
	}, {
		name: "settled record lost",
		change: func(t *testing.T, m *fakeModel, dataDir, _ string) {
			must(t, os.Remove(filepath.Join(dataDir, "state", settledFile)))
		},
	}, {
		name: "written by another charm binary",
		change: func(t *testing.T, m *fakeModel, dataDir, _ string) {
			path := filepath.Join(dataDir, "state", settledFile)
			data, err := os.ReadFile(path)
			must(t, err)
			var s map[string]any
			must(t, json.Unmarshal(data, &s))
			s["binary"] = "/var/lib/juju/agents/unit-concourse-ci-0/charm/dispatch size 1 ino 1 mtime 0.0"
			data, _ = json.Marshal(s)
			must(t, os.WriteFile(path, data, 0o600))
		},
	}, {
		name: "leader's unused release",
		change: func(t *testing.T, m *fakeModel, dataDir, _ string) {
			must(t, os.Mkdir(filepath.Join(dataDir, "releases-local", "releases", "1.2.2-amd64"), 0o755))
		},
		check: func(t *testing.T, m *fakeModel, dataDir, _ string) {
			if _, err := os.Stat(filepath.Join(dataDir, "releases-local", "releases", "1.2.2-amd64")); !os.IsNotExist(err) {
				t.Errorf("the unused release is still there: %v", err)
			}
		},
	}, {
		name:   "shared path appeared",
		shared: true,
		change: func(t *testing.T, m *fakeModel, _, sharedPath string) {
			must(t, os.Mkdir(sharedPath, 0o755))
		},
		check: func(t *testing.T, m *fakeModel, _, _ string) {
			if st := m.lastStatus("concourse-ci/0"); !strings.Contains(st.Message, "(shared storage") {
				t.Errorf("status %+v, want the unit on the shared storage that appeared", st)
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := serveReleases(t, "1.2.3")
			sharedPath := ""
			if tc.shared {
				sharedPath = filepath.Join(t.TempDir(), "shared")
			}
			m := newFakeModel(t, testConfig(srv, sharedPath))
			settle(t, m, unitNames(1))
			if calls := hook(t, m, "concourse-ci/0", "update-status"); !slices.EqualFunc(calls, statusGetOnly, slices.Equal) {
				t.Fatalf("settled unit: update-status called %v", calls)
			}
			dataDir := m.dataDirs["concourse-ci/0"]
			tc.change(t, m, dataDir, sharedPath)
			if calls := hook(t, m, "concourse-ci/0", "update-status"); !calledTool(calls, "config-get") {
				t.Fatalf("update-status called %v, want a full reconcile", calls)
			}
			if tc.check != nil {
				tc.check(t, m, dataDir, sharedPath)
			}
			if st := m.lastStatus("concourse-ci/0"); st.State != juju.Active {
				t.Errorf("status %+v after the full reconcile, want active", st)
			}
			if calls := hook(t, m, "concourse-ci/0", "update-status"); !slices.EqualFunc(calls, statusGetOnly, slices.Equal) {
				t.Errorf("next update-status called %v, want only status-get", calls)
			}
		})
	}
}

// TestSettledRecordHoldsNoSecret: the record is root's alone (0600 in a 0700 directory on the
// unit's own storage) and holds none of the secrets the reconcile handled.
func TestSettledRecordHoldsNoSecret(t *testing.T) {
	t.Parallel()
	srv := serveReleases(t, "1.2.3")
	m := newFakeModel(t, testConfig(srv, ""))
	settle(t, m, unitNames(1))
	dataDir := m.dataDirs["concourse-ci/0"]
	path := filepath.Join(dataDir, "state", settledFile)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v %v, want mode 0600", path, fi, err)
	}
	if di, err := os.Stat(filepath.Dir(path)); err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("state directory: %v %v, want mode 0700", di, err)
	}
	data, err := os.ReadFile(path)
	must(t, err)
	secrets := []string{m.database["password"], string(readFile(t, m, "concourse-ci/0", "worker/worker_key"))}
	for _, content := range m.secrets {
		for _, v := range content {
			secrets = append(secrets, v)
		}
	}
	for _, s := range secrets {
		for _, line := range strings.Split(s, "\n") {
			if len(line) > 8 && strings.Contains(string(data), line) {
				t.Errorf("the settled record holds a secret: %q", line)
			}
		}
	}
}

func readFile(t *testing.T, m *fakeModel, unit, rel string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(m.dataDirs[unit], rel))
	must(t, err)
	return data
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
