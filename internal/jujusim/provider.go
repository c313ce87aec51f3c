// Package jujusim holds the seams of the Juju model simulator: the Provider
// that gives each unit a machine, and a LocalProvider whose machines are plain
// directories on the host. The simulator engine lives in jujusim/engine, the
// hook tools in jujusim/hooktools and the model state in jujusim/state.
package jujusim

import "context"

// Cmd is one command to run on a machine.
type Cmd struct {
	Argv  []string
	Env   []string // KEY=VALUE; the whole environment, nothing is inherited
	Dir   string   // working directory as seen on the machine
	Stdin []byte
}

// Bind makes HostPath visible at Path inside a machine (a bind mount, like an
// LXD disk device).
type Bind struct {
	HostPath string
	Path     string
}

// MachineSpec describes a machine to provision. ModelDir and ToolsBinary
// must be visible at the same path inside the machine, like Juju's tools dir.
type MachineSpec struct {
	ID          string
	ModelDir    string
	ToolsBinary string
	Binds       []Bind
}

// Provider provisions machines for units. The simulator CLI runs one process
// per command, so Provision must be idempotent: provisioning an ID that
// already exists in spec.ModelDir returns that machine, running and unchanged.
type Provider interface {
	Provision(ctx context.Context, spec MachineSpec) (Machine, error)
}

// Machine is one provisioned machine.
type Machine interface {
	ID() string
	// Address is the private address reported by unit-get and network-get.
	Address() string
	// Exec runs cmd and returns its combined stdout and stderr and its exit
	// code. err is only for failures to run the command at all.
	Exec(ctx context.Context, cmd Cmd) (output []byte, exitCode int, err error)
	// CopyIn copies a host file or directory tree to machinePath.
	CopyIn(ctx context.Context, hostPath, machinePath string) error
	Destroy(ctx context.Context) error
}

// PathMapper is implemented by machines whose processes do not see machine
// paths at their nominal place (the LocalProvider runs processes on the host,
// so "/var/lib/x" of machine 0 is really "<machine root>/var/lib/x").
// Machines that do not implement it see paths unchanged.
type PathMapper interface {
	MachinePath(path string) string
}

// Binder is implemented by machines that can gain a bind mount after they
// were provisioned (used by storage-add).
type Binder interface {
	AddBind(ctx context.Context, b Bind) error
}

// MachinePath returns where processes on m see the nominal machine path p.
func MachinePath(m Machine, p string) string {
	if pm, ok := m.(PathMapper); ok {
		return pm.MachinePath(p)
	}
	return p
}
