// Package hooktools implements the Juju hook tools (config-get,
// relation-set, ...) over the simulator's model state, with jujuc's flags,
// output formats and error texts. cmd/jujusim calls Run when it is invoked
// under a tool's name.
package hooktools

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/state"
)

// Env is what a tool reads from its environment.
type Env struct {
	ModelDir  string // JUJUSIM_MODEL
	Unit      string // JUJU_UNIT_NAME
	ContextID string // JUJU_CONTEXT_ID
}

// Invocation is one run of a tool.
type Invocation struct {
	Env    Env
	Args   []string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// usageError makes Run exit 2, as juju/cmd does for errors found while
// parsing arguments; other errors exit 1.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

type tool struct {
	flags []flagSpec
	run   func(t *call) error
}

// call is one tool invocation with parsed flags and the loaded context.
type call struct {
	inv   Invocation
	name  string
	opts  parsed
	store state.Store
	ctx   context.Context
}

func registry() map[string]tool {
	tools := map[string]tool{}
	for _, group := range []map[string]tool{basicTools(), relationTools(), storageTools(), portTools(), actionTools(), secretTools(), leaderTools()} {
		for name, t := range group {
			tools[name] = t
		}
	}
	return tools
}

// Names lists every hook tool, for making the symlinks in the tools dir.
func Names() []string {
	var out []string
	for name := range registry() {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// IsTool reports whether name is a hook tool.
func IsTool(name string) bool {
	_, ok := registry()[name]
	return ok
}

// Run runs tool name and returns its exit code. Errors are printed like
// juju/cmd prints them: "ERROR <message>" on stderr.
func Run(ctx context.Context, name string, inv Invocation) int {
	t, ok := registry()[name]
	if !ok {
		fmt.Fprintf(inv.Stderr, "ERROR unknown hook tool %q\n", name)
		return 2
	}
	err := runTool(ctx, name, t, inv)
	if err == nil {
		return 0
	}
	fmt.Fprintf(inv.Stderr, "ERROR %v\n", err)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

func runTool(ctx context.Context, name string, t tool, inv Invocation) error {
	if inv.Env.ModelDir == "" || inv.Env.Unit == "" || inv.Env.ContextID == "" {
		return errors.New("JUJUSIM_MODEL, JUJU_UNIT_NAME and JUJU_CONTEXT_ID must be set (run inside a hook)")
	}
	if inv.Stdin == nil {
		inv.Stdin = strings.NewReader("")
	}
	opts, err := parseArgs(inv.Args, t.flags)
	if err != nil {
		return err
	}
	c := &call{inv: inv, name: name, opts: opts, store: state.Store{Dir: inv.Env.ModelDir}, ctx: ctx}
	return t.run(c)
}

// hookContext finds the caller's context; the unit in the environment must
// be the unit the context was made for.
func (c *call) hookContext(m *state.Model) (*state.HookContext, *state.Unit, error) {
	hc, ok := m.Contexts[c.inv.Env.ContextID]
	if !ok || hc.Unit != c.inv.Env.Unit {
		return nil, nil, fmt.Errorf("bad request: unknown context %q", c.inv.Env.ContextID)
	}
	u, ok := m.Units[hc.Unit]
	if !ok {
		return nil, nil, fmt.Errorf("unit %q not found", hc.Unit)
	}
	return hc, u, nil
}

// view runs fn with the caller's context on a snapshot of the model.
func (c *call) view(fn func(m *state.Model, hc *state.HookContext, u *state.Unit) error) error {
	return c.store.View(func(m *state.Model) error {
		hc, u, err := c.hookContext(m)
		if err != nil {
			return err
		}
		return fn(m, hc, u)
	})
}

// update runs fn with the caller's context and saves the model.
func (c *call) update(fn func(m *state.Model, hc *state.HookContext, u *state.Unit) error) error {
	return c.store.Update(func(m *state.Model) error {
		hc, u, err := c.hookContext(m)
		if err != nil {
			return err
		}
		return fn(m, hc, u)
	})
}

func (c *call) isLeader(m *state.Model, u *state.Unit) bool {
	app := m.Applications[u.App]
	return app != nil && app.Leader == u.Name
}

// write prints v in the format chosen with --format (default smart).
func (c *call) write(v any) error {
	return writeFormatted(c.inv.Stdout, c.opts.str("format", "smart"), v)
}

func checkEmpty(args []string) error {
	if len(args) > 0 {
		return usagef("unrecognized args: %s", quoteList(args))
	}
	return nil
}

// quoteList renders a []string as Go's %q does: ["a" "b"].
func quoteList(args []string) string {
	return fmt.Sprintf("%q", args)
}
