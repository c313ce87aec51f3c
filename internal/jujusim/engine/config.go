package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/state"
)

// SetConfig changes options (apiserver application SetConfig: the charm's
// ParseSettingsStrings rejects unknown keys and wrong types) and queues
// config-changed on every unit when a value changed.
func (e *Engine) SetConfig(appName string, kv map[string]string, reset []string) error {
	return e.store().Update(func(m *state.Model) error {
		app, ch, err := appAndCharm(m, appName)
		if err != nil {
			return err
		}
		settings, err := parseConfig(ch.Config(), kv)
		if err != nil {
			return err
		}
		for _, k := range reset {
			if _, ok := ch.Config().Options[k]; !ok {
				return fmt.Errorf("unknown option %q", k)
			}
		}
		if applyConfig(app, ch.Config(), settings, reset) {
			for _, name := range m.AppUnits(appName) {
				if !m.Units[name].Dying {
					m.Enqueue(name, state.SimpleHook("config-changed"))
				}
			}
		}
		return nil
	})
}

// ConfigOption is one row of `jujusim config APP`.
type ConfigOption struct {
	Default     any    `yaml:"default,omitempty" json:"default,omitempty"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	Source      string `yaml:"source" json:"source"`
	Type        string `yaml:"type" json:"type"`
	Value       any    `yaml:"value,omitempty" json:"value,omitempty"`
}

// Config returns the application's options like `juju config APP`.
func (e *Engine) Config(appName string) (map[string]ConfigOption, error) {
	out := map[string]ConfigOption{}
	err := e.store().View(func(m *state.Model) error {
		app, ch, err := appAndCharm(m, appName)
		if err != nil {
			return err
		}
		for name, opt := range ch.Config().Options {
			src := "unset"
			if opt.Default != nil {
				src = "default"
			}
			if state.HasString(app.UserSet, name) {
				src = "user"
			}
			out[name] = ConfigOption{Default: opt.Default, Description: opt.Description, Source: src, Type: opt.Type, Value: app.Config[name]}
		}
		return nil
	})
	return out, err
}

// Refresh upgrades the application to the charm at path: upgrade-charm then
// config-changed on every unit (operation/runhook.go: committing
// upgrade-charm queues config-changed; start runs only for a unit that has
// not started, which its queue already holds); user config is kept where
// the option still exists.
func (e *Engine) Refresh(appName, path string) error {
	var rev int
	err := e.store().View(func(m *state.Model) error {
		app, err := appOf(m, appName)
		if err != nil {
			return err
		}
		rev = app.Revision + 1
		return nil
	})
	if err != nil {
		return err
	}
	dir := e.charmDir(appName, rev)
	lc, err := unpackCharm(path, dir)
	if err != nil {
		return err
	}
	return e.store().Update(func(m *state.Model) error {
		app, err := appOf(m, appName)
		if err != nil {
			return err
		}
		if lc.meta.Name != app.CharmName {
			return fmt.Errorf("cannot refresh %q to charm %q: charm name mismatch", appName, lc.meta.Name)
		}
		app.Revision, app.CharmDir = rev, dir
		kept := map[string]any{}
		for _, k := range app.UserSet {
			if _, ok := lc.config.Options[k]; ok {
				kept[k] = app.Config[k]
			}
		}
		app.Config, app.UserSet = map[string]any{}, nil
		applyConfig(app, lc.config, kept, nil)
		app.ConfigTypes, app.Endpoints, app.Stores = configTypesOf(lc.config), endpointsOf(lc.meta), storesOf(lc.meta)
		for _, name := range m.AppUnits(appName) {
			if m.Units[name].Dying {
				continue
			}
			m.Enqueue(name, state.SimpleHook("upgrade-charm")) // config-changed follows it (followUp)
		}
		return nil
	})
}

// AttachResource copies file into the model dir (visible on every machine)
// and makes resource-get return it; installed units run upgrade-charm and
// config-changed.
func (e *Engine) AttachResource(appName, name, file string) error {
	return e.store().Update(func(m *state.Model) error {
		app, ch, err := appAndCharm(m, appName)
		if err != nil {
			return err
		}
		if _, ok := ch.Meta().Resources[name]; !ok {
			return fmt.Errorf("invalid resource name %q: charm %s has resources %v", name, app.CharmName, resourceNames(ch.Meta().Resources))
		}
		dest := filepath.Join(e.ModelDir, "resources", appName, name, filepath.Base(file))
		if err := os.RemoveAll(filepath.Dir(dest)); err != nil {
			return fmt.Errorf("attach resource: %w", err)
		}
		if err := copyRegular(file, dest); err != nil {
			return fmt.Errorf("attach resource %s: %w", name, err)
		}
		if app.Resources == nil {
			app.Resources = map[string]string{}
		}
		app.Resources[name] = dest
		for _, unit := range m.AppUnits(appName) {
			if u := m.Units[unit]; !u.Dying && installedOrInstalling(m, u) {
				m.Enqueue(unit, state.SimpleHook("upgrade-charm")) // config-changed follows it (followUp)
			}
		}
		return nil
	})
}

// installedOrInstalling reports whether u deployed its charm already: a new
// resource bumps the application's CharmModifiedVersion, and every unit that
// installed (or is installing) with the old one runs upgrade-charm, whose
// commit queues config-changed (uniter resolver charmModified,
// operation/runhook.go). A unit yet to install gets the resource anyway.
func installedOrInstalling(m *state.Model, u *state.Unit) bool {
	if u.Installed {
		return true
	}
	hc := m.Contexts[u.Running]
	return hc != nil && hc.Hook.Kind == "install"
}

func resourceNames[T any](res map[string]T) []string {
	var out []string
	for k := range res {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func copyRegular(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}
