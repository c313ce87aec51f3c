package charm

import (
	"context"
	"fmt"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
)

// syncAdminUsername keeps the admin secret's username equal to admin-username. The webs take the
// name from config (a change restarts them with it: Concourse replaces its local users with the
// configured ones on start); the secret only keeps the pair get-admin-password hands out in step.
// The leader owns the secret, and an owner's secret-get reads the latest revision. The write is
// made in the hook that sees the change (config-changed): nothing may be left for a later hook,
// which on a settled unit may never reconcile; a failed hook is retried and writes it again.
func (c *Charm) syncAdminUsername(ctx context.Context, cfg Config, peers peerView) error {
	id := peers.app[keyAdminSecret]
	if id == "" {
		return nil
	}
	content, err := c.tools.SecretGet(ctx, juju.SecretGetOptions{ID: id})
	if err != nil {
		return fmt.Errorf("read the admin secret: %w", err)
	}
	if content[fieldAdminUser] == cfg.AdminUsername {
		return nil
	}
	if content[fieldAdminPassword] == "" {
		return fmt.Errorf("admin secret %s has no %s", id, fieldAdminPassword)
	}
	c.say("admin-username is %q: writing it into the admin secret", cfg.AdminUsername)
	content[fieldAdminUser] = cfg.AdminUsername
	if err := c.tools.SecretSet(ctx, id, content, juju.SecretSetOptions{}); err != nil {
		return fmt.Errorf("write the admin username into the admin secret: %w", err)
	}
	return nil
}
