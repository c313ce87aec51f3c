// Command concourse-charm is the whole charm: Juju runs it as `dispatch` (or through a
// hooks/<name> symlink) for every hook and action. It reads the event from the environment,
// runs the action or the reconcile, and maps the outcome to what Juju expects: exit 0 for
// handled and unknown hooks, non-zero for an unexpected error (Juju retries the hook), and
// action-fail with a readable message for a failed action.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/charm"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
)

// version is stamped by the Makefile (-X main.version=...).
var version = "dev"

func main() {
	// Juju sends SIGTERM when it gives up on a hook; cancelling the context stops downloads and
	// lock waits cleanly (staging is cleared by the next lock holder).
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 1 && args[1] == "--version" {
		fmt.Fprintln(stdout, version)
		return 0
	}
	env := juju.EnvFrom(getenv)
	kind, name := juju.EventFrom(env, args[0])
	tools := juju.NewClient(juju.ExecRunner{})
	switch kind {
	case juju.KindAction:
		// During an action stdout and stderr are captured into its results: keep them quiet.
		c := charm.New(charm.Options{Env: env, Tools: tools, Out: io.Discard})
		defer c.Close()
		if err := c.RunAction(ctx, name); err != nil {
			if ferr := tools.ActionFail(ctx, err.Error()); ferr != nil {
				fmt.Fprintf(stderr, "action %s failed: %v (and action-fail failed: %v)\n", name, err, ferr)
				return 1
			}
		}
		return 0
	case juju.KindHook:
		c := charm.New(charm.Options{Env: env, Tools: tools, Out: stdout})
		defer c.Close()
		if err := c.RunHook(ctx, name); err != nil {
			msg := fmt.Sprintf("hook %s failed: %v", name, err)
			_ = tools.Log(ctx, juju.LevelError, msg)
			fmt.Fprintln(stderr, msg)
			return 1
		}
		return 0
	}
	fmt.Fprintf(stderr, "concourse-ci-machine %s: no event in the environment (JUJU_DISPATCH_PATH, JUJU_HOOK_NAME or JUJU_ACTION_NAME); Juju runs this as the charm's dispatch\n", version)
	return 2
}
