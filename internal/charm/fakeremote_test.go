package charm

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju/jujutest"
)

// fakeRemote is a relation to another application (tsa or flight): the test plays that
// application by writing its bags; the units of the fake model write theirs through hook tools.
type fakeRemote struct {
	endpoint string
	app      string                       // the remote application's name
	appBag   map[string]string            // its application bag
	units    map[string]map[string]string // its units' bags
	own      map[string]map[string]string // this application's unit bags on the relation
	ownApp   map[string]string            // this application's bag (its leader writes it)
}

// addRemote relates the model's application to app over endpoint as relation id.
func (m *fakeModel) addRemote(id, endpoint, app string) *fakeRemote {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.remotes == nil {
		m.remotes = map[string]*fakeRemote{}
	}
	r := &fakeRemote{endpoint: endpoint, app: app, appBag: map[string]string{}, units: map[string]map[string]string{},
		own: map[string]map[string]string{}, ownApp: map[string]string{}}
	m.remotes[id] = r
	return r
}

// setRemoteUnit replaces a remote unit's bag (the remote application's hook wrote it).
func (m *fakeModel) setRemoteUnit(id, unit string, bag map[string]string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.remotes[id].units[unit] = maps.Clone(bag)
}

// ownOnRemote is what unit wrote in its bag on relation id.
func (m *fakeModel) ownOnRemote(id, unit string) map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.remotes[id].own[unit])
}

func (m *fakeModel) remoteIDs(endpoint string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := []string{}
	for id, r := range m.remotes {
		if r.endpoint == endpoint {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return json.Marshal(ids)
}

// remote finds the relation a hook-tool call names with -r, if it is a remote one.
func (m *fakeModel) remote(c jujutest.Call) (*fakeRemote, bool) {
	i := slices.Index(c.Args, "-r")
	if i < 0 || i+1 >= len(c.Args) {
		return nil, false
	}
	r, ok := m.remotes[c.Args[i+1]]
	return r, ok
}

func (m *fakeModel) remoteList(c jujutest.Call) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.remote(c)
	if !ok {
		return nil, false
	}
	var out any = r.app
	if !slices.Contains(c.Args, "--app") {
		units := slices.Sorted(maps.Keys(r.units))
		out = units
	}
	data, _ := json.Marshal(out)
	return data, true
}

func (m *fakeModel) remoteGet(c jujutest.Call) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.remote(c)
	if !ok {
		return nil, false
	}
	member := c.Args[len(c.Args)-1]
	var bag map[string]string
	switch {
	case slices.Contains(c.Args, "--app") && member == r.app:
		bag = r.appBag
	case slices.Contains(c.Args, "--app"):
		bag = r.ownApp
	case strings.HasPrefix(member, r.app+"/"):
		bag = r.units[member]
	default:
		bag = r.own[member]
	}
	data, _ := json.Marshal(bag)
	return data, true
}

func (m *fakeModel) remoteSet(unit string, c jujutest.Call, data map[string]string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.remote(c)
	if !ok {
		return false, nil
	}
	bag := r.own[unit]
	if slices.Contains(c.Args, "--app") {
		if m.leader != unit {
			return true, &juju.ToolError{Tool: "relation-set", ExitCode: 1, Stderr: "ERROR cannot write relation settings"}
		}
		bag = r.ownApp
	}
	if bag == nil {
		bag = map[string]string{}
		r.own[unit] = bag
	}
	for k, v := range data {
		if v == "" {
			delete(bag, k)
		} else {
			bag[k] = v
		}
	}
	return true, nil
}

// supportedDBVersion answers `concourse migrate --supported-db-version` for the release whose
// binary is bin (.../<version>-amd64/concourse/bin/concourse). Called with m.mu held.
func (m *fakeModel) supportedDBVersion(bin string) ([]byte, error) {
	for _, part := range strings.Split(bin, "/") {
		if v, ok := strings.CutSuffix(part, "-amd64"); ok {
			if n, ok := m.dbVersions[v]; ok {
				return []byte(fmt.Sprintf("%d\n", n)), nil
			}
			return []byte("error: unknown flag `supported-db-version'\n"), errors.New("exit status 1")
		}
	}
	return nil, fmt.Errorf("no release version in %s", bin)
}
