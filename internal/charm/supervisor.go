package charm

import (
	"context"
	"fmt"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/service"
)

// detectServices picks systemd when it is PID 1, else a Pebble daemon, and says which in juju-log.
func (c *Charm) detectServices(ctx context.Context) (service.Manager, error) {
	d, err := service.Detect(ctx, service.DetectOptions{})
	if err != nil {
		return nil, err
	}
	msg := fmt.Sprintf("services run under %s: %s", d.Backend(), d.Reason)
	fmt.Fprintln(c.out, msg)
	_ = c.tools.Log(ctx, juju.LevelDebug, msg)
	return d.Manager, nil
}
