package charm

import (
	"context"
	"fmt"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
)

// getAdminPassword prints the admin user and password from the application's secret.
func (c *Charm) getAdminPassword(ctx context.Context) error {
	a, err := c.adminSecret(ctx)
	if err != nil {
		return err
	}
	return c.tools.ActionSet(ctx, map[string]string{"username": a.content[fieldAdminUser], "password": a.content[fieldAdminPassword]})
}

// adminRef is the admin secret as the actions that show or change it find it: through the peer
// relation's application bag.
type adminRef struct {
	relID   string            // the peer relation
	app     map[string]string // its application bag
	id      string            // the secret's id
	content map[string]string // the secret's content
}

// adminSecret finds and reads the application's admin secret; each failure says what to wait for.
func (c *Charm) adminSecret(ctx context.Context) (adminRef, error) {
	var a adminRef
	var err error
	if a.relID, err = c.peerRelation(ctx); err != nil {
		return a, err
	}
	if a.relID == "" {
		return a, fmt.Errorf("this unit has not joined its peers yet: wait for its hooks to run (juju status), then retry")
	}
	if a.app, err = c.tools.RelationGet(ctx, a.relID, c.env.AppName(), true); err != nil {
		return a, fmt.Errorf("read peer application data: %w", err)
	}
	if a.id = a.app[keyAdminSecret]; a.id == "" {
		return a, fmt.Errorf("the leader has not created the admin password yet: wait for its hooks to run (juju status), then retry")
	}
	if a.content, err = c.tools.SecretGet(ctx, juju.SecretGetOptions{ID: a.id}); err != nil {
		return a, fmt.Errorf("read the admin secret: %w", err)
	}
	return a, nil
}
