package service

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// userManager is a `systemd --user` started for this test binary: a real systemd, driven over
// its private socket exactly as PID 1 would be, without needing systemd to have booted the host.
type userManager struct {
	cmd     *exec.Cmd
	exited  chan struct{}
	dir     string // everything it owns: runtime dir, config (unit) dir, home
	socket  string
	unitDir string
	marker  string // the /run/systemd path we created, "" if it was there already
}

// The user manager is shared by every systemd test in the binary and stopped by TestMain.
var (
	userManagerOnce sync.Once
	sharedUser      *userManager
	sharedUserErr   error
)

// systemdForTest returns a connection to the shared user manager, or skips saying why there is
// none.
func systemdForTest(t *testing.T) (*Systemd, *userManager) {
	t.Helper()
	userManagerOnce.Do(func() { sharedUser, sharedUserErr = startUserManager() })
	if sharedUserErr != nil {
		t.Skipf("no systemd user manager: %v", sharedUserErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := NewSystemd(ctx, SystemdOptions{Socket: sharedUser.socket, UnitDir: sharedUser.unitDir, User: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, sharedUser
}

const systemdBinary = "/lib/systemd/systemd"

func startUserManager() (*userManager, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("needs root (to create /run/systemd/system)")
	}
	if _, err := os.Stat(systemdBinary); err != nil {
		return nil, err
	}
	um := &userManager{exited: make(chan struct{})}
	if err := um.prepare(); err != nil {
		um.cleanup()
		return nil, err
	}
	if err := um.start(); err != nil {
		um.cleanup()
		return nil, err
	}
	return um, nil
}

// prepare makes the manager's private directories and the marker systemd refuses to run
// without. The marker makes other tools believe systemd booted the host, so it is created only
// if absent and removed again by cleanup.
func (um *userManager) prepare() error {
	var err error
	if um.dir, err = os.MkdirTemp("", "service-systemd-"); err != nil {
		return err
	}
	runtime := filepath.Join(um.dir, "run")
	um.unitDir = filepath.Join(um.dir, "config", "systemd", "user")
	for _, d := range []string{runtime, um.unitDir, filepath.Join(um.dir, "home")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	um.socket = filepath.Join(runtime, "systemd", "private")
	um.marker, err = mkdirMarker("/run/systemd/system")
	return err
}

// mkdirMarker creates dir and any missing parents, returning the topmost one it created.
func mkdirMarker(dir string) (string, error) {
	if _, err := os.Stat(dir); err == nil {
		return "", nil
	}
	top := dir
	for parent := filepath.Dir(top); ; parent = filepath.Dir(top) {
		if _, err := os.Stat(parent); err == nil {
			break
		}
		top = parent
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return top, nil
}

func (um *userManager) start() error {
	um.cmd = exec.Command(systemdBinary, "--user")
	um.cmd.Env = []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + filepath.Join(um.dir, "home"),
		"XDG_RUNTIME_DIR=" + filepath.Join(um.dir, "run"),
		"XDG_CONFIG_HOME=" + filepath.Join(um.dir, "config"),
		"SYSTEMD_LOG_TARGET=console",
	}
	log, err := os.Create(filepath.Join(um.dir, "systemd.log"))
	if err != nil {
		return err
	}
	defer log.Close()
	um.cmd.Stdout, um.cmd.Stderr = log, log
	// If the test binary dies, so does the manager, and with it the units it runs.
	um.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := um.cmd.Start(); err != nil {
		return err
	}
	go func() { _ = um.cmd.Wait(); close(um.exited) }()
	return um.waitReady()
}

// waitReady waits until the private socket accepts a D-Bus connection.
func (um *userManager) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var lastErr error
	err := poll(ctx, func() bool {
		select {
		case <-um.exited:
			lastErr = fmt.Errorf("systemd --user exited: %s", um.cmd.ProcessState)
			cancel()
			return false
		default:
		}
		m, err := NewSystemd(ctx, SystemdOptions{Socket: um.socket, UnitDir: um.unitDir, User: true})
		if err != nil {
			lastErr = err
			return false
		}
		m.Close()
		return true
	})
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(um.dir, "systemd.log"))
		return fmt.Errorf("%s --user not ready: %v\n%s", systemdBinary, lastErr, log)
	}
	return nil
}

// stop asks the manager to exit (SIGTERM: it starts exit.target, stopping every unit), and
// kills it if it has not within the deadline.
func (um *userManager) stop() {
	if um.cmd != nil && um.cmd.Process != nil {
		_ = um.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-um.exited:
		case <-time.After(60 * time.Second):
			_ = um.cmd.Process.Kill()
			<-um.exited
		}
	}
	um.cleanup()
}

func (um *userManager) cleanup() {
	if um.marker != "" {
		if err := os.RemoveAll(um.marker); err != nil && !errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintln(os.Stderr, "remove systemd marker:", err)
		}
	}
	if um.dir != "" {
		_ = os.RemoveAll(um.dir)
	}
}

// stopSupervisors stops what the tests started; TestMain calls it after the tests.
func stopSupervisors() {
	if sharedUser != nil {
		sharedUser.stop()
	}
	if sharedPebble != nil {
		sharedPebble.stop()
	}
}
