package hooktools

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/state"
)

func basicTools() map[string]tool {
	return map[string]tool{
		"config-get":              {flags: withFormat(flagSpec{names: []string{"all", "a"}, boolean: true}), run: configGet},
		"is-leader":               {flags: withFormat(), run: isLeader},
		"status-set":              {flags: []flagSpec{{names: []string{"application"}, boolean: true}}, run: statusSet},
		"status-get":              {flags: withFormat(flagSpec{names: []string{"include-data"}, boolean: true}, flagSpec{names: []string{"application"}, boolean: true}), run: statusGet},
		"application-version-set": {run: versionSet},
		"juju-log":                {flags: []flagSpec{{names: []string{"debug"}, boolean: true}, {names: []string{"l", "log-level"}}, {names: []string{"format"}}}, run: jujuLog},
		"unit-get":                {flags: withFormat(), run: unitGet},
		"network-get":             {flags: withFormat(flagSpec{names: []string{"r", "relation"}}, flagSpec{names: []string{"primary-address"}, boolean: true}, flagSpec{names: []string{"bind-address"}, boolean: true}, flagSpec{names: []string{"ingress-address"}, boolean: true}, flagSpec{names: []string{"egress-subnets"}, boolean: true}), run: networkGet},
		"resource-get":            {run: resourceGet},
		"state-get":               {flags: withFormat(flagSpec{names: []string{"strict"}, boolean: true}), run: stateGet},
		"state-set":               {flags: []flagSpec{{names: []string{"file"}}}, run: stateSet},
		"state-delete":            {run: stateDelete},
	}
}

// configValue undoes the JSON round trip: int options come back as float64.
func configValue(app *state.Application, key string, v any) any {
	if f, ok := v.(float64); ok && app.ConfigTypes[key] == "int" && f == math.Trunc(f) {
		return int64(f)
	}
	return v
}

func configGet(c *call) error {
	if len(c.opts.args) > 1 {
		return checkEmpty(c.opts.args[1:])
	}
	key := ""
	if len(c.opts.args) == 1 {
		key = c.opts.args[0]
	}
	if key != "" && c.opts.has("all") {
		return usagef("cannot use argument --all together with key %q", key)
	}
	var out any
	err := c.view(func(m *state.Model, _ *state.HookContext, u *state.Unit) error {
		app := m.Applications[u.App]
		if key != "" {
			if v, ok := app.Config[key]; ok {
				out = configValue(app, key, v)
			}
			return nil
		}
		all := map[string]any{}
		for k, v := range app.Config {
			if v != nil || c.opts.has("all") {
				all[k] = configValue(app, k, v)
			}
		}
		out = all
		return nil
	})
	if err != nil {
		return err
	}
	return c.write(out)
}

func isLeader(c *call) error {
	if err := checkEmpty(c.opts.args); err != nil {
		return err
	}
	var leader bool
	if err := c.view(func(m *state.Model, _ *state.HookContext, u *state.Unit) error {
		leader = c.isLeader(m, u)
		return nil
	}); err != nil {
		return err
	}
	return c.write(leader)
}

var validStatus = []string{"maintenance", "blocked", "waiting", "active"}

// statusSet is immediate, never rolled back (jujuc/status-set.go).
func statusSet(c *call) error {
	args := c.opts.args
	if len(args) < 1 {
		return usagef("invalid args, require <status> [message]")
	}
	if !state.HasString(validStatus, args[0]) {
		return usagef("invalid status %q, expected one of %v", args[0], validStatus)
	}
	msg := ""
	if len(args) > 1 {
		msg = args[1]
		if err := checkEmpty(args[2:]); err != nil {
			return err
		}
	}
	st := state.Status{Current: args[0], Message: msg, Since: time.Now().UTC().Format(time.RFC3339)}
	return c.update(func(m *state.Model, _ *state.HookContext, u *state.Unit) error {
		if c.opts.has("application") {
			if !c.isLeader(m, u) {
				return errors.New("this unit is not the leader")
			}
			m.Applications[u.App].Status = &st
			return nil
		}
		if u.Error != nil {
			u.Error.Saved = st
			return nil
		}
		u.Workload = st
		return nil
	})
}

func statusDetails(s state.Status, withData bool) map[string]any {
	d := map[string]any{"status": s.Current, "message": s.Message}
	if withData {
		d["status-data"] = map[string]any{}
	}
	return d
}

func statusGet(c *call) error {
	if err := checkEmpty(c.opts.args); err != nil {
		return err
	}
	withData := c.opts.has("include-data")
	var out any
	err := c.view(func(m *state.Model, _ *state.HookContext, u *state.Unit) error {
		if !c.opts.has("application") {
			if !withData && c.opts.str("format", "smart") == "smart" {
				out = u.Workload.Current
				return nil
			}
			out = statusDetails(u.Workload, withData)
			return nil
		}
		if !c.isLeader(m, u) {
			return errors.New("finding application status: this unit is not the leader")
		}
		app := m.Applications[u.App]
		appStatus := state.Status{Current: "unknown"}
		if app.Status != nil {
			appStatus = *app.Status
		}
		details := statusDetails(appStatus, withData)
		units := map[string]any{}
		for _, name := range m.AppUnits(u.App) {
			units[name] = statusDetails(m.Units[name].Workload, withData)
		}
		details["units"] = units
		out = map[string]any{"application-status": details}
		return nil
	})
	if err != nil {
		return err
	}
	return c.write(out)
}

func versionSet(c *call) error {
	if len(c.opts.args) < 1 {
		return usagef("no version specified")
	}
	if err := checkEmpty(c.opts.args[1:]); err != nil {
		return err
	}
	return c.update(func(_ *state.Model, _ *state.HookContext, u *state.Unit) error {
		u.WorkloadVersion = c.opts.args[0]
		return nil
	})
}

var logLevels = []string{"CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG", "TRACE"}

// jujuLog appends to the unit's debug log at once (jujuc/juju-log.go).
func jujuLog(c *call) error {
	if len(c.opts.args) == 0 {
		return usagef("no message specified")
	}
	level := strings.ToUpper(c.opts.str("log-level", "INFO"))
	if c.opts.has("debug") {
		level = "DEBUG"
	}
	if !state.HasString(logLevels, level) {
		level = "INFO"
	}
	if err := c.view(func(*state.Model, *state.HookContext, *state.Unit) error { return nil }); err != nil {
		return err
	}
	line := fmt.Sprintf("%s %s %s juju-log: %s\n", time.Now().UTC().Format(time.RFC3339), state.UnitTag(c.inv.Env.Unit), level, strings.Join(c.opts.args, " "))
	return appendLog(state.LogPath(c.inv.Env.ModelDir, c.inv.Env.Unit), line)
}

func appendLog(path, text string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	defer f.Close()
	_, err = io.WriteString(f, text)
	return err
}

func unitGet(c *call) error {
	if len(c.opts.args) != 1 {
		if len(c.opts.args) == 0 {
			return usagef("no setting specified")
		}
		return checkEmpty(c.opts.args[1:])
	}
	key := c.opts.args[0]
	if key != "private-address" && key != "public-address" {
		return usagef("unknown setting %q", key)
	}
	var addr string
	if err := c.view(func(m *state.Model, _ *state.HookContext, u *state.Unit) error {
		if mc := m.Machines[u.Machine]; mc != nil {
			addr = mc.Address
		}
		return nil
	}); err != nil {
		return err
	}
	return c.write(addr)
}

func networkGet(c *call) error {
	if len(c.opts.args) < 1 {
		return usagef("no arguments specified")
	}
	binding := c.opts.args[0]
	if err := checkEmpty(c.opts.args[1:]); err != nil {
		return err
	}
	var addr string
	err := c.view(func(m *state.Model, _ *state.HookContext, u *state.Unit) error {
		app := m.Applications[u.App]
		if _, ok := app.Endpoints[binding]; !ok && binding != "juju-info" {
			return fmt.Errorf("no network config found for binding %q", binding)
		}
		if mc := m.Machines[u.Machine]; mc != nil {
			addr = mc.Address
		}
		return nil
	})
	if err != nil {
		return err
	}
	cidr := addr + "/32"
	switch {
	case c.opts.has("primary-address") || c.opts.has("bind-address"):
		return c.write(addr)
	case c.opts.has("ingress-address"):
		return c.write(addr)
	case c.opts.has("egress-subnets"):
		return c.write(cidr)
	}
	return c.write(map[string]any{
		"bind-addresses": []any{map[string]any{
			"mac-address": "", "interface-name": "eth0",
			"addresses": []any{map[string]any{"hostname": "", "address": addr, "value": addr, "cidr": cidr}},
		}},
		"egress-subnets":    []string{cidr},
		"ingress-addresses": []string{addr},
	})
}

func resourceGet(c *call) error {
	if len(c.opts.args) < 1 {
		return usagef("missing required resource name")
	}
	name := c.opts.args[0]
	if err := checkEmpty(c.opts.args[1:]); err != nil {
		return err
	}
	var path string
	err := c.view(func(m *state.Model, _ *state.HookContext, u *state.Unit) error {
		p, ok := m.Applications[u.App].Resources[name]
		if !ok {
			return fmt.Errorf("could not download resource: resource#%s/%s not found", u.App, name)
		}
		path = p
		return nil
	})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(c.inv.Stdout, path)
	return err
}

func stateGet(c *call) error {
	key := ""
	if len(c.opts.args) > 0 {
		key = c.opts.args[0]
		if err := checkEmpty(c.opts.args[1:]); err != nil {
			return err
		}
	}
	var out any
	err := c.view(func(_ *state.Model, hc *state.HookContext, u *state.Unit) error {
		cur := map[string]string{}
		for k, v := range u.State {
			cur[k] = v
		}
		for k, v := range hc.StateSets {
			cur[k] = v
		}
		for _, k := range hc.StateDeletes {
			delete(cur, k)
		}
		if key == "" {
			out = cur
			return nil
		}
		v, ok := cur[key]
		if !ok {
			if c.opts.has("strict") {
				return fmt.Errorf("%q not found", key)
			}
			return nil
		}
		out = v
		return nil
	})
	if err != nil {
		return err
	}
	return c.write(out)
}

// stateSet is buffered until the hook succeeds.
func stateSet(c *call) error {
	kv, err := readSettings(c)
	if err != nil {
		return err
	}
	return c.update(func(_ *state.Model, hc *state.HookContext, _ *state.Unit) error {
		if hc.StateSets == nil {
			hc.StateSets = state.Bag{}
		}
		for k, v := range kv {
			if v == "" {
				delete(hc.StateSets, k)
				hc.StateDeletes = append(hc.StateDeletes, k)
				continue
			}
			hc.StateSets[k] = v
			hc.StateDeletes = state.RemoveString(hc.StateDeletes, k)
		}
		return nil
	})
}

func stateDelete(c *call) error {
	if len(c.opts.args) != 1 {
		return usagef("expected exactly one key")
	}
	key := c.opts.args[0]
	return c.update(func(_ *state.Model, hc *state.HookContext, _ *state.Unit) error {
		delete(hc.StateSets, key)
		hc.StateDeletes = append(hc.StateDeletes, key)
		return nil
	})
}
