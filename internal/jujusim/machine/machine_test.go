package machine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestTwoMachines boots two machines at once and checks, on real containers, everything the
// simulator relies on; then destroys them and checks nothing is left behind.
func TestTwoMachines(t *testing.T) {
	rootfs := requireMachines(t)
	probe := buildProbe(t)
	shared, model := t.TempDir(), t.TempDir()
	network := testNetwork(0)
	p, err := NewProvider(Options{StateDir: t.TempDir(), RootfsDir: rootfs, Network: network})
	if err != nil {
		t.Fatal(err)
	}
	specs := []Spec{
		{ID: "0", ModelDir: model, ToolsBinary: probe, Binds: []Bind{{HostPath: shared, Path: "/srv/shared"}}},
		{ID: "1", ModelDir: model, ToolsBinary: probe, Binds: []Bind{{HostPath: shared, Path: "/srv/shared"}}},
	}
	machines := provisionAll(t, p, specs)
	a, b := machines[0], machines[1]

	t.Run("checks", func(t *testing.T) {
		t.Run("systemd", func(t *testing.T) { t.Parallel(); checkSystemd(t, a, probe) })
		t.Run("identity", func(t *testing.T) { t.Parallel(); checkIdentity(t, a, b, network) })
		t.Run("exec", func(t *testing.T) { t.Parallel(); checkExec(t, b) })
		t.Run("network", func(t *testing.T) { t.Parallel(); checkNetwork(t, a, b, p, probe) })
		t.Run("shared", func(t *testing.T) { t.Parallel(); checkShared(t, a, b, shared, model, probe) })
		t.Run("copy-in", func(t *testing.T) { t.Parallel(); checkCopyIn(t, b) })
		t.Run("add bind", func(t *testing.T) { t.Parallel(); checkAddBind(t, a) })
		t.Run("isolated services", func(t *testing.T) { t.Parallel(); checkIsolatedServices(t, a, b) })
	})

	recs := []record{a.rec, b.rec}
	start := time.Now()
	var wg sync.WaitGroup
	for _, m := range machines {
		wg.Go(func() {
			if err := m.Destroy(context.Background()); err != nil {
				t.Errorf("Destroy: %v", err)
			}
		})
	}
	wg.Wait()
	t.Logf("destroyed 2 machines in parallel in %s", time.Since(start).Round(time.Millisecond))
	for _, rec := range recs {
		assertGone(t, rec)
	}
	assertNoBridge(t, network)
	if got, err := os.ReadFile(filepath.Join(shared, "note")); err != nil || string(got) != "from-a\n" {
		t.Errorf("shared dir content after Destroy: %q, %v", got, err)
	}
	if err := a.Destroy(context.Background()); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
	if _, _, err := a.Exec(context.Background(), Cmd{Argv: []string{"true"}}); err == nil {
		t.Error("Exec on a destroyed machine succeeded")
	}
}

func provisionAll(t *testing.T, p *Provider, specs []Spec) []*Machine {
	t.Helper()
	machines := make([]*Machine, len(specs))
	errs := make([]error, len(specs))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for i, spec := range specs {
		wg.Go(func() { machines[i], errs[i] = p.Provision(ctx, spec) })
	}
	wg.Wait()
	t.Logf("booted %d machines in parallel in %s", len(specs), time.Since(start).Round(time.Millisecond))
	for _, m := range machines {
		if m != nil {
			t.Cleanup(func() { _ = m.Destroy(context.Background()) })
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return machines
}

func checkSystemd(t *testing.T, m *Machine, probe string) {
	// "running", not merely "degraded": a unit failing at boot here has meant machines sharing cgroups.
	if got := mustExec(t, m, "systemctl", "is-system-running"); got != "running" {
		t.Errorf("systemctl is-system-running = %q", got)
	}
	if got := mustExec(t, m, "cat", "/proc/1/comm"); got != "systemd" {
		t.Errorf("PID 1 inside is %q, want systemd (own pid namespace)", got)
	}
	// go-systemd's private-socket connection, as the charm's service manager will use it.
	units := mustExec(t, m, probe, "units")
	for _, want := range []string{"dbus.socket active", "multi-user.target active"} {
		if !strings.Contains(units, want) {
			t.Errorf("go-systemd unit list lacks %q:\n%s", want, units)
		}
	}
}

func checkIdentity(t *testing.T, a, b *Machine, network Network) {
	prefix, err := netip.ParsePrefix(network.Subnet)
	if err != nil {
		t.Fatal(err)
	}
	if a.Address() == b.Address() {
		t.Errorf("both machines have address %s", a.Address())
	}
	for _, m := range []*Machine{a, b} {
		addr, err := netip.ParseAddr(m.Address())
		if err != nil || !prefix.Contains(addr) || addr.String() == network.HostIP() {
			t.Errorf("machine %s address %q: want a machine address in %s", m.ID(), m.Address(), network.Subnet)
		}
		if got, want := mustExec(t, m, "cat", "/proc/sys/kernel/hostname"), "juju-"+m.ID(); got != want {
			t.Errorf("machine %s hostname %q, want %q", m.ID(), got, want)
		}
	}
	if idA, idB := mustExec(t, a, "cat", "/etc/machine-id"), mustExec(t, b, "cat", "/etc/machine-id"); idA == idB {
		t.Errorf("machines share machine-id %s", idA)
	}
}

func checkExec(t *testing.T, m *Machine) {
	env := []string{"PATH=/usr/bin:/bin", "JUJU_UNIT_NAME=concourse/0"}
	tests := []struct {
		name     string
		cmd      Cmd
		wantOut  string
		wantCode int
	}{
		{"clean environment", Cmd{Argv: []string{"env"}, Env: env}, strings.Join(env, "\n") + "\n", 0},
		{"environment with dir", Cmd{Argv: []string{"env"}, Env: env, Dir: "/etc"}, strings.Join(env, "\n") + "\n", 0},
		{"working directory", Cmd{Argv: []string{"pwd"}, Env: env, Dir: "/usr/lib"}, "/usr/lib\n", 0},
		{"default directory", Cmd{Argv: []string{"pwd"}, Env: env}, "/\n", 0},
		{"stdin", Cmd{Argv: []string{"cat"}, Env: env, Stdin: []byte("in\nput")}, "in\nput", 0},
		{"stderr interleaved", Cmd{Argv: []string{"sh", "-c", "echo a; echo b >&2; echo c"}, Env: env}, "a\nb\nc\n", 0},
		{"exit code", Cmd{Argv: []string{"sh", "-c", "exit 3"}, Env: env}, "", 3},
		{"killed by signal", Cmd{Argv: []string{"sh", "-c", "kill -KILL $$"}, Env: env}, "", 128 + 9},
		{"missing command", Cmd{Argv: []string{"no-such-command"}, Env: env}, "", 127},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, code, err := m.Exec(context.Background(), tt.cmd)
			if err != nil {
				t.Fatalf("Exec: %v", err)
			}
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d (output %q)", code, tt.wantCode, out)
			}
			if tt.wantCode == 0 && string(out) != tt.wantOut {
				t.Errorf("output %q, want %q", out, tt.wantOut)
			}
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, _, err := m.Exec(ctx, Cmd{Argv: []string{"sleep", "600"}, Env: env})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Exec of a command outliving its context: err %v, want deadline exceeded", err)
		}
		// The command is gone, and reaped: a zombie left to the host's init would stall poweroff.
		if got := mustExec(t, m, "sh", "-c", "grep -l '^sleep$' /proc/[0-9]*/comm || true"); got != "" {
			t.Errorf("cancelled command still in the machine: %s", got)
		}
	})
}

// checkNetwork: machine to machine, host to machine and machine to host, over TCP. The listener
// in machine a is a systemd socket unit, so it is bound before "systemctl start" returns.
func checkNetwork(t *testing.T, a, b *Machine, p *Provider, probe string) {
	units := t.TempDir()
	writeFile(t, filepath.Join(units, "probe.socket"), "[Socket]\nListenStream=7777\nAccept=yes\n")
	writeFile(t, filepath.Join(units, "probe@.service"),
		"[Service]\nExecStart="+probe+" echo\nStandardInput=socket\nStandardOutput=socket\n")
	for _, name := range []string{"probe.socket", "probe@.service"} {
		if err := a.CopyIn(context.Background(), filepath.Join(units, name), "/etc/systemd/system/"+name); err != nil {
			t.Fatal(err)
		}
	}
	mustExec(t, a, "systemctl", "daemon-reload")
	mustExec(t, a, "systemctl", "start", "probe.socket")

	target := net.JoinHostPort(a.Address(), "7777")
	if got := mustExec(t, b, probe, "dial", target, "from-b"); got != "juju-0 from-b" {
		t.Errorf("machine 1 -> machine 0: %q", got)
	}
	if got := dialFromHost(t, target, "from-host"); got != "juju-0 from-host" {
		t.Errorf("host -> machine 0: %q", got)
	}

	ln, err := net.Listen("tcp", net.JoinHostPort(p.HostAddress(), "0"))
	if err != nil {
		t.Fatalf("listen on the bridge address: %v", err)
	}
	defer ln.Close()
	go answerOnce(ln, "host")
	if got := mustExec(t, b, probe, "dial", ln.Addr().String(), "from-b"); got != "host from-b" {
		t.Errorf("machine 1 -> host: %q", got)
	}
}

func dialFromHost(t *testing.T, addr, msg string) string {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("host dial %s: %v", addr, err)
	}
	defer conn.Close()
	fmt.Fprintln(conn, msg)
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatalf("host read from %s: %v", addr, err)
	}
	return strings.TrimSpace(line)
}

func answerOnce(ln net.Listener, name string) {
	conn, err := ln.Accept()
	if err != nil {
		return
	}
	defer conn.Close()
	line, _ := bufio.NewReader(conn).ReadString('\n')
	fmt.Fprintf(conn, "%s %s\n", name, strings.TrimSpace(line))
}

// checkShared: the shared bind and the model dir are the same inode everywhere, files written in
// one machine show in the other, and an OFD lock held in one machine excludes the other and the host.
func checkShared(t *testing.T, a, b *Machine, shared, model, probe string) {
	for _, dir := range []struct{ host, inside string }{{shared, "/srv/shared"}, {model, model}} {
		var st unix.Stat_t
		if err := unix.Stat(dir.host, &st); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("%d:%d", st.Dev, st.Ino)
		for _, m := range []*Machine{a, b} {
			if got := mustExec(t, m, probe, "stat", dir.inside); got != want {
				t.Errorf("machine %s %s is %s, host %s is %s", m.ID(), dir.inside, got, dir.host, want)
			}
		}
	}
	mustExec(t, a, "sh", "-c", "echo from-a > /srv/shared/note")
	if got := mustExec(t, b, "cat", "/srv/shared/note"); got != "from-a" {
		t.Errorf("machine 1 reads %q from the shared dir", got)
	}

	lock := "/srv/shared/install.lock"
	// Type=notify: systemd-run returns once the probe holds the lock and said READY=1.
	mustExec(t, a, "systemd-run", "--unit=lock-holder", "-p", "Type=notify", probe, "hold", lock)
	out, code, err := b.Exec(context.Background(), Cmd{Argv: []string{probe, "trylock", lock}})
	if err != nil || code != 1 || strings.TrimSpace(string(out)) != "busy" {
		t.Errorf("lock held in machine 0, machine 1 trylock: exit %d err %v %q; want busy", code, err, out)
	}
	if hostTryLock(t, filepath.Join(shared, "install.lock")) {
		t.Error("lock held in machine 0, the host took it too")
	}
	mustExec(t, a, "systemctl", "stop", "lock-holder")
	if got := mustExec(t, b, probe, "trylock", lock); got != "locked" {
		t.Errorf("after machine 0 released the lock, machine 1 got %q", got)
	}
}

func hostTryLock(t *testing.T, path string) bool {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l := unix.Flock_t{Type: unix.F_WRLCK}
	return unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &l) == nil
}

// checkIsolatedServices: each machine's systemd has a cgroup tree of its own (shared trees made
// units fail at boot), and the same unit name in two machines is two services.
func checkIsolatedServices(t *testing.T, a, b *Machine) {
	seen := map[string]string{}
	for _, m := range []*Machine{a, b} {
		own := unifiedCgroup(t, m.LeaderPID())
		if !strings.Contains(own, "/jujusim-"+m.rec.Name+"/") {
			t.Errorf("machine %s systemd is in cgroup %s, not its own", m.ID(), own)
		}
		if other, dup := seen[own]; dup {
			t.Errorf("machines %s and %s share cgroup %s", other, m.ID(), own)
		}
		seen[own] = m.ID()
	}
	for _, m := range []*Machine{a, b} {
		mustExec(t, m, "systemd-run", "--unit=isolation-check", "sleep", "infinity")
	}
	mustExec(t, a, "systemctl", "stop", "isolation-check")
	if got := mustExec(t, b, "systemctl", "is-active", "isolation-check"); got != "active" {
		t.Errorf("stopping the unit in machine 0 left machine 1's %q", got)
	}
	mustExec(t, b, "systemctl", "stop", "isolation-check")
}

// checkAddBind: a directory and a read-only file bound into a running machine, as storage-add does.
func checkAddBind(t *testing.T, m *Machine) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "existing"), "host data")
	file := filepath.Join(t.TempDir(), "ro.conf")
	writeFile(t, file, "read only")
	ctx := context.Background()
	if err := m.AddBind(ctx, Bind{HostPath: dir, Path: "/var/lib/juju/storage/data-0"}); err != nil {
		t.Fatal(err)
	}
	if err := m.AddBind(ctx, Bind{HostPath: file, Path: "/etc/jujusim/ro.conf", ReadOnly: true}); err != nil {
		t.Fatal(err)
	}
	if got := mustExec(t, m, "cat", "/var/lib/juju/storage/data-0/existing", "/etc/jujusim/ro.conf"); got != "host dataread only" {
		t.Errorf("bound content inside: %q", got)
	}
	mustExec(t, m, "sh", "-c", "echo inside > /var/lib/juju/storage/data-0/new")
	if got, err := os.ReadFile(filepath.Join(dir, "new")); err != nil || string(got) != "inside\n" {
		t.Errorf("written inside, host reads %q, %v", got, err)
	}
	out, code, err := m.Exec(ctx, Cmd{Argv: []string{"sh", "-c", "echo x > /etc/jujusim/ro.conf"}})
	if err != nil || code == 0 {
		t.Errorf("writing a read-only bind succeeded: exit %d, %v, %s", code, err, out)
	}
	if stage, _ := os.ReadDir(m.rec.incoming()); len(stage) != 0 {
		t.Errorf("staging mounts left on the host: %v", stage)
	}
}

func unifiedCgroup(t *testing.T, pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if path, ok := strings.CutPrefix(line, "0::"); ok {
			return path
		}
	}
	t.Fatalf("no unified cgroup for pid %d:\n%s", pid, data)
	return ""
}

func checkCopyIn(t *testing.T, m *Machine) {
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "bin", "tool"), "#!/bin/sh\necho tool\n")
	if err := os.Chmod(filepath.Join(src, "bin", "tool"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("bin/tool", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	single := filepath.Join(t.TempDir(), "single")
	writeFile(t, single, "one file")

	tests := []struct{ name, host, inside, check, want string }{
		// /tmp is a tmpfs inside the machine: the copy must land there, not in the overlay below.
		{"tree onto tmpfs", src, "/tmp/copied", "cat /tmp/copied/bin/tool; stat -c %a /tmp/copied/bin/tool; readlink /tmp/copied/link", "#!/bin/sh\necho tool\n750\nbin/tool"},
		{"tree with new parents", src, "/opt/a/b", "/opt/a/b/link", "tool"},
		{"single file", single, "/var/lib/juju/single", "cat /var/lib/juju/single", "one file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := m.CopyIn(context.Background(), tt.host, tt.inside); err != nil {
				t.Fatal(err)
			}
			if got := mustExec(t, m, "sh", "-c", tt.check); got != tt.want {
				t.Errorf("after CopyIn: %q, want %q", got, tt.want)
			}
		})
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
