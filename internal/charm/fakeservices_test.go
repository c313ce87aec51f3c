package charm

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"syscall"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/service"
)

// fakeServices is a supervisor in memory: it keeps each service's spec and state, and counts
// (re)starts in InvocationID as systemd does, so tests see what was restarted or reloaded.
type fakeServices struct {
	mu       sync.Mutex
	specs    map[string]service.Spec
	states   map[string]service.State
	reloads  map[string]int
	signals  map[string][]syscall.Signal
	starts   int
	failNext map[string]string // name -> status to report instead of running after a start
	// ignores: signals a service does not exit on (a worker whose builds outlive its drain bound
	// ignores SIGUSR1 and SIGUSR2; a hung one SIGTERM too). SIGKILL always ends it.
	ignores map[string][]syscall.Signal
}

func newFakeServices() *fakeServices {
	return &fakeServices{specs: map[string]service.Spec{}, states: map[string]service.State{},
		reloads: map[string]int{}, signals: map[string][]syscall.Signal{}, failNext: map[string]string{},
		ignores: map[string][]syscall.Signal{}}
}

func (f *fakeServices) Backend() string { return "fake" }
func (f *fakeServices) Close() error    { return nil }

func (f *fakeServices) Install(_ context.Context, spec service.Spec) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, had := f.specs[spec.Name]
	f.specs[spec.Name] = spec
	st := f.states[spec.Name]
	st.Installed = true
	f.states[spec.Name] = st
	return !had, nil
}

func (f *fakeServices) set(name string, fn func(*service.State)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.states[name]
	if !ok || !st.Installed {
		return fmt.Errorf("unit %s.service not found", name)
	}
	fn(&st)
	f.states[name] = st
	return nil
}

func (f *fakeServices) Enable(_ context.Context, name string) error {
	return f.set(name, func(s *service.State) { s.Enabled = true })
}
func (f *fakeServices) Disable(_ context.Context, name string) error {
	return f.set(name, func(s *service.State) { s.Enabled = false })
}
func (f *fakeServices) Start(ctx context.Context, name string) error {
	return f.set(name, func(s *service.State) {
		if !s.Active {
			f.run(name, s)
		}
	})
}
func (f *fakeServices) Restart(_ context.Context, name string) error {
	return f.set(name, func(s *service.State) { f.run(name, s) })
}

// run starts the service: a new invocation, or the failure a test asked for.
func (f *fakeServices) run(name string, s *service.State) {
	f.starts++
	s.InvocationID = fmt.Sprintf("inv-%d", f.starts)
	s.Active, s.Status = true, "active (running)"
	if status, ok := f.failNext[name]; ok {
		s.Active, s.Status = false, status
	}
}

func (f *fakeServices) Stop(_ context.Context, name string) error {
	return f.set(name, func(s *service.State) { s.Active, s.Status = false, "inactive (dead)" })
}
func (f *fakeServices) Reload(_ context.Context, name string) error {
	f.mu.Lock()
	f.reloads[name]++
	f.mu.Unlock()
	return nil
}
func (f *fakeServices) Signal(_ context.Context, name string, sig syscall.Signal) error {
	f.mu.Lock()
	f.signals[name] = append(f.signals[name], sig)
	ignored := sig != syscall.SIGKILL && slices.Contains(f.ignores[name], sig)
	f.mu.Unlock()
	switch {
	case ignored:
		return nil
	case sig == syscall.SIGUSR1 || sig == syscall.SIGUSR2 || sig == syscall.SIGTERM || sig == syscall.SIGKILL:
		// land, retire, stop: the worker drains (instantly here) and exits
		return f.set(name, func(s *service.State) { s.Active, s.Status = false, "inactive (dead)" })
	}
	return nil
}
func (f *fakeServices) Remove(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.specs, name)
	delete(f.states, name)
	return nil
}
func (f *fakeServices) State(_ context.Context, name string) (service.State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.states[name], nil
}

// snapshot returns the state of a service.
func (f *fakeServices) snapshot(name string) service.State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.states[name]
}

// signalsOf returns the signals sent to a service.
func (f *fakeServices) signalsOf(name string) []syscall.Signal {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]syscall.Signal(nil), f.signals[name]...)
}
