package engine

import (
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/state"
)

// EnqueueAction validates params against actions.yaml (juju/charm
// ActionSpec.ValidateParams after InsertDefaults) and queues the action.
// Values are parsed as YAML, as `juju run` does (3 is an int, true a bool).
func (e *Engine) EnqueueAction(unit, name string, raw map[string]string) (string, error) {
	var id string
	err := e.store().Update(func(m *state.Model) error {
		u, ok := m.Units[unit]
		if !ok {
			return fmt.Errorf("unit %q not found", unit)
		}
		ch, err := readAppCharm(m.Applications[u.App])
		if err != nil {
			return err
		}
		spec, ok := ch.Actions().ActionSpecs[name]
		if !ok {
			return fmt.Errorf("action %q not defined on unit %q", name, unit)
		}
		params := map[string]any{}
		for k, v := range raw {
			var val any
			if err := yaml.Unmarshal([]byte(v), &val); err != nil || val == nil {
				val = v
			}
			params[k] = val
		}
		if params, err = spec.InsertDefaults(params); err != nil {
			return fmt.Errorf("action %q: %w", name, err)
		}
		if err := spec.ValidateParams(params); err != nil {
			return err
		}
		id = fmt.Sprint(m.Next("action"))
		m.Actions[id] = &state.Action{ID: id, Unit: unit, Name: name, Params: params, Status: "pending"}
		m.Enqueue(unit, state.Hook{Kind: "action", Name: name, RelationID: state.NoRelation, ActionID: id})
		return nil
	})
	return id, err
}

// Action returns a copy of an action record.
func (e *Engine) Action(id string) (state.Action, error) {
	var a state.Action
	err := e.store().View(func(m *state.Model) error {
		rec, ok := m.Actions[id]
		if !ok {
			return fmt.Errorf("action %q not found", id)
		}
		a = *rec
		return nil
	})
	return a, err
}
