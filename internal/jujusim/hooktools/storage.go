package hooktools

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/state"
)

func storageTools() map[string]tool {
	return map[string]tool{
		"storage-list": {flags: withFormat(), run: storageList},
		"storage-get":  {flags: withFormat(flagSpec{names: []string{"s"}}), run: storageGet},
		"storage-add":  {run: storageAdd},
	}
}

func storageList(c *call) error {
	name := ""
	if len(c.opts.args) > 0 {
		name = c.opts.args[0]
		if err := checkEmpty(c.opts.args[1:]); err != nil {
			return err
		}
	}
	ids := []string{}
	err := c.view(func(m *state.Model, _ *state.HookContext, u *state.Unit) error {
		for id, s := range m.Storage {
			if s.Owner == u.Name && (name == "" || s.Name == name) {
				ids = append(ids, id)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	sortStorageIDs(ids)
	return c.write(ids)
}

func sortStorageIDs(ids []string) {
	sort.Slice(ids, func(i, j int) bool {
		ni, ai := splitStorageID(ids[i])
		nj, aj := splitStorageID(ids[j])
		if ni != nj {
			return ni < nj
		}
		return ai < aj
	})
}

func splitStorageID(id string) (string, int) {
	name, num, _ := strings.Cut(id, "/")
	n, _ := strconv.Atoi(num)
	return name, n
}

var validStorageID = regexp.MustCompile(`^[a-z][a-z0-9-]*/[0-9]+$`)

// storageGet needs -s outside storage hooks (jujuc/storage-get.go Init:
// "no storage instance specified").
func storageGet(c *call) error {
	key := ""
	if len(c.opts.args) > 0 {
		key = c.opts.args[0]
		if err := checkEmpty(c.opts.args[1:]); err != nil {
			return err
		}
	}
	var out any
	err := c.view(func(m *state.Model, hc *state.HookContext, u *state.Unit) error {
		id, given := c.opts.values["s"]
		if !given {
			if hc.Hook.StorageID == "" {
				return usagef("no storage instance specified")
			}
			id = hc.Hook.StorageID
		} else if !validStorageID.MatchString(id) {
			return usagef("invalid value %q for flag -s: invalid storage ID %q", id, id)
		}
		s := m.Storage[id]
		if s == nil || s.Owner != u.Name {
			return usagef("invalid value %q for flag -s: storage %q not found", id, id)
		}
		values := map[string]any{"kind": s.Kind, "location": s.Path}
		if key == "" {
			out = values
			return nil
		}
		v, ok := values[key]
		if !ok {
			return fmt.Errorf("invalid storage attribute %q", key)
		}
		out = v
		return nil
	})
	if err != nil {
		return err
	}
	return c.write(out)
}

// storageAdd is buffered; the engine creates the instances and queues their
// storage-attached hooks once the hook succeeds.
func storageAdd(c *call) error {
	if len(c.opts.args) == 0 {
		return usagef("storage add requires a storage directive")
	}
	adds := map[string]int{}
	for _, arg := range c.opts.args {
		name, count, hasCount := strings.Cut(arg, "=")
		n := 1
		if hasCount {
			v, err := strconv.Atoi(count)
			if err != nil || v < 1 {
				return usagef("cannot parse count in %q", arg)
			}
			n = v
		}
		adds[name] += n
	}
	return c.update(func(m *state.Model, hc *state.HookContext, u *state.Unit) error {
		app := m.Applications[u.App]
		for name, n := range adds {
			meta, ok := app.Stores[name]
			if !ok {
				return fmt.Errorf("adding storage %s for %s: charm storage %q not found", name, state.UnitTag(u.Name), name)
			}
			have := 0
			for _, s := range m.Storage {
				if s.Owner == u.Name && s.Name == name {
					have++
				}
			}
			total := have + n + hc.StorageAdds[name]
			if meta.CountMax >= 0 && total > meta.CountMax {
				if meta.CountMin == 1 && meta.CountMax == 1 {
					return fmt.Errorf("adding storage %s for %s: cannot attach, storage is singular", name, state.UnitTag(u.Name))
				}
				return fmt.Errorf("adding storage %s for %s: attaching %d storage instances brings the total to %d, exceeding the maximum of %d", name, state.UnitTag(u.Name), n, total, meta.CountMax)
			}
			if hc.StorageAdds == nil {
				hc.StorageAdds = map[string]int{}
			}
			hc.StorageAdds[name] += n
		}
		return nil
	})
}
