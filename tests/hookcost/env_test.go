package hookcost

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/releasetest"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/service"
)

const benchVersion = "7.14.3"

// hookEnv is what every measured unit shares: the built charm, the fake tools, a Pebble daemon
// and a loopback release server.
type hookEnv struct {
	module   string // the module's root
	dir      string
	charmBin string // the built dispatch
	toolsDir string // faketool under every hook tool's name
	pebble   *pebbled
	srv      *releasetest.Server
}

// toolNames are the hook tools faketool stands in for (every one the charm may call).
var toolNames = []string{"config-get", "is-leader", "relation-ids", "relation-list", "relation-get", "relation-set",
	"storage-list", "storage-get", "network-get", "opened-ports", "open-port", "close-port", "status-get", "status-set",
	"application-version-set", "juju-log", "secret-add", "secret-get", "secret-set", "secret-grant", "secret-ids",
	"resource-get", "action-get", "action-set", "action-fail", "action-log", "unit-get", "leader-get", "leader-set"}

func newHookEnv(b *testing.B) *hookEnv {
	b.Helper()
	e := &hookEnv{module: moduleRoot(b), dir: b.TempDir()}
	e.charmBin = filepath.Join(e.dir, "dispatch")
	// As `make build` builds it: static, stripped, trimmed.
	goBuild(b, e.module, e.charmBin, "./cmd/concourse-charm", "-trimpath", "-ldflags", "-s -w -X main.version=bench")
	e.toolsDir = filepath.Join(e.dir, "tools")
	tool := filepath.Join(e.dir, "faketool")
	goBuild(b, e.module, tool, "./tests/hookcost/faketool", "-trimpath", "-ldflags", "-s -w")
	must(b, os.Mkdir(e.toolsDir, 0o755))
	for _, name := range toolNames {
		must(b, os.Symlink(tool, filepath.Join(e.toolsDir, name)))
	}
	e.pebble = startPebble(b, filepath.Join(e.dir, "pebble"))
	b.Cleanup(e.pebble.stop)
	e.srv = serveRelease(b)
	return e
}

// serveRelease serves a release whose concourse binary answers --version and otherwise stays up,
// like a worker waiting for its TSA, so that the service the charm starts keeps running.
func serveRelease(b *testing.B) *releasetest.Server {
	b.Helper()
	dir := b.TempDir()
	standin := filepath.Join(dir, "concourse")
	script := "#!/bin/sh\nif [ \"$1\" = --version ]; then echo " + benchVersion + "; exit 0; fi\nexec sleep 2147483647\n"
	must(b, os.WriteFile(standin, []byte(script), 0o755))
	served := filepath.Join(dir, "served")
	must(b, os.Mkdir(served, 0o755))
	if _, err := releasetest.WriteRelease(served, runtime.GOARCH, releasetest.TarballOptions{Version: benchVersion, StandinPath: standin}); err != nil {
		b.Fatal(err)
	}
	return releasetest.StartServer(b, served)
}

func moduleRoot(b *testing.B) string {
	b.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		b.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

func goBuild(b *testing.B, module, out, pkg string, flags ...string) {
	b.Helper()
	cmd := exec.Command("go", append(append([]string{"build", "-o", out}, flags...), pkg)...)
	cmd.Dir = module
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build %s: %v\n%s", pkg, err, msg)
	}
}

// pebbled is a Pebble daemon built at the version go.mod pins; it supervises the worker the charm
// starts (the benchmark machine has no systemd as PID 1).
type pebbled struct {
	home   string // $PEBBLE
	cmd    *exec.Cmd
	exited chan struct{}
}

func startPebble(b *testing.B, dir string) *pebbled {
	b.Helper()
	bin := filepath.Join(dir, "pebble")
	buildPebble(b, dir, bin)
	p := &pebbled{home: filepath.Join(dir, "home"), exited: make(chan struct{})}
	must(b, os.Mkdir(p.home, 0o700))
	p.cmd = exec.Command(bin, "run")
	p.cmd.Env = append(os.Environ(), "PEBBLE="+p.home)
	log, err := os.Create(filepath.Join(dir, "pebble.log"))
	must(b, err)
	defer log.Close()
	p.cmd.Stdout, p.cmd.Stderr = log, log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	must(b, p.cmd.Start())
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	// Pebble says nothing when it is ready: ask it, a bounded number of times.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		c, err := service.NewPebble(ctx, service.PebbleOptions{Socket: p.socket()})
		if err == nil {
			c.Close()
			return p
		}
		select {
		case <-p.exited:
			b.Fatalf("pebble exited: %v", err)
		case <-ctx.Done():
			p.stop()
			b.Fatalf("pebble not ready: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// buildPebble builds the daemon at the version go.mod pins, in a module of its own: the project's
// go.sum has only what its Pebble client needs, not the daemon's dependencies (go fetches them
// from the module proxy the first time).
func buildPebble(b *testing.B, dir, bin string) {
	b.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/canonical/pebble").Output()
	if err != nil {
		b.Fatalf("pinned pebble version: %v", err)
	}
	version := strings.TrimSpace(string(out))
	src := filepath.Join(dir, "build")
	must(b, os.MkdirAll(src, 0o755))
	gomod := "module pebblebuild\n\ngo 1.24\n\nrequire github.com/canonical/pebble " + version + "\n"
	must(b, os.WriteFile(filepath.Join(src, "go.mod"), []byte(gomod), 0o644))
	cmd := exec.Command("go", "build", "-mod=mod", "-o", bin, "github.com/canonical/pebble/cmd/pebble")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build pebble %s: %v\n%s", version, err, msg)
	}
}

func (p *pebbled) socket() string { return filepath.Join(p.home, ".pebble.socket") }

// removeServices stops and forgets what a measured unit started, before the next one starts its own.
func (p *pebbled) removeServices(b *testing.B, names ...string) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := service.NewPebble(ctx, service.PebbleOptions{Socket: p.socket()})
	must(b, err)
	defer c.Close()
	for _, name := range names {
		if err := c.Remove(ctx, name); err != nil {
			b.Errorf("remove %s: %v", name, err)
		}
	}
}

// stop sends SIGTERM, on which Pebble stops its services and exits.
func (p *pebbled) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(time.Minute):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// run is one hook process: what it cost and which hook tools it called.
type run struct {
	wall  time.Duration
	cpu   time.Duration // user+system of the process and the hook tools it waited for
	calls [][]string
	out   string
}

// runProcess runs argv with env in dir, with logFile (faketool's call log) emptied first.
func runProcess(b *testing.B, dir, logFile string, env, argv []string) run {
	b.Helper()
	must(b, os.WriteFile(logFile, nil, 0o600))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = dir, env
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	r := run{wall: time.Since(start), out: out.String()}
	if err != nil {
		b.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, r.out)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	r.calls = readCalls(b, logFile)
	return r
}

// gnuTime runs a command with fork(2), not vfork, and reports the child's ru_maxrss.
const gnuTime = "/usr/bin/time"

// peakRSS runs argv once through GNU time and returns the peak RSS in KiB (0 without GNU time).
// Not the rusage Go's os/exec gets: Go starts children with vfork (CLONE_VM), and Linux records
// the old address space's high-water mark at execve, so every child of this benchmark would show
// the benchmark's own RSS (about 15 MiB) as its floor. GNU time forks a fresh copy of itself
// (about 1 MiB) instead. What is counted is the hook process and, as wait4 reports it, the
// largest of the hook tools it waited for (about 2.5 MiB).
func peakRSS(b *testing.B, dir, logFile string, env, argv []string) int64 {
	b.Helper()
	if _, err := os.Stat(gnuTime); err != nil {
		return 0
	}
	out := filepath.Join(filepath.Dir(logFile), "maxrss")
	runProcess(b, dir, logFile, env, append([]string{gnuTime, "--format=%M", "--output=" + out}, argv...))
	data, err := os.ReadFile(out)
	must(b, err)
	kib, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		b.Fatalf("%s printed %q: %v", gnuTime, data, err)
	}
	return kib
}

func readCalls(b *testing.B, logFile string) [][]string {
	b.Helper()
	f, err := os.Open(logFile)
	must(b, err)
	defer f.Close()
	var calls [][]string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var argv []string
		must(b, json.Unmarshal(sc.Bytes(), &argv))
		calls = append(calls, argv)
	}
	must(b, sc.Err())
	return calls
}

func must(b testing.TB, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}

// charmPython prepares python3 as a charm's dispatch runs it: in a fresh virtual environment
// (without the system's site-packages, whose many .pth files on a developer's image cost more at
// start-up than the whole fast path) with only PyYAML on PYTHONPATH, ops's one dependency that
// update-status needs. It returns the interpreter and the environment to add.
func charmPython(b *testing.B) (string, []string, error) {
	b.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		return "", nil, errors.New("no python3 on PATH")
	}
	out, err := exec.Command("python3", "-c", "import os, yaml, sqlite3; print(os.path.dirname(yaml.__file__))").Output()
	if err != nil {
		return "", nil, fmt.Errorf("python3 cannot import yaml and sqlite3, as ops does: %w", err)
	}
	dir := b.TempDir()
	venv, lib := filepath.Join(dir, "venv"), filepath.Join(dir, "lib")
	if msg, err := exec.Command("python3", "-m", "venv", "--without-pip", venv).CombinedOutput(); err != nil {
		return "", nil, fmt.Errorf("python3 -m venv: %v: %s", err, msg)
	}
	must(b, os.Mkdir(lib, 0o755))
	must(b, os.Symlink(strings.TrimSpace(string(out)), filepath.Join(lib, "yaml")))
	return filepath.Join(venv, "bin", "python3"), []string{"PYTHONPATH=" + lib}, nil
}
