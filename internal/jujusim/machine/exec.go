package machine

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Exec runs cmd inside the machine: in its mount, UTS, IPC, network and PID namespaces, with its
// root and with exactly cmd.Env as environment. It returns stdout and stderr interleaved as written,
// and the exit code (128+n when killed by signal n). err is for failing to run at all, or ctx ending.
func (m *Machine) Exec(ctx context.Context, cmd Cmd) ([]byte, int, error) {
	return m.run(ctx, cmd, bytes.NewReader(cmd.Stdin))
}

func (m *Machine) run(ctx context.Context, cmd Cmd, stdin io.Reader) ([]byte, int, error) {
	if len(cmd.Argv) == 0 {
		return nil, 0, errors.New("exec: empty argv")
	}
	if !m.rec.Leader.alive() {
		return nil, 0, fmt.Errorf("exec in machine %s: not running", m.rec.ID)
	}
	var out bytes.Buffer
	c := exec.CommandContext(ctx, "nsenter", m.nsenterArgs(cmd)...)
	c.Env = append([]string{}, cmd.Env...) // non-nil: never inherit this process's environment
	c.Stdin, c.Stdout, c.Stderr = stdin, &out, &out
	c.Cancel = func() error { return killEntered(c.Process.Pid) }
	c.WaitDelay = 5 * time.Second
	err := c.Run()
	if ctx.Err() != nil {
		return out.Bytes(), -1, fmt.Errorf("exec %s in machine %s: %w", cmd.Argv[0], m.rec.ID, ctx.Err())
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return out.Bytes(), 128 + int(ws.Signal()), nil
		}
		return out.Bytes(), exitErr.ExitCode(), nil
	}
	if err != nil {
		return out.Bytes(), -1, fmt.Errorf("exec %s in machine %s: %w", cmd.Argv[0], m.rec.ID, err)
	}
	return out.Bytes(), 0, nil
}

// killEntered ends a cancelled command. nsenter forks the command into the machine's pid namespace
// and waits for it; killing nsenter too would leave the command's zombie to the host's init, which
// may never reap it, and a zombie with a parent outside the container stalls its shutdown. So the
// command is killed and nsenter, having reaped it, dies of the same signal. Only when nsenter has
// not forked yet is nsenter itself killed.
func killEntered(nsenterPID int) error {
	kids := childrenOf(nsenterPID)
	if len(kids) == 0 {
		return syscall.Kill(nsenterPID, syscall.SIGKILL)
	}
	for _, pid := range kids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return nil
}

func childrenOf(pid int) []int {
	var kids []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, task := range tasks {
		data, err := os.ReadFile(task)
		if err != nil {
			continue
		}
		for _, field := range strings.Fields(string(data)) {
			if kid, err := strconv.Atoi(field); err == nil {
				kids = append(kids, kid)
			}
		}
	}
	return kids
}

// nsenterArgs enters the namespaces and takes the container's root and working directory ("/").
// nsenter's own --wd=<dir> would open dir on the host, so a Dir is applied inside by env -C.
func (m *Machine) nsenterArgs(cmd Cmd) []string {
	args := []string{"-t", strconv.Itoa(m.rec.Leader.PID), "-m", "-u", "-i", "-n", "-p", "-r", "-w", "--"}
	if cmd.Dir != "" && cmd.Dir != "/" {
		args = append(args, "/usr/bin/env", "-C", cmd.Dir, "--")
	}
	return append(args, cmd.Argv...)
}

// CopyIn copies a host file or directory tree into the machine so that it is named machinePath
// there (like cp -a src dst when dst does not exist; an existing file is replaced, an existing
// directory merged). Missing parents are created. Ownership and modes are kept. It streams a tar
// archive into the machine's own tar, so paths resolve as the machine sees them: through its
// symlinks and onto its tmpfs and bind mounts.
func (m *Machine) CopyIn(ctx context.Context, hostPath, machinePath string) error {
	if !filepath.IsAbs(machinePath) {
		return fmt.Errorf("copy into machine %s: %q is not absolute", m.rec.ID, machinePath)
	}
	if _, err := os.Lstat(hostPath); err != nil {
		return fmt.Errorf("copy into machine %s: %w", m.rec.ID, err)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeTar(pw, hostPath, path.Clean(machinePath)[1:])) }()
	out, code, err := m.run(ctx, Cmd{Argv: []string{"tar", "-x", "-f", "-", "-C", "/"}}, pr)
	pr.Close() // unblocks the writer if tar stopped reading early
	if err != nil {
		return fmt.Errorf("copy %s into machine %s: %w", hostPath, m.rec.ID, err)
	}
	if code != 0 {
		return fmt.Errorf("copy %s into machine %s:%s: tar exit %d: %s", hostPath, m.rec.ID, machinePath, code, out)
	}
	return nil
}

// writeTar archives the tree at src with names rooted at name (relative, no leading slash). Owner
// names are left out, so tar inside keeps the numeric ids rather than mapping names.
func writeTar(w io.Writer, src, name string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		return addTarEntry(tw, p, path.Join(name, filepath.ToSlash(rel)))
	})
	if err != nil {
		return fmt.Errorf("archive %s: %w", src, err)
	}
	return tw.Close()
}

func addTarEntry(tw *tar.Writer, hostPath, name string) error {
	info, err := os.Lstat(hostPath)
	if err != nil {
		return err
	}
	link := ""
	if info.Mode()&fs.ModeSymlink != 0 {
		if link, err = os.Readlink(hostPath); err != nil {
			return err
		}
	}
	hdr, err := tar.FileInfoHeader(info, link)
	if err != nil {
		return err
	}
	hdr.Name, hdr.Uname, hdr.Gname = name, "", ""
	if info.IsDir() {
		hdr.Name += "/"
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(hostPath)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(tw, f)
	return err
}
