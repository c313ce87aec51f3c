package charm

import (
	"context"
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

// settledPair is a model of two units: concourse-ci/0 runs web, concourse-ci/1 a worker.
func settledPair(t *testing.T) *fakeModel {
	t.Helper()
	srv := serveReleases(t, "1.2.3")
	m := newFakeModel(t, testConfig(srv, ""))
	reconcileAll(t, m, unitNames(2))
	if !m.services["concourse-ci/1"].snapshot(concourse.WorkerService).Active || !m.services["concourse-ci/0"].snapshot(concourse.WebService).Active {
		t.Fatalf("model did not settle: %v / %v", m.lastStatus("concourse-ci/0"), m.lastStatus("concourse-ci/1"))
	}
	return m
}

func reconcileUnit(t *testing.T, m *fakeModel, unit string) {
	t.Helper()
	if err := m.unit(unit).Reconcile(context.Background()); err != nil {
		t.Fatalf("%s: %v", unit, err)
	}
}

// TestLandWorkerHoldsItUntilRestart: land-worker sends SIGUSR1 and waits for the exit; later hooks
// (a config change) leave the worker stopped with a maintenance status saying how to bring it
// back; asking again changes nothing; restart brings it back with the configuration of that
// moment, and the next hook does not restart it once more.
func TestLandWorkerHoldsItUntilRestart(t *testing.T) {
	t.Parallel()
	m := settledPair(t)
	svc := m.services["concourse-ci/1"]

	run := runTestAction(t, m, "concourse-ci/1", "land-worker", "")
	run.mustSucceed(t)
	if run.results["outcome"] != "landed" {
		t.Errorf("results %v, want outcome=landed", run.results)
	}
	if got := svc.signalsOf(concourse.WorkerService); !slices.Equal(got, []syscall.Signal{syscall.SIGUSR1}) {
		t.Errorf("signals %v, want one SIGUSR1", got)
	}
	if svc.snapshot(concourse.WorkerService).Active {
		t.Fatal("worker still runs after land-worker")
	}

	m.setConfig("worker-tags", "gpu") // would restart a running worker
	reconcileUnit(t, m, "concourse-ci/1")
	if svc.snapshot(concourse.WorkerService).Active {
		t.Fatal("a config-changed hook started the landed worker again")
	}
	st := statusOf(m, "concourse-ci/1")
	if st.State != juju.Maintenance || !strings.Contains(st.Message, "juju run concourse-ci/1 restart role=worker") {
		t.Errorf("status %+v, want maintenance naming the restart action", st)
	}

	again := runTestAction(t, m, "concourse-ci/1", "land-worker", "")
	again.mustSucceed(t)
	if again.results["outcome"] != "already-stopped" || len(svc.signalsOf(concourse.WorkerService)) != 1 {
		t.Errorf("second land-worker: results %v, signals %v; want already-stopped and no signal", again.results, svc.signalsOf(concourse.WorkerService))
	}

	restart := runTestAction(t, m, "concourse-ci/1", "restart", `{"role":"worker"}`)
	restart.mustSucceed(t)
	after := svc.snapshot(concourse.WorkerService)
	if !after.Active || restart.results["worker"] != "restarted" || restart.results["worker.hold"] != "lifted" {
		t.Fatalf("after restart: worker %+v, results %v", after, restart.results)
	}
	env, err := os.ReadFile(filepath.Join(m.dataDirs["concourse-ci/1"], "worker", "worker.env"))
	if err != nil || !strings.Contains(string(env), "CONCOURSE_TAG=gpu") {
		t.Errorf("restarted worker's environment lacks the tag set while it was held: %s %v", env, err)
	}
	if st := statusOf(m, "concourse-ci/1"); st.State != juju.Active {
		t.Errorf("status after restart %+v, want active", st)
	}
	reconcileUnit(t, m, "concourse-ci/1")
	if got := svc.snapshot(concourse.WorkerService).InvocationID; got != after.InvocationID {
		t.Errorf("the hook after restart restarted the worker again: %s -> %s", after.InvocationID, got)
	}
}

// TestWorkerActionsFailOnAWebOnlyUnit: land-worker and retire-worker on the web unit fail with a
// message naming where to run them, and touch nothing.
func TestWorkerActionsFailOnAWebOnlyUnit(t *testing.T) {
	t.Parallel()
	m := settledPair(t)
	web := m.services["concourse-ci/0"]
	before, hups := web.snapshot(concourse.WebService), len(web.signalsOf(concourse.WebService))
	for _, action := range []string{"land-worker", "retire-worker"} {
		runTestAction(t, m, "concourse-ci/0", action, "").mustFail(t, "runs web only, no worker", "run "+action+" on a unit", "web+worker")
	}
	if got := web.snapshot(concourse.WebService); got.InvocationID != before.InvocationID || len(web.signalsOf(concourse.WebService)) != hups {
		t.Errorf("a failed worker action touched the web: %+v, signals %v", got, web.signalsOf(concourse.WebService))
	}
	if _, held, _ := readWorkerHold(m.dataDirs["concourse-ci/0"]); held {
		t.Error("a failed land-worker left a hold behind")
	}
}

// TestRetireWorker: SIGUSR2, held afterwards; retiring a landed (stopped) worker is refused with
// the way out, since only a running worker can unregister through the TSA.
func TestRetireWorker(t *testing.T) {
	t.Parallel()
	m := settledPair(t)
	svc := m.services["concourse-ci/1"]

	run := runTestAction(t, m, "concourse-ci/1", "retire-worker", "")
	run.mustSucceed(t)
	if run.results["outcome"] != "retired" || !slices.Equal(svc.signalsOf(concourse.WorkerService), []syscall.Signal{syscall.SIGUSR2}) {
		t.Fatalf("results %v, signals %v: want retired after one SIGUSR2", run.results, svc.signalsOf(concourse.WorkerService))
	}
	reconcileUnit(t, m, "concourse-ci/1")
	if svc.snapshot(concourse.WorkerService).Active {
		t.Fatal("a hook started the retired worker again")
	}
	if st := statusOf(m, "concourse-ci/1"); !strings.Contains(st.Message, "worker retired by retire-worker") {
		t.Errorf("status %+v", st)
	}
	runTestAction(t, m, "concourse-ci/1", "retire-worker", "").mustSucceed(t) // asked again: nothing to do

	runTestAction(t, m, "concourse-ci/1", "restart", "").mustSucceed(t)
	runTestAction(t, m, "concourse-ci/1", "land-worker", "").mustSucceed(t)
	runTestAction(t, m, "concourse-ci/1", "retire-worker", "").mustFail(t, "cannot retire itself", "juju run concourse-ci/1 restart role=worker")
}

// TestLandWorkerPastTheDrainBound: a worker whose builds outlive the bound is stopped hard
// (SIGTERM), the action fails saying builds were interrupted, and the worker stays held.
func TestLandWorkerPastTheDrainBound(t *testing.T) {
	t.Parallel()
	m := settledPair(t)
	svc := m.services["concourse-ci/1"]
	svc.ignores[concourse.WorkerService] = []syscall.Signal{syscall.SIGUSR1}
	run := runTestAction(t, m, "concourse-ci/1", "land-worker", "", func(c *Charm) { c.drainTimeout = 300 * time.Millisecond })
	run.mustFail(t, "did not finish draining within the drain bound 300ms", "interrupted")
	if run.results["outcome"] != "stopped-hard" {
		t.Errorf("results %v, want outcome=stopped-hard", run.results)
	}
	if got := svc.signalsOf(concourse.WorkerService); !slices.Equal(got, []syscall.Signal{syscall.SIGUSR1, syscall.SIGTERM}) {
		t.Errorf("signals %v, want SIGUSR1 then SIGTERM", got)
	}
	if svc.snapshot(concourse.WorkerService).Active {
		t.Error("worker still runs")
	}
	if _, held, _ := readWorkerHold(m.dataDirs["concourse-ci/1"]); !held {
		t.Error("worker not held after a hard stop")
	}
}

// TestRestartAction: the web restarts alone with role=web; role=all on a worker unit lands the
// worker before starting it; a role the unit does not run fails with where to run it instead.
func TestRestartAction(t *testing.T) {
	t.Parallel()
	m := settledPair(t)
	web, worker := m.services["concourse-ci/0"], m.services["concourse-ci/1"]

	before := web.snapshot(concourse.WebService)
	run := runTestAction(t, m, "concourse-ci/0", "restart", `{"role":"web"}`)
	run.mustSucceed(t)
	if got := web.snapshot(concourse.WebService); !got.Active || got.InvocationID == before.InvocationID || run.results["web"] != "restarted" {
		t.Errorf("web %+v (was %s), results %v: want a new invocation", got, before.InvocationID, run.results)
	}

	wb := worker.snapshot(concourse.WorkerService)
	run = runTestAction(t, m, "concourse-ci/1", "restart", "")
	run.mustSucceed(t)
	wa := worker.snapshot(concourse.WorkerService)
	if !wa.Active || wa.InvocationID == wb.InvocationID || run.results["worker"] != "restarted" || run.results["worker.landed-in"] == "" {
		t.Errorf("worker %+v (was %s), results %v", wa, wb.InvocationID, run.results)
	}
	if got := worker.signalsOf(concourse.WorkerService); !slices.Equal(got, []syscall.Signal{syscall.SIGUSR1}) {
		t.Errorf("signals %v: the worker must be landed (SIGUSR1) before it restarts", got)
	}
	if st := statusOf(m, "concourse-ci/1"); st.State != juju.Active {
		t.Errorf("status after restart %+v: a worker the action stopped is no crash", st)
	}

	runTestAction(t, m, "concourse-ci/0", "restart", `{"role":"worker"}`).mustFail(t, "concourse-ci/0 runs no worker", "restart role=web")
	runTestAction(t, m, "concourse-ci/1", "restart", `{"role":"web"}`).mustFail(t, "concourse-ci/1 runs no web", "restart role=worker")
	runTestAction(t, m, "concourse-ci/1", "restart", `{"role":"db"}`).mustFail(t, `role="db"`)
}

// TestRestartActionOnAUnitRunningNothing fails with where to look.
func TestRestartActionOnAUnitRunningNothing(t *testing.T) {
	t.Parallel()
	m := newFakeModel(t, map[string]any{})
	runTestAction(t, m, "concourse-ci/3", "restart", "").mustFail(t, "runs neither web nor worker yet", "juju status concourse-ci/3")
}
