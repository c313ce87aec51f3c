package machine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Machine is one booted container. Its methods are safe for concurrent use.
type Machine struct {
	mu          sync.Mutex
	rec         record
	stopTimeout time.Duration
	nspawnDone  chan struct{} // closed once this process reaped nspawn; nil when opened from a record
	destroyed   bool
}

// ID is the Juju machine id from the Spec.
func (m *Machine) ID() string { return m.rec.ID }

// Address is the machine's IPv4 address on the bridge.
func (m *Machine) Address() string { return m.rec.Address }

// LeaderPID is the host pid of the machine's systemd (PID 1 inside).
func (m *Machine) LeaderPID() int { return m.rec.Leader.PID }

// LogPath is the file that holds systemd-nspawn's output and the machine's console.
func (m *Machine) LogPath() string { return filepath.Join(m.rec.Dir, "console.log") }

// boot fills m.rec step by step, saving it after each piece it creates so a crash leaves a record
// Cleanup can follow.
func (m *Machine) boot(ctx context.Context, opts Options, spec Spec) error {
	m.rec.Name = "js" + randomHex(4)
	cgroups, err := machineCgroups(m.rec.Name)
	m.rec.Cgroups = cgroups
	if saveErr := m.rec.save(); err != nil || saveErr != nil {
		return errors.Join(err, saveErr)
	}
	addr, err := m.rec.Network.lease(ctx, m.rec.leaseOwner())
	if err != nil {
		return err
	}
	m.rec.Address = addr
	if err := m.rec.save(); err != nil {
		return err
	}
	if err := m.mountRoot(opts.RootfsDir); err != nil {
		return err
	}
	if err := m.mountIncoming(); err != nil {
		return err
	}
	if err := writeIdentity(m.rec.root(), hostname(spec)); err != nil {
		return err
	}
	bootCtx, cancel := context.WithTimeout(ctx, opts.BootTimeout)
	defer cancel()
	if err := m.startContainer(bootCtx, spec); err != nil {
		return err
	}
	if err := m.rec.Network.configureGuest(bootCtx, m.rec.Leader.PID, addr); err != nil {
		return err
	}
	if err := m.waitBooted(bootCtx); err != nil {
		return err
	}
	return m.enslaveIncoming(bootCtx)
}

func (m *Machine) mountRoot(lower string) error {
	upper, work, root := filepath.Join(m.rec.Dir, "upper"), filepath.Join(m.rec.Dir, "work"), m.rec.root()
	for _, d := range []string{upper, work, root} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return fmt.Errorf("overlay dir: %w", err)
		}
	}
	// The record says "mounted" before the mount, so a crash between the two still unmounts.
	m.rec.Mounted = true
	if err := m.rec.save(); err != nil {
		return err
	}
	data := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work)
	if err := unix.Mount("overlay", root, "overlay", 0, data); err != nil {
		return fmt.Errorf("mount overlay at %s: %w", root, err)
	}
	return nil
}

// writeIdentity gives the machine its own hostname and machine-id (the image carries neither).
func writeIdentity(root, host string) error {
	files := map[string]string{
		"etc/hostname":   host + "\n",
		"etc/machine-id": randomHex(16) + "\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("write machine identity: %w", err)
		}
	}
	return nil
}

func hostname(spec Spec) string {
	if spec.Hostname != "" {
		return spec.Hostname
	}
	return "juju-" + dirName(spec.ID)
}

// nspawnArgs builds the command line: a booted systemd, a veth on the shared bridge (which implies a
// private network namespace), no registration with a host systemd (there may be none), and the
// binds the Spec asks for at their paths inside.
func (m *Machine) nspawnArgs(spec Spec) []string {
	args := []string{
		"systemd-nspawn", "--quiet", "--boot", "--register=no", "--keep-unit",
		"--notify-ready=yes", "--console=read-only", "--link-journal=no", "--timezone=off",
		"--machine=" + m.rec.Name, "--hostname=" + hostname(spec),
		"--network-bridge=" + m.rec.Network.Bridge,
		"--bind=" + m.rec.incoming() + ":" + incomingPath,
	}
	if spec.ModelDir != "" {
		args = append(args, "--bind="+spec.ModelDir)
	}
	if spec.ToolsBinary != "" {
		args = append(args, "--bind-ro="+spec.ToolsBinary)
	}
	for _, b := range spec.Binds {
		flag, inside := "--bind=", b.Path
		if b.ReadOnly {
			flag = "--bind-ro="
		}
		if inside == "" {
			inside = b.HostPath
		}
		args = append(args, flag+b.HostPath+":"+inside)
	}
	return append(args, "--directory="+m.rec.root())
}

// startContainer runs systemd-nspawn and waits, on its sd_notify messages, until the container's
// systemd says it finished starting up. nspawn reports the container's PID 1 in the same stream
// (X_NSPAWN_LEADER_PID), so no /proc scanning and no polling is needed.
func (m *Machine) startContainer(ctx context.Context, spec Spec) error {
	notifyAddr := "@jujusim-" + m.rec.Name + "-" + randomHex(4) // abstract: no path length limit, no file
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyAddr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("notify socket: %w", err)
	}
	defer conn.Close()
	logFile, err := os.OpenFile(m.LogPath(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("console log: %w", err)
	}
	defer logFile.Close()

	argv := inCgroups(m.rec.Cgroups, m.nspawnArgs(spec))
	cmd := exec.Command(argv[0], argv[1:]...) // not CommandContext: the machine outlives this call
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "NOTIFY_SOCKET=" + notifyAddr}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// A session of its own: the machine outlives this process (a simulator CLI runs one process per
	// command) and must not get the terminal's SIGINT or SIGHUP.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start systemd-nspawn: %w", err)
	}
	m.rec.Nspawn, err = lookupProc(cmd.Process.Pid)
	if err != nil {
		m.rec.Nspawn = proc{PID: cmd.Process.Pid}
	}
	done := make(chan struct{})
	m.nspawnDone = done
	go func() { _ = cmd.Wait(); close(done) }()
	if err := m.rec.save(); err != nil {
		return err
	}
	return m.awaitReady(ctx, conn, done)
}

// inCgroups wraps argv in a shell that moves itself into the given cgroups and then execs argv, so
// nspawn is in its machine's cgroups from its first instruction (see cgroup.go).
func inCgroups(cgroups, argv []string) []string {
	script := `while [ "$1" != -- ]; do echo $$ > "$1/cgroup.procs" || exit 1; shift; done; shift; exec "$@"`
	wrapped := append([]string{"/bin/sh", "-c", script, "sh"}, cgroups...)
	return append(append(wrapped, "--"), argv...)
}

func (m *Machine) awaitReady(ctx context.Context, conn *net.UnixConn, nspawnDone <-chan struct{}) error {
	msgs := make(chan string)
	go readNotifications(conn, msgs)
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for boot: %w\n%s", ctx.Err(), m.consoleTail())
		case <-nspawnDone:
			return fmt.Errorf("systemd-nspawn exited during boot\n%s", m.consoleTail())
		case msg, ok := <-msgs:
			if !ok {
				return errors.New("notify socket closed during boot")
			}
			ready, err := m.noteNotification(msg)
			if err != nil || ready {
				return err
			}
		}
	}
}

// readNotifications forwards sd_notify datagrams until the socket is closed.
func readNotifications(conn *net.UnixConn, out chan<- string) {
	defer close(out)
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return
		}
		out <- string(buf[:n])
	}
}

func (m *Machine) noteNotification(msg string) (ready bool, err error) {
	for _, line := range strings.Split(msg, "\n") {
		key, value, _ := strings.Cut(line, "=")
		switch key {
		case "X_NSPAWN_LEADER_PID":
			pid, err := strconv.Atoi(value)
			if err != nil {
				return false, fmt.Errorf("nspawn leader pid %q: %w", value, err)
			}
			if m.rec.Leader, err = lookupProc(pid); err != nil {
				return false, fmt.Errorf("container leader: %w", err)
			}
			if err := m.rec.save(); err != nil {
				return false, err
			}
		case "READY":
			ready = value == "1"
		}
	}
	if ready && m.rec.Leader.PID == 0 {
		return false, errors.New("nspawn reported ready without a leader pid")
	}
	return ready, nil
}

// waitBooted asks the machine's own systemd, which blocks until startup is over. "degraded" is a
// finished boot with a failed unit, as on many real machines; anything else is a failure.
func (m *Machine) waitBooted(ctx context.Context) error {
	out, _, err := m.Exec(ctx, Cmd{Argv: []string{"systemctl", "is-system-running", "--wait"}})
	if err != nil {
		return fmt.Errorf("wait for systemd: %w", err)
	}
	switch state := strings.TrimSpace(string(out)); state {
	case "running", "degraded":
		return nil
	default:
		return fmt.Errorf("machine %s systemd state %q\n%s", m.rec.ID, state, m.consoleTail())
	}
}

func (m *Machine) consoleTail() string {
	data, _ := os.ReadFile(m.LogPath())
	return "console: " + tail(data, 3000)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b)
}
