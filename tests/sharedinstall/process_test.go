package sharedinstall

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readTimeout is a safety net so a wedged child fails the test instead of hanging it; nothing
// waits on it in a passing run.
const readTimeout = 60 * time.Second

// unitSpec is what one child process installs, and where.
type unitSpec struct {
	root, unit, version, arch, urlTemplate string
	stopAt                                 string // see envStopAt
	stopBlock                              bool
}

func (s unitSpec) env(gated bool) []string {
	env := append(os.Environ(),
		childEnv+"=1",
		envRoot+"="+s.root,
		envUnit+"="+s.unit,
		envVersion+"="+s.version,
		envArch+"="+s.arch,
		envURLTemplate+"="+s.urlTemplate,
		envStopAt+"="+s.stopAt,
	)
	if s.stopBlock {
		env = append(env, envStopBlock+"=1")
	}
	if gated {
		env = append(env, envGate+"=1")
	}
	return env
}

// unitProc is a running child unit.
type unitProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *os.File
	lines  *bufio.Scanner
	stderr bytes.Buffer
	waited bool
}

// gate releases many children at once: each inherits the read end as fd 3 and blocks until the
// parent closes the write end.
type gate struct{ r, w *os.File }

func newGate(tb testing.TB) *gate {
	tb.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		tb.Fatal(err)
	}
	g := &gate{r: r, w: w}
	tb.Cleanup(func() { g.r.Close(); g.w.Close() })
	return g
}

// open releases every child waiting at the gate.
func (g *gate) open(tb testing.TB) {
	tb.Helper()
	if err := g.w.Close(); err != nil {
		tb.Fatal(err)
	}
}

// startUnit starts a child; g may be nil. The child is killed at cleanup if still running.
func startUnit(tb testing.TB, spec unitSpec, g *gate) *unitProc {
	tb.Helper()
	p := &unitProc{cmd: exec.Command(os.Args[0])}
	p.cmd.Env = spec.env(g != nil)
	p.cmd.Stderr = &p.stderr
	if g != nil {
		p.cmd.ExtraFiles = []*os.File{g.r}
	}
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		tb.Fatal(err)
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	p.stdout = out.(*os.File) // exec gives the pipe's *os.File, which supports deadlines
	p.lines = bufio.NewScanner(p.stdout)
	if err := p.cmd.Start(); err != nil {
		tb.Fatalf("start unit %s: %v", spec.unit, err)
	}
	tb.Cleanup(func() {
		if !p.waited {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
	})
	return p
}

// line returns the child's next stdout line; ok is false at EOF.
func (p *unitProc) line(tb testing.TB) (string, bool) {
	tb.Helper()
	if err := p.stdout.SetReadDeadline(time.Now().Add(readTimeout)); err != nil {
		tb.Fatal(err)
	}
	if p.lines.Scan() {
		return p.lines.Text(), true
	}
	if err := p.lines.Err(); err != nil {
		tb.Fatalf("read unit output: %v (stderr: %s)", err, p.stderr.String())
	}
	return "", false
}

// expect reads the next line and fails unless it starts with prefix.
func (p *unitProc) expect(tb testing.TB, prefix string) string {
	tb.Helper()
	l, ok := p.line(tb)
	if !ok || !strings.HasPrefix(l, prefix) {
		tb.Fatalf("unit said %q (ok=%v), want %q...; exit: %v; stderr: %s", l, ok, prefix, p.wait(), p.stderr.String())
	}
	return l
}

// result reads the final result line and waits for a clean exit.
func (p *unitProc) result(tb testing.TB) childResult {
	tb.Helper()
	l := p.expect(tb, "result ")
	var r childResult
	if err := json.Unmarshal([]byte(strings.TrimPrefix(l, "result ")), &r); err != nil {
		tb.Fatalf("result %q: %v", l, err)
	}
	if err := p.wait(); err != nil {
		tb.Fatalf("unit %s: %v; stderr: %s", r.Unit, err, p.stderr.String())
	}
	return r
}

func (p *unitProc) wait() error {
	if p.waited {
		return nil
	}
	p.waited = true
	p.stdin.Close()
	return p.cmd.Wait()
}

// kill sends SIGKILL and reaps the child. A child that already exited on its own is fine.
func (p *unitProc) kill(tb testing.TB) {
	tb.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		tb.Fatal(err)
	}
	p.waited = true
	_ = p.cmd.Wait()
	p.stdin.Close()
}

// maxRSSKB is the child's peak resident set (Linux reports KiB).
func (p *unitProc) maxRSSKB(tb testing.TB) int64 {
	tb.Helper()
	ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		tb.Fatal("no rusage for unit process")
	}
	return ru.Maxrss
}

func unitName(i int) string { return fmt.Sprintf("concourse-ci/%d", i) }
