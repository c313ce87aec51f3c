package charm

import "fmt"

// fallBack puts a worker that failed its turn back on the version it last ran healthy while the
// rollout is halted on it: the worker serves builds again, registered as before, and the units
// not upgraded (it among them) stay on the old version, as the issue asks; its status still says
// what failed and what to run. upgrade-resume hands the turn out afresh and it tries again.
//
// A web never goes back by itself: it may have migrated the database when it started the new
// version, and an older web cannot undo that (upgradedb.go). It stays on its attempt.
func (v upgradeView) fallBack(web bool) upgradeView {
	if web || v.running == "" || !v.retryBlocked() {
		return v
	}
	v.decision.Run = v.running
	return v
}

// failedNote is the unit's word on its failed turn: what failed, where it runs now, what to do.
func failedNote(app string, v upgradeView) string {
	msg := upgradeFailedMessage(app, v.plan.To, v.own.Failed)
	if v.decision.Run != v.plan.To {
		msg = fmt.Sprintf("back on %s: %s", v.decision.Run, msg)
	}
	return msg
}
