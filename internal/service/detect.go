package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// DetectOptions says where to look for a supervisor. Zero values are the real machine's paths.
type DetectOptions struct {
	// SystemdMarker exists when systemd booted the machine; "" means /run/systemd/system (the
	// test sd_booted(3) uses).
	SystemdMarker string
	// Systemd is passed to NewSystemd when systemd is chosen.
	Systemd SystemdOptions
	// PebbleSocket is probed when systemd is not found; "" means $PEBBLE/.pebble.socket.
	PebbleSocket string
	// ProbeTimeout bounds each probe (default 5s), so a hung socket cannot eat a whole hook.
	ProbeTimeout time.Duration
}

// Detected is the Manager Detect chose, with why, for the charm to juju-log.
type Detected struct {
	Manager
	Reason string
}

// Detect picks systemd when it is PID 1 (its marker exists and its private socket answers),
// else a Pebble daemon whose socket answers. The marker alone is not trusted: it is a plain
// directory anything can create, and a container may inherit one without systemd running.
func Detect(ctx context.Context, opts DetectOptions) (*Detected, error) {
	opts = opts.withDefaults()
	systemd, sdReason := detectSystemd(ctx, opts)
	if systemd != nil {
		return &Detected{Manager: systemd, Reason: sdReason}, nil
	}
	pebble, pbReason := detectPebble(ctx, opts)
	if pebble != nil {
		return &Detected{Manager: pebble, Reason: pbReason + " (" + sdReason + ")"}, nil
	}
	return nil, errors.New("no service supervisor found: " + sdReason + "; " + pbReason)
}

func (o DetectOptions) withDefaults() DetectOptions {
	if o.SystemdMarker == "" {
		o.SystemdMarker = "/run/systemd/system"
	}
	if o.ProbeTimeout <= 0 {
		o.ProbeTimeout = 5 * time.Second
	}
	return o
}

func detectSystemd(ctx context.Context, opts DetectOptions) (*Systemd, string) {
	if _, err := os.Stat(opts.SystemdMarker); err != nil {
		return nil, fmt.Sprintf("systemd: not booted by systemd (%v)", err)
	}
	sdOpts, err := opts.Systemd.withDefaults()
	if err != nil {
		return nil, "systemd: " + err.Error()
	}
	ctx, cancel := context.WithTimeout(ctx, opts.ProbeTimeout)
	defer cancel()
	m, err := NewSystemd(ctx, sdOpts)
	if err != nil {
		return nil, fmt.Sprintf("systemd: %s exists but %v", opts.SystemdMarker, err)
	}
	return m, fmt.Sprintf("systemd: %s exists and %s answers", opts.SystemdMarker, sdOpts.Socket)
}

func detectPebble(ctx context.Context, opts DetectOptions) (*Pebble, string) {
	socket, err := pebbleSocket(opts.PebbleSocket)
	if err != nil {
		return nil, err.Error()
	}
	if _, err := os.Stat(socket); err != nil {
		return nil, fmt.Sprintf("pebble: no socket (%v)", err)
	}
	ctx, cancel := context.WithTimeout(ctx, opts.ProbeTimeout)
	defer cancel()
	m, err := NewPebble(ctx, PebbleOptions{Socket: socket})
	if err != nil {
		return nil, "pebble: " + err.Error()
	}
	return m, "pebble: " + filepath.Clean(socket) + " answers"
}
