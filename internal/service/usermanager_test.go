package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// userManager is a `systemd --user` started for this test binary: a real systemd, driven over
// its private socket exactly as PID 1 would be, without needing systemd to have booted the host.
type userManager struct {
	cmd     *exec.Cmd
	exited  chan struct{}
	dir     string // everything it owns: runtime dir, config (unit) dir, home
	socket  string
	unitDir string
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
		return nil, errors.New("needs root (to make /run/systemd/system in a mount namespace)")
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

// prepare makes the manager's private directories.
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
	return nil
}

// start runs the manager. systemd --user refuses to run unless /run/systemd/system exists, and
// that directory makes other tools on the host (systemd-nspawn in other packages' tests, say)
// believe systemd booted it. So when it is absent the manager starts in a private mount
// namespace, through execUserManager, which makes it there only.
func (um *userManager) start() error {
	um.cmd = exec.Command(systemdBinary, "--user")
	// If the test binary dies, so does the manager, and with it the units it runs.
	um.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		um.cmd.Path = testBinaryPath()
		um.cmd.SysProcAttr.Unshareflags = syscall.CLONE_NEWNS // Go makes / private in it
		um.cmd.Env = append(um.cmd.Env, helperModeEnv+"=usermanager")
	}
	um.cmd.Env = append(um.cmd.Env,
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME="+filepath.Join(um.dir, "home"),
		"XDG_RUNTIME_DIR="+filepath.Join(um.dir, "run"),
		"XDG_CONFIG_HOME="+filepath.Join(um.dir, "config"),
		"SYSTEMD_LOG_TARGET=console",
	)
	log, err := os.Create(filepath.Join(um.dir, "systemd.log"))
	if err != nil {
		return err
	}
	defer log.Close()
	um.cmd.Stdout, um.cmd.Stderr = log, log
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
	if um.dir != "" {
		_ = os.RemoveAll(um.dir)
	}
}

// execUserManager runs in the manager's private mount namespace: it covers /run/systemd (or,
// without one, /run) with a tmpfs, makes the marker there, and becomes systemd --user. The
// manager's own runtime directory is elsewhere (XDG_RUNTIME_DIR), so hiding the host's
// /run/systemd costs it nothing.
func execUserManager() int {
	target := "/run/systemd"
	if _, err := os.Stat(target); err != nil {
		target = "/run"
	}
	if err := unix.Mount("tmpfs", target, "tmpfs", 0, "mode=0755"); err != nil {
		fmt.Fprintf(os.Stderr, "mount tmpfs on %s: %v\n", target, err)
		return 3
	}
	if err := os.MkdirAll("/run/systemd/system", 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, helperModeEnv+"=") })
	err := unix.Exec(systemdBinary, []string{systemdBinary, "--user"}, env)
	fmt.Fprintf(os.Stderr, "exec %s: %v\n", systemdBinary, err)
	return 3
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
