package main

import (
	"context"
	"path/filepath"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/machine"
)

// nspawnProvider adapts internal/jujusim/machine (which does not import the
// simulator core) to jujusim.Provider, making Provision idempotent across
// CLI processes with machine.Open.
type nspawnProvider struct {
	modelDir string
}

func (n nspawnProvider) stateDir() string { return filepath.Join(n.modelDir, "nspawn") }

func (n nspawnProvider) Provision(ctx context.Context, spec jujusim.MachineSpec) (jujusim.Machine, error) {
	if m, err := machine.Open(n.stateDir(), spec.ID); err == nil {
		return nspawnMachine{m}, nil
	}
	p, err := machine.NewProvider(machine.Options{StateDir: n.stateDir()})
	if err != nil {
		return nil, err
	}
	ms := machine.Spec{ID: spec.ID, ModelDir: spec.ModelDir, ToolsBinary: spec.ToolsBinary}
	for _, b := range spec.Binds {
		ms.Binds = append(ms.Binds, machine.Bind{HostPath: b.HostPath, Path: b.Path})
	}
	m, err := p.Provision(ctx, ms)
	if err != nil {
		return nil, err
	}
	return nspawnMachine{m}, nil
}

type nspawnMachine struct{ *machine.Machine }

func (m nspawnMachine) Exec(ctx context.Context, c jujusim.Cmd) ([]byte, int, error) {
	return m.Machine.Exec(ctx, machine.Cmd{Argv: c.Argv, Env: c.Env, Dir: c.Dir, Stdin: c.Stdin})
}
