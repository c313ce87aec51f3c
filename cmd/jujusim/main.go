// Command jujusim is the Juju model simulator. Invoked under a hook tool's
// name (config-get, relation-set, ...) it is that tool; otherwise it is a
// juju-like CLI over a model directory: deploy, add-unit, integrate,
// config, run, status, wait, ...
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/engine"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/hooktools"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) int {
	name := filepath.Base(argv[0])
	if hooktools.IsTool(name) {
		return hooktools.Run(ctx, name, hooktools.Invocation{
			Env:  hooktools.Env{ModelDir: os.Getenv("JUJUSIM_MODEL"), Unit: os.Getenv("JUJU_UNIT_NAME"), ContextID: os.Getenv("JUJU_CONTEXT_ID")},
			Args: argv[1:], Stdin: stdin, Stdout: stdout, Stderr: stderr,
		})
	}
	args := argv[1:]
	global := globals{model: os.Getenv("JUJUSIM_MODEL"), retryScale: os.Getenv("JUJUSIM_RETRY_SCALE")}
	args = global.strip(args)
	if len(args) == 0 || args[0] == "help" || args[0] == "--help" || args[0] == "-h" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "ERROR unrecognized command: jujusim %s\n", args[0])
		return 2
	}
	e, err := global.engine()
	if err != nil {
		fmt.Fprintf(stderr, "ERROR %v\n", err)
		return 2
	}
	if err := cmd(ctx, e, args[1:], stdout, stderr); err != nil {
		var exit *exitError
		if errors.As(err, &exit) {
			return exit.code // the command already said what went wrong
		}
		fmt.Fprintf(stderr, "ERROR %v\n", err)
		return 1
	}
	return 0
}

// exitError carries the exit code of a command run on a machine (exec).
type exitError struct{ code int }

func (e *exitError) Error() string { return "exit status " + strconv.Itoa(e.code) }

// globals are --model DIR and --retry-scale F, accepted anywhere.
type globals struct {
	model      string
	retryScale string
}

func (g *globals) strip(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		consumed := false
		for _, f := range []struct {
			name string
			dst  *string
		}{{"--model", &g.model}, {"-m", &g.model}, {"--retry-scale", &g.retryScale}} {
			if a == f.name && i+1 < len(args) {
				*f.dst, consumed = args[i+1], true
				i++
				break
			}
			if v, ok := strings.CutPrefix(a, f.name+"="); ok {
				*f.dst, consumed = v, true
				break
			}
		}
		if !consumed {
			out = append(out, a)
		}
	}
	return out
}

func (g *globals) engine() (*engine.Engine, error) {
	if g.model == "" {
		return nil, fmt.Errorf("no model: give --model DIR or set JUJUSIM_MODEL")
	}
	dir, err := filepath.Abs(g.model)
	if err != nil {
		return nil, fmt.Errorf("model dir: %w", err)
	}
	bin, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find jujusim binary: %w", err)
	}
	if resolved, err := filepath.EvalSymlinks(bin); err == nil {
		bin = resolved
	}
	scale := 1.0
	if g.retryScale != "" {
		if scale, err = strconv.ParseFloat(g.retryScale, 64); err != nil || scale <= 0 {
			return nil, fmt.Errorf("invalid --retry-scale %q", g.retryScale)
		}
	}
	return &engine.Engine{ModelDir: dir, ToolsBinary: bin, RetryScale: scale,
		Providers: map[string]jujusim.Provider{"local": jujusim.LocalProvider{}, "nspawn": nspawnProvider{modelDir: dir}}}, nil
}

const usage = `jujusim: a Juju model simulator for testing machine charms.

Usage: jujusim [--model DIR] [--retry-scale F] COMMAND [ARGS]

  deploy CHARM [APP] [-n N] [--config k=v]... [--storage name=SIZE[,COUNT]]...
         [--shared-dir HOST_DIR:MOUNT_PATH]... [--provider local|nspawn]
  add-unit APP [-n N] [--attach-storage ID] [--shared-dir HOST_DIR:MOUNT_PATH]...
  remove-unit UNIT [--no-destroy-storage]
  config APP [KEY | k=v ...] [--reset KEY]
  integrate A[:ep] B[:ep]        remove-relation A[:ep] B[:ep]
  run UNIT ACTION [k=v ...] [--format yaml|json]
  attach-resource APP name=PATH  refresh APP --path CHARM
  status [--format tabular|json|yaml]
  set-leader UNIT                kill-agent UNIT
  resolve UNIT [--no-retry]      update-status
  wait [--max-retries N] [--timeout DURATION]
  controller [--update-status-interval DURATION]
  debug-log [UNIT] [--lines N]   destroy-model
  exec --unit UNIT -- COMMAND [ARGS...]   (juju exec: runs as root on the unit's machine)

Invoked as a hook tool name (config-get, relation-set, ...) it is that tool.
The model dir defaults to $JUJUSIM_MODEL.
`
