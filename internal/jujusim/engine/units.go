package engine

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/state"
)

// AddUnit adds n units; attach names detached storage instances for the
// first new unit (`juju add-unit --attach-storage`).
func (e *Engine) AddUnit(appName string, n int, attach []string) ([]string, error) {
	return e.AddUnits(appName, AddUnitArgs{N: n, Attach: attach})
}

// AddUnitArgs are add-unit's options. Binds, when set, replace the application's --shared-dir
// binds for the new units' machines only: on LXD that is a container given another (or no) disk
// device, which Juju knows nothing about.
type AddUnitArgs struct {
	N      int
	Attach []string
	Binds  []state.Bind
}

// AddUnits adds a.N units to the application.
func (e *Engine) AddUnits(appName string, a AddUnitArgs) ([]string, error) {
	n, attach := a.N, a.Attach
	if n < 1 {
		return nil, fmt.Errorf("--num-units must be a positive integer")
	}
	if len(attach) > 0 && n != 1 {
		return nil, fmt.Errorf("--attach-storage cannot be used with -n")
	}
	var added []string
	err := e.store().Update(func(m *state.Model) error {
		app, err := appOf(m, appName)
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			name, err := e.addUnit(m, app, attach, a.Binds)
			if err != nil {
				return err
			}
			added = append(added, name)
		}
		return nil
	})
	return added, err
}

// addUnit creates the unit, its machine record and storage, and queues the
// hooks a new unit sees (worker/uniter: storage-attached, install,
// relation-created, leader-elected or leader-settings-changed,
// config-changed, then start as its follow-up; relation-joined/changed come once it enters
// scope, see meetInScope).
func (e *Engine) addUnit(m *state.Model, app *state.Application, attach []string, binds []state.Bind) (string, error) {
	name := fmt.Sprintf("%s/%d", app.Name, m.Next("unit-"+app.Name))
	machineID := fmt.Sprint(m.Next("machine"))
	u := &state.Unit{Name: name, App: app.Name, Machine: machineID,
		Workload: state.Status{Current: "waiting", Message: "waiting for machine"},
		Agent:    state.Status{Current: "allocating"}}
	m.Units[name] = u
	storageIDs, err := e.attachStorage(m, app, u, attach)
	if err != nil {
		return "", err
	}
	if binds == nil {
		binds = app.Binds
	}
	rec := &state.Machine{ID: machineID, Provider: app.Provider, Binds: append([]state.Bind{}, binds...)}
	for _, id := range storageIDs {
		s := m.Storage[id]
		rec.Binds = append(rec.Binds, state.Bind{HostPath: s.HostDir, Path: s.Location})
	}
	m.Machines[machineID] = rec
	if app.Leader == "" {
		app.Leader = name
	}
	for _, id := range storageIDs {
		m.Enqueue(name, storageHook(m.Storage[id], "storage-attached"))
	}
	m.Enqueue(name, state.SimpleHook("install"))
	rels := appRelations(m, app.Name)
	for _, r := range rels {
		m.Enqueue(name, relationHook(r, app.Name, "relation-created", "", ""))
	}
	if app.Leader == name {
		m.Enqueue(name, state.SimpleHook("leader-elected"))
	} else {
		m.Enqueue(name, state.SimpleHook("leader-settings-changed"))
	}
	m.Enqueue(name, state.SimpleHook("config-changed")) // start follows it (followUp)
	// No relation-joined yet, on either side: the unit becomes a member
	// only when it enters scope at its relation-created (meetInScope).
	return name, nil
}

// appRelations lists the live relations app takes part in, by id.
func appRelations(m *state.Model, app string) []*state.Relation {
	var out []*state.Relation
	for _, r := range m.Relations {
		if _, _, ok := r.Endpoint(app); ok && !r.Dying {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func relationHook(r *state.Relation, localApp, kind, remoteUnit, departing string) state.Hook {
	local, remote, _ := r.Endpoint(localApp)
	return state.Hook{Kind: kind, Name: local.Endpoint + "-" + kind, RelationID: r.ID,
		RemoteUnit: remoteUnit, RemoteApp: remote.App, Departing: departing}
}

func storageHook(s *state.StorageInstance, kind string) state.Hook {
	return state.Hook{Kind: kind, Name: s.Name + "-" + kind, RelationID: state.NoRelation, StorageID: s.ID}
}

// attachStorage gives a new unit its storage: the named detached instances
// first (state/storage.go attachStorageOps refuses owned ones), then new
// instances up to each store's count.
func (e *Engine) attachStorage(m *state.Model, app *state.Application, u *state.Unit, attach []string) ([]string, error) {
	var ids []string
	have := map[string]int{}
	for _, id := range attach {
		s, ok := m.Storage[id]
		if !ok {
			return nil, fmt.Errorf("storage %q not found", id)
		}
		if s.Owner != "" {
			return nil, fmt.Errorf("cannot attach storage %s to unit %s: cannot attach storage owned by unit %s to unit %s", id, u.Name, s.Owner, u.Name)
		}
		if _, ok := app.Stores[s.Name]; !ok {
			return nil, fmt.Errorf("cannot attach storage %s to unit %s: charm %s has no storage called %s", id, u.Name, app.CharmName, s.Name)
		}
		s.Owner = u.Name
		ids = append(ids, id)
		have[s.Name]++
	}
	names := make([]string, 0, len(app.Stores))
	for name := range app.Stores {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		meta := app.Stores[name]
		want := meta.CountMin
		if c, ok := app.StorageCnt[name]; ok {
			want = c
		}
		if meta.CountMax >= 0 && have[name] > meta.CountMax {
			return nil, fmt.Errorf("cannot attach storage to unit %s: attaching %d storage instances brings the total to %d, exceeding the maximum of %d", u.Name, have[name], have[name], meta.CountMax)
		}
		for i := have[name]; i < want; i++ {
			s, err := e.newStorage(m, app, name, u.Name)
			if err != nil {
				return nil, err
			}
			ids = append(ids, s.ID)
		}
	}
	return ids, nil
}

// newStorage creates a storage instance backed by a directory in the model
// dir, so that a detached instance keeps its data for another unit.
func (e *Engine) newStorage(m *state.Model, app *state.Application, name, owner string) (*state.StorageInstance, error) {
	meta := app.Stores[name]
	num := m.Next("stores")
	id := fmt.Sprintf("%s/%d", name, num)
	// Juju's FilesystemMountPoint: a singleton store with a location uses it
	// as is; otherwise the storage id is appended to the location, or to
	// /var/lib/juju/storage: <location>/data/0.
	loc := meta.Location
	if loc == "" || meta.CountMax != 1 {
		parent := loc
		if parent == "" {
			parent = "/var/lib/juju/storage"
		}
		loc = path.Join(parent, id)
	}
	hostDir := filepath.Join(e.ModelDir, "storage", fmt.Sprintf("%s-%d", name, num))
	if err := os.MkdirAll(hostDir, 0o755); err != nil {
		return nil, fmt.Errorf("create storage %s: %w", id, err)
	}
	size := meta.MinimumSize
	if s, ok := app.StorageSize[name]; ok {
		size = s
	}
	if size == 0 {
		size = 1024
	}
	kind := "filesystem"
	if meta.Type == "block" {
		kind = "block"
	}
	s := &state.StorageInstance{ID: id, Name: name, Kind: kind, Owner: owner, Location: loc, HostDir: hostDir, Path: loc, SizeMiB: size}
	m.Storage[id] = s
	return s, nil
}

// RemoveUnit marks the unit dying and queues what Juju's uniter runs for a
// dying unit, in its order: storage-detaching first (the storage resolver
// runs before the others), then per relation relation-departed for each
// remote unit seen and relation-broken, except for peer relations
// (worker/uniter/relation/resolver.go: "remoteBroken && !isPeer"), then stop
// and remove (worker/uniter/resolver.go nextOp, Dying). Whether stop, remove
// and storage-detaching actually run is decided when they come up
// (nextHook, startJob): stop only once started, remove only once installed,
// storage-detaching only for storage whose storage-attached ran. Other units
// see relation-departed.
func (e *Engine) RemoveUnit(name string, destroyStorage bool) error {
	return e.store().Update(func(m *state.Model) error {
		u, ok := m.Units[name]
		if !ok {
			return fmt.Errorf("unit %q not found", name)
		}
		if u.Dying {
			return nil
		}
		u.Dying, u.DestroyStor = true, destroyStorage
		u.Queue = nil
		if u.Error != nil {
			// Juju removes a unit in error only once resolved; the simulator
			// drops the failed hook so removal proceeds.
			u.Error = nil
		}
		for _, id := range sortedStorage(m, name) {
			m.Enqueue(name, storageHook(m.Storage[id], "storage-detaching"))
		}
		for _, r := range appRelations(m, u.App) {
			queueDeparture(m, r, u)
		}
		m.Enqueue(name, state.SimpleHook("stop"))
		m.Enqueue(name, state.SimpleHook("remove"))
		return nil
	})
}

// queueDeparture queues the dying unit u's relation-departed per remote unit
// it has seen and, outside peer relations, relation-broken; the remote units
// that have seen u get relation-departed.
func queueDeparture(m *state.Model, r *state.Relation, u *state.Unit) {
	for _, remote := range r.Joined[u.Name] {
		m.Enqueue(u.Name, relationHook(r, u.App, "relation-departed", remote, u.Name))
	}
	if state.HasString(r.Entered, u.Name) && !r.IsPeer() {
		m.Enqueue(u.Name, relationHook(r, u.App, "relation-broken", "", ""))
	}
	for other, seen := range r.Joined {
		if other != u.Name && state.HasString(seen, u.Name) {
			otherApp, _ := state.SplitUnit(other)
			m.Enqueue(other, relationHook(r, otherApp, "relation-departed", u.Name, u.Name))
		}
	}
}

func sortedStorage(m *state.Model, owner string) []string {
	var ids []string
	for id, s := range m.Storage {
		if s.Owner == owner {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// electLeader moves leadership of app to unit (or to the lowest live unit
// when unit is ""), queueing leader-elected on the new leader. The others
// get nothing: leader-settings-changed follows a change of the leader
// settings (leader-set), not of the leader (uniter leadership resolver).
func electLeader(m *state.Model, appName, unit string) {
	app := m.Applications[appName]
	if unit == "" {
		for _, name := range m.AppUnits(appName) {
			if u := m.Units[name]; !u.Dying && !u.Lost {
				unit = name
				break
			}
		}
	}
	app.Leader = unit
	if unit == "" {
		return
	}
	m.Enqueue(unit, state.SimpleHook("leader-elected"))
}

// SetLeader moves leadership to unit.
func (e *Engine) SetLeader(unit string) error {
	return e.store().Update(func(m *state.Model) error {
		u, ok := m.Units[unit]
		if !ok {
			return fmt.Errorf("unit %q not found", unit)
		}
		if m.Applications[u.App].Leader == unit {
			return nil
		}
		electLeader(m, u.App, unit)
		return nil
	})
}

// KillAgent simulates a unit agent that stopped talking to the controller:
// its hooks stop running and leadership moves away from it.
func (e *Engine) KillAgent(unit string) error {
	return e.store().Update(func(m *state.Model) error {
		u, ok := m.Units[unit]
		if !ok {
			return fmt.Errorf("unit %q not found", unit)
		}
		u.Lost = true
		u.Agent = state.Status{Current: "lost", Message: "agent is not communicating with the server"}
		if m.Applications[u.App].Leader == unit {
			electLeader(m, u.App, "")
		}
		return nil
	})
}

// Resolve clears a unit's error: the failed hook is retried now, or
// skipped with noRetry (`juju resolve [--no-retry]`).
func (e *Engine) Resolve(unit string, noRetry bool) error {
	return e.store().Update(func(m *state.Model) error {
		u, ok := m.Units[unit]
		if !ok {
			return fmt.Errorf("unit %q not found", unit)
		}
		if u.Error == nil {
			return fmt.Errorf("unit %q is not in an error state", unit)
		}
		if noRetry {
			// Juju commits a skipped hook (NewSkipHook), follow-up included.
			followUp(u, u.Error.Hook)
			u.Workload = u.Error.Saved
			u.Error = nil
			return nil
		}
		u.Error.NextRetry = 0
		u.Error.Retries = 0
		return nil
	})
}

// UpdateStatus queues update-status on every unit.
func (e *Engine) UpdateStatus() error {
	return e.store().Update(func(m *state.Model) error {
		for name, u := range m.Units {
			if !u.Dying && u.Started {
				m.Enqueue(name, state.SimpleHook("update-status"))
			}
		}
		return nil
	})
}
