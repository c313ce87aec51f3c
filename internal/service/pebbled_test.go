package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// pebbled is a Pebble daemon built from the module's pinned version and run for this binary.
type pebbled struct {
	cmd    *exec.Cmd
	exited chan struct{}
	dir    string // $PEBBLE (0700: the layers carry env files) and the build output
	socket string
}

var (
	pebbleOnce     sync.Once
	sharedPebble   *pebbled
	sharedPebbleEr error
)

// pebbleForTest returns a client of the shared daemon, or skips saying why there is none.
func pebbleForTest(t *testing.T) (*Pebble, *pebbled) {
	t.Helper()
	pebbleOnce.Do(func() { sharedPebble, sharedPebbleEr = startPebble() })
	if sharedPebbleEr != nil {
		t.Skipf("no pebble daemon: %v", sharedPebbleEr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := NewPebble(ctx, PebbleOptions{Socket: sharedPebble.socket})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, sharedPebble
}

func startPebble() (*pebbled, error) {
	goTool, err := exec.LookPath("go") // go test puts $GOROOT/bin first on PATH
	if err != nil {
		return nil, fmt.Errorf("no go tool to build pebble: %w", err)
	}
	dir, err := os.MkdirTemp("", "service-pebble-")
	if err != nil {
		return nil, err
	}
	pd := &pebbled{dir: dir, exited: make(chan struct{})}
	if err := pd.build(goTool); err != nil {
		pd.cleanup()
		return nil, err
	}
	if err := pd.start(); err != nil {
		pd.stop()
		return nil, err
	}
	return pd, nil
}

// build compiles the daemon at the version go.mod pins, so the tests speak to the same Pebble
// the client library was written for.
func (pd *pebbled) build(goTool string) error {
	cmd := exec.Command(goTool, "build", "-o", filepath.Join(pd.dir, "bin", "pebble"), "github.com/canonical/pebble/cmd/pebble")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build pebble: %v\n%s", err, out)
	}
	return nil
}

func (pd *pebbled) start() error {
	home := filepath.Join(pd.dir, "state")
	if err := os.Mkdir(home, 0o700); err != nil {
		return err
	}
	pd.socket = filepath.Join(home, ".pebble.socket")
	pd.cmd = exec.Command(filepath.Join(pd.dir, "bin", "pebble"), "run")
	pd.cmd.Env = append(os.Environ(), "PEBBLE="+home)
	log, err := os.Create(filepath.Join(pd.dir, "pebble.log"))
	if err != nil {
		return err
	}
	defer log.Close()
	pd.cmd.Stdout, pd.cmd.Stderr = log, log
	pd.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := pd.cmd.Start(); err != nil {
		return err
	}
	go func() { _ = pd.cmd.Wait(); close(pd.exited) }()
	return pd.waitReady()
}

func (pd *pebbled) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var lastErr error
	err := poll(ctx, func() bool {
		select {
		case <-pd.exited:
			lastErr = errors.New("pebble exited")
			cancel()
			return false
		default:
		}
		p, err := NewPebble(ctx, PebbleOptions{Socket: pd.socket})
		if err != nil {
			lastErr = err
			return false
		}
		p.Close()
		return true
	})
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(pd.dir, "pebble.log"))
		return fmt.Errorf("pebble not ready: %v\n%s", lastErr, log)
	}
	return nil
}

// stop sends SIGTERM, on which Pebble stops its services and exits.
func (pd *pebbled) stop() {
	if pd.cmd != nil && pd.cmd.Process != nil {
		_ = pd.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-pd.exited:
		case <-time.After(60 * time.Second):
			_ = pd.cmd.Process.Kill()
			<-pd.exited
		}
	}
	pd.cleanup()
}

func (pd *pebbled) cleanup() { _ = os.RemoveAll(pd.dir) }
