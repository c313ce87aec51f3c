package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
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

// machinesDir is beside the model dir, never inside it: the model dir is
// bind-mounted into every machine, and machine roots inside it would let each
// machine see (and pin the mounts of) every other machine.
func machinesDir(modelDir string) string {
	clean := filepath.Clean(modelDir)
	return filepath.Join(filepath.Dir(clean), filepath.Base(clean)+".machines")
}

func (n nspawnProvider) Provision(ctx context.Context, spec jujusim.MachineSpec) (jujusim.Machine, error) {
	stateDir := machinesDir(n.modelDir)
	if m, err := machine.Open(stateDir, spec.ID); err == nil {
		return nspawnMachine{m}, nil
	}
	p, err := machine.NewProvider(machine.Options{StateDir: stateDir})
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

// cleanupMachines tears down whatever nspawn machines of the model are still
// recorded (after a crash, or machines the model no longer knows) and removes
// their state dir.
func cleanupMachines(ctx context.Context, modelDir string) error {
	stateDir := machinesDir(modelDir)
	if _, err := os.Stat(stateDir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := machine.Cleanup(ctx, stateDir); err != nil {
		return err
	}
	return os.RemoveAll(stateDir)
}

type nspawnMachine struct{ *machine.Machine }

func (m nspawnMachine) Exec(ctx context.Context, c jujusim.Cmd) ([]byte, int, error) {
	return m.Machine.Exec(ctx, machine.Cmd{Argv: c.Argv, Env: c.Env, Dir: c.Dir, Stdin: c.Stdin})
}

// AddBind implements jujusim.Binder (storage-add on a running machine).
func (m nspawnMachine) AddBind(ctx context.Context, b jujusim.Bind) error {
	return m.Machine.AddBind(ctx, machine.Bind{HostPath: b.HostPath, Path: b.Path})
}
