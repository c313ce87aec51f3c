// Command concourse is a stand-in for the real Concourse binary, used only by
// tests. It mimics the surface the charm relies on; nothing here is copied
// from Concourse.
//
// `--version` prints the version baked in at build time with
// -ldflags "-X main.version=<v>", bare like the real binary prints it.
// `web` and `worker` are configured only by CONCOURSE_* environment
// variables, as the charm's systemd units do, and are as strict as the real
// binary: a missing or malformed setting exits 1 naming the variable (and the
// file). web keeps workers in PostgreSQL and runs an SSH "TSA" that workers
// register through (see tsa.go for the protocol). `land-worker` and
// `retire-worker --name` do the same by name through a TSA (remote.go).
// `migrate --supported-db-version` prints the latest migration the build
// knows (migrate.go).
// Every other subcommand reports that it is not implemented.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
)

// version is set at link time; "dev" marks a build without -ldflags.
var version = "dev"

// workerVersion is the worker API version web advertises and workers report.
const workerVersion = "2.5"

// subcommands lists what the real binary offers, so a caller that asks for one
// gets a precise "not implemented yet" rather than a usage error.
var subcommands = map[string]bool{
	"web": true, "worker": true, "migrate": true, "land-worker": true,
	"retire-worker": true, "generate-key": true, "quickstart": true,
}

func main() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGTERM, syscall.SIGINT)
	os.Exit(run(context.Background(), os.Args[1:], os.Environ(), sigs, os.Stdout, os.Stderr))
}

// run dispatches a command line. sigs delivers the signals the process got.
func run(ctx context.Context, args, environ []string, sigs <-chan os.Signal, stdout, stderr io.Writer) int {
	for _, kv := range environ {
		if strings.HasPrefix(kv, "CONCOURSE_VERSION=") {
			// The real binary maps every flag to an env var, and go-flags
			// panics calling the --version handler with a value.
			fmt.Fprintln(stderr, "stand-in: CONCOURSE_VERSION must not be set (the real concourse panics in go-flags)")
			return 2
		}
	}
	if len(args) == 0 {
		fmt.Fprintln(stderr, "stand-in: usage: concourse [--version] <subcommand>")
		return 2
	}
	switch arg := args[0]; {
	case arg == "--version" || arg == "-v":
		fmt.Fprintln(stdout, version)
		return 0
	case arg == "web":
		return runWeb(ctx, environ, sigs, stdout, stderr)
	case arg == "worker":
		return runWorker(ctx, environ, sigs, stdout, stderr)
	case arg == "land-worker" || arg == "retire-worker":
		return runRemote(ctx, arg, args[1:], environ, stdout, stderr)
	case arg == "migrate":
		return runMigrate(args[1:], version, stdout, stderr)
	case subcommands[arg]:
		fmt.Fprintf(stderr, "stand-in: %s not implemented yet\n", arg)
		return 2
	default:
		fmt.Fprintf(stderr, "stand-in: unknown command %q\n", arg)
		return 2
	}
}

// configError reports every problem in the environment and returns exit 1.
func configError(stderr io.Writer, cmd string, err error) int {
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(stderr, "stand-in %s: %s\n", cmd, line)
	}
	return 1
}

// logger writes one plain-text line per event to stdout (journald under
// systemd). Nothing secret is ever passed to it.
type logger struct {
	mu    sync.Mutex
	w     io.Writer
	level int
}

var logLevels = map[string]int{"debug": 0, "info": 1, "error": 2, "fatal": 3}

func newLogger(w io.Writer, level string) *logger {
	return &logger{w: w, level: logLevels[level]}
}

func (l *logger) log(level, format string, args ...any) {
	if logLevels[level] < l.level {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%s: %s\n", level, fmt.Sprintf(format, args...))
}

func (l *logger) debugf(format string, args ...any) { l.log("debug", format, args...) }
func (l *logger) infof(format string, args ...any)  { l.log("info", format, args...) }
func (l *logger) errorf(format string, args ...any) { l.log("error", format, args...) }

// logLevel reads CONCOURSE_LOG_LEVEL.
func (e *envReader) logLevel() string {
	return e.oneOf("CONCOURSE_LOG_LEVEL", "info", "debug", "info", "error", "fatal")
}
