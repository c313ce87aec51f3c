package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// drainBound is drain-timeout's default: a retire or land must end within it; termGrace is how
// long the charm gives SIGTERM after it.
const (
	drainBound = 5 * time.Minute
	termGrace  = 10 * time.Second
)

// TestRemoveUnitRetiresBusyWorker: `remove-unit` of a worker with a build in progress retires it
// (SIGUSR2) and waits for the build, within the drain bound; the web records it retiring then
// retired, never stalled; its key leaves the web and /api/v1/workers no longer lists it. The
// unit's status said what it was waiting for. Then, with drain-timeout=10s, a build that outlives
// it: cut at the bound with a warning, and the worker gone from the web all the same.
func TestRemoveUnitRetiresBusyWorker(t *testing.T) {
	t.Parallel()
	m := newConcourseModel(t)
	m.deploy("concourse-ci", 3)
	m.juju("wait")
	m.registered("concourse-ci/0", []string{workerName("concourse-ci/1"), workerName("concourse-ci/2")})

	const build = 8 * time.Second
	buildStart := m.startBuild("concourse-ci/2", build)
	m.juju("remove-unit", "concourse-ci/2")
	m.juju("wait")
	took := time.Since(buildStart)

	name := workerName("concourse-ci/2")
	ev := m.webEvents("concourse-ci/0", name)
	retiring, i := find(ev, 0, "retiring")
	retired, j := find(ev, i, "retired")
	if i < 0 || j < 0 {
		t.Fatalf("web events of %s: %s, want retiring then retired", name, eventNames(ev))
	}
	if retiring.Containers != 1 {
		t.Errorf("retiring with %d containers, want the build's 1", retiring.Containers)
	}
	if retired.Time.Before(buildStart.Add(build)) {
		t.Errorf("retired at %s, before its build ended (%s)", retired.Time, buildStart.Add(build))
	}
	drain := retired.Time.Sub(retiring.Time)
	if drain > drainBound {
		t.Errorf("retire took %s, more than the drain bound %s", drain, drainBound)
	}
	for _, e := range ev {
		if e.Event == "landing" || e.Event == "landed" || strings.Contains(e.Detail, "stalled") {
			t.Errorf("web events of %s: %s: want retired, never landed or stalled", name, eventNames(ev))
			break
		}
	}
	t.Logf("%s: retiring at +%s with %d container, retired %s later (build of %s); remove-unit to settled: %s",
		name, retiring.Time.Sub(buildStart).Round(10*time.Millisecond), retiring.Containers,
		drain.Round(10*time.Millisecond), build, took.Round(100*time.Millisecond))

	m.registered("concourse-ci/0", []string{workerName("concourse-ci/1")})
	if ws := m.workers("concourse-ci/0"); len(ws) != 1 {
		t.Errorf("/api/v1/workers lists %+v, want concourse-ci-1 only", ws)
	}
	keys := m.juju("exec", "--unit", "concourse-ci/0", "--", "cat", "/var/lib/concourse-data/web/authorized_worker_keys")
	if n := strings.Count(keys, "ssh-rsa "); n != 1 {
		t.Errorf("web authorizes %d keys after the removal, want 1", n)
	}
	log := m.unitLog("concourse-ci/2")
	for _, want := range []string{"Retiring worker: 1 container still running, up to ", "concourse-worker retired in "} {
		if !strings.Contains(log, want) {
			t.Errorf("concourse-ci/2's log does not say %q", want)
		}
	}

	// A build that outlives drain-timeout: the retire is cut at the bound (SIGTERM), and said
	// so; the web, told the worker was retiring, drops it rather than keeping it stalled.
	const bound = 10 * time.Second
	m.juju("config", "concourse-ci", "drain-timeout="+bound.String())
	m.juju("wait")
	buildStart = m.startBuild("concourse-ci/1", time.Hour)
	m.juju("remove-unit", "concourse-ci/1")
	m.juju("wait")
	name = workerName("concourse-ci/1")
	ev = m.webEvents("concourse-ci/0", name)
	retiring, i = find(ev, 0, "retiring")
	gone, j := find(ev, i, "disconnected")
	if i < 0 || j < 0 || gone.Detail != "gone" {
		t.Fatalf("web events of %s: %s, want retiring, then disconnected(gone)", name, eventNames(ev))
	}
	cut := gone.Time.Sub(retiring.Time)
	if cut < bound || cut > bound+termGrace {
		t.Errorf("retire cut after %s, want at the %s bound (and within SIGTERM's %s grace)", cut, bound, termGrace)
	}
	t.Logf("%s: retiring at +%s with 1 container of a 1h build, cut %s later at drain-timeout %s",
		name, retiring.Time.Sub(buildStart).Round(10*time.Millisecond), cut.Round(10*time.Millisecond), bound)
	log = m.unitLog("concourse-ci/1")
	if want := "did not finish retiring within its drain bound (drain-timeout 10s): sending SIGTERM; 1 container still running cut short"; !strings.Contains(log, want) {
		t.Errorf("concourse-ci/1's log does not warn %q", want)
	}
	for _, w := range m.workers("concourse-ci/0") {
		if w.Name == name {
			t.Errorf("/api/v1/workers still lists %+v", w)
		}
	}
}

// TestWorkerConfigChangeLandsBeforeRestart: a worker-only option (worker-tags) lands each worker
// before its restart; the busy one lands only once its build is over. The workers' own records
// give, for each: landing < landed < stopped < started.
func TestWorkerConfigChangeLandsBeforeRestart(t *testing.T) {
	t.Parallel()
	m := newConcourseModel(t)
	m.deploy("concourse-ci", 3)
	m.juju("wait")
	workers := []string{"concourse-ci/1", "concourse-ci/2"}
	m.registered("concourse-ci/0", []string{workerName(workers[0]), workerName(workers[1])})
	web := m.invocation("concourse-ci/0", "concourse-web")

	const build = 6 * time.Second
	buildStart := m.startBuild("concourse-ci/1", build)
	m.juju("config", "concourse-ci", "worker-tags=landed-first")
	m.juju("wait")

	type window struct{ from, to time.Time }
	down := map[string]window{}
	for _, u := range workers {
		ev := m.workerEvents(u)
		landing, i := find(ev, 0, "landing")
		landed, j := find(ev, i, "landed")
		stopped, k := find(ev, j, "stopped")
		started, l := find(ev, k, "started")
		if i < 0 || j < 0 || k < 0 || l < 0 {
			t.Errorf("%s events: %s, want landing, landed, stopped, started", u, eventNames(ev))
			continue
		}
		if !(landing.Time.Before(landed.Time) && !stopped.Time.Before(landed.Time) && stopped.Time.Before(started.Time)) {
			t.Errorf("%s events out of order: %s", u, eventNames(ev))
		}
		down[u] = window{landing.Time, started.Time}
		t.Logf("%s: landing with %d container(s), landed after %s, stopped %s later, started %s after that (out of service %s)",
			u, landing.Containers, landed.Time.Sub(landing.Time).Round(10*time.Millisecond),
			stopped.Time.Sub(landed.Time).Round(10*time.Millisecond), started.Time.Sub(stopped.Time).Round(10*time.Millisecond),
			started.Time.Sub(landing.Time).Round(10*time.Millisecond))
		if u == "concourse-ci/1" {
			if landing.Containers != 1 {
				t.Errorf("%s landed with %d containers, want its build's 1", u, landing.Containers)
			}
			if landed.Time.Before(buildStart.Add(build)) {
				t.Errorf("%s landed at %s, before its build ended (%s)", u, landed.Time, buildStart.Add(build))
			}
			// The charm waited for the landing itself, and said so, rather than a silent
			// supervisor restart.
			log := m.unitLog(u)
			for _, want := range []string{"Landing worker: 1 container still running, up to ", "concourse-worker landed in "} {
				if !strings.Contains(log, want) {
					t.Errorf("%s's log does not say %q", u, want)
				}
			}
		}
		// The web saw it land (through "landing" while a build ran) before it registered again.
		webEv := m.webEvents("concourse-ci/0", workerName(u))
		_, b := find(webEv, 1, "landed")
		_, c := find(webEv, b, "registered")
		if b < 0 || c < 0 {
			t.Errorf("web events of %s: %s, want landed, then registered again", u, eventNames(webEv))
		}
		if _, a := find(webEv, 0, "landing"); (a >= 0) != (landing.Containers > 0) || (a >= 0 && a > b) {
			t.Errorf("web events of %s: %s: want \"landing\" exactly while a build ran", u, eventNames(webEv))
		}
	}
	if a, b := down[workers[0]], down[workers[1]]; !a.from.IsZero() && !b.from.IsZero() {
		end, start := a.to, a.from
		if b.to.Before(end) {
			end = b.to
		}
		if b.from.After(start) {
			start = b.from
		}
		overlap := end.Sub(start)
		// The charm does not stagger worker restarts across units (each unit's hook runs on its
		// own): both may be out of service at once. Said here, not asserted.
		t.Logf("workers out of service together for %s", max(overlap, 0).Round(10*time.Millisecond))
	}
	for _, w := range m.registered("concourse-ci/0", []string{workerName(workers[0]), workerName(workers[1])}) {
		if !slices.Equal(w.Tags, []string{"landed-first"}) {
			t.Errorf("%s tags %v, want [landed-first]", w.Name, w.Tags)
		}
	}
	if got := m.invocation("concourse-ci/0", "concourse-web"); got != web {
		t.Errorf("worker-tags restarted the web")
	}
}

// TestModeWorkerOnFormerWebUnit: an all-in-one application moves to a separate web application:
// with `mode=worker`, its former web unit stops web cleanly (the service gone, its ports closed)
// and runs a worker, and both its units' workers register through the new web only; no worker is
// ever left stalled.
func TestModeWorkerOnFormerWebUnit(t *testing.T) {
	t.Parallel()
	m := newConcourseModel(t)
	m.deploy("ci", 2)
	m.deploy("web", 1, "--config", "mode=web")
	m.juju("integrate", "ci:flight", "web:tsa")
	m.juju("wait")
	// ci/1's worker registers through both TSAs (its peer ci/0's and web/0's); both webs share
	// the database.
	m.registered("web/0", []string{workerName("ci/1")}, m.address("ci/0"), m.address("web/0"))

	m.juju("config", "ci", "mode=worker")
	m.juju("wait")

	if s := m.activeState("ci/0", "concourse-web"); s == "active" || s == "activating" {
		t.Errorf("ci/0 still runs its web: %s", s)
	}
	if out, err := m.cmd("exec", "--unit", "ci/0", "--", "test", "-e", "/etc/systemd/system/concourse-web.service"); err == nil {
		t.Errorf("ci/0 kept the web's unit file: %s", out)
	}
	if ports := m.status().Applications["ci"].Units["ci/0"].OpenPorts; len(ports) != 0 {
		t.Errorf("ci/0 still opens %v", ports)
	}
	for _, u := range []string{"ci/0", "ci/1"} {
		if st, msg := m.unitStatus(u); st != "active" || !strings.HasPrefix(msg, "worker "+version+", 1 TSA host") {
			t.Errorf("%s: %s %q, want a worker with the new web's TSA", u, st, msg)
		}
	}
	ws := m.registered("web/0", []string{workerName("ci/0"), workerName("ci/1")}, m.address("web/0"))
	for _, w := range ws {
		if len(w.TSAPeers) != 1 {
			t.Errorf("%s registered through %v, want web/0 only", w.Name, w.TSAPeers)
		}
	}
	for _, name := range []string{workerName("ci/0"), workerName("ci/1")} {
		for _, e := range m.webEvents("web/0", name) {
			if strings.Contains(e.Detail, "stalled") {
				t.Errorf("%s was left stalled: %s", name, eventNames(m.webEvents("web/0", name)))
				break
			}
		}
	}
	// ci/1's TSA list changed: it landed before its restart.
	ev := m.workerEvents("ci/1")
	_, i := find(ev, 0, "landing")
	_, j := find(ev, i, "landed")
	_, k := find(ev, j, "started")
	if i < 0 || j < 0 || k < 0 {
		t.Errorf("ci/1 events %s, want landing, landed, started", eventNames(ev))
	}
}

// TestPromotedWebLeavesNoStalledWorker: when the web unit of a mode-auto application leaves, the
// leader takes web over and gives up its own worker; that worker is retired, not left behind as
// a stalled worker in the new web, even when the old web (its only TSA) went first.
func TestPromotedWebLeavesNoStalledWorker(t *testing.T) {
	t.Parallel()
	m := newConcourseModel(t)
	m.deploy("concourse-ci", 3)
	m.juju("wait")
	m.registered("concourse-ci/0", []string{workerName("concourse-ci/1"), workerName("concourse-ci/2")})

	m.juju("remove-unit", "concourse-ci/0")
	m.juju("wait")
	if st, msg := m.unitStatus("concourse-ci/1"); st != "active" || !strings.HasPrefix(msg, "web "+version) {
		t.Fatalf("concourse-ci/1: %s %q, want the web", st, msg)
	}
	// Exactly concourse-ci-2, running through the new web: concourse-ci-1 is gone, not stalled.
	m.registered("concourse-ci/1", []string{workerName("concourse-ci/2")}, m.address("concourse-ci/1"))
	if ev := m.webEvents("concourse-ci/1", workerName("concourse-ci/1")); len(ev) > 0 {
		t.Logf("%s: %s", workerName("concourse-ci/1"), eventNames(ev))
	}
}
