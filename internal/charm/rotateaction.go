package charm

import (
	"context"
	"fmt"
	"maps"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/concourse"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
)

// rotateKeysAction starts a rotation of the TSA host key (stages in rotation.go): a new key goes
// into the keys secret beside the current one, and its public half into the peer application bag,
// so that every worker trusts both before any web presents the new one. The leader then moves the
// rotation on in its hooks as units acknowledge; the application status shows how far it is.
func (c *Charm) rotateKeysAction(ctx context.Context) error {
	if err := c.requireLeader(ctx, "rotate-keys"); err != nil {
		return err
	}
	raw, err := c.tools.ConfigGet(ctx)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	cfg, err := ParseConfig(raw)
	if err != nil {
		return fmt.Errorf("the configuration is invalid, fix it first (juju config %s): %w", c.env.AppName(), err)
	}
	if cfg.Mode == ModeWorker {
		return fmt.Errorf("%s runs workers only (mode=worker): the TSA host key belongs to the web application; run rotate-keys on its leader: juju run <web-application>/leader rotate-keys", c.env.AppName())
	}
	relID, err := c.peerRelation(ctx)
	if err != nil {
		return err
	}
	if relID == "" {
		return fmt.Errorf("this unit has not joined its peers yet: wait for its hooks to run (juju status), then retry")
	}
	peers, err := c.readPeers(ctx, relID)
	if err != nil {
		return err
	}
	id := peers.app[keyKeysSecret]
	if id == "" || peers.app[keyTSAPublicKey] == "" {
		return fmt.Errorf("the TSA host key does not exist yet: wait for the leader's hooks to create it (juju status), then retry")
	}
	if stage := rotationStage(peers.app); stage != "" {
		return fmt.Errorf("a TSA host key rotation is already under way (stage %s; `juju status %s` says what it waits for): let it finish, then run rotate-keys again", stage, c.env.AppName())
	}
	keys, err := c.tools.SecretGet(ctx, juju.SecretGetOptions{ID: id})
	if err != nil {
		return fmt.Errorf("read the application keys: %w", err)
	}
	next, err := concourse.GenerateKey(c.keyBits)
	if err != nil {
		return err
	}
	content := maps.Clone(keys)
	content[fieldTSAHostKeyNext] = next.PrivatePEM
	if err := c.tools.SecretSet(ctx, id, content, juju.SecretSetOptions{}); err != nil {
		return fmt.Errorf("store the new TSA host key: %w", err)
	}
	if err := c.tools.RelationSet(ctx, relID, true, map[string]string{keyTSAPublicKeyNext: next.Public}); err != nil {
		return fmt.Errorf("publish the new TSA host key: %w", err)
	}
	old := peers.app[keyTSAPublicKey]
	// This unit applies the stage now (no hook tells the leader about its own write), and a second
	// pass moves the rotation on when this unit's own worker was the only one to wait for.
	for range 2 {
		if err := c.Reconcile(ctx); err != nil {
			return fmt.Errorf("the rotation has started, but applying it on this unit failed (its next hook retries): %w", err)
		}
	}
	app, err := c.tools.RelationGet(ctx, relID, c.env.AppName(), true)
	if err != nil {
		return fmt.Errorf("read peer application data: %w", err)
	}
	results := map[string]string{
		"old-key": fingerprint(old),
		"new-key": fingerprint(next.Public),
		"stage":   map[string]string{"trust": "1/2 workers learn the new key", "switch": "2/2 webs switch to the new key", "": "done"}[rotationStage(app)],
	}
	if rotationStage(app) != "" {
		results["message"] = fmt.Sprintf("the rotation goes on in the leader's hooks as units apply it: `juju status %s` shows what it waits for", c.env.AppName())
	}
	return c.tools.ActionSet(ctx, results)
}
