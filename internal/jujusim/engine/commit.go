package engine

import (
	"fmt"
	"os"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/hooktools"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/state"
)

// finish records the outcome of a hook: on exit 0 the buffered changes are
// committed (worker/uniter/runner/context flush), otherwise dropped and the
// unit goes into error with `hook failed: "<name>"`. It returns storage
// binds to add to the machine and whether the machine must be destroyed.
func (e *Engine) finish(j job, code int, output []byte) ([]state.Bind, bool, error) {
	var binds []state.Bind
	destroy := false
	err := e.store().Update(func(m *state.Model) error {
		hc := m.Contexts[j.ctxID]
		delete(m.Contexts, j.ctxID)
		u := m.Units[j.unit]
		if u == nil || hc == nil {
			return nil
		}
		u.Running = ""
		u.Agent = state.Status{Current: "idle"}
		if j.hook.Kind == "action" {
			e.finishAction(m, hc, u, code, output, &binds)
			return nil
		}
		if code != 0 {
			e.failHook(u, j, code)
			return nil
		}
		if u.Error != nil && j.retry {
			u.Workload = u.Error.Saved
			u.Error = nil
		}
		var err error
		binds, err = e.commit(m, hc, u)
		if err != nil {
			return err
		}
		destroy = afterHook(m, u, j.hook)
		return nil
	})
	return binds, destroy, err
}

func (e *Engine) failHook(u *state.Unit, j job, code int) {
	retries := 0
	saved := u.Workload
	if u.Error != nil {
		saved = u.Error.Saved
		if j.retry {
			retries = u.Error.Retries + 1
		}
	}
	u.Error = &state.HookError{Hook: j.hook, Retries: retries, Saved: saved,
		NextRetry: e.now().Add(e.retryDelay(retries)).UnixNano()}
	u.Workload = state.Status{Current: "error", Message: fmt.Sprintf("hook failed: %q", j.hook.Name), Since: time.Now().UTC().Format(time.RFC3339)}
	appendLog(state.LogPath(e.ModelDir, u.Name), fmt.Sprintf("%s %s: hook failed: %q (exit %d), retry %d\n", stamp(), state.UnitTag(u.Name), j.hook.Name, code, retries))
}

// finishAction completes an action. Its stdout and stderr are its output;
// a non-zero exit fails the action but does not put the unit in error.
func (e *Engine) finishAction(m *state.Model, hc *state.HookContext, u *state.Unit, code int, output []byte, binds *[]state.Bind) {
	a := m.Actions[hc.Hook.ActionID]
	if a == nil {
		return
	}
	a.Output, a.Code = string(output), code
	if code != 0 && a.Status != "failed" {
		a.Status, a.Message = "failed", fmt.Sprintf("exit status %d", code)
	}
	if a.Status != "failed" {
		a.Status = "completed"
	}
	if code == 0 {
		b, err := e.commit(m, hc, u)
		if err == nil {
			*binds = b
		}
	}
}

// commit applies a successful hook's buffered changes and queues the hooks
// they cause on other units.
func (e *Engine) commit(m *state.Model, hc *state.HookContext, u *state.Unit) ([]state.Bind, error) {
	for _, id := range sortedInts(hc.UnitSettings) {
		if r := m.Relations[id]; r != nil && applyBag(r.UnitData, u.Name, hc.UnitSettings[id]) {
			for other, seen := range r.Joined {
				if other != u.Name && state.HasString(seen, u.Name) {
					otherApp, _ := state.SplitUnit(other)
					m.Enqueue(other, relationHook(r, otherApp, "relation-changed", u.Name, ""))
				}
			}
		}
	}
	for _, id := range sortedInts(hc.AppSettings) {
		if r := m.Relations[id]; r != nil && applyBag(r.AppData, u.App, hc.AppSettings[id]) {
			for _, other := range r.Entered {
				otherApp, _ := state.SplitUnit(other)
				if other != u.Name && (otherApp != u.App || r.IsPeer()) {
					m.Enqueue(other, relationHook(r, otherApp, "relation-changed", "", ""))
				}
			}
		}
	}
	u.Ports = hooktools.ApplyPortOps(u.Ports, hc.PortOps)
	if len(hc.StateSets) > 0 || len(hc.StateDeletes) > 0 {
		if u.State == nil {
			u.State = map[string]string{}
		}
		for _, k := range hc.StateDeletes {
			delete(u.State, k)
		}
		for k, v := range hc.StateSets {
			u.State[k] = v
		}
	}
	e.commitSecrets(m, hc)
	return e.commitStorageAdds(m, hc, u)
}

func (e *Engine) commitSecrets(m *state.Model, hc *state.HookContext) {
	hooktools.ApplySecretOps(m.Secrets, hc.SecretOps)
	for _, op := range hc.SecretOps {
		s := m.Secrets[op.ID]
		if op.Op != "set" || op.Content == nil || s == nil {
			continue
		}
		for _, consumer := range sortedKeys(s.Tracked) {
			if m.Units[consumer] != nil {
				m.Enqueue(consumer, state.Hook{Kind: "secret-changed", Name: "secret-changed", RelationID: state.NoRelation, SecretID: s.ID})
			}
		}
	}
}

func (e *Engine) commitStorageAdds(m *state.Model, hc *state.HookContext, u *state.Unit) ([]state.Bind, error) {
	var binds []state.Bind
	app := m.Applications[u.App]
	for _, name := range sortedKeys(hc.StorageAdds) {
		for i := 0; i < hc.StorageAdds[name]; i++ {
			s, err := e.newStorage(m, app, name, u.Name)
			if err != nil {
				return nil, err
			}
			bind := state.Bind{HostPath: s.HostDir, Path: s.Location}
			binds = append(binds, bind)
			if rec := m.Machines[u.Machine]; rec != nil {
				rec.Binds = append(rec.Binds, bind)
			}
			m.Enqueue(u.Name, storageHook(s, "storage-attached"))
		}
	}
	return binds, nil
}

// applyBag applies changes ("" deletes) to bags[owner]; it reports whether
// the bag changed.
func applyBag(bags map[string]state.Bag, owner string, changes state.Bag) bool {
	bag := bags[owner]
	if bag == nil {
		bag = state.Bag{}
	}
	changed := false
	for k, v := range changes {
		old, had := bag[k]
		switch {
		case v == "" && had:
			delete(bag, k)
			changed = true
		case v != "" && old != v:
			bag[k] = v
			changed = true
		}
	}
	bags[owner] = bag
	return changed
}

// afterHook applies what a successful hook means to the model; it reports
// whether the unit is gone and its machine must be destroyed.
func afterHook(m *state.Model, u *state.Unit, h state.Hook) bool {
	followUp(u, h)
	r := m.Relations[h.RelationID]
	switch h.Kind {
	case "install":
		u.Installed = true
	case "start":
		u.Started = true
		if u.Workload.Current == "waiting" || u.Workload.Current == "maintenance" && u.Workload.Message == "installing charm software" {
			u.Workload = state.Status{Current: "unknown"}
		}
	case "relation-broken":
		if r != nil {
			r.Broken = append(r.Broken, u.Name)
			delete(r.Joined, u.Name)
			if r.Dying && allBroken(r) {
				delete(m.Relations, r.ID)
			}
		}
	case "storage-attached":
		if s := m.Storage[h.StorageID]; s != nil {
			s.Attached = true
		}
	case "storage-detaching":
		if s := m.Storage[h.StorageID]; s != nil {
			if u.DestroyStor {
				_ = os.RemoveAll(s.HostDir)
				delete(m.Storage, s.ID)
			} else {
				s.Owner = ""
			}
		}
	case "remove":
		removeUnit(m, u)
		return true
	}
	return false
}

func allBroken(r *state.Relation) bool {
	for _, name := range r.Entered {
		if !state.HasString(r.Broken, name) {
			return false
		}
	}
	return true
}

// removeUnit deletes a unit that ran its remove hook, and hands leadership
// on if it led.
func removeUnit(m *state.Model, u *state.Unit) {
	delete(m.Units, u.Name)
	delete(m.Machines, u.Machine)
	for id, r := range m.Relations {
		delete(r.UnitData, u.Name)
		delete(r.Joined, u.Name)
		r.Entered = state.RemoveString(r.Entered, u.Name)
		r.Broken = state.RemoveString(r.Broken, u.Name)
		if r.Dying && allBroken(r) {
			delete(m.Relations, id)
		}
	}
	for _, s := range m.Storage {
		if s.Owner == u.Name {
			s.Owner = ""
		}
	}
	if app := m.Applications[u.App]; app != nil && app.Leader == u.Name {
		electLeader(m, u.App, "")
	}
}

func sortedInts[V any](mp map[int]V) []int {
	out := make([]int, 0, len(mp))
	for k := range mp {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for k := i; k > 0 && out[k] < out[k-1]; k-- {
			out[k], out[k-1] = out[k-1], out[k]
		}
	}
	return out
}
