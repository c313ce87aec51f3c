package engine

import "github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/state"

// enterScope is the unit joining relation r, just before its
// relation-created hook (uniter relationer Join), so the relation is visible
// from that hook on, even if it fails. The apiserver's EnterScope starts the
// unit's bag with its address (private-address, ingress-address,
// egress-subnets as address/32) before the charm writes anything. The first
// entry makes the unit a member its counterparts meet (meetInScope).
func enterScope(m *state.Model, r *state.Relation, u *state.Unit) {
	if !state.HasString(r.Entered, u.Name) {
		r.Entered = append(r.Entered, u.Name)
		meetInScope(m, r, u)
	}
	if _, ok := r.UnitData[u.Name]; ok {
		return // entered before (a retried hook): EnterScope keeps the bag
	}
	mc := m.Machines[u.Machine]
	if mc == nil || mc.Address == "" {
		return
	}
	r.UnitData[u.Name] = state.Bag{"private-address": mc.Address, "ingress-address": mc.Address, "egress-subnets": mc.Address + "/32"}
}

// meetInScope queues relation-joined and relation-changed between u, which
// just entered r's scope, and every counterpart already in scope, both
// ways. Juju's relation-units watchers report scope membership
// (state/relationunit.go: "Once a unit has entered its scope, it is
// considered a member of the relation"), and a unit enters scope only once
// installed (worker/uniter/relation createdRelationsResolver: "Nothing to do
// if not yet installed"), so neither side hears of the other before both
// are in: each pair meets when the later of the two enters.
func meetInScope(m *state.Model, r *state.Relation, u *state.Unit) {
	if u.Dying || r.Dying {
		return
	}
	for _, other := range m.RemoteUnits(r, u.Name) {
		ou := m.Units[other]
		if ou == nil || ou.Dying || !state.HasString(r.Entered, other) || state.HasString(r.Broken, other) {
			continue
		}
		otherApp, _ := state.SplitUnit(other)
		m.Enqueue(u.Name, relationHook(r, u.App, "relation-joined", other, ""))
		m.Enqueue(u.Name, relationHook(r, u.App, "relation-changed", other, ""))
		m.Enqueue(other, relationHook(r, otherApp, "relation-joined", u.Name, ""))
		m.Enqueue(other, relationHook(r, otherApp, "relation-changed", u.Name, ""))
	}
}
