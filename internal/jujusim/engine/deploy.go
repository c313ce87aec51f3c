package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/juju/charm/v12"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/state"
)

// DeployArgs are the options of `jujusim deploy`.
type DeployArgs struct {
	CharmPath string
	App       string // default: the charm's name
	NumUnits  int
	Config    map[string]string
	Storage   map[string]string // name -> "1G" / "2,1G" / "pool,1G,2"
	Binds     []state.Bind      // --shared-dir HOST:MOUNT
	Provider  string
}

var validAppName = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]*[a-z][a-z0-9]*)*$`)

// Deploy adds an application and its units. Machines are provisioned by
// Drive, as Juju's provisioner does it after the deploy command returns.
func (e *Engine) Deploy(a DeployArgs) error {
	if err := e.Init(); err != nil {
		return err
	}
	if a.NumUnits < 0 {
		return fmt.Errorf("--num-units must be a positive integer")
	}
	if a.Provider == "" {
		a.Provider = "local"
	}
	if _, ok := e.Providers[a.Provider]; !ok {
		return fmt.Errorf("unknown provider %q", a.Provider)
	}
	tmp, err := os.MkdirTemp(e.ModelDir, ".charm-")
	if err != nil {
		return fmt.Errorf("unpack charm: %w", err)
	}
	defer os.RemoveAll(tmp)
	lc, err := unpackCharm(a.CharmPath, filepath.Join(tmp, "c"))
	if err != nil {
		return err
	}
	if a.App == "" {
		a.App = lc.meta.Name
	}
	if !validAppName.MatchString(a.App) {
		return fmt.Errorf("invalid application name %q", a.App)
	}
	settings, err := parseConfig(lc.config, a.Config)
	if err != nil {
		return err
	}
	sizes, counts, err := parseStorageDirectives(lc.meta, a.Storage)
	if err != nil {
		return err
	}
	dir := e.charmDir(a.App, 0)
	return e.store().Update(func(m *state.Model) error {
		if _, exists := m.Applications[a.App]; exists {
			return fmt.Errorf("cannot add application %q: application already exists", a.App)
		}
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return fmt.Errorf("unpack charm: %w", err)
		}
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("unpack charm: %w", err)
		}
		if err := os.Rename(lc.dir, dir); err != nil {
			return fmt.Errorf("unpack charm: %w", err)
		}
		app := &state.Application{
			Name: a.App, CharmName: lc.meta.Name, CharmDir: dir, Provider: a.Provider,
			Config: map[string]any{}, ConfigTypes: configTypesOf(lc.config),
			Binds: a.Binds, StorageSize: sizes, StorageCnt: counts,
			Endpoints: endpointsOf(lc.meta), Stores: storesOf(lc.meta),
		}
		applyConfig(app, lc.config, settings, nil)
		m.Applications[a.App] = app
		for _, ep := range sortedEndpoints(app, "peer") {
			id := m.Next("relation")
			m.Relations[id] = &state.Relation{ID: id, Endpoints: []state.RelEndpoint{{App: a.App, Endpoint: ep, Role: "peer"}},
				UnitData: map[string]state.Bag{}, AppData: map[string]state.Bag{}, Joined: map[string][]string{}}
		}
		for i := 0; i < a.NumUnits; i++ {
			if _, err := e.addUnit(m, app, nil, nil); err != nil {
				return err
			}
		}
		return nil
	})
}

func sortedEndpoints(app *state.Application, role string) []string {
	var out []string
	for name, ep := range app.Endpoints {
		if ep.Role == role {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// parseConfig validates k=v strings like `juju deploy --config` / `juju
// config`: unknown keys and wrong types fail with juju/charm's messages
// (`unknown option "x"`, `option "x" expected int, got "y"`).
func parseConfig(cfg *charm.Config, kv map[string]string) (charm.Settings, error) {
	settings, err := cfg.ParseSettingsStrings(kv)
	if err != nil {
		return nil, err
	}
	return settings, nil
}

// applyConfig sets user values and resets keys, filling defaults; it
// returns whether any effective value changed.
func applyConfig(app *state.Application, cfg *charm.Config, settings charm.Settings, reset []string) bool {
	changed := false
	set := func(k string, v any) {
		if fmt.Sprint(app.Config[k]) != fmt.Sprint(v) || (app.Config[k] == nil) != (v == nil) {
			changed = true
		}
		app.Config[k] = v
	}
	for name, opt := range cfg.Options {
		if _, ok := app.Config[name]; !ok {
			set(name, opt.Default)
		}
	}
	for name, v := range settings {
		set(name, v)
		if !state.HasString(app.UserSet, name) {
			app.UserSet = append(app.UserSet, name)
		}
	}
	for _, name := range reset {
		set(name, cfg.Options[name].Default)
		app.UserSet = state.RemoveString(app.UserSet, name)
	}
	return changed
}

var sizeRe = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)([MGTP]?)(?:i?B)?$`)

// parseStorageDirectives parses --storage name=[pool,][size,][count] and
// validates against the charm like state/storage.go.
func parseStorageDirectives(meta *charm.Meta, directives map[string]string) (map[string]uint64, map[string]int, error) {
	sizes, counts := map[string]uint64{}, map[string]int{}
	for name, d := range directives {
		store, ok := meta.Storage[name]
		if !ok {
			return nil, nil, fmt.Errorf("charm %q has no store called %q", meta.Name, name)
		}
		for _, part := range strings.Split(d, ",") {
			if n, err := strconv.Atoi(part); err == nil {
				counts[name] = n
				continue
			}
			if mb := sizeRe.FindStringSubmatch(strings.ToUpper(part)); mb != nil {
				f, _ := strconv.ParseFloat(mb[1], 64)
				mult := map[string]float64{"": 1, "M": 1, "G": 1024, "T": 1024 * 1024, "P": 1024 * 1024 * 1024}[mb[2]]
				sizes[name] = uint64(f * mult)
				continue
			}
			// Anything else is a pool name; the simulator has one kind of pool.
		}
		if c, ok := counts[name]; ok {
			if store.CountMin == 1 && store.CountMax == 1 && c != 1 {
				return nil, nil, fmt.Errorf("charm %q store %q: storage is singular, %d specified", meta.Name, name, c)
			}
			if c < store.CountMin {
				return nil, nil, fmt.Errorf("charm %q store %q: %d instances required, %d specified", meta.Name, name, store.CountMin, c)
			}
			if store.CountMax >= 0 && c > store.CountMax {
				return nil, nil, fmt.Errorf("charm %q store %q: at most %d instances supported, %d specified", meta.Name, name, store.CountMax, c)
			}
		}
		if size, ok := sizes[name]; ok && store.MinimumSize > 0 && size < store.MinimumSize {
			return nil, nil, fmt.Errorf("charm %q store %q: minimum storage size is %s, %s specified", meta.Name, name, humanMiB(store.MinimumSize), humanMiB(size))
		}
	}
	return sizes, counts, nil
}

func humanMiB(mib uint64) string {
	if mib >= 1024 && mib%1024 == 0 {
		return fmt.Sprintf("%d.0 GB", mib/1024)
	}
	return fmt.Sprintf("%d MB", mib)
}

func appOf(m *state.Model, name string) (*state.Application, error) {
	app, ok := m.Applications[name]
	if !ok {
		return nil, fmt.Errorf("application %q not found", name)
	}
	return app, nil
}
