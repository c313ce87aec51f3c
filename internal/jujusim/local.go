package jujusim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// LocalProvider gives every machine a directory under
// <model>/machines/<id>/root on the host. Hooks run as host processes; machine
// paths are mapped under that root (see MachinePath) and binds are symlinks.
// It isolates nothing: it exists so the simulator's own tests are fast.
type LocalProvider struct{}

// Provision creates (or finds again) the machine directory.
func (LocalProvider) Provision(ctx context.Context, spec MachineSpec) (Machine, error) {
	if spec.ID == "" || spec.ModelDir == "" {
		return nil, errors.New("provision local machine: ID and ModelDir are required")
	}
	m := &localMachine{id: spec.ID, root: filepath.Join(spec.ModelDir, "machines", spec.ID, "root")}
	if err := os.MkdirAll(m.root, 0o755); err != nil {
		return nil, fmt.Errorf("provision local machine %s: %w", spec.ID, err)
	}
	for _, b := range spec.Binds {
		if err := m.AddBind(ctx, b); err != nil {
			return nil, err
		}
	}
	return m, nil
}

type localMachine struct {
	id   string
	root string
}

func (m *localMachine) ID() string { return m.id }

// Address gives each machine its own loopback address (127.0.1.<id+1>):
// Linux routes all of 127/8 to lo, so services can bind it unconfigured.
func (m *localMachine) Address() string {
	n, err := strconv.Atoi(m.id)
	if err != nil || n < 0 || n > 253 {
		return "127.0.0.1"
	}
	return fmt.Sprintf("127.0.1.%d", n+1)
}

// MachinePath maps an absolute machine path under the machine root. Paths
// already under the root, or under the model dir (visible at the same path
// everywhere), are returned unchanged.
func (m *localMachine) MachinePath(p string) string {
	if !filepath.IsAbs(p) || strings.HasPrefix(p, m.root+"/") || p == m.root {
		return p
	}
	modelDir := filepath.Dir(filepath.Dir(filepath.Dir(m.root)))
	if strings.HasPrefix(p, modelDir+"/") {
		return p
	}
	return filepath.Join(m.root, p)
}

// AddBind links b.Path (under the root) to b.HostPath.
func (m *localMachine) AddBind(_ context.Context, b Bind) error {
	target := m.MachinePath(b.Path)
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return fmt.Errorf("bind %s: %w", b.Path, err)
	}
	if cur, err := os.Readlink(target); err == nil && cur == b.HostPath {
		return nil
	}
	_ = os.Remove(target)
	if err := os.Symlink(b.HostPath, target); err != nil {
		return fmt.Errorf("bind %s: %w", b.Path, err)
	}
	return nil
}

// Exec runs the command on the host. Output goes to a file, not a pipe, so a
// daemon the hook leaves behind cannot keep Exec waiting for EOF.
func (m *localMachine) Exec(ctx context.Context, c Cmd) ([]byte, int, error) {
	if len(c.Argv) == 0 {
		return nil, -1, errors.New("exec: empty argv")
	}
	out, err := os.CreateTemp("", "jujusim-exec-*")
	if err != nil {
		return nil, -1, fmt.Errorf("exec %s: %w", c.Argv[0], err)
	}
	defer os.Remove(out.Name())
	defer out.Close()
	newCmd := func() *exec.Cmd {
		cmd := exec.Command(c.Argv[0], c.Argv[1:]...)
		cmd.Env = c.Env
		cmd.Dir = c.Dir
		cmd.Stdout, cmd.Stderr = out, out
		if c.Stdin != nil {
			cmd.Stdin = strings.NewReader(string(c.Stdin))
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		return cmd
	}
	cmd, err := startTextBusyAware(ctx, newCmd)
	if err != nil {
		return nil, -1, fmt.Errorf("exec %s: %w", c.Argv[0], err)
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		case <-done:
		}
	}()
	waitErr := cmd.Wait()
	close(done)
	data, err := os.ReadFile(out.Name())
	if err != nil {
		return nil, -1, fmt.Errorf("exec %s: read output: %w", c.Argv[0], err)
	}
	if ctx.Err() != nil {
		return data, -1, fmt.Errorf("exec %s: %w", c.Argv[0], ctx.Err())
	}
	var exitErr *exec.ExitError
	if errors.As(waitErr, &exitErr) {
		return data, exitErr.ExitCode(), nil
	}
	if waitErr != nil {
		return data, -1, fmt.Errorf("exec %s: %w", c.Argv[0], waitErr)
	}
	return data, 0, nil
}

// CopyIn copies a file or a tree, keeping modes and symlinks.
func (m *localMachine) CopyIn(_ context.Context, hostPath, machinePath string) error {
	return CopyTree(hostPath, m.MachinePath(machinePath))
}

func (m *localMachine) Destroy(_ context.Context) error {
	if err := os.RemoveAll(filepath.Dir(m.root)); err != nil {
		return fmt.Errorf("destroy machine %s: %w", m.id, err)
	}
	return nil
}

// CopyTree copies src (file or directory) to dst, keeping file modes and
// symlinks. Existing files in dst are replaced.
func CopyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			_ = os.Remove(target)
			return os.Symlink(link, target)
		default:
			return copyFile(p, target, info.Mode().Perm())
		}
	})
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	_ = os.Remove(dst)
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}

// startTextBusyAware starts the command newCmd makes, retrying for up to about a second while the
// kernel answers ETXTBSY: the charm was just copied into the machine, and a fork in another
// goroutine of this process may still hold that file open for writing (golang/go#22315).
func startTextBusyAware(ctx context.Context, newCmd func() *exec.Cmd) (*exec.Cmd, error) {
	for delay := 5 * time.Millisecond; ; delay *= 2 {
		cmd := newCmd()
		err := cmd.Start()
		if err == nil || !errors.Is(err, syscall.ETXTBSY) || delay > time.Second {
			return cmd, err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}
