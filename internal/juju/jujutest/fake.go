// Package jujutest provides a recording fake of juju.Runner for tests of
// code that calls hook tools.
package jujutest

import (
	"context"
	"slices"
	"sync"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
)

// Call is one recorded hook-tool invocation.
type Call struct {
	Name  string
	Args  []string
	Stdin []byte // nil when the caller sent no input
}

// Handler computes a response from the call itself; tests use it to look at
// a file the caller names while the call is under way, or to answer from
// their own model state.
type Handler func(Call) ([]byte, error)

type rule struct {
	args    []string // nil: any arguments
	handler Handler
}

// Runner is a fake juju.Runner. It records every call and answers from
// programmed rules: the most recently programmed rule whose arguments match
// exactly wins, then the most recent rule for the tool with any arguments,
// then the default: success with empty output. Safe for concurrent use.
type Runner struct {
	mu    sync.Mutex
	calls []Call
	rules map[string][]rule
}

var _ juju.Runner = (*Runner)(nil)

// New returns a Runner with no rules.
func New() *Runner {
	return &Runner{rules: map[string][]rule{}}
}

// Handle answers calls to tool name with h.
func (r *Runner) Handle(name string, h Handler) {
	r.add(name, nil, h)
}

// HandleArgs answers calls to tool name with exactly args with h.
func (r *Runner) HandleArgs(name string, args []string, h Handler) {
	r.add(name, append([]string{}, args...), h)
}

// SetOutput makes tool name print stdout, whatever its arguments.
func (r *Runner) SetOutput(name, stdout string) {
	r.Handle(name, output(stdout))
}

// SetOutputFor makes tool name print stdout when called with exactly args.
func (r *Runner) SetOutputFor(name string, args []string, stdout string) {
	r.HandleArgs(name, args, output(stdout))
}

// SetError makes tool name fail with exitCode and stderr, whatever its
// arguments, as a *juju.ToolError like the real runner returns.
func (r *Runner) SetError(name string, exitCode int, stderr string) {
	r.Handle(name, failure(exitCode, stderr))
}

// SetErrorFor is SetError for calls with exactly args.
func (r *Runner) SetErrorFor(name string, args []string, exitCode int, stderr string) {
	r.HandleArgs(name, args, failure(exitCode, stderr))
}

func output(stdout string) Handler {
	return func(Call) ([]byte, error) { return []byte(stdout), nil }
}

func failure(exitCode int, stderr string) Handler {
	return func(c Call) ([]byte, error) {
		return nil, &juju.ToolError{Tool: c.Name, Args: c.Args, ExitCode: exitCode, Stderr: stderr}
	}
}

func (r *Runner) add(name string, args []string, h Handler) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rules[name] = append(r.rules[name], rule{args: args, handler: h})
}

// Run records the call and answers it. A cancelled ctx fails the call like
// the real runner would, after recording it.
func (r *Runner) Run(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	call := Call{Name: name, Args: append([]string{}, args...)}
	if stdin != nil {
		call.Stdin = append([]byte{}, stdin...)
	}
	h := r.record(call)
	if err := ctx.Err(); err != nil {
		return nil, &juju.ToolError{Tool: name, Args: call.Args, ExitCode: -1, Err: err}
	}
	if h == nil {
		return nil, nil
	}
	// The handler runs unlocked so it may call back into the Runner.
	return h(call)
}

func (r *Runner) record(call Call) Handler {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call)
	rules := r.rules[call.Name]
	for i := len(rules) - 1; i >= 0; i-- {
		if rules[i].args != nil && slices.Equal(rules[i].args, call.Args) {
			return rules[i].handler
		}
	}
	for i := len(rules) - 1; i >= 0; i-- {
		if rules[i].args == nil {
			return rules[i].handler
		}
	}
	return nil
}

// Calls returns the recorded calls to tool name in order; "" returns all.
// The result is a copy.
func (r *Runner) Calls(name string) []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Call
	for _, c := range r.calls {
		if name == "" || c.Name == name {
			out = append(out, Call{
				Name:  c.Name,
				Args:  append([]string{}, c.Args...),
				Stdin: append([]byte(nil), c.Stdin...),
			})
		}
	}
	return out
}

// Argv returns every recorded call as its full command line (tool name
// first), for compact assertions.
func (r *Runner) Argv() [][]string {
	calls := r.Calls("")
	out := make([][]string, len(calls))
	for i, c := range calls {
		out[i] = append([]string{c.Name}, c.Args...)
	}
	return out
}

// Reset forgets the recorded calls; rules stay.
func (r *Runner) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = nil
}
