package service

import (
	"context"
	"fmt"

	"github.com/canonical/pebble/client"
)

// serviceAction is the shape of the client's Start, Stop and Restart.
type serviceAction func(*client.ServiceOptions) (string, error)

// runChange asks Pebble for a change and waits until it is ready.
func (p *Pebble) runChange(ctx context.Context, verb, name string, action serviceAction) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %s: %w", verb, name, err)
	}
	id, err := action(&client.ServiceOptions{Names: []string{name}})
	if err != nil {
		return fmt.Errorf("%s %s: %w", verb, name, err)
	}
	change, err := p.waitChange(ctx, id)
	if err != nil {
		return fmt.Errorf("%s %s: waiting for change %s: %w", verb, name, id, err)
	}
	if change.Err != "" {
		return fmt.Errorf("%s %s: change %s %s: %s", verb, name, id, change.Status, change.Err)
	}
	return nil
}

// waitChange is client.WaitChange with ctx: the client's own call waits under
// context.Background, so a hook that must give up could not. This is the same request, made
// through the client's Requester, which does take a context.
func (p *Pebble) waitChange(ctx context.Context, id string) (*client.Change, error) {
	resp, err := p.client.Requester().Do(ctx, &client.RequestOptions{
		Type: client.SyncRequest, Method: "GET", Path: "/v1/changes/" + id + "/wait",
	})
	if err != nil {
		return nil, err
	}
	var change client.Change
	if err := resp.DecodeResult(&change); err != nil {
		return nil, err
	}
	return &change, nil
}

// Replan makes the daemon match its plan: it starts the services with startup: enabled and
// restarts those whose definition changed since they started. It is Pebble's counterpart of
// booting, for a charm that has just enabled its services in a fresh container.
//
// Beware: "changed since they started" includes stopped services, so a replan also starts a
// service that was Removed (its startup changed) or re-Installed while stopped. Its scope is
// the whole daemon, not one service, which is why it is not part of Manager.
func (p *Pebble) Replan(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("replan: %w", err)
	}
	id, err := p.client.Replan(&client.ServiceOptions{})
	if err != nil {
		return fmt.Errorf("replan: %w", err)
	}
	change, err := p.waitChange(ctx, id)
	if err != nil {
		return fmt.Errorf("replan: waiting for change %s: %w", id, err)
	}
	if change.Err != "" {
		return fmt.Errorf("replan: change %s %s: %s", id, change.Status, change.Err)
	}
	return nil
}
