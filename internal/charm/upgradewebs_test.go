package charm

import (
	"slices"
	"strings"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/concourse"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
)

// workerApp is a worker application (mode worker, 3 units on shared storage) related over flight
// to a web application "web" whose one unit publishes its TSA, its host key and, when webVersion
// is set, the version it runs.
func workerApp(t *testing.T, webVersion string) (*fakeModel, []string) {
	t.Helper()
	srv := serveReleases(t, "1.2.3", "1.2.4")
	m, _, _ := sharedModel(t, srv)
	m.setConfig("mode", "worker")
	hostKey, err := concourse.GenerateKey(1024)
	if err != nil {
		t.Fatal(err)
	}
	r := m.addRemote("flight:7", flightEndpoint, "web")
	r.appBag[keyTSAPublicKey] = hostKey.Public
	web := map[string]string{keyTSAAddress: "10.0.0.50:2222"}
	if webVersion != "" {
		web[keyConcourseVersion] = webVersion
	}
	m.setRemoteUnit("flight:7", "web/0", web)
	units := unitNames(3)
	reconcileAll(t, m, units)
	if !allOn(m, units, "1.2.3") {
		t.Fatalf("the workers did not start: %+v", m.lastStatus("concourse-ci/1"))
	}
	return m, units
}

// TestWorkerApplicationWaitsForItsWebs: version=1.2.4 on a worker application moves no worker
// while the related web runs 1.2.3 (the status and upgrade-status say so); once the web reports
// 1.2.4, the workers move one at a time, by number.
func TestWorkerApplicationWaitsForItsWebs(t *testing.T) {
	t.Parallel()
	m, units := workerApp(t, "1.2.3")
	m.setConfig("version", "1.2.4")
	for range 4 {
		if moved := hookRound(t, m, units); len(moved) > 0 {
			t.Fatalf("workers moved before their web: %v", moved)
		}
	}
	if st := m.appStatus; !strings.Contains(st.Message, "the workers wait for the related webs to run 1.2.4 (they run 1.2.3)") {
		t.Errorf("application status %+v", st)
	}
	run := runTestAction(t, m, "concourse-ci/1", "upgrade-status", "")
	run.mustSucceed(t)
	if run.results["units.concourse-ci-1.stands"] != "waiting for the related webs to run 1.2.4" || run.results["related-webs"] != "1.2.3" {
		t.Errorf("upgrade-status %v", run.results)
	}

	m.setRemoteUnit("flight:7", "web/0", map[string]string{keyTSAAddress: "10.0.0.50:2222", keyConcourseVersion: "1.2.4"})
	var history []string
	for round := 0; round < 8 && !allOn(m, units, "1.2.4"); round++ {
		moved := hookRound(t, m, units)
		if len(moved) > 1 {
			t.Errorf("round %d moved %v at once", round, moved)
		}
		history = append(history, moved...)
	}
	want := []string{"concourse-ci/0:1.2.3->1.2.4", "concourse-ci/1:1.2.3->1.2.4", "concourse-ci/2:1.2.3->1.2.4"}
	if !slices.Equal(history, want) {
		t.Errorf("history %v, want %v", history, want)
	}
}

// TestWorkerApplicationWithAWebThatPublishesNoVersion: a web application whose charm publishes no
// version (an older revision) is not waited for, which would stall the workers for good.
func TestWorkerApplicationWithAWebThatPublishesNoVersion(t *testing.T) {
	t.Parallel()
	m, units := workerApp(t, "")
	m.setConfig("version", "1.2.4")
	for round := 0; round < 8 && !allOn(m, units, "1.2.4"); round++ {
		hookRound(t, m, units)
	}
	if !allOn(m, units, "1.2.4") {
		t.Errorf("plan %s", m.app[keyRollout])
	}
}

// TestWebPublishesItsVersionToWorkerApplications: a web unit tells related worker applications
// (tsa unit bag) the version it runs healthy: the new one only after its health check passes.
func TestWebPublishesItsVersionToWorkerApplications(t *testing.T) {
	t.Parallel()
	srv := serveReleases(t, "1.2.3", "1.2.4")
	m, _, _ := sharedModel(t, srv)
	m.setConfig("mode", "web")
	m.addRemote("tsa:8", tsaEndpoint, "workers")
	m.setRemoteUnit("tsa:8", "workers/0", map[string]string{})
	units := unitNames(1)
	reconcileAll(t, m, units)
	if got := m.ownOnRemote("tsa:8", "concourse-ci/0")[keyConcourseVersion]; got != "1.2.3" {
		t.Fatalf("the web publishes %q on tsa, want 1.2.3", got)
	}
	m.unhealthy = map[string]string{"concourse-ci/0": "web reports version \"1.2.3\", want 1.2.4"}
	m.setConfig("version", "1.2.4")
	for range 3 {
		hookRound(t, m, units)
	}
	if st := m.lastStatus("concourse-ci/0"); st.State != juju.Blocked {
		t.Fatalf("status %+v, want the failed upgrade", st)
	}
	if got := m.ownOnRemote("tsa:8", "concourse-ci/0")[keyConcourseVersion]; got != "1.2.3" {
		t.Errorf("a web that failed its health check on 1.2.4 publishes %q, want 1.2.3", got)
	}
	m.unhealthy = nil
	runTestAction(t, m, "concourse-ci/0", "upgrade-resume", "").mustSucceed(t)
	if got := m.ownOnRemote("tsa:8", "concourse-ci/0")[keyConcourseVersion]; got != "1.2.4" {
		t.Errorf("after a healthy switch the web publishes %q, want 1.2.4", got)
	}
}
