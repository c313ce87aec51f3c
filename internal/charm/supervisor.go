package charm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/service"
)

// supervisorMarker, in the charm directory, remembers which supervisor was last chosen, so that
// juju-log says it when it is first chosen or changes, not on every hook (each call is an RPC).
const supervisorMarker = ".supervisor"

// detectServices picks systemd when it is PID 1, else a Pebble daemon, and says which in juju-log.
func (c *Charm) detectServices(ctx context.Context) (service.Manager, error) {
	d, err := service.Detect(ctx, service.DetectOptions{})
	if err != nil {
		return nil, err
	}
	msg := fmt.Sprintf("services run under %s: %s", d.Backend(), d.Reason)
	fmt.Fprintln(c.out, msg)
	if c.env.CharmDir == "" {
		return d.Manager, nil
	}
	marker := filepath.Join(c.env.CharmDir, supervisorMarker)
	if last, _ := os.ReadFile(marker); string(last) != d.Backend() {
		_ = c.tools.Log(ctx, juju.LevelInfo, msg)
		_ = os.WriteFile(marker, []byte(d.Backend()), 0o600)
	}
	return d.Manager, nil
}
