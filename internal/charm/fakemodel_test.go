package charm

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju/jujutest"
)

// fakeModel is the little of a Juju model the reconcile reads and writes: config, leadership, the
// peer relation's bags, per-unit storage and statuses. Each unit talks to it through its own fake
// Runner, as each real unit talks to its agent through hook tools.
type fakeModel struct {
	t      *testing.T
	mu     sync.Mutex
	config map[string]any
	leader string
	app    map[string]string
	units  map[string]map[string]string
	status map[string][]juju.Status
	// onStatus, if set, sees every status a unit sets, outside the lock: a test may block in it
	// to hold that unit exactly there (progress reports are synchronous with the download).
	onStatus func(unit string, st juju.Status)
	// runners are the units' fake hook-tool runners, by unit name (the latest Charm made for it).
	runners map[string]*jujutest.Runner
}

func newFakeModel(t *testing.T, config map[string]any) *fakeModel {
	return &fakeModel{
		t: t, config: config, leader: "concourse-ci/0",
		app: map[string]string{}, units: map[string]map[string]string{}, status: map[string][]juju.Status{},
		runners: map[string]*jujutest.Runner{},
	}
}

// unit returns a Charm for unit name with its own data directory.
func (m *fakeModel) unit(name string) *Charm {
	dataDir := filepath.Join(m.t.TempDir(), "concourse-data")
	r := jujutest.New()
	r.Handle("config-get", func(jujutest.Call) ([]byte, error) {
		m.mu.Lock()
		defer m.mu.Unlock()
		return json.Marshal(m.config)
	})
	r.Handle("is-leader", func(jujutest.Call) ([]byte, error) {
		m.mu.Lock()
		defer m.mu.Unlock()
		return []byte(fmt.Sprint(m.leader == name)), nil
	})
	r.SetOutput("relation-ids", `["cluster:0"]`)
	r.SetOutput("storage-list", `["concourse-data/0"]`)
	r.SetOutput("storage-get", fmt.Sprintf(`{"kind":"filesystem","location":%q}`, dataDir))
	r.SetError("resource-get", 1, "ERROR could not download resource: HTTP request failed: resource#concourse-ci/concourse-release not found")
	r.Handle("relation-get", func(c jujutest.Call) ([]byte, error) {
		m.mu.Lock()
		defer m.mu.Unlock()
		bag := m.units[c.Args[len(c.Args)-1]]
		if slices.Contains(c.Args, "--app") {
			bag = m.app
		}
		return json.Marshal(bag)
	})
	r.Handle("relation-set", func(c jujutest.Call) ([]byte, error) {
		var data map[string]string
		if err := json.Unmarshal(c.Stdin, &data); err != nil {
			return nil, err
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		bag := m.units[name]
		if slices.Contains(c.Args, "--app") {
			if m.leader != name {
				return nil, &juju.ToolError{Tool: "relation-set", ExitCode: 1, Stderr: "ERROR cannot write relation settings"}
			}
			bag = m.app
		}
		if bag == nil {
			bag = map[string]string{}
			m.units[name] = bag
		}
		for k, v := range data {
			if v == "" {
				delete(bag, k)
			} else {
				bag[k] = v
			}
		}
		return nil, nil
	})
	r.Handle("status-set", func(c jujutest.Call) ([]byte, error) {
		i := slices.Index(c.Args, "--")
		st := juju.Status{State: juju.StatusState(c.Args[i-1]), Message: strings.Join(c.Args[i+1:], " ")}
		m.mu.Lock()
		m.status[name] = append(m.status[name], st)
		hook := m.onStatus
		m.mu.Unlock()
		if hook != nil {
			hook(name, st)
		}
		return nil, nil
	})
	m.mu.Lock()
	m.runners[name] = r
	m.mu.Unlock()
	env := juju.Env{UnitName: name}
	return New(Options{Env: env, Tools: juju.NewClient(r), Arch: "amd64"})
}

func (m *fakeModel) lastStatus(unit string) juju.Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.status[unit]
	if len(s) == 0 {
		return juju.Status{}
	}
	return s[len(s)-1]
}

func (m *fakeModel) statuses(unit string) []juju.Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.status[unit])
}

func (m *fakeModel) setConfig(key string, value any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.config[key] = value
}
