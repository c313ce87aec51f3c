package charm

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/concourse"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju/jujutest"
)

// fakePorts is a unit's opened ports, kept across its hooks as Juju keeps them.
type fakePorts struct {
	mu     sync.Mutex
	open   map[string]bool
	closed []string // every close-port, in order
}

func (p *fakePorts) install(r *jujutest.Runner) {
	r.Handle("opened-ports", func(jujutest.Call) ([]byte, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		return json.Marshal(slices.Sorted(maps.Keys(p.open)))
	})
	r.Handle("open-port", func(c jujutest.Call) ([]byte, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.open[c.Args[0]] = true
		return nil, nil
	})
	r.Handle("close-port", func(c jujutest.Call) ([]byte, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		delete(p.open, c.Args[0])
		p.closed = append(p.closed, c.Args[0])
		return nil, nil
	})
}

func (p *fakePorts) list() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Sorted(maps.Keys(p.open))
}

// hookOn runs one reconcile of a unit whose opened ports live in ports.
func hookOn(t *testing.T, m *fakeModel, name string, ports *fakePorts) {
	t.Helper()
	c := m.unit(name)
	m.mu.Lock()
	r := m.runners[name]
	m.mu.Unlock()
	ports.install(r)
	if err := c.Reconcile(context.Background()); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// TestConfigChangeRestartsOnlyTheRoleItTouches: on a unit running web and worker, each option
// restarts the service whose environment it is part of and nothing else; drain-timeout reaches
// the worker's stop bound without a restart; ports follow the options.
func TestConfigChangeRestartsOnlyTheRoleItTouches(t *testing.T) {
	t.Parallel()
	srv := serveReleases(t, "1.2.3")
	m := newFakeModel(t, testConfig(srv, ""))
	const unit = "concourse-ci/0"
	ports := &fakePorts{open: map[string]bool{}}
	hookOn(t, m, unit, ports)
	hookOn(t, m, unit, ports)
	svc := m.services[unit]
	if !svc.snapshot(concourse.WebService).Active || !svc.snapshot(concourse.WorkerService).Active {
		t.Fatalf("status %+v: want web and worker running", m.lastStatus(unit))
	}
	if got := ports.list(); !slices.Equal(got, []string{"2222/tcp", "8080/tcp"}) {
		t.Fatalf("opened ports %v, want 2222/tcp and 8080/tcp", got)
	}

	const (
		none   = ""
		web    = "web"
		worker = "worker"
		both   = "web+worker"
	)
	for _, step := range []struct {
		option   string
		value    any
		restarts string
		env      string // a line the restarted role's environment file must now hold
	}{
		{"worker-team", "ops", worker, "CONCOURSE_TEAM=ops"},
		{"baggageclaim-driver", "overlay", worker, "CONCOURSE_BAGGAGECLAIM_DRIVER=overlay"},
		{"dns-servers", "10.0.0.53, 1.1.1.1", worker, "CONCOURSE_CONTAINERD_DNS_SERVER=10.0.0.53,1.1.1.1"},
		{"max-containers", int64(100), worker, "CONCOURSE_CONTAINERD_MAX_CONTAINERS=100"},
		{"extra-env", "worker:CONCOURSE_EPHEMERAL=true", worker, "CONCOURSE_EPHEMERAL=true"},
		{"drain-timeout", "1h", none, ""},
		{"external-url", "https://ci.example.com/", web, "CONCOURSE_EXTERNAL_URL=https://ci.example.com"},
		{"web-port", int64(8081), web, "CONCOURSE_BIND_PORT=8081"},
		{"enable-metrics", true, web, "CONCOURSE_PROMETHEUS_BIND_PORT=9391"},
		{"metrics-port", int64(9400), web, "CONCOURSE_PROMETHEUS_BIND_PORT=9400"},
		{"admin-username", "root", web, "CONCOURSE_MAIN_TEAM_LOCAL_USER=root"},
		{"extra-env", "web:CONCOURSE_ENABLE_ACROSS_STEP=true", both, "CONCOURSE_ENABLE_ACROSS_STEP=true"}, // the worker's line left
		{"extra-env", "web:CONCOURSE_ENABLE_ACROSS_STEP=false", web, "CONCOURSE_ENABLE_ACROSS_STEP=false"},
		{"tsa-port", int64(2223), both, "CONCOURSE_TSA_BIND_PORT=2223"},
		{"web-port", int64(0), none, ""}, // refused: blocked, nothing restarts
	} {
		webBefore := svc.snapshot(concourse.WebService).InvocationID
		workerBefore := svc.snapshot(concourse.WorkerService).InvocationID
		m.setConfig(step.option, step.value)
		hookOn(t, m, unit, ports)
		webRestarted := svc.snapshot(concourse.WebService).InvocationID != webBefore
		workerRestarted := svc.snapshot(concourse.WorkerService).InvocationID != workerBefore
		want := step.restarts
		if got := map[[2]bool]string{{false, false}: none, {true, false}: web, {false, true}: worker, {true, true}: both}[[2]bool{webRestarted, workerRestarted}]; got != want {
			t.Errorf("%s=%v restarted %q, want %q", step.option, step.value, got, want)
		}
		if step.env != "" {
			file := map[string]string{web: "web/web.env", worker: "worker/worker.env", both: "web/web.env"}[want]
			data, err := os.ReadFile(filepath.Join(m.dataDirs[unit], file))
			if err != nil || !strings.Contains(string(data), step.env+"\n") {
				t.Errorf("%s=%v: %s lacks %q (%v)", step.option, step.value, file, step.env, err)
			}
		}
	}

	if st := m.lastStatus(unit); st.State != juju.Blocked || !strings.Contains(st.Message, `"web-port"`) {
		t.Errorf("web-port=0: status %+v, want blocked naming web-port", st)
	}
	// drain-timeout reached the worker's stop bound without restarting it.
	svc.mu.Lock()
	got := svc.specs[concourse.WorkerService].TimeoutStop
	svc.mu.Unlock()
	if got != time.Hour {
		t.Errorf("worker stop bound %v, want drain-timeout 1h", got)
	}
	// The refused web-port changed no port; before it, each change closed the old one.
	if got := ports.list(); !slices.Equal(got, []string{"2223/tcp", "8081/tcp", "9400/tcp"}) {
		t.Errorf("opened ports %v, want 2223/tcp 8081/tcp 9400/tcp", got)
	}
	for _, old := range []string{"8080/tcp", "9391/tcp", "2222/tcp"} {
		if !slices.Contains(ports.closed, old) {
			t.Errorf("%s never closed after its option changed: closed %v", old, ports.closed)
		}
	}

	// Metrics off again: the port closes, the web restarts without the endpoint.
	m.setConfig("web-port", int64(8081))
	m.setConfig("enable-metrics", false)
	hookOn(t, m, unit, ports)
	if got := ports.list(); !slices.Equal(got, []string{"2223/tcp", "8081/tcp"}) {
		t.Errorf("metrics off: opened ports %v, want 2223/tcp 8081/tcp", got)
	}
	data, _ := os.ReadFile(filepath.Join(m.dataDirs[unit], "web", "web.env"))
	if strings.Contains(string(data), "PROMETHEUS") {
		t.Errorf("metrics off, web env still has the Prometheus endpoint:\n%s", data)
	}
}
