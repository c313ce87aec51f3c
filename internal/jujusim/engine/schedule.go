package engine

import (
	"slices"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/state"
)

// Hook selection follows Juju's uniter, which does not run events first in,
// first out: each time it is idle it asks its resolvers in a fixed order and
// runs the first operation offered (worker/uniter/resolver.go NextOp, the
// same chain in 2.9 and in 4.0's internal/worker/uniter):
//
//	CreatedRelations → Leadership → (Secrets) → Actions → Commands → Storage
//	→ the Queued hook of the operation state (start after the first
//	  config-changed, config-changed after upgrade-charm: operation/runhook.go
//	  Commit) → nextOp: install, charmModified (upgrade-charm),
//	  config-changed, Relations, update-status.
//
// CreatedRelations, Leadership and Secrets offer nothing before install, nor
// while a Queued hook waits ("localState.Kind != operation.Continue"); a
// dying unit gets only storage, relation departures, stop and remove
// (nextOp, life.Dying). The simulator keeps pending events in a queue; the
// queue order breaks ties within a rank, which keeps joined before changed
// and departed before broken for each relation and remote unit, as Juju's
// relation resolver does.

// Ranks of the resolver chain; lower runs first.
const (
	rankCreated = iota
	rankLeaderElected
	rankLeaderSettings
	rankSecrets
	rankAction
	rankStorage
	rankInstall
	rankUpgrade
	rankConfig
	rankStart
	rankRelation
	rankUpdateStatus
	rankStop
	rankRemove
)

// priority is h's rank for unit u; ready is false while Juju's chain would
// not offer h yet (the hook stays queued).
func priority(u *state.Unit, h state.Hook) (rank int, ready bool) {
	switch h.Kind {
	case "relation-created":
		return rankCreated, u.Installed
	case "leader-elected":
		return rankLeaderElected, u.Installed
	case "leader-settings-changed":
		return rankLeaderSettings, u.Installed
	case "secret-changed":
		return rankSecrets, u.Installed
	case "action":
		return rankAction, true
	case "storage-attached", "storage-detaching":
		return rankStorage, true
	case "install":
		return rankInstall, true
	case "upgrade-charm":
		return rankUpgrade, u.Installed
	case "config-changed":
		return rankConfig, u.Installed
	case "start":
		return rankStart, u.Installed
	case "update-status":
		return rankUpdateStatus, u.Started
	case "stop":
		return rankStop, true
	case "remove":
		return rankRemove, true
	}
	return rankRelation, u.Installed
}

// runsWhileDying lists what Juju's chain still offers a dying unit: actions,
// storage-detaching (storage resolver), relation departures (the Relations
// resolver "Normally we handle relations last, but if we're dying we must
// ensure that all relations are broken first"), stop and remove.
func runsWhileDying(kind string) bool {
	switch kind {
	case "action", "storage-detaching", "relation-departed", "relation-broken", "stop", "remove":
		return true
	}
	return false
}

// nextHook chooses what unit u runs next: actions run even while the unit is
// in error (as in Juju); a failed hook is retried when its delay is over;
// otherwise the Queued follow-up, else the best-ranked pending hook.
func (e *Engine) nextHook(m *state.Model, u *state.Unit, p *plan) (state.Hook, bool, bool) {
	if u.Error != nil {
		for i, h := range u.Queue {
			if h.Kind == "action" {
				u.Queue = slices.Delete(u.Queue, i, i+1)
				return h, false, true
			}
		}
		at := time.Unix(0, u.Error.NextRetry)
		if !e.now().Before(at) {
			return u.Error.Hook, true, true
		}
		if p.nextRetry.IsZero() || at.Before(p.nextRetry) {
			p.nextRetry = at
		}
		return state.Hook{}, false, false
	}
	if f := u.FollowUp; f != nil {
		u.FollowUp = nil
		if due(m, u, *f) {
			// Running config-changed or upgrade-charm satisfies the pending
			// one: Juju compares hashes/versions, not a count of events.
			u.Queue = slices.DeleteFunc(u.Queue, func(q state.Hook) bool { return q == *f && coalescing(q.Kind) })
			return *f, false, true
		}
	}
	for {
		i := bestPending(u)
		if i < 0 {
			return state.Hook{}, false, false
		}
		h := u.Queue[i]
		u.Queue = slices.Delete(u.Queue, i, i+1)
		if (!u.Dying || runsWhileDying(h.Kind)) && due(m, u, h) {
			return h, false, true
		}
	}
}

// bestPending is the index of the queued hook Juju's chain offers first, or
// -1 when none is ready; a hook a dying unit will never run counts as ready
// so that due drops it.
func bestPending(u *state.Unit) int {
	best, bestRank := -1, 0
	for i, h := range u.Queue {
		rank, ready := priority(u, h)
		if u.Dying && !runsWhileDying(h.Kind) {
			rank, ready = -1, true
		}
		if ready && (best < 0 || rank < bestRank) {
			best, bestRank = i, rank
		}
	}
	return best
}

func coalescing(kind string) bool {
	return kind == "config-changed" || kind == "upgrade-charm"
}

// followUp sets the hook Juju's runHook.Commit queues after h
// (operation/runhook.go): start after config-changed of a unit not yet
// started, config-changed after upgrade-charm. A skipped hook (resolve
// --no-retry) is committed too, so it gets the same follow-up.
func followUp(u *state.Unit, h state.Hook) {
	switch {
	case h.Kind == "config-changed" && !u.Started:
		f := state.SimpleHook("start")
		u.FollowUp = &f
	case h.Kind == "upgrade-charm":
		f := state.SimpleHook("config-changed")
		u.FollowUp = &f
	}
}

// rerunNext makes h, interrupted or abandoned, the unit's next hook, as
// Juju reruns the hook its operation state records.
func rerunNext(u *state.Unit, h state.Hook) {
	if u.FollowUp != nil {
		u.Queue = append([]state.Hook{*u.FollowUp}, u.Queue...)
	}
	u.FollowUp = &h
}

// due reports whether a queued hook still applies when its turn comes: its
// relation still exists; a remote unit is joined only while it is alive and
// changed only while joined (Juju's relation resolver works from the live
// membership); stop only for a started unit (uniter resolver:
// "localState.Started && !localState.Stopped"); storage-detaching only for
// storage whose storage-attached hook ran (worker/uniter/storage).
func due(m *state.Model, u *state.Unit, h state.Hook) bool {
	r := m.Relations[h.RelationID]
	switch {
	case h.RelationID >= 0 && r == nil:
		return false // the relation went away before the hook ran
	case h.Kind == "relation-joined":
		ru := m.Units[h.RemoteUnit]
		return ru != nil && !ru.Dying
	case h.Kind == "relation-changed" && h.RemoteUnit != "":
		return state.HasString(r.Joined[u.Name], h.RemoteUnit)
	case h.Kind == "stop":
		return u.Started
	case h.Kind == "storage-detaching":
		s := m.Storage[h.StorageID]
		return s != nil && s.Attached
	}
	return true
}
