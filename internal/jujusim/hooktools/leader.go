package hooktools

import (
	"errors"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/state"
)

func leaderTools() map[string]tool {
	return map[string]tool{
		"leader-get": {flags: withFormat(), run: leaderGet},
		"leader-set": {flags: []flagSpec{{names: []string{"file"}}}, run: leaderSet},
	}
}

func leaderGet(c *call) error {
	key := ""
	if len(c.opts.args) > 0 {
		if key = c.opts.args[0]; key == "-" {
			key = ""
		}
		if err := checkEmpty(c.opts.args[1:]); err != nil {
			return err
		}
	}
	var out any
	err := c.view(func(m *state.Model, _ *state.HookContext, u *state.Unit) error {
		settings := map[string]string{}
		for k, v := range m.Applications[u.App].LeaderSettings {
			settings[k] = v
		}
		if key == "" {
			out = settings
		} else if v, ok := settings[key]; ok {
			out = v
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.write(out)
}

// leaderSet is immediate and wakes the other units with
// leader-settings-changed.
func leaderSet(c *call) error {
	kv, err := readSettings(c)
	if err != nil {
		return err
	}
	return c.update(func(m *state.Model, _ *state.HookContext, u *state.Unit) error {
		app := m.Applications[u.App]
		if app.Leader != u.Name {
			return errors.New("cannot write settings: not the leader")
		}
		if app.LeaderSettings == nil {
			app.LeaderSettings = map[string]string{}
		}
		changed := false
		for k, v := range kv {
			if old, ok := app.LeaderSettings[k]; v == "" && ok {
				delete(app.LeaderSettings, k)
				changed = true
			} else if v != "" && old != v {
				app.LeaderSettings[k] = v
				changed = true
			}
		}
		if !changed {
			return nil
		}
		for _, name := range m.AppUnits(u.App) {
			if name != u.Name {
				m.Enqueue(name, state.SimpleHook("leader-settings-changed"))
			}
		}
		return nil
	})
}
