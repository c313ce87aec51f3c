package state

// NoRelation is Hook.RelationID for hooks outside any relation.
const NoRelation = -1

// SimpleHook returns a hook without relation or storage.
func SimpleHook(name string) Hook {
	return Hook{Kind: name, Name: name, RelationID: NoRelation}
}

// Enqueue appends h to the unit's queue unless an identical hook is already
// waiting there: Juju coalesces pending events of the same kind (one
// config-changed for many config changes, one relation-changed per remote
// unit).
func (m *Model) Enqueue(unit string, h Hook) {
	u := m.Units[unit]
	if u == nil {
		return
	}
	if coalesces(h.Kind) {
		for _, q := range u.Queue {
			if q == h {
				return
			}
		}
	}
	u.Queue = append(u.Queue, h)
}

func coalesces(kind string) bool {
	switch kind {
	case "config-changed", "relation-changed", "leader-settings-changed", "update-status", "upgrade-charm":
		return true
	}
	return false
}
