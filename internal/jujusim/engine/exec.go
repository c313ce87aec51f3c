package engine

import (
	"context"
	"fmt"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/state"
)

// Exec runs argv on the machine of unit, as root, like `juju exec --unit U -- argv` (which runs
// through the unit agent, as root, outside any hook context). It returns the command's combined
// output and exit code; err only says the command could not be run at all.
func (e *Engine) Exec(ctx context.Context, unit string, argv []string) ([]byte, int, error) {
	if len(argv) == 0 {
		return nil, 0, fmt.Errorf("no command to run on %s", unit)
	}
	var rec state.Machine
	err := e.store().View(func(m *state.Model) error {
		u, ok := m.Units[unit]
		if !ok {
			return fmt.Errorf("unit %q not found", unit)
		}
		mr, ok := m.Machines[u.Machine]
		if !ok {
			return fmt.Errorf("unit %q: machine %q not found", unit, u.Machine)
		}
		rec = *mr
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	mc, err := e.machine(ctx, &rec)
	if err != nil {
		return nil, 0, err
	}
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8"}
	return mc.Exec(ctx, jujusim.Cmd{Argv: argv, Env: env, Dir: "/"})
}
