// Package engine is the simulator's controller: model operations (deploy,
// add-unit, integrate, ...) change the model state and queue hooks like
// Juju's uniter would see them; Drive runs the queued hooks on the units'
// machines, several units at once, one hook at a time per unit.
package engine

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/hooktools"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/state"
)

// Engine drives one model directory.
type Engine struct {
	ModelDir string
	// Providers by name ("local", "nspawn"); deploy --provider picks one.
	Providers map[string]jujusim.Provider
	// ToolsBinary is the multi-call jujusim binary the hook tools link to.
	ToolsBinary string
	// RetryScale multiplies Juju's hook retry delays (tests use 0.001).
	RetryScale float64
	// ExtraEnv is added to every hook's environment.
	ExtraEnv []string
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu       sync.Mutex
	machines map[string]jujusim.Machine
}

// JujuVersion is what JUJU_VERSION reports.
const JujuVersion = "3.6.0"

func (e *Engine) store() state.Store { return state.Store{Dir: e.ModelDir} }

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// Init creates the model directory, its state and the tools dir.
func (e *Engine) Init() error {
	uuid, err := newUUID()
	if err != nil {
		return err
	}
	if err := e.store().Init(filepath.Base(e.ModelDir), uuid); err != nil {
		return err
	}
	return e.linkTools()
}

func newUUID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("model uuid: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:]), nil
}

// toolsDir holds one symlink per hook tool, all to ToolsBinary. It is in the
// model dir, which every machine sees at the same path.
func (e *Engine) toolsDir() string { return filepath.Join(e.ModelDir, "tools") }

func (e *Engine) linkTools() error {
	if e.ToolsBinary == "" {
		return fmt.Errorf("no tools binary configured")
	}
	dir := e.toolsDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("tools dir: %w", err)
	}
	for _, name := range hooktools.Names() {
		link := filepath.Join(dir, name)
		if cur, err := os.Readlink(link); err == nil && cur == e.ToolsBinary {
			continue
		}
		_ = os.Remove(link)
		if err := os.Symlink(e.ToolsBinary, link); err != nil {
			return fmt.Errorf("link hook tool %s: %w", name, err)
		}
	}
	return nil
}

// machine returns the live handle for a machine recorded in the model,
// provisioning it (idempotently) through its provider.
func (e *Engine) machine(ctx context.Context, rec *state.Machine) (jujusim.Machine, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.machines == nil {
		e.machines = map[string]jujusim.Machine{}
	}
	if m, ok := e.machines[rec.ID]; ok {
		return m, nil
	}
	p, ok := e.Providers[rec.Provider]
	if !ok {
		return nil, fmt.Errorf("machine %s: unknown provider %q", rec.ID, rec.Provider)
	}
	spec := jujusim.MachineSpec{ID: rec.ID, ModelDir: e.ModelDir, ToolsBinary: e.ToolsBinary}
	for _, b := range rec.Binds {
		spec.Binds = append(spec.Binds, jujusim.Bind{HostPath: b.HostPath, Path: b.Path})
	}
	m, err := p.Provision(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("provision machine %s: %w", rec.ID, err)
	}
	e.machines[rec.ID] = m
	return m, nil
}

func (e *Engine) forgetMachine(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.machines, id)
}

// DestroyModel tears down every machine and removes the model directory.
func (e *Engine) DestroyModel(ctx context.Context) error {
	var recs []*state.Machine
	err := e.store().View(func(m *state.Model) error {
		for _, rec := range m.Machines {
			recs = append(recs, rec)
		}
		return nil
	})
	if err != nil && err != state.ErrNoModel {
		return err
	}
	var firstErr error
	for _, rec := range recs {
		mc, err := e.machine(ctx, rec)
		if err == nil {
			err = mc.Destroy(ctx)
		}
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("destroy machine %s: %w", rec.ID, err)
		}
		e.forgetMachine(rec.ID)
	}
	if firstErr != nil {
		return firstErr
	}
	if err := os.RemoveAll(e.ModelDir); err != nil {
		return fmt.Errorf("remove model dir: %w", err)
	}
	return nil
}
