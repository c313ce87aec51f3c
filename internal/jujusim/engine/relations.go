package engine

import (
	"fmt"
	"sort"
	"strings"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/state"
)

type endpointRef struct{ app, endpoint string }

func parseEndpointRef(s string) endpointRef {
	app, ep, _ := strings.Cut(s, ":")
	return endpointRef{app, ep}
}

// matchEndpoints finds the provider/requirer pairs with the same interface
// (apiserver: "no relations found" / "ambiguous relation").
func matchEndpoints(m *state.Model, a, b endpointRef) ([2]state.RelEndpoint, error) {
	appA, err := appOf(m, a.app)
	if err != nil {
		return [2]state.RelEndpoint{}, err
	}
	appB, err := appOf(m, b.app)
	if err != nil {
		return [2]state.RelEndpoint{}, err
	}
	var found [][2]state.RelEndpoint
	for _, ea := range appA.Endpoints {
		if a.endpoint != "" && ea.Name != a.endpoint {
			continue
		}
		for _, eb := range appB.Endpoints {
			if b.endpoint != "" && eb.Name != b.endpoint {
				continue
			}
			ok := ea.Interface == eb.Interface && (ea.Role == "provider" && eb.Role == "requirer" || ea.Role == "requirer" && eb.Role == "provider")
			if ok {
				found = append(found, [2]state.RelEndpoint{{App: a.app, Endpoint: ea.Name, Role: ea.Role}, {App: b.app, Endpoint: eb.Name, Role: eb.Role}})
			}
		}
	}
	switch len(found) {
	case 0:
		return [2]state.RelEndpoint{}, fmt.Errorf("no relations found")
	case 1:
		return found[0], nil
	}
	var opts []string
	for _, f := range found {
		opts = append(opts, fmt.Sprintf("%q", f[0].App+":"+f[0].Endpoint+" "+f[1].App+":"+f[1].Endpoint))
	}
	sort.Strings(opts)
	return [2]state.RelEndpoint{}, fmt.Errorf("ambiguous relation: %q could refer to %s", a.app+" "+b.app, strings.Join(opts, "; "))
}

func findRelation(m *state.Model, eps [2]state.RelEndpoint) *state.Relation {
	for _, r := range m.Relations {
		if r.IsPeer() {
			continue
		}
		la, _, okA := r.Endpoint(eps[0].App)
		lb, _, okB := r.Endpoint(eps[1].App)
		if okA && okB && la.Endpoint == eps[0].Endpoint && lb.Endpoint == eps[1].Endpoint {
			return r
		}
	}
	return nil
}

// Integrate relates two applications: relation-created on every unit of
// both sides; relation-joined/changed follow pairwise as units enter scope
// (meetInScope).
func (e *Engine) Integrate(a, b string) error {
	return e.store().Update(func(m *state.Model) error {
		eps, err := matchEndpoints(m, parseEndpointRef(a), parseEndpointRef(b))
		if err != nil {
			return err
		}
		if findRelation(m, eps) != nil {
			return fmt.Errorf("relation %s:%s %s:%s already exists", eps[0].App, eps[0].Endpoint, eps[1].App, eps[1].Endpoint)
		}
		id := m.Next("relation")
		r := &state.Relation{ID: id, Endpoints: eps[:], UnitData: map[string]state.Bag{}, AppData: map[string]state.Bag{}, Joined: map[string][]string{}}
		m.Relations[id] = r
		for _, ep := range eps {
			for _, name := range m.AppUnits(ep.App) {
				if !m.Units[name].Dying {
					m.Enqueue(name, relationHook(r, ep.App, "relation-created", "", ""))
				}
			}
		}
		return nil
	})
}

// RemoveRelation: relation-departed for every remote unit a unit has seen,
// then relation-broken, on both sides.
func (e *Engine) RemoveRelation(a, b string) error {
	return e.store().Update(func(m *state.Model) error {
		eps, err := matchEndpoints(m, parseEndpointRef(a), parseEndpointRef(b))
		if err != nil {
			return err
		}
		r := findRelation(m, eps)
		if r == nil {
			return fmt.Errorf("relation %q not found", a+" "+b)
		}
		if r.Dying {
			return nil
		}
		r.Dying = true
		for _, name := range r.Entered {
			app, _ := state.SplitUnit(name)
			for _, remote := range r.Joined[name] {
				m.Enqueue(name, relationHook(r, app, "relation-departed", remote, remote))
			}
			m.Enqueue(name, relationHook(r, app, "relation-broken", "", ""))
		}
		if len(r.Entered) == 0 {
			delete(m.Relations, r.ID)
		}
		return nil
	})
}
