package charm

import (
	"context"
	"fmt"
)

// removeObsoleteRevision handles secret-remove. Juju sends it to a secret's owner (the leader, for
// the application's secrets) once no unit reads a revision any more: that revision holds a password
// or key that set-admin-password or rotate-keys replaced, and nothing should keep it.
func (c *Charm) removeObsoleteRevision(ctx context.Context) error {
	id, rev := c.env.SecretID, c.env.SecretRevision
	if id == "" || rev < 1 {
		c.say("secret-remove without a secret id and revision: nothing to remove")
		return nil
	}
	if err := c.tools.SecretRemoveRevision(ctx, id, rev); err != nil {
		return fmt.Errorf("remove revision %d of %s: %w", rev, id, err)
	}
	c.say("removed revision %d of %s: no unit reads it any more", rev, id)
	return nil
}
