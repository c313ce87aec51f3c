package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/juju/charm/v12"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/state"
)

// loadedCharm is a parsed charm unpacked into the model directory.
type loadedCharm struct {
	meta    *charm.Meta
	config  *charm.Config
	actions *charm.Actions
	dir     string // unpacked copy under <model>/charms/<app>/<rev>
}

// unpackCharm reads a packed .charm (zip) or a charm directory with
// juju/charm, refuses what Juju refuses, and unpacks it to dest. Unpacking
// an archive fixes the exec bit of hooks/* only, as Juju does.
func unpackCharm(path, dest string) (*loadedCharm, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read charm: %w", err)
	}
	var ch charm.Charm
	if info.IsDir() {
		dir, err := charm.ReadCharmDir(path)
		if err != nil {
			return nil, fmt.Errorf("read charm dir %s: %w", path, err)
		}
		if err := os.RemoveAll(dest); err != nil {
			return nil, fmt.Errorf("unpack charm: %w", err)
		}
		if err := jujusim.CopyTree(path, dest); err != nil {
			return nil, fmt.Errorf("unpack charm: %w", err)
		}
		ch = dir
	} else {
		archive, err := charm.ReadCharmArchive(path)
		if err != nil {
			return nil, fmt.Errorf("read charm archive %s: %w", path, err)
		}
		if err := os.RemoveAll(dest); err != nil {
			return nil, fmt.Errorf("unpack charm: %w", err)
		}
		if err := archive.ExpandTo(dest); err != nil {
			return nil, fmt.Errorf("unpack charm %s: %w", path, err)
		}
		ch = archive
	}
	lc := &loadedCharm{meta: ch.Meta(), config: ch.Config(), actions: ch.Actions(), dir: dest}
	if lc.config == nil {
		lc.config = charm.NewConfig()
	}
	if lc.actions == nil {
		lc.actions = charm.NewActions()
	}
	if err := checkCharm(lc.meta); err != nil {
		return nil, err
	}
	return lc, nil
}

// checkCharm refuses shared storage like state/storage.go
// validateStorageConstraintsAgainstCharm (Juju 3.x).
func checkCharm(meta *charm.Meta) error {
	names := make([]string, 0, len(meta.Storage))
	for name := range meta.Storage {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if meta.Storage[name].Shared {
			return fmt.Errorf("charm %q store %q: shared storage support not implemented", meta.Name, name)
		}
	}
	return nil
}

func endpointsOf(meta *charm.Meta) map[string]state.Endpoint {
	out := map[string]state.Endpoint{}
	for name, r := range meta.CombinedRelations() {
		if r.Scope == charm.ScopeContainer && name == "juju-info" {
			continue
		}
		out[name] = state.Endpoint{Name: name, Role: string(r.Role), Interface: r.Interface, Limit: r.Limit}
	}
	for name := range meta.ExtraBindings {
		out[name] = state.Endpoint{Name: name, Role: "extra"}
	}
	return out
}

func storesOf(meta *charm.Meta) map[string]state.StoreMeta {
	out := map[string]state.StoreMeta{}
	for name, s := range meta.Storage {
		out[name] = state.StoreMeta{Type: string(s.Type), Location: s.Location, CountMin: s.CountMin, CountMax: s.CountMax, MinimumSize: s.MinimumSize}
	}
	return out
}

func configTypesOf(cfg *charm.Config) map[string]string {
	out := map[string]string{}
	for name, opt := range cfg.Options {
		out[name] = opt.Type
	}
	return out
}

// charmDir is where an application's charm revision is unpacked.
func (e *Engine) charmDir(app string, rev int) string {
	return filepath.Join(e.ModelDir, "charms", app, fmt.Sprint(rev))
}

// readAppCharm re-reads an application's unpacked charm (for config and
// action schemas, which the model state does not keep).
// appAndCharm looks up an application and reads its unpacked charm.
func appAndCharm(m *state.Model, appName string) (*state.Application, *charm.CharmDir, error) {
	app, err := appOf(m, appName)
	if err != nil {
		return nil, nil, err
	}
	ch, err := readAppCharm(app)
	return app, ch, err
}

func readAppCharm(app *state.Application) (*charm.CharmDir, error) {
	ch, err := charm.ReadCharmDir(app.CharmDir)
	if err != nil {
		return nil, fmt.Errorf("read charm of %s: %w", app.Name, err)
	}
	return ch, nil
}
