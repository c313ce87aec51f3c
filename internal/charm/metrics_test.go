package charm

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"reflect"
	"slices"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju/jujutest"
)

const (
	metricsRelID = "metrics-endpoint:7"
	testModel    = "ci-model"
	testUUID     = "6f0f3c2e-4b1a-4c3d-9e8f-0a1b2c3d4e5f"
)

// fakeMetricsRelation is a metrics-endpoint relation with a Prometheus on the other side: this
// application's bags as the consumer reads them.
type fakeMetricsRelation struct {
	mu    sync.Mutex
	app   map[string]string
	units map[string]map[string]string
	m     *fakeModel
}

func newFakeMetricsRelation(m *fakeModel) *fakeMetricsRelation {
	return &fakeMetricsRelation{app: map[string]string{}, units: map[string]map[string]string{}, m: m}
}

// install answers the hook tools unit uses on the relation, by exact arguments, over the fake
// model's own answers for the other relations.
func (f *fakeMetricsRelation) install(r *jujutest.Runner, unit string) {
	r.SetOutputFor("relation-ids", []string{"--format=json", metricsEndpoint}, `["`+metricsRelID+`"]`)
	get := func(bag func() map[string]string) jujutest.Handler {
		return func(jujutest.Call) ([]byte, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			return json.Marshal(bag())
		}
	}
	r.HandleArgs("relation-get", []string{"-r", metricsRelID, "--format=json", "-", unit}, get(func() map[string]string { return f.units[unit] }))
	r.HandleArgs("relation-get", []string{"-r", metricsRelID, "--format=json", "--app", "-", "concourse-ci"}, get(func() map[string]string { return f.app }))
	set := func(app bool) jujutest.Handler {
		return func(c jujutest.Call) ([]byte, error) {
			var data map[string]string
			if err := json.Unmarshal(c.Stdin, &data); err != nil {
				return nil, err
			}
			f.m.mu.Lock()
			leader := f.m.leader == unit
			f.m.mu.Unlock()
			if app && !leader {
				return nil, &juju.ToolError{Tool: "relation-set", ExitCode: 1, Stderr: "ERROR cannot write relation settings"}
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			bag := f.app
			if !app {
				if f.units[unit] == nil {
					f.units[unit] = map[string]string{}
				}
				bag = f.units[unit]
			}
			for k, v := range data {
				if v == "" {
					delete(bag, k)
				} else {
					bag[k] = v
				}
			}
			return nil, nil
		}
	}
	r.HandleArgs("relation-set", []string{"-r", metricsRelID, "--file", "-"}, set(false))
	r.HandleArgs("relation-set", []string{"-r", metricsRelID, "--app", "--file", "-"}, set(true))
}

func (f *fakeMetricsRelation) unitBag(unit string) map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.units[unit])
}

func (f *fakeMetricsRelation) appBag() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.app)
}

// metricsHooks runs rounds of one hook per unit, in order, with the relation in place.
func metricsHooks(t *testing.T, m *fakeModel, rel *fakeMetricsRelation, units ...string) {
	t.Helper()
	for range 3 {
		for _, u := range units {
			c := m.unit(u)
			c.env.ModelName, c.env.ModelUUID = testModel, testUUID
			m.mu.Lock()
			r := m.runners[u]
			m.mu.Unlock()
			rel.install(r, u)
			if err := c.Reconcile(context.Background()); err != nil {
				t.Fatalf("%s: %v", u, err)
			}
		}
	}
}

// decoded is a JSON value as any consumer decodes it (json.loads).
func decoded(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not JSON: %q: %v", s, err)
	}
	return v
}

// TestMetricsEndpointAsThePrometheusScrapeLibraryWritesIt: the application bag holds scrape_jobs
// and scrape_metadata as JSON, the web unit's bag its address and name (the keys and shapes of
// charms.prometheus_k8s.v0.prometheus_scrape's MetricsEndpointProvider); a worker unit publishes
// no address, so the wildcard target never reaches it; turning metrics off withdraws both.
func TestMetricsEndpointAsThePrometheusScrapeLibraryWritesIt(t *testing.T) {
	t.Parallel()
	srv := serveReleases(t, "1.2.3")
	m := newFakeModel(t, testConfig(srv, ""))
	rel := newFakeMetricsRelation(m)
	units := unitNames(2) // concourse-ci/0: web (the first leader), concourse-ci/1: worker

	metricsHooks(t, m, rel, units...)
	wantMeta := map[string]any{"model": testModel, "model_uuid": testUUID, "application": "concourse-ci",
		"unit": "concourse-ci/0", "charm_name": "concourse-ci-machine"}
	app := rel.appBag()
	if got := decoded(t, app["scrape_jobs"]); !reflect.DeepEqual(got, []any{}) {
		t.Errorf("metrics off: scrape_jobs %s, want []", app["scrape_jobs"])
	}
	if got := decoded(t, app["scrape_metadata"]); !reflect.DeepEqual(got, wantMeta) {
		t.Errorf("scrape_metadata %s, want %v", app["scrape_metadata"], wantMeta)
	}
	for _, u := range units {
		if bag := rel.unitBag(u); len(bag) != 0 {
			t.Errorf("metrics off: %s publishes %v", u, bag)
		}
	}

	m.setConfig("enable-metrics", true)
	m.setConfig("metrics-port", int64(9400))
	metricsHooks(t, m, rel, units...)
	app = rel.appBag()
	wantJobs := []any{map[string]any{
		"job_name":       "concourse-web",
		"metrics_path":   "/metrics",
		"static_configs": []any{map[string]any{"targets": []any{"*:9400"}}},
	}}
	if got := decoded(t, app["scrape_jobs"]); !reflect.DeepEqual(got, wantJobs) {
		t.Errorf("scrape_jobs %s, want %v", app["scrape_jobs"], wantJobs)
	}
	if keys := slices.Sorted(maps.Keys(app)); !slices.Equal(keys, []string{"scrape_jobs", "scrape_metadata"}) {
		t.Errorf("application bag keys %v", keys)
	}
	if got, want := rel.unitBag("concourse-ci/0"), map[string]string{
		"prometheus_scrape_unit_address": "10.0.0.10", "prometheus_scrape_unit_name": "concourse-ci/0",
	}; !maps.Equal(got, want) {
		t.Errorf("web unit bag %v, want %v", got, want)
	}
	if bag := rel.unitBag("concourse-ci/1"); len(bag) != 0 {
		t.Errorf("worker unit publishes %v: Prometheus would scrape a unit without a web", bag)
	}

	m.setConfig("enable-metrics", false)
	metricsHooks(t, m, rel, units...)
	if got := rel.appBag()["scrape_jobs"]; got != "[]" {
		t.Errorf("metrics off again: scrape_jobs %s, want []", got)
	}
	if bag := rel.unitBag("concourse-ci/0"); len(bag) != 0 {
		t.Errorf("metrics off again: web unit still publishes %v", bag)
	}
}

// TestEveryRelationHookReconciles: each endpoint in metadata.yaml has its relation hooks
// handled (not dropped as unknown), so a new Prometheus gets its data without waiting for
// another hook.
func TestEveryRelationHookReconciles(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../metadata.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Peers    map[string]any `yaml:"peers"`
		Provides map[string]any `yaml:"provides"`
		Requires map[string]any `yaml:"requires"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	meta := map[string]map[string]any{"peers": doc.Peers, "provides": doc.Provides, "requires": doc.Requires}
	c := New(Options{Env: juju.Env{UnitName: "concourse-ci/0"}})
	n := 0
	for _, section := range []string{"peers", "provides", "requires"} {
		for endpoint := range meta[section] {
			n++
			for _, suffix := range []string{"created", "joined", "changed", "departed", "broken"} {
				if hook := endpoint + "-relation-" + suffix; !c.isKnownHook(hook) {
					t.Errorf("%s (metadata.yaml %s) is not handled", hook, section)
				}
			}
		}
	}
	if n < 5 {
		t.Fatalf("%d endpoints read from metadata.yaml, want at least 5", n)
	}
}
