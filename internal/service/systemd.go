package service

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
)

// SystemdOptions says which systemd manager to drive and where its unit files live.
type SystemdOptions struct {
	// Socket is the manager's private D-Bus socket. "" means /run/systemd/private (PID 1), or
	// $XDG_RUNTIME_DIR/systemd/private when User is set.
	Socket string
	// UnitDir is where Install writes unit files. It must be in the manager's search path.
	// "" means /etc/systemd/system, or $XDG_CONFIG_HOME/systemd/user (~/.config/...) when User.
	UnitDir string
	// User says the manager is a user instance (systemd --user): units are wanted by
	// default.target, since a user manager has no multi-user.target.
	User bool
}

// Systemd is a Manager over one systemd instance's D-Bus API, talked to directly on its private
// socket: no dbus-daemon is needed, which matters on minimal machines and early in boot.
type Systemd struct {
	conn     *sddbus.Conn
	unitDir  string
	wantedBy string
}

var _ Manager = (*Systemd)(nil)

// NewSystemd connects to the manager opts describes. Close releases the connection.
func NewSystemd(ctx context.Context, opts SystemdOptions) (*Systemd, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	conn, err := sddbus.NewConnection(privateDialer(ctx, opts.Socket))
	if err != nil {
		return nil, fmt.Errorf("connect to systemd at %s: %w", opts.Socket, err)
	}
	wantedBy := "multi-user.target"
	if opts.User {
		wantedBy = "default.target"
	}
	return &Systemd{conn: conn, unitDir: opts.UnitDir, wantedBy: wantedBy}, nil
}

func (o SystemdOptions) withDefaults() (SystemdOptions, error) {
	if !o.User {
		if o.Socket == "" {
			o.Socket = "/run/systemd/private"
		}
		if o.UnitDir == "" {
			o.UnitDir = "/etc/systemd/system"
		}
		return o, nil
	}
	if o.Socket == "" {
		runtime := os.Getenv("XDG_RUNTIME_DIR")
		if runtime == "" {
			return o, fmt.Errorf("systemd user manager: XDG_RUNTIME_DIR is not set and no socket given")
		}
		o.Socket = filepath.Join(runtime, "systemd", "private")
	}
	if o.UnitDir == "" {
		config, err := os.UserConfigDir() // $XDG_CONFIG_HOME, else ~/.config
		if err != nil {
			return o, fmt.Errorf("systemd user manager unit dir: %w", err)
		}
		o.UnitDir = filepath.Join(config, "systemd", "user")
	}
	return o, nil
}

// Backend implements Manager.
func (s *Systemd) Backend() string { return "systemd" }

// Close implements Manager.
func (s *Systemd) Close() error {
	s.conn.Close()
	return nil
}

func unitName(name string) string { return name + ".service" }

func (s *Systemd) unitPath(name string) string { return filepath.Join(s.unitDir, unitName(name)) }
