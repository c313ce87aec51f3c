package machine

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// requireMachines skips unless this host can run machines, and builds the rootfs cache if needed
// (CI pre-builds it with .ci/machines.sh). It returns the rootfs directory.
func requireMachines(t *testing.T) string {
	t.Helper()
	if err := HostSupport(context.Background()); err != nil {
		t.Skipf("this host cannot run machines: %v", err)
	}
	if _, err := exec.LookPath("debootstrap"); err != nil && !RootfsComplete(DefaultRootfsDir()) {
		t.Skip("debootstrap not installed and no rootfs cache: run .ci/machines.sh")
	}
	dir := DefaultRootfsDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := EnsureRootfs(ctx, dir); err != nil {
		t.Fatalf("EnsureRootfs: %v", err)
	}
	return dir
}

// buildProbe builds the static helper binary into a fresh directory and returns its path.
func buildProbe(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = "/usr/local/go/bin/go"
	}
	out := filepath.Join(t.TempDir(), "probe")
	cmd := exec.Command(goTool, "build", "-o", out, "./internal/probe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build probe: %v\n%s", err, msg)
	}
	return out
}

// testNetwork gives each test its own bridge and subnet, so one test's teardown can assert the
// bridge is gone without racing another test's machines.
func testNetwork(n int) Network {
	return Network{Bridge: fmt.Sprintf("jujusimt%d", n), Subnet: fmt.Sprintf("10.213.%d.0/24", 240+n)}
}

// mustExec runs argv in m and fails the test unless it exits 0.
func mustExec(t *testing.T, m *Machine, argv ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, code, err := m.Exec(ctx, Cmd{Argv: argv, Env: []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}})
	if err != nil || code != 0 {
		t.Fatalf("machine %s: %v: exit %d, err %v\n%s", m.ID(), argv, code, err, out)
	}
	return strings.TrimSpace(string(out))
}

// assertGone checks that nothing of a machine is left on the host: no process, no mount, no host
// veth, no directory, no address lease.
func assertGone(t *testing.T, rec record) {
	t.Helper()
	for _, p := range []proc{rec.Nspawn, rec.Leader} {
		if p.alive() {
			t.Errorf("machine %s: process %d still alive", rec.ID, p.PID)
		}
	}
	if mounts := mountsUnder(t, rec.Dir); len(mounts) > 0 {
		t.Errorf("machine %s: still mounted: %v", rec.ID, mounts)
	}
	if _, err := os.Stat("/sys/class/net/vb-" + rec.Name); err == nil {
		t.Errorf("machine %s: host link vb-%s still exists", rec.ID, rec.Name)
	}
	for _, cg := range rec.Cgroups {
		if _, err := os.Stat(cg); err == nil {
			t.Errorf("machine %s: cgroup %s still exists", rec.ID, cg)
		}
	}
	if _, err := os.Stat(rec.Dir); err == nil {
		t.Errorf("machine %s: directory %s still exists", rec.ID, rec.Dir)
	}
	if held, err := os.ReadFile(filepath.Join(rec.Network.stateDir(), rec.Address)); err == nil && string(held) == rec.leaseOwner() {
		t.Errorf("machine %s: address lease %s still held", rec.ID, rec.Address)
	}
}

func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var found []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir) {
			found = append(found, fields[4])
		}
	}
	return found
}

func assertNoBridge(t *testing.T, n Network) {
	t.Helper()
	if _, err := os.Stat("/sys/class/net/" + n.Bridge); err == nil {
		t.Errorf("bridge %s still exists after its last machine left", n.Bridge)
	}
	if _, err := exec.LookPath("iptables"); err == nil {
		check := exec.Command("iptables", "-w", "-C", "FORWARD", "-i", n.Bridge, "-o", n.Bridge, "-j", "ACCEPT")
		if check.Run() == nil {
			t.Errorf("iptables FORWARD rule for %s still there after its last machine left", n.Bridge)
		}
	}
}
