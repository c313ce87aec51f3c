package service

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/canonical/pebble/client"
)

// PebbleOptions says which Pebble daemon to drive.
type PebbleOptions struct {
	// Socket is the daemon's API socket. "" means $PEBBLE/.pebble.socket.
	Socket string
}

// Pebble is a Manager over a Pebble daemon, for machines where systemd is not PID 1 (containers).
// Each service lives in its own layer, labelled "charm-<name>", which Install replaces whole.
//
// What Pebble cannot do, and this backend therefore does not pretend to:
//   - KillSignal and KillProcessOnly: a stop always sends SIGTERM to the service's whole process
//     group, then SIGKILL after kill-delay (= TimeoutStop).
//   - Delegate, Unlimited and AmbientCaps have no Pebble equivalent and are ignored.
//   - Pebble has no environment files: Install copies EnvFile into the layer (see Install).
//   - State.MainPID is 0 (Pebble does not report it) and InvocationID is synthesised.
//   - Remove cannot delete a service from the plan (see Remove).
type Pebble struct {
	client *client.Client
	socket string
}

var _ Manager = (*Pebble)(nil)

// NewPebble connects to the daemon and checks that it answers.
func NewPebble(ctx context.Context, opts PebbleOptions) (*Pebble, error) {
	socket, err := pebbleSocket(opts.Socket)
	if err != nil {
		return nil, err
	}
	c, err := client.New(&client.Config{Socket: socket})
	if err != nil {
		return nil, fmt.Errorf("pebble client for %s: %w", socket, err)
	}
	p := &Pebble{client: c, socket: socket}
	if err := p.ping(ctx); err != nil {
		c.CloseIdleConnections()
		return nil, err
	}
	return p, nil
}

func pebbleSocket(socket string) (string, error) {
	if socket != "" {
		return socket, nil
	}
	dir := os.Getenv("PEBBLE")
	if dir == "" {
		return "", fmt.Errorf("pebble: no socket given and $PEBBLE is not set")
	}
	return filepath.Join(dir, ".pebble.socket"), nil
}

// ping asks the daemon for its system info: the cheapest request that proves it is Pebble and
// that it answers.
func (p *Pebble) ping(ctx context.Context) error {
	_, err := p.client.Requester().Do(ctx, &client.RequestOptions{
		Type: client.SyncRequest, Method: "GET", Path: "/v1/system-info",
	})
	if err != nil {
		return fmt.Errorf("pebble at %s: %w", p.socket, err)
	}
	return nil
}

// Backend implements Manager.
func (p *Pebble) Backend() string { return "pebble" }

// Close implements Manager.
func (p *Pebble) Close() error {
	p.client.CloseIdleConnections()
	return nil
}

func layerLabel(name string) string { return "charm-" + name }
