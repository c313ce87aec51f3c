package charm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju/jujutest"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/service"
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
	// unhealthy makes a unit's post-upgrade health check fail with this reason (upgrade tests).
	unhealthy map[string]string
	// members are the units in the peer relation, in the order they were made.
	members   []string
	secrets   map[string]map[string]string
	database  map[string]string // the postgresql provider's application bag
	appStatus juju.Status
	services  map[string]*fakeServices // each unit's supervisor
	dataDirs  map[string]string        // each unit's concourse-data, kept across its hooks
	// concourseRuns are the release binary's runs per unit (retire-worker by name), each its
	// arguments and environment; they succeed unless failConcourse is set.
	concourseRuns map[string][][]string
	failConcourse error
	// dbVersions answers `concourse migrate --supported-db-version` per release version; a
	// version not in it fails as a binary that cannot tell would.
	dbVersions map[string]int64
	// remotes are relations to other applications (tsa, flight) by id (fakeremote_test.go).
	remotes map[string]*fakeRemote
}

func newFakeModel(t *testing.T, config map[string]any) *fakeModel {
	return &fakeModel{
		t: t, config: config, leader: "concourse-ci/0",
		app: map[string]string{}, units: map[string]map[string]string{}, status: map[string][]juju.Status{},
		runners: map[string]*jujutest.Runner{},
		secrets: map[string]map[string]string{}, services: map[string]*fakeServices{}, dataDirs: map[string]string{},
		concourseRuns: map[string][][]string{},
		// A provider without secrets support (plain fields): enough for the web to start.
		database: map[string]string{"database": "concourse", "endpoints": "10.0.0.99:5432", "username": "relation_1", "password": "pw-in-clear"},
	}
}

// unit returns a Charm for unit name with its own data directory.
func (m *fakeModel) unit(name string) *Charm {
	m.mu.Lock()
	dataDir, ok := m.dataDirs[name]
	if !ok {
		dataDir = filepath.Join(m.t.TempDir(), "concourse-data")
		m.dataDirs[name] = dataDir
	}
	m.mu.Unlock()
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
	r.Handle("relation-ids", func(c jujutest.Call) ([]byte, error) {
		switch c.Args[len(c.Args)-1] {
		case peerEndpoint:
			return []byte(`["cluster:0"]`), nil
		case postgresEndpoint:
			return []byte(`["postgresql:1"]`), nil
		}
		return m.remoteIDs(c.Args[len(c.Args)-1])
	})
	r.Handle("relation-list", func(c jujutest.Call) ([]byte, error) {
		if out, ok := m.remoteList(c); ok {
			return out, nil
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		if slices.Contains(c.Args, "--app") {
			return json.Marshal("postgresql") // only the postgresql relation asks for its app
		}
		var others []string
		for _, u := range m.members {
			if u != name {
				others = append(others, u)
			}
		}
		return json.Marshal(others)
	})
	r.Handle("network-get", func(jujutest.Call) ([]byte, error) {
		_, n := splitUnit(name)
		return []byte(fmt.Sprintf(`{"ingress-addresses":["10.0.0.%d"]}`, n+10)), nil
	})
	r.SetOutput("opened-ports", `[]`)
	r.Handle("secret-add", func(c jujutest.Call) ([]byte, error) {
		data, err := os.ReadFile(c.Args[slices.Index(c.Args, "--file")+1])
		if err != nil {
			return nil, err
		}
		var content map[string]string
		if err := json.Unmarshal(data, &content); err != nil {
			return nil, err
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		id := fmt.Sprintf("secret:fake%d", len(m.secrets))
		m.secrets[id] = content
		return []byte(id), nil
	})
	r.Handle("secret-get", func(c jujutest.Call) ([]byte, error) {
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, a := range c.Args {
			if content, ok := m.secrets[a]; ok {
				return json.Marshal(content)
			}
		}
		return nil, &juju.ToolError{Tool: "secret-get", ExitCode: 1, Stderr: "ERROR secret not found"}
	})
	r.Handle("secret-set", func(c jujutest.Call) ([]byte, error) {
		// A new revision replaces the content: the application's units read the latest one.
		data, err := os.ReadFile(c.Args[slices.Index(c.Args, "--file")+1])
		if err != nil {
			return nil, err
		}
		var content map[string]string
		if err := json.Unmarshal(data, &content); err != nil {
			return nil, err
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		id := c.Args[len(c.Args)-1]
		if _, ok := m.secrets[id]; !ok || m.leader != name {
			return nil, &juju.ToolError{Tool: "secret-set", ExitCode: 1, Stderr: "ERROR permission denied"}
		}
		m.secrets[id] = content
		return nil, nil
	})
	r.SetOutput("storage-list", `["concourse-data/0"]`)
	r.SetOutput("storage-get", fmt.Sprintf(`{"kind":"filesystem","location":%q}`, dataDir))
	r.SetError("resource-get", 1, "ERROR could not download resource: HTTP request failed: resource#concourse-ci/concourse-release not found")
	r.Handle("relation-get", func(c jujutest.Call) ([]byte, error) {
		if out, ok := m.remoteGet(c); ok {
			return out, nil
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		bag := m.units[c.Args[len(c.Args)-1]]
		switch {
		case slices.Contains(c.Args, "postgresql:1") && slices.Contains(c.Args, "--app") && c.Args[len(c.Args)-1] == "postgresql":
			bag = m.database
		case slices.Contains(c.Args, "postgresql:1"):
			bag = nil // the requirer's own bags there: not modelled
		case slices.Contains(c.Args, "--app"):
			bag = m.app
		}
		return json.Marshal(bag)
	})
	r.Handle("relation-set", func(c jujutest.Call) ([]byte, error) {
		var data map[string]string
		if err := json.Unmarshal(c.Stdin, &data); err != nil {
			return nil, err
		}
		if slices.Contains(c.Args, "postgresql:1") {
			return nil, nil // the database request: not modelled
		}
		if ok, err := m.remoteSet(name, c, data); ok {
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
		if slices.Contains(c.Args, "--application") {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.appStatus = st
			return nil, nil
		}
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
	if !slices.Contains(m.members, name) {
		m.members = append(m.members, name)
	}
	svc := m.services[name]
	if svc == nil {
		svc = newFakeServices()
		m.services[name] = svc
	}
	m.mu.Unlock()
	env := juju.Env{UnitName: name}
	return New(Options{Env: env, Tools: juju.NewClient(r), Arch: "amd64", KeyBits: 1024,
		Services:   func(context.Context) (service.Manager, error) { return svc, nil },
		SystemUser: func(string) (int, error) { return os.Getgid(), nil },
		RunConcourse: func(_ context.Context, bin string, args, env []string) ([]byte, error) {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.concourseRuns[name] = append(m.concourseRuns[name], append(slices.Clone(args), env...))
			if len(args) > 0 && args[0] == "migrate" {
				return m.supportedDBVersion(bin)
			}
			return nil, m.failConcourse
		},
		Health: func(_ context.Context, web, worker bool, _ int, version string) error {
			m.mu.Lock()
			defer m.mu.Unlock()
			if why := m.unhealthy[name]; why != "" {
				return errors.New(why)
			}
			return nil
		}})
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
