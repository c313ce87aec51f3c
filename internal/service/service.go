// Package service runs the charm's long-lived processes (Concourse web and worker) under a
// supervisor: systemd through its D-Bus API where systemd is PID 1, else a Pebble daemon. The
// charm describes each service as a Spec; a Manager installs it, starts, stops, reloads and
// reports it. Deciding WHEN to restart (hash of what a service runs) is the caller's job.
package service

import (
	"context"
	"syscall"
	"time"
)

// Spec describes one service. Configuration travels in EnvFile, never on the command line, so
// secrets stay out of argv and of the unit file.
type Spec struct {
	Name        string   // unit name without ".service", e.g. "concourse-web"
	Description string   //
	Exec        []string // absolute program path and arguments (no secrets)
	EnvFile     string   // absolute path of a KEY=VALUE environment file ("" for none)
	User, Group string   // "" runs as root
	WorkingDir  string   // "" for the supervisor's default

	// Stop behaviour. KillSignal is what a plain stop sends (default SIGTERM); TimeoutStop bounds
	// it before SIGKILL (0: the supervisor's default). KillProcessOnly = systemd KillMode=process:
	// only the main process gets the signal, so containers it delegates survive a worker restart.
	KillSignal      syscall.Signal
	TimeoutStop     time.Duration
	KillProcessOnly bool

	Delegate         bool           // systemd Delegate=yes (the worker manages its own cgroups)
	Unlimited        bool           // TasksMax, LimitNOFILE and LimitNPROC = infinity
	RestartOnFailure bool           // Restart=on-failure
	ReloadSignal     syscall.Signal // 0: no reload; else ExecReload sends it to the main process
	AmbientCaps      []string       // e.g. CAP_NET_BIND_SERVICE
}

// State is what the supervisor reports about a service.
type State struct {
	Installed bool
	Enabled   bool
	Active    bool   // running (systemd ActiveState=active, pebble "active")
	Status    string // the supervisor's own words: "active (running)", "failed", "inactive"...
	MainPID   int
	// InvocationID changes every time the service is (re)started and never on a reload: tests
	// and the charm use it to prove what restarted. Pebble has none; its backend synthesises
	// one from the service's current start time.
	InvocationID string
}

// Manager supervises services. Every method is idempotent: installing an identical Spec, starting
// a running service or stopping a stopped one is not an error.
type Manager interface {
	// Backend names the supervisor ("systemd" or "pebble") for logs and status.
	Backend() string
	// Install writes or updates the service definition (systemd: unit file + daemon-reload,
	// only when the content changed) and reports whether it changed.
	Install(ctx context.Context, spec Spec) (changed bool, err error)
	// Enable makes the service start at boot; Disable undoes it.
	Enable(ctx context.Context, name string) error
	Disable(ctx context.Context, name string) error
	// Start, Restart and Stop wait until the supervisor reports the job done.
	Start(ctx context.Context, name string) error
	Restart(ctx context.Context, name string) error
	Stop(ctx context.Context, name string) error
	// Reload sends the Spec's ReloadSignal without restarting (InvocationID unchanged).
	Reload(ctx context.Context, name string) error
	// Signal sends sig to the service's main process (land/retire a worker).
	Signal(ctx context.Context, name string, sig syscall.Signal) error
	// Remove stops, disables and deletes the definition.
	Remove(ctx context.Context, name string) error
	State(ctx context.Context, name string) (State, error)
	Close() error
}
