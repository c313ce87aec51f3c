package service

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"time"

	"github.com/canonical/pebble/client"
	"golang.org/x/sys/unix"
)

// Install implements Manager. Pebble has no environment files, so the environment is read from
// EnvFile now and copied into the layer: a changed EnvFile needs another Install to take effect,
// and the layer now holds whatever secrets the file does. Anyone who can read the plan can read
// them, so Install refuses unless the directory holding Pebble's socket and state is private
// to its owner (0700, owned by us), which keeps other users off the API.
func (p *Pebble) Install(ctx context.Context, spec Spec) (bool, error) {
	if err := validate(spec); err != nil {
		return false, err
	}
	env, err := readEnvFile(spec.EnvFile)
	if err != nil {
		return false, fmt.Errorf("install %s: %w", spec.Name, err)
	}
	if len(env) > 0 {
		if err := checkPrivateDir(filepath.Dir(p.socket)); err != nil {
			return false, fmt.Errorf("install %s: the layer would carry %s: %w", spec.Name, spec.EnvFile, err)
		}
	}
	current, exists, err := p.planService(ctx, spec.Name)
	if err != nil {
		return false, fmt.Errorf("install %s: %w", spec.Name, err)
	}
	startup := "disabled"
	if exists && current.Startup != "" {
		startup = current.Startup
	}
	desired := renderPebbleService(spec, env, startup)
	if exists && sameService(current, desired) {
		return false, nil
	}
	if err := p.addLayer(ctx, spec.Name, desired); err != nil {
		return false, fmt.Errorf("install %s: %w", spec.Name, err)
	}
	return true, nil
}

// Enable implements Manager: startup: enabled is what Pebble starts on boot (and on replan).
func (p *Pebble) Enable(ctx context.Context, name string) error {
	if err := p.setStartup(ctx, name, "enabled"); err != nil {
		return fmt.Errorf("enable %s: %w", name, err)
	}
	return nil
}

// Disable implements Manager.
func (p *Pebble) Disable(ctx context.Context, name string) error {
	if err := p.setStartup(ctx, name, "disabled"); err != nil {
		return fmt.Errorf("disable %s: %w", name, err)
	}
	return nil
}

// Remove implements Manager as far as Pebble allows: a layer cannot delete a service from the
// plan, so Remove stops it and sets startup: disabled. The definition stays in the plan (State
// still reports it Installed) until the daemon restarts without the layer, and a later Replan
// would start it again (see Replan).
func (p *Pebble) Remove(ctx context.Context, name string) error {
	_, exists, err := p.planService(ctx, name)
	if err != nil || !exists {
		return err
	}
	if err := p.Stop(ctx, name); err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	if err := p.Disable(ctx, name); err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	return nil
}

// Start implements Manager.
func (p *Pebble) Start(ctx context.Context, name string) error {
	return p.runChange(ctx, "start", name, p.client.Start)
}

// Restart implements Manager.
func (p *Pebble) Restart(ctx context.Context, name string) error {
	return p.runChange(ctx, "restart", name, p.client.Restart)
}

// Stop implements Manager.
func (p *Pebble) Stop(ctx context.Context, name string) error {
	return p.runChange(ctx, "stop", name, p.client.Stop)
}

// Reload implements Manager with the ReloadSignal Install recorded in the service's description.
func (p *Pebble) Reload(ctx context.Context, name string) error {
	svc, exists, err := p.planService(ctx, name)
	if err != nil {
		return fmt.Errorf("reload %s: %w", name, err)
	}
	sig, ok := svc.reloadSignal()
	if !exists || !ok {
		return fmt.Errorf("reload %s: no reload signal installed", name)
	}
	return p.Signal(ctx, name, sig)
}

// Signal implements Manager. Pebble sends it to the service's main process only.
func (p *Pebble) Signal(ctx context.Context, name string, sig syscall.Signal) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("signal %s: %w", name, err)
	}
	err := p.client.SendSignal(&client.SendSignalOptions{Signal: unix.SignalName(sig), Services: []string{name}})
	if err != nil {
		return fmt.Errorf("signal %s with %s: %w", name, unix.SignalName(sig), err)
	}
	return nil
}

// State implements Manager. Pebble has no invocation ID; the time the service entered its
// current state stands in for one: a restart changes it, a signal (reload) does not.
func (p *Pebble) State(ctx context.Context, name string) (State, error) {
	if err := ctx.Err(); err != nil {
		return State{}, fmt.Errorf("state of %s: %w", name, err)
	}
	infos, err := p.client.Services(&client.ServicesOptions{Names: []string{name}})
	if err != nil {
		return State{}, fmt.Errorf("state of %s: %w", name, err)
	}
	for _, info := range infos {
		if info.Name == name {
			return State{
				Installed:    true,
				Enabled:      info.Startup == client.StartupEnabled,
				Active:       info.Current == client.StatusActive,
				Status:       string(info.Current),
				InvocationID: info.CurrentSince.UTC().Format(time.RFC3339Nano),
			}, nil
		}
	}
	return State{Status: "not-found"}, nil
}
