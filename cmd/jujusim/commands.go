package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/engine"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/state"
)

type command func(ctx context.Context, e *engine.Engine, args []string, stdout, stderr io.Writer) error

var commands = map[string]command{
	"deploy":          cmdDeploy,
	"add-unit":        cmdAddUnit,
	"remove-unit":     cmdRemoveUnit,
	"config":          cmdConfig,
	"integrate":       cmdIntegrate,
	"relate":          cmdIntegrate,
	"remove-relation": cmdRemoveRelation,
	"run":             cmdRun,
	"attach-resource": cmdAttachResource,
	"refresh":         cmdRefresh,
	"status":          cmdStatus,
	"set-leader":      oneUnit(func(e *engine.Engine, u string) error { return e.SetLeader(u) }),
	"kill-agent":      oneUnit(func(e *engine.Engine, u string) error { return e.KillAgent(u) }),
	"resolve":         cmdResolve,
	"resolved":        cmdResolve,
	"update-status":   cmdUpdateStatus,
	"wait":            cmdWait,
	"controller":      cmdController,
	"debug-log":       cmdDebugLog,
	"destroy-model":   cmdDestroyModel,
	"exec":            cmdExec,
}

// cmdExec is `juju exec --unit U -- cmd args...`: the command's output is printed and its exit
// code becomes jujusim's.
func cmdExec(ctx context.Context, e *engine.Engine, args []string, stdout, _ io.Writer) error {
	o, err := parseOpts(args, map[string]string{"u|unit": "string"})
	if err != nil {
		return err
	}
	unit := o.str("unit", "")
	if unit == "" || len(o.args) == 0 {
		return errors.New("usage: jujusim exec --unit UNIT -- COMMAND [ARGS...]")
	}
	out, code, err := e.Exec(ctx, unit, o.args)
	if err != nil {
		return err
	}
	stdout.Write(out)
	if code != 0 {
		return &exitError{code: code}
	}
	return nil
}

func wantArgs(o opts, min, max int, usage string) error {
	if len(o.args) < min || max >= 0 && len(o.args) > max {
		return fmt.Errorf("usage: jujusim %s", usage)
	}
	return nil
}

func cmdDeploy(_ context.Context, e *engine.Engine, args []string, stdout, _ io.Writer) error {
	o, err := parseOpts(args, map[string]string{"n|num-units": "string", "config": "string", "storage": "string", "shared-dir": "string", "provider": "string"})
	if err != nil {
		return err
	}
	if err := wantArgs(o, 1, 2, "deploy CHARM [APP] [-n N] ..."); err != nil {
		return err
	}
	n, err := o.integer("num-units", 1)
	if err != nil {
		return err
	}
	a := engine.DeployArgs{CharmPath: o.args[0], NumUnits: n, Provider: o.str("provider", "local"), Storage: map[string]string{}}
	if len(o.args) == 2 {
		a.App = o.args[1]
	}
	if a.Config, err = keyValues(o.vals["config"]); err != nil {
		return err
	}
	if a.Storage, err = keyValues(o.vals["storage"]); err != nil {
		return err
	}
	if a.Binds, err = sharedDirs(o.vals["shared-dir"]); err != nil {
		return err
	}
	if err := e.Deploy(a); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Deployed %s (%d units)\n", a.CharmPath, n)
	return nil
}

// sharedDirs parses --shared-dir HOST_DIR:MOUNT_PATH values, creating the host directories.
func sharedDirs(values []string) ([]state.Bind, error) {
	var binds []state.Bind
	for _, sd := range values {
		host, mount, ok := strings.Cut(sd, ":")
		if !ok || !filepath.IsAbs(host) || !filepath.IsAbs(mount) {
			return nil, fmt.Errorf("--shared-dir wants HOST_DIR:MOUNT_PATH with absolute paths, got %q", sd)
		}
		if err := os.MkdirAll(host, 0o755); err != nil {
			return nil, fmt.Errorf("shared dir: %w", err)
		}
		binds = append(binds, state.Bind{HostPath: host, Path: mount})
	}
	return binds, nil
}

func cmdAddUnit(_ context.Context, e *engine.Engine, args []string, stdout, _ io.Writer) error {
	o, err := parseOpts(args, map[string]string{"n|num-units": "string", "attach-storage": "string", "shared-dir": "string"})
	if err != nil {
		return err
	}
	if err := wantArgs(o, 1, 1, "add-unit APP [-n N] [--attach-storage ID] [--shared-dir HOST_DIR:MOUNT_PATH]"); err != nil {
		return err
	}
	n, err := o.integer("num-units", 1)
	if err != nil {
		return err
	}
	var attach []string
	for _, v := range o.vals["attach-storage"] {
		attach = append(attach, strings.Split(v, ",")...)
	}
	// --shared-dir here is the simulator's stand-in for giving these machines' containers other
	// disk devices than the application's first units (Juju's add-unit has no such flag).
	binds, err := sharedDirs(o.vals["shared-dir"])
	if err != nil {
		return err
	}
	units, err := e.AddUnits(o.args[0], engine.AddUnitArgs{N: n, Attach: attach, Binds: binds})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, strings.Join(units, "\n"))
	return nil
}

func cmdRemoveUnit(_ context.Context, e *engine.Engine, args []string, stdout, _ io.Writer) error {
	o, err := parseOpts(args, map[string]string{"no-destroy-storage": "bool", "destroy-storage": "bool"})
	if err != nil {
		return err
	}
	if err := wantArgs(o, 1, -1, "remove-unit UNIT... [--no-destroy-storage]"); err != nil {
		return err
	}
	for _, u := range o.args {
		if err := e.RemoveUnit(u, !o.bools["no-destroy-storage"]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removing unit %s\n", u)
	}
	return nil
}

func cmdConfig(_ context.Context, e *engine.Engine, args []string, stdout, _ io.Writer) error {
	o, err := parseOpts(args, map[string]string{"reset": "string", "format": "string"})
	if err != nil {
		return err
	}
	if err := wantArgs(o, 1, -1, "config APP [KEY | k=v ...] [--reset KEY]"); err != nil {
		return err
	}
	app, rest := o.args[0], o.args[1:]
	if len(rest) == 1 && !strings.Contains(rest[0], "=") {
		cfg, err := e.Config(app)
		if err != nil {
			return err
		}
		opt, ok := cfg[rest[0]]
		if !ok {
			return fmt.Errorf("key %q not found in %q application config or charm settings", rest[0], app)
		}
		if opt.Value != nil {
			fmt.Fprintln(stdout, opt.Value)
		}
		return nil
	}
	var reset []string
	for _, r := range o.vals["reset"] {
		reset = append(reset, strings.Split(r, ",")...)
	}
	if len(rest) == 0 && len(reset) == 0 {
		cfg, err := e.Config(app)
		if err != nil {
			return err
		}
		return writeAs(stdout, o.str("format", "yaml"), map[string]any{"application": app, "settings": cfg})
	}
	kv, err := keyValues(rest)
	if err != nil {
		return err
	}
	return e.SetConfig(app, kv, reset)
}

func cmdIntegrate(_ context.Context, e *engine.Engine, args []string, _, _ io.Writer) error {
	if len(args) != 2 {
		return errors.New("usage: jujusim integrate A[:endpoint] B[:endpoint]")
	}
	return e.Integrate(args[0], args[1])
}

func cmdRemoveRelation(_ context.Context, e *engine.Engine, args []string, _, _ io.Writer) error {
	if len(args) != 2 {
		return errors.New("usage: jujusim remove-relation A[:endpoint] B[:endpoint]")
	}
	return e.RemoveRelation(args[0], args[1])
}

// cmdRun queues the action and drives the model until it finished (or,
// when a controller drives the model, waits for it), then prints its
// results like `juju run`.
func cmdRun(ctx context.Context, e *engine.Engine, args []string, stdout, stderr io.Writer) error {
	o, err := parseOpts(args, map[string]string{"format": "string", "wait": "string"})
	if err != nil {
		return err
	}
	if err := wantArgs(o, 2, -1, "run UNIT ACTION [k=v ...]"); err != nil {
		return err
	}
	params, err := keyValues(o.args[2:])
	if err != nil {
		return err
	}
	id, err := e.EnqueueAction(o.args[0], o.args[1], params)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "Running operation %s with 1 task\n  - task %s on %s\n\nWaiting for task %s...\n", id, id, state.UnitTag(o.args[0]), id)
	done := func(m *state.Model) bool {
		a := m.Actions[id]
		return a != nil && (a.Status == "completed" || a.Status == "failed")
	}
	if err := driveOrPoll(ctx, e, engine.DriveOptions{Until: done, MaxRetries: 0}, done); err != nil {
		var he *engine.HookError
		if !errors.As(err, &he) {
			return err
		}
	}
	a, err := e.Action(id)
	if err != nil {
		return err
	}
	if a.Output != "" {
		fmt.Fprint(stderr, a.Output)
	}
	if len(a.Results) > 0 {
		if err := writeAs(stdout, o.str("format", "yaml"), a.Results); err != nil {
			return err
		}
	}
	if a.Status != "completed" {
		return fmt.Errorf("task %s failed: %s", id, a.Message)
	}
	return nil
}

// driveOrPoll drives the model itself, or, when another process (a
// controller) drives it, watches the state until cond holds.
func driveOrPoll(ctx context.Context, e *engine.Engine, d engine.DriveOptions, cond func(*state.Model) bool) error {
	err := e.Drive(ctx, d)
	if !errors.Is(err, engine.ErrDriven) {
		return err
	}
	st := state.Store{Dir: e.ModelDir}
	for {
		ok := false
		if err := st.View(func(m *state.Model) error { ok = cond(m); return nil }); err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func cmdAttachResource(_ context.Context, e *engine.Engine, args []string, _, _ io.Writer) error {
	if len(args) != 2 {
		return errors.New("usage: jujusim attach-resource APP name=PATH")
	}
	name, path, ok := strings.Cut(args[1], "=")
	if !ok {
		return fmt.Errorf("expected name=PATH, got %q", args[1])
	}
	return e.AttachResource(args[0], name, path)
}

func cmdRefresh(_ context.Context, e *engine.Engine, args []string, _, _ io.Writer) error {
	o, err := parseOpts(args, map[string]string{"path": "string"})
	if err != nil {
		return err
	}
	if err := wantArgs(o, 1, 1, "refresh APP --path CHARM"); err != nil {
		return err
	}
	if o.str("path", "") == "" {
		return errors.New("refresh needs --path CHARM")
	}
	return e.Refresh(o.args[0], o.str("path", ""))
}

func cmdStatus(_ context.Context, e *engine.Engine, args []string, stdout, _ io.Writer) error {
	o, err := parseOpts(args, map[string]string{"format": "string"})
	if err != nil {
		return err
	}
	st, err := e.Status()
	if err != nil {
		return err
	}
	if f := o.str("format", "tabular"); f != "tabular" {
		return writeAs(stdout, f, st)
	}
	return engine.WriteStatusTable(stdout, st)
}

func oneUnit(fn func(*engine.Engine, string) error) command {
	return func(_ context.Context, e *engine.Engine, args []string, _, _ io.Writer) error {
		if len(args) != 1 {
			return errors.New("expected one unit name")
		}
		return fn(e, args[0])
	}
}

func cmdResolve(_ context.Context, e *engine.Engine, args []string, _, _ io.Writer) error {
	o, err := parseOpts(args, map[string]string{"no-retry": "bool"})
	if err != nil {
		return err
	}
	if err := wantArgs(o, 1, 1, "resolve UNIT [--no-retry]"); err != nil {
		return err
	}
	return e.Resolve(o.args[0], o.bools["no-retry"])
}

func cmdUpdateStatus(_ context.Context, e *engine.Engine, _ []string, _, _ io.Writer) error {
	return e.UpdateStatus()
}

func cmdWait(ctx context.Context, e *engine.Engine, args []string, _, _ io.Writer) error {
	o, err := parseOpts(args, map[string]string{"max-retries": "string", "timeout": "string"})
	if err != nil {
		return err
	}
	retries, err := o.integer("max-retries", 0)
	if err != nil {
		return err
	}
	if t := o.str("timeout", ""); t != "" {
		d, err := time.ParseDuration(t)
		if err != nil {
			return fmt.Errorf("invalid --timeout: %w", err)
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	return e.Drive(ctx, engine.DriveOptions{MaxRetries: retries})
}

func cmdController(ctx context.Context, e *engine.Engine, args []string, _, _ io.Writer) error {
	o, err := parseOpts(args, map[string]string{"update-status-interval": "string"})
	if err != nil {
		return err
	}
	every := 5 * time.Minute
	if s := o.str("update-status-interval", ""); s != "" {
		if every, err = time.ParseDuration(s); err != nil {
			return fmt.Errorf("invalid --update-status-interval: %w", err)
		}
	}
	err = e.Drive(ctx, engine.DriveOptions{Forever: true, UpdateStatusEvery: every})
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func cmdDebugLog(_ context.Context, e *engine.Engine, args []string, stdout, _ io.Writer) error {
	o, err := parseOpts(args, map[string]string{"n|lines": "string", "include": "string"})
	if err != nil {
		return err
	}
	lines, err := o.integer("lines", 0)
	if err != nil {
		return err
	}
	units := o.args
	if u := o.str("include", ""); u != "" {
		units = append(units, u)
	}
	var files []string
	if len(units) == 0 {
		files, _ = filepath.Glob(filepath.Join(e.ModelDir, "logs", "*.log"))
		sort.Strings(files)
	}
	for _, u := range units {
		files = append(files, state.LogPath(e.ModelDir, u))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("debug-log: %w", err)
		}
		text := strings.TrimRight(string(data), "\n")
		if all := strings.Split(text, "\n"); lines > 0 && len(all) > lines {
			text = strings.Join(all[len(all)-lines:], "\n")
		}
		fmt.Fprintln(stdout, text)
	}
	return nil
}

func cmdDestroyModel(ctx context.Context, e *engine.Engine, _ []string, _, _ io.Writer) error {
	err := e.DestroyModel(ctx)
	if cerr := cleanupMachines(ctx, e.ModelDir); err == nil {
		err = cerr
	}
	return err
}

func writeAs(w io.Writer, format string, v any) error {
	switch format {
	case "json":
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, string(data))
		return err
	case "yaml":
		// Go through JSON so the keys are the json tags, as juju prints.
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		var generic any
		if err := json.Unmarshal(data, &generic); err != nil {
			return err
		}
		v = generic
		enc := yaml.NewEncoder(w)
		enc.SetIndent(2)
		if err := enc.Encode(v); err != nil {
			return err
		}
		return enc.Close()
	}
	return fmt.Errorf("unknown format %q", format)
}
