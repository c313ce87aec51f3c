package hooktools

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/state"
)

var relationFlag = flagSpec{names: []string{"r", "relation"}}

func relationTools() map[string]tool {
	app := flagSpec{names: []string{"app"}, boolean: true}
	return map[string]tool{
		"relation-ids":  {flags: withFormat(), run: relationIDs},
		"relation-list": {flags: withFormat(relationFlag, app), run: relationList},
		"relation-get":  {flags: withFormat(relationFlag, app), run: relationGet},
		"relation-set":  {flags: []flagSpec{relationFlag, app, {names: []string{"file"}}, {names: []string{"format"}}}, run: relationSet},
	}
}

// visible reports whether unit u can use relation r: it has entered the
// relation's scope (which Juju does only once the unit is installed, just
// before relation-created: worker/uniter/relation createdRelationsResolver)
// and has not yet run relation-broken for it.
func visible(r *state.Relation, u *state.Unit) bool {
	return state.HasString(r.Entered, u.Name) && !state.HasString(r.Broken, u.Name)
}

// inactive reports whether r counts as broken for u, so that relation-ids
// leaves it out (still readable with -r): a dying non-peer relation in which
// u has departed every remote unit, as during its relation-broken hook
// (runner/context contextFactory: "broken := !isPeer && relationInactive &&
// len(memberNames) == 0"; HookContext.RelationIds skips broken ones). The
// unit a relation-departed hook is about is still a member until the hook
// commits.
func inactive(r *state.Relation, u *state.Unit, hc *state.HookContext) bool {
	members := len(r.Joined[u.Name])
	if hc.Hook.Kind == "relation-departed" && hc.Hook.RelationID == r.ID {
		members++
	}
	return !r.IsPeer() && r.Dying && members == 0
}

// relationFromFlag resolves -r like jujuc's relationIdValue: "name:N" or
// "N"; the default is the relation of the running relation hook.
func (c *call) relationFromFlag(m *state.Model, hc *state.HookContext, u *state.Unit) (*state.Relation, error) {
	raw, given := c.opts.values["r"]
	if !given {
		r := m.Relations[hc.Hook.RelationID]
		if hc.Hook.RelationID < 0 || r == nil {
			return nil, usagef("no relation id specified")
		}
		return r, nil
	}
	trim := raw
	if i := strings.LastIndex(trim, ":"); i >= 0 {
		trim = trim[i+1:]
	}
	id, err := strconv.Atoi(trim)
	if err != nil {
		return nil, usagef("invalid value %q for option -r: invalid relation id", raw)
	}
	r := m.Relations[id]
	if r == nil || !visible(r, u) {
		return nil, usagef("invalid value %q for option -r: relation not found", raw)
	}
	return r, nil
}

func relationIDs(c *call) error {
	var out []string
	err := c.view(func(m *state.Model, hc *state.HookContext, u *state.Unit) error {
		name := ""
		switch len(c.opts.args) {
		case 0:
			if r := m.Relations[hc.Hook.RelationID]; hc.Hook.RelationID >= 0 && r != nil {
				local, _, _ := r.Endpoint(u.App)
				name = local.Endpoint
			} else {
				return usagef("no endpoint name specified")
			}
		case 1:
			name = c.opts.args[0]
		default:
			return checkEmpty(c.opts.args[1:])
		}
		var ids []int
		for id, r := range m.Relations {
			local, _, ok := r.Endpoint(u.App)
			if ok && local.Endpoint == name && visible(r, u) && !inactive(r, u, hc) {
				ids = append(ids, id)
			}
		}
		sort.Ints(ids)
		out = []string{}
		for _, id := range ids {
			out = append(out, fmt.Sprintf("%s:%d", name, id))
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.write(out)
}

func relationList(c *call) error {
	if err := checkEmpty(c.opts.args); err != nil {
		return err
	}
	var out any
	err := c.view(func(m *state.Model, hc *state.HookContext, u *state.Unit) error {
		r, err := c.relationFromFlag(m, hc, u)
		if err != nil {
			return err
		}
		if c.opts.has("app") {
			_, remote, _ := r.Endpoint(u.App)
			out = remote.App
			return nil
		}
		members := append([]string{}, r.Joined[u.Name]...)
		state.SortUnits(members)
		out = members
		return nil
	})
	if err != nil {
		return err
	}
	return c.write(out)
}

// relationGet follows jujuc/relation-get.go: own bags include this hook's
// pending relation-set; the own application bag is readable by the leader
// only; remote bags come from the model as last committed.
func relationGet(c *call) error {
	args := c.opts.args
	key := ""
	if len(args) > 0 {
		if key = args[0]; key == "-" {
			key = ""
		}
		args = args[1:]
	}
	var bag map[string]string
	err := c.view(func(m *state.Model, hc *state.HookContext, u *state.Unit) error {
		r, err := c.relationFromFlag(m, hc, u)
		if err != nil {
			return err
		}
		target, isApp, err := relationGetTarget(c, hc, args)
		if err != nil {
			return err
		}
		bag, err = readBag(m, hc, u, r, target, isApp)
		return err
	})
	if err != nil {
		return err
	}
	if key == "" {
		return c.write(bag)
	}
	if v, ok := bag[key]; ok {
		return c.write(v)
	}
	return c.write(nil)
}

func relationGetTarget(c *call, hc *state.HookContext, args []string) (string, bool, error) {
	isApp := c.opts.has("app")
	if len(args) > 0 {
		if err := checkEmpty(args[1:]); err != nil {
			return "", false, err
		}
		target := args[0]
		if isApp && strings.Contains(target, "/") {
			target, _ = state.SplitUnit(target)
		}
		return target, isApp, nil
	}
	if isApp {
		if hc.Hook.RemoteApp == "" {
			return "", false, usagef("no unit or application specified")
		}
		return hc.Hook.RemoteApp, true, nil
	}
	if hc.Hook.RemoteUnit != "" {
		return hc.Hook.RemoteUnit, false, nil
	}
	if hc.Hook.RemoteApp != "" {
		return hc.Hook.RemoteApp, true, nil
	}
	return "", false, usagef("no unit or application specified")
}

func readBag(m *state.Model, hc *state.HookContext, u *state.Unit, r *state.Relation, target string, isApp bool) (map[string]string, error) {
	out := map[string]string{}
	if isApp {
		if _, _, ok := r.Endpoint(target); !ok {
			return nil, errors.New("permission denied")
		}
		if target == u.App {
			// apiserver/facades/agent/uniter readLocalApplicationSettings: the local app bag is
			// readable by the leader, and by every unit when the relation is a peer relation.
			if m.Applications[u.App].Leader != u.Name && !r.IsPeer() {
				return nil, errors.New("permission denied")
			}
			mergeBag(out, r.AppData[target], hc.AppSettings[r.ID])
			return out, nil
		}
		mergeBag(out, r.AppData[target], nil)
		return out, nil
	}
	app, _ := state.SplitUnit(target)
	if _, _, ok := r.Endpoint(app); !ok {
		return nil, fmt.Errorf("cannot read settings for unit %q in relation %q: permission denied", target, r.Key(u.App))
	}
	if target == u.Name {
		mergeBag(out, r.UnitData[target], hc.UnitSettings[r.ID])
		return out, nil
	}
	mergeBag(out, r.UnitData[target], nil)
	return out, nil
}

// mergeBag copies base then applies pending changes ("" deletes).
func mergeBag(dst map[string]string, base, pending state.Bag) {
	for k, v := range base {
		dst[k] = v
	}
	for k, v := range pending {
		if v == "" {
			delete(dst, k)
		} else {
			dst[k] = v
		}
	}
}

// relationSet buffers the change in the hook context; the engine commits it
// only when the hook exits 0 (worker/uniter/runner/context: flush on success).
func relationSet(c *call) error {
	kv, err := readSettings(c)
	if err != nil {
		return err
	}
	if c.opts.has("format") {
		fmt.Fprintf(c.inv.Stderr, "--format flag deprecated for command %q", "relation-set")
	}
	return c.update(func(m *state.Model, hc *state.HookContext, u *state.Unit) error {
		r, err := c.relationFromFlag(m, hc, u)
		if err != nil {
			return err
		}
		target := &hc.UnitSettings
		if c.opts.has("app") {
			if m.Applications[u.App].Leader != u.Name {
				return errors.New("cannot write relation settings")
			}
			target = &hc.AppSettings
		}
		if *target == nil {
			*target = map[int]state.Bag{}
		}
		if (*target)[r.ID] == nil {
			(*target)[r.ID] = state.Bag{}
		}
		for k, v := range kv {
			(*target)[r.ID][k] = v
		}
		return nil
	})
}

// readSettings reads --file (YAML map, "-" for stdin) then key=value args,
// which override the file (utils/keyvalues.Parse with empty values allowed).
func readSettings(c *call) (map[string]string, error) {
	out := map[string]string{}
	if path, ok := c.opts.values["file"]; ok {
		var data []byte
		var err error
		if path == "-" {
			data, err = io.ReadAll(c.inv.Stdin)
		} else {
			data, err = os.ReadFile(path)
		}
		if err != nil {
			return nil, fmt.Errorf("read settings file: %w", err)
		}
		raw := map[string]any{}
		if err := yaml.Unmarshal(data, &raw); err != nil {
			return nil, fmt.Errorf("cannot parse settings file: %w", err)
		}
		for k, v := range raw {
			switch v := v.(type) {
			case nil:
				out[k] = ""
			case string:
				out[k] = v
			default:
				out[k] = fmt.Sprint(v)
			}
		}
	}
	seen := map[string]bool{}
	for _, arg := range c.opts.args {
		k, v, ok := strings.Cut(arg, "=")
		if !ok || k == "" {
			return nil, usagef("expected \"key=value\", got %q", arg)
		}
		if seen[k] {
			return nil, usagef("key %q specified more than once", k)
		}
		seen[k] = true
		out[k] = v
	}
	return out, nil
}
