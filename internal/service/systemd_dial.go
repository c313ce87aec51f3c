package service

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/godbus/dbus/v5"
)

// privateDialer returns the dial function go-systemd wants (it dials twice: one connection for
// calls, one for job signals). It connects to socket itself, rather than through
// dbus.NewSystemdConnectionContext, so any manager's private socket works, a user manager's
// included. ctx bounds connecting and authenticating only: handing it to godbus would close
// the connection when ctx ends, long before the Manager is closed.
func privateDialer(ctx context.Context, socket string) func() (*dbus.Conn, error) {
	return func() (*dbus.Conn, error) {
		var d net.Dialer
		raw, err := d.DialContext(ctx, "unix", socket)
		if err != nil {
			return nil, err
		}
		conn, err := authenticate(ctx, raw)
		if err != nil {
			raw.Close()
			return nil, fmt.Errorf("authenticate on %s: %w", socket, err)
		}
		return conn, nil
	}
}

// authenticate runs the D-Bus EXTERNAL handshake under ctx's deadline. The private socket is
// systemd itself, not a bus daemon, so there is no Hello to send.
func authenticate(ctx context.Context, raw net.Conn) (*dbus.Conn, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(30 * time.Second) // a manager that accepts but never answers
	}
	if err := raw.SetDeadline(deadline); err != nil {
		return nil, err
	}
	conn, err := dbus.NewConn(raw)
	if err != nil {
		return nil, err
	}
	if err := conn.Auth([]dbus.Auth{dbus.AuthExternal(strconv.Itoa(os.Getuid()))}); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, raw.SetDeadline(time.Time{})
}
