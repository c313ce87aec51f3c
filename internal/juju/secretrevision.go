package juju

import (
	"context"
	"fmt"
	"strconv"
)

// SecretRemoveRevision removes one revision of secret id: what an owner does in the secret-remove
// hook, once Juju reports that no unit reads that revision any more.
//
//	secret-remove --revision <n> <id>
func (c *Client) SecretRemoveRevision(ctx context.Context, id string, revision int) error {
	if err := requireNonEmpty("secret-remove: secret id", id); err != nil {
		return err
	}
	if revision < 1 {
		return fmt.Errorf("secret-remove: revision %d: want 1 or more", revision)
	}
	return c.run(ctx, nil, "secret-remove", "--revision", strconv.Itoa(revision), id)
}
