package rollout

// Decision is what one unit does about the plan in this hook.
type Decision struct {
	// Run is the version the unit's services must run now.
	Run string
	// Switching is set when Run is a move the unit must verify before reporting it: it holds the
	// turn (or resumes one a killed hook left halfway).
	Switching bool
	// Fetch is a version to have ready (downloaded, unpacked) while Run keeps running.
	Fetch string
}

// Decide tells unit, which runs running ("" when it runs nothing yet), what to do under plan p.
// target is the configured version, used before any plan exists.
func Decide(p Plan, unit, running, target string) Decision {
	to := p.To
	if to == "" {
		to = target
	}
	switch {
	case running == "" && p.DBHold && p.From != "":
		// A new unit while a downgrade is held starts on what the database is at.
		return Decision{Run: p.From, Switching: true}
	case running == "":
		// Nothing to keep serving: start on the plan's version, no turn needed.
		return Decision{Run: to, Switching: true}
	case running == to:
		return Decision{Run: to, Fetch: ahead(p, target)}
	case p.Turn == unit:
		// Also while halted: the unit that failed stays on its attempt and says why, so an
		// operator can see it; Resume gives the turn afresh.
		return Decision{Run: to, Switching: true}
	}
	return Decision{Run: running, Fetch: to}
}

// ahead is a configured version the plan does not name yet, to fetch before the leader plans it:
// every unit hears of a new version in its own config-changed, while the plan only reaches the
// others once the leader's hook ends (relation data is written when a hook succeeds), and the
// leader's hook may itself be busy fetching it. Fetching at once puts every unit on the install
// lock together, so a holder that dies is replaced by a waiter at once. A rolled-back target is not
// fetched again.
func ahead(p Plan, target string) string {
	if target == "" || target == p.To || target == p.Abandoned {
		return ""
	}
	return target
}
