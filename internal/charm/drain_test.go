package charm

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/concourse"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
)

// garden serves Garden's GET /containers with n containers.
func garden(t *testing.T, n int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/containers" {
			http.NotFound(w, r)
			return
		}
		handles := make([]string, n)
		for i := range handles {
			handles[i] = "build-" + string(rune('a'+i))
		}
		writeTestJSON(w, struct{ Handles []string }{handles})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func writeTestJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// runningWorker is a unit whose fake supervisor runs a worker that ignores the given signals.
func runningWorker(t *testing.T, ignores ...syscall.Signal) (*Charm, *fakeModel, *fakeServices) {
	t.Helper()
	m := newFakeModel(t, map[string]any{})
	c := m.unit("concourse-ci/1")
	svc := m.services["concourse-ci/1"]
	ctx := context.Background()
	if _, err := svc.Install(ctx, concourse.WorkerSpec("/rel", "/env", drainBound)); err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx, concourse.WorkerService); err != nil {
		t.Fatal(err)
	}
	svc.ignores[concourse.WorkerService] = ignores
	return c, m, svc
}

func logged(m *fakeModel, unit string, level juju.Level) []string {
	var out []string
	for _, call := range m.runners[unit].Calls("juju-log") {
		if slices.Contains(call.Args, "--log-level="+string(level)) {
			out = append(out, strings.Join(call.Args, " "))
		}
	}
	return out
}

// TestDrainBound: a worker retires by itself within the bound (SIGUSR2 only, status saying what
// it waits for and until when); one whose builds outlive the bound gets SIGTERM with a warning
// naming drain-timeout and what was cut short; one that ignores SIGTERM too is killed, and that
// is said as well. Never silently cut short.
func TestDrainBound(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		ignores    []syscall.Signal
		want       []syscall.Signal
		cut, kill  bool
		warnings   []string
		containers int
	}{
		{"retires in time", nil, []syscall.Signal{syscall.SIGUSR2}, false, false, nil, 2},
		{"outlives the bound", []syscall.Signal{syscall.SIGUSR2}, []syscall.Signal{syscall.SIGUSR2, syscall.SIGTERM}, true, false,
			[]string{"did not finish retiring within its drain bound (drain-timeout 300ms): sending SIGTERM; 1 container still running cut short"}, 1},
		{"ignores SIGTERM", []syscall.Signal{syscall.SIGUSR2, syscall.SIGTERM}, []syscall.Signal{syscall.SIGUSR2, syscall.SIGTERM, syscall.SIGKILL}, true, true,
			[]string{"drain-timeout 300ms", "did not stop within 100ms of SIGTERM: killing it (SIGKILL"}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, m, svc := runningWorker(t, tc.ignores...)
			plan := drainPlan{drain: 300 * time.Millisecond, term: 100 * time.Millisecond, garden: garden(t, tc.containers)}
			start := time.Now()
			res, err := c.landOrRetire(context.Background(), svc, retiring, plan)
			if err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			if got := svc.signalsOf(concourse.WorkerService); !slices.Equal(got, tc.want) {
				t.Errorf("signals %v, want %v", got, tc.want)
			}
			if res.cut != tc.cut || res.killed != tc.kill || !res.ran {
				t.Errorf("outcome %+v, want cut=%v killed=%v", res, tc.cut, tc.kill)
			}
			if svc.snapshot(concourse.WorkerService).Active {
				t.Error("the worker still runs")
			}
			if tc.cut && took < plan.drain {
				t.Errorf("cut short after %s, before the %s bound", took, plan.drain)
			}
			if !tc.cut && took > plan.drain {
				t.Errorf("took %s for a worker that exits at once", took)
			}
			warnings := strings.Join(logged(m, "concourse-ci/1", juju.LevelWarning), "\n")
			for _, w := range tc.warnings {
				if !strings.Contains(warnings, w) {
					t.Errorf("warnings %q do not say %q", warnings, w)
				}
			}
			if len(tc.warnings) == 0 && warnings != "" {
				t.Errorf("unexpected warnings %q", warnings)
			}
			var draining string
			for _, st := range m.statuses("concourse-ci/1") {
				if strings.HasPrefix(st.Message, "Retiring worker: ") && st.State == juju.Maintenance {
					draining = st.Message
				}
			}
			want := "Retiring worker: " + containersText(tc.containers) + ", up to " + start.Add(plan.drain).UTC().Format("2006-01-02T15:")
			if !strings.HasPrefix(draining, want) {
				t.Errorf("status while draining %q, want %q...", draining, want)
			}
		})
	}
}

// TestNothingToDrain: no running worker, no signal, no status.
func TestNothingToDrain(t *testing.T) {
	t.Parallel()
	c, m, svc := runningWorker(t)
	if err := svc.Stop(context.Background(), concourse.WorkerService); err != nil {
		t.Fatal(err)
	}
	res, err := c.landOrRetire(context.Background(), svc, landing, drainPlan{drain: time.Second, term: time.Second})
	if err != nil || res.ran {
		t.Fatalf("%+v %v", res, err)
	}
	if got := svc.signalsOf(concourse.WorkerService); len(got) != 0 || len(m.statuses("concourse-ci/1")) != 0 {
		t.Errorf("signals %v statuses %v for a stopped worker", got, m.statuses("concourse-ci/1"))
	}
}

// TestWorkerRestartLandsFirst: a worker-only change lands each worker (SIGUSR1) and starts it
// again; the web is not touched.
func TestWorkerRestartLandsFirst(t *testing.T) {
	t.Parallel()
	srv := serveReleases(t, "1.2.3")
	m := newFakeModel(t, testConfig(srv, ""))
	units := unitNames(3)
	reconcileAll(t, m, units)
	before := map[string]string{}
	for _, u := range units[1:] {
		before[u] = m.services[u].snapshot(concourse.WorkerService).InvocationID
	}
	m.setConfig("worker-tags", "landed-first")
	reconcileAll(t, m, units)
	for _, u := range units[1:] {
		svc := m.services[u]
		if got := svc.signalsOf(concourse.WorkerService); !slices.Equal(got, []syscall.Signal{syscall.SIGUSR1}) {
			t.Errorf("%s: signals %v, want one SIGUSR1 (landed before the restart)", u, got)
		}
		st := svc.snapshot(concourse.WorkerService)
		if !st.Active || st.InvocationID == before[u] {
			t.Errorf("%s: worker %+v not started again after landing (was %s)", u, st, before[u])
		}
	}
}

// TestPromotedWebRetiresItsWorkerByName: the leader that takes web over gives up its worker with
// SIGUSR2 and, since the web its worker was registered with may be gone already, retires it by
// name through its own new web (its key authorized until then); afterwards the key is gone from
// that web, which is reloaded, and nothing is left to retire.
func TestPromotedWebRetiresItsWorkerByName(t *testing.T) {
	t.Parallel()
	srv := serveReleases(t, "1.2.3")
	m := newFakeModel(t, testConfig(srv, ""))
	units := unitNames(3)
	reconcileAll(t, m, units)
	key, err := os.ReadFile(filepath.Join(m.dataDirs["concourse-ci/1"], "worker", "worker_key"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := concourse.KeyFromPEM(string(key))
	if err != nil {
		t.Fatal(err)
	}

	m.mu.Lock()
	m.members = slices.DeleteFunc(m.members, func(u string) bool { return u == "concourse-ci/0" })
	m.leader = "concourse-ci/1"
	m.mu.Unlock()
	reconcileAll(t, m, units[1:])

	runs := m.concourseRuns["concourse-ci/1"]
	if len(runs) != 1 || !slices.Equal(runs[0][:3], []string{"retire-worker", "--name", "concourse-ci-1"}) {
		t.Fatalf("concourse runs %q, want one retire-worker --name concourse-ci-1", runs)
	}
	if !slices.Contains(runs[0], "CONCOURSE_TSA_HOST=10.0.0.11:2222") {
		t.Errorf("retire-worker env %q, want the unit's own TSA", runs[0][3:])
	}
	svc := m.services["concourse-ci/1"]
	if !slices.Contains(svc.signalsOf(concourse.WorkerService), syscall.SIGUSR2) {
		t.Errorf("the worker was not retired first: %v", svc.signalsOf(concourse.WorkerService))
	}
	keys, err := os.ReadFile(filepath.Join(m.dataDirs["concourse-ci/1"], "web", "authorized_worker_keys"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(keys), strings.Fields(k.Public)[1]) {
		t.Error("the retired worker's key is still authorized")
	}
	if _, err := os.Stat(pendingRetirePath(m.dataDirs["concourse-ci/1"])); !os.IsNotExist(err) {
		t.Errorf("a retire is still pending: %v", err)
	}
}
