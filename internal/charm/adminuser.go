package charm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/storage"
)

// syncAdminUsername keeps the admin secret's username equal to admin-username. The webs take the
// name from config (a change restarts them with it: Concourse replaces its local users with the
// configured ones on start); the secret only keeps the pair get-admin-password hands out in step.
// The leader owns the secret, and an owner's secret-get reads the latest revision.
//
// A settled hook makes no secret call: the state directory remembers the name once a secret-get
// has shown it in the secret, which a secret-set only does after its hook has committed.
func (c *Charm) syncAdminUsername(ctx context.Context, cfg Config, peers peerView, dataDir string) error {
	id := peers.app[keyAdminSecret]
	if id == "" {
		return nil
	}
	state, err := stateDir(dataDir)
	if err != nil {
		return err
	}
	memo := filepath.Join(state, "admin-username")
	confirmed := id + "\n" + cfg.AdminUsername
	if b, err := os.ReadFile(memo); err == nil && string(b) == confirmed {
		return nil
	}
	content, err := c.tools.SecretGet(ctx, juju.SecretGetOptions{ID: id})
	if err != nil {
		return fmt.Errorf("read the admin secret: %w", err)
	}
	if content[fieldAdminUser] == cfg.AdminUsername {
		if err := storage.WriteFileAtomic(memo, []byte(confirmed), 0o600); err != nil {
			return fmt.Errorf("remember the admin username: %w", err)
		}
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
