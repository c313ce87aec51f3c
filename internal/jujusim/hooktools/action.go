package hooktools

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/state"
)

func actionTools() map[string]tool {
	return map[string]tool{
		"action-get":  {flags: withFormat(), run: actionGet},
		"action-set":  {run: actionSet},
		"action-fail": {run: actionFail},
		"action-log":  {run: actionLog},
	}
}

var errNotAction = errors.New("not running an action")

// inAction runs fn on the running action; action-* tools fail outside one.
func (c *call) inAction(write bool, fn func(a *state.Action) error) error {
	body := func(m *state.Model, hc *state.HookContext, _ *state.Unit) error {
		a := m.Actions[hc.Hook.ActionID]
		if hc.Hook.Kind != "action" || a == nil {
			return errNotAction
		}
		return fn(a)
	}
	if write {
		return c.update(body)
	}
	return c.view(body)
}

func actionGet(c *call) error {
	var keys []string
	if len(c.opts.args) > 0 {
		keys = strings.Split(c.opts.args[0], ".")
		if err := checkEmpty(c.opts.args[1:]); err != nil {
			return err
		}
	}
	var out any
	err := c.inAction(false, func(a *state.Action) error {
		var cur any = a.Params
		for _, k := range keys {
			mp, ok := cur.(map[string]any)
			if !ok {
				cur = nil
				break
			}
			cur = mp[k]
		}
		out = cur
		return nil
	})
	if err != nil {
		return err
	}
	return c.write(out)
}

var actionKeyRule = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$`)

var reservedActionKeys = []string{"stdout", "stdout-encoding", "stderr", "stderr-encoding"}

// actionSet follows jujuc/action-set.go: dotted keys nest.
func actionSet(c *call) error {
	if len(c.opts.args) == 0 {
		return usagef("no key=value pairs specified")
	}
	type kv struct {
		keys  []string
		value string
	}
	var pairs []kv
	for _, arg := range c.opts.args {
		k, v, ok := strings.Cut(arg, "=")
		if !ok {
			return usagef("argument %q must be of the form key...=value", arg)
		}
		keys := strings.Split(k, ".")
		for _, key := range keys {
			if !actionKeyRule.MatchString(key) {
				return usagef("key %q must start and end with lowercase alphanumeric, and contain only lowercase alphanumeric, hyphens and periods", key)
			}
		}
		if state.HasString(reservedActionKeys, keys[0]) {
			return usagef("cannot set reserved action key %q", keys[0])
		}
		pairs = append(pairs, kv{keys, v})
	}
	return c.inAction(true, func(a *state.Action) error {
		if a.Results == nil {
			a.Results = map[string]any{}
		}
		for _, p := range pairs {
			cur := a.Results
			for _, k := range p.keys[:len(p.keys)-1] {
				next, ok := cur[k].(map[string]any)
				if !ok {
					next = map[string]any{}
					cur[k] = next
				}
				cur = next
			}
			cur[p.keys[len(p.keys)-1]] = p.value
		}
		return nil
	})
}

func actionFail(c *call) error {
	if len(c.opts.args) > 1 {
		return checkEmpty(c.opts.args[1:])
	}
	msg := "action failed without reason given, check action for errors"
	if len(c.opts.args) == 1 {
		msg = c.opts.args[0]
	}
	return c.inAction(true, func(a *state.Action) error {
		a.Status = "failed"
		a.Message = msg
		return nil
	})
}

func actionLog(c *call) error {
	if len(c.opts.args) == 0 {
		return usagef("no message specified")
	}
	msg := strings.Join(c.opts.args, " ")
	return c.inAction(true, func(a *state.Action) error {
		a.Log = append(a.Log, msg)
		return appendLog(state.LogPath(c.inv.Env.ModelDir, c.inv.Env.Unit), fmt.Sprintf("action-log %s: %s\n", a.ID, msg))
	})
}
