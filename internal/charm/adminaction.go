package charm

import (
	"context"
	"fmt"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
)

// getAdminPassword prints the admin user and password from the application's secret.
func (c *Charm) getAdminPassword(ctx context.Context) error {
	relID, err := c.peerRelation(ctx)
	if err != nil {
		return err
	}
	if relID == "" {
		return fmt.Errorf("this unit has not joined its peers yet: wait for its hooks to run (juju status), then retry")
	}
	app, err := c.tools.RelationGet(ctx, relID, c.env.AppName(), true)
	if err != nil {
		return fmt.Errorf("read peer application data: %w", err)
	}
	id := app[keyAdminSecret]
	if id == "" {
		return fmt.Errorf("the leader has not created the admin password yet: wait for its hooks to run (juju status), then retry")
	}
	admin, err := c.tools.SecretGet(ctx, juju.SecretGetOptions{ID: id})
	if err != nil {
		return fmt.Errorf("read the admin secret: %w", err)
	}
	return c.tools.ActionSet(ctx, map[string]string{"username": admin[fieldAdminUser], "password": admin[fieldAdminPassword]})
}
