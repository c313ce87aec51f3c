package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/charmpack"
)

// packScrapeConsumer builds and packs tests/scrapeconsumer, the Prometheus side of prometheus_scrape.
func packScrapeConsumer(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	dispatch := filepath.Join(dir, "dispatch")
	cmd := exec.Command("go", "build", "-trimpath", "-o", dispatch, "./tests/scrapeconsumer")
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build scrapeconsumer: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "scrapeconsumer.charm")
	if err := charmpack.Pack(charmpack.Options{SourceDir: "../../tests/scrapeconsumer", Dispatch: dispatch, Arch: "amd64", Version: "e2e", Output: out}); err != nil {
		t.Fatal(err)
	}
	return out
}

// scrape GETs url from the host until it answers 200 or the deadline passes: the web starts its
// Prometheus listener asynchronously to the hook that started it.
func scrape(url string, deadline time.Duration) (string, error) {
	c := http.Client{Timeout: 3 * time.Second}
	var last error
	for end := time.Now().Add(deadline); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		resp, err := c.Get(url)
		if err != nil {
			last = err
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			return string(body), nil
		}
		last = fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return "", last
}

// TestMetricsEndpointPublishesTheWebToPrometheus: with enable-metrics the web serves metrics on
// metrics-port, the port is open on the web unit only, the relation holds the library's keys and
// JSON, and a consumer reading them as MetricsEndpointConsumer does finds the web alone and can
// scrape it; turning metrics off withdraws all of it.
func TestMetricsEndpointPublishesTheWebToPrometheus(t *testing.T) {
	t.Parallel()
	m := newConcourseModel(t)
	m.deploy("concourse-ci", 2) // concourse-ci/0 web, concourse-ci/1 worker
	m.juju("deploy", packScrapeConsumer(t), "prometheus", "--provider", built.provider)
	m.juju("integrate", "concourse-ci:metrics-endpoint", "prometheus:metrics-endpoint")
	m.juju("wait")
	web, worker := "concourse-ci/0", "concourse-ci/1"
	ports := func(unit string) string {
		return strings.Join(m.status().Applications["concourse-ci"].Units[unit].OpenPorts, ",")
	}
	if _, msg := m.unitStatus("prometheus/0"); msg != "no targets" {
		t.Errorf("metrics off: prometheus sees %q, want no targets", msg)
	}
	if p := ports(web); p != "2222/tcp,8080/tcp" {
		t.Errorf("metrics off: web ports %s", p)
	}

	m.juju("config", "concourse-ci", "enable-metrics=true", "metrics-port=9400")
	m.juju("wait")
	addr := m.address(web)
	if p := ports(web); p != "2222/tcp,8080/tcp,9400/tcp" {
		t.Errorf("metrics on: web ports %s, want 2222/tcp,8080/tcp,9400/tcp", p)
	}
	if p := ports(worker); p != "" {
		t.Errorf("metrics on: worker opened %s", p)
	}
	want := fmt.Sprintf("targets: %s=http://%s:9400/metrics", web, addr)
	if _, msg := m.unitStatus("prometheus/0"); msg != want {
		t.Errorf("prometheus sees %q, want %q", msg, want)
	}
	st := m.modelState()
	r := relationBetween(t, st, "concourse-ci", "prometheus")
	var jobs, meta any
	if err := json.Unmarshal([]byte(r.AppData["concourse-ci"]["scrape_jobs"]), &jobs); err != nil {
		t.Fatalf("scrape_jobs %q: %v", r.AppData["concourse-ci"]["scrape_jobs"], err)
	}
	wantJobs := []any{map[string]any{"job_name": "concourse-web", "metrics_path": "/metrics",
		"static_configs": []any{map[string]any{"targets": []any{"*:9400"}}}}}
	if !reflect.DeepEqual(jobs, wantJobs) {
		t.Errorf("scrape_jobs %v, want %v", jobs, wantJobs)
	}
	if err := json.Unmarshal([]byte(r.AppData["concourse-ci"]["scrape_metadata"]), &meta); err != nil {
		t.Fatal(err)
	}
	wantMeta := map[string]any{"model": st.Name, "model_uuid": st.UUID, "application": "concourse-ci", "unit": web, "charm_name": "concourse-ci-machine"}
	if !reflect.DeepEqual(meta, wantMeta) {
		t.Errorf("scrape_metadata %v, want %v", meta, wantMeta)
	}
	if bag := r.UnitData[web]; bag["prometheus_scrape_unit_address"] != addr || bag["prometheus_scrape_unit_name"] != web {
		t.Errorf("web unit bag %v", bag)
	}
	if bag := r.UnitData[worker]; bag["prometheus_scrape_unit_address"] != "" {
		t.Errorf("worker unit bag %v: a worker has no metrics", bag)
	}
	body, err := scrape(fmt.Sprintf("http://%s:9400/metrics", addr), 30*time.Second)
	if err != nil || !strings.Contains(body, "concourse_") {
		t.Errorf("scraping the web: %v\n%.300s", err, body)
	}

	m.juju("config", "concourse-ci", "enable-metrics=false")
	m.juju("wait")
	if p := ports(web); p != "2222/tcp,8080/tcp" {
		t.Errorf("metrics off again: web ports %s", p)
	}
	if _, msg := m.unitStatus("prometheus/0"); msg != "no targets" {
		t.Errorf("metrics off again: prometheus sees %q", msg)
	}
	c := http.Client{Timeout: 3 * time.Second}
	if resp, err := c.Get(fmt.Sprintf("http://%s:9400/metrics", addr)); err == nil {
		resp.Body.Close()
		t.Errorf("metrics off again: the web still serves metrics (%s)", resp.Status)
	}
}
