package machine

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const crashStateEnv = "JUJUSIM_MACHINE_TEST_CRASH_STATE"

// TestCleanupAfterCrash provisions a machine in a child process that then exits without destroying
// it, as a crashed test or simulator would, and checks Cleanup finds and removes every piece from
// the record alone, although the container is no child of this process.
func TestCleanupAfterCrash(t *testing.T) {
	if state := os.Getenv(crashStateEnv); state != "" {
		provisionAndAbandon(t, state)
		return
	}
	requireMachines(t)
	state := t.TempDir()
	child := exec.Command(os.Args[0], "-test.run=^TestCleanupAfterCrash$")
	child.Env = append(os.Environ(), crashStateEnv+"="+state)
	if out, err := child.CombinedOutput(); err != nil {
		t.Fatalf("provisioning child: %v\n%s", err, out)
	}
	rec, err := loadRecord(filepath.Join(state, "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Cleanup(context.Background(), state) })
	if !rec.Leader.alive() || !rec.Nspawn.alive() {
		t.Fatalf("abandoned machine is not running: %+v", rec)
	}

	// Another process can still use the abandoned machine through its record.
	m, err := Open(state, "0")
	if err != nil {
		t.Fatal(err)
	}
	if got := mustExec(t, m, "cat", "/proc/sys/kernel/hostname"); got != "juju-0" {
		t.Errorf("opened machine hostname %q", got)
	}

	start := time.Now()
	if err := Cleanup(context.Background(), state); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	t.Logf("cleaned up an abandoned machine in %s", time.Since(start).Round(time.Millisecond))
	assertGone(t, rec)
	assertNoBridge(t, rec.Network)
	if err := Cleanup(context.Background(), state); err != nil {
		t.Errorf("second Cleanup: %v", err)
	}
}

func provisionAndAbandon(t *testing.T, state string) {
	p, err := NewProvider(Options{StateDir: state, Network: testNetwork(1)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := p.Provision(ctx, Spec{ID: "0"}); err != nil {
		t.Fatal(err)
	}
	// Exit without Destroy: the crash under test.
}

// TestProvisionFailureLeavesNothing: a spec nspawn refuses (a bind source that does not exist)
// fails Provision, which must undo the lease, the overlay and the directory it already made.
func TestProvisionFailureLeavesNothing(t *testing.T) {
	requireMachines(t)
	state := t.TempDir()
	network := testNetwork(2)
	p, err := NewProvider(Options{StateDir: state, Network: network})
	if err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing")
	_, err = p.Provision(context.Background(), Spec{ID: "3", Binds: []Bind{{HostPath: missing}}})
	if err == nil {
		t.Fatal("Provision with a missing bind source succeeded")
	}
	if !strings.Contains(err.Error(), "systemd-nspawn exited") {
		t.Errorf("error does not say nspawn failed: %v", err)
	}
	entries, _ := os.ReadDir(state)
	if len(entries) != 0 {
		t.Errorf("state dir keeps %d entries after a failed Provision", len(entries))
	}
	if mounts := mountsUnder(t, state); len(mounts) > 0 {
		t.Errorf("still mounted: %v", mounts)
	}
	leases, _ := os.ReadDir(network.stateDir())
	for _, l := range leases {
		if l.Name() != "lock" {
			t.Errorf("lease %s left behind", l.Name())
		}
	}
	assertNoBridge(t, network)
}

func TestNewProviderRequiresCompleteRootfs(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no state dir", Options{RootfsDir: empty}, "StateDir is required"},
		{"incomplete rootfs", Options{StateDir: t.TempDir(), RootfsDir: empty}, "no complete rootfs at " + empty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewProvider(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewProvider: %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestRootfsMarker(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		marker *string
		want   bool
	}{
		{"no marker", nil, false},
		{"older recipe", ptr("debootstrap bullseye\n"), false},
		{"current recipe", ptr(markerContent()), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if tt.marker != nil {
				writeFile(t, filepath.Join(dir, rootfsMarker), *tt.marker)
			}
			if got := RootfsComplete(dir); got != tt.want {
				t.Errorf("RootfsComplete = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEnsureRootfsReusesComplete(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "rootfs")
	writeFile(t, filepath.Join(dir, rootfsMarker), markerContent())
	writeFile(t, filepath.Join(dir, "etc", "os-release"), "kept")
	// A complete cache is used as is: no debootstrap (none may be installed), no rebuild.
	if err := EnsureRootfs(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "etc", "os-release")); string(got) != "kept" {
		t.Errorf("complete rootfs was rebuilt")
	}
}

func ptr(s string) *string { return &s }

func TestLockFileExcludesAndHonoursContext(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "lock")
	unlock, err := lockFile(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	// A second open file description waits; its context ends first.
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() {
		u, err := lockFile(ctx, path)
		if err == nil {
			u()
		}
		got <- err
	}()
	cancel()
	if err := <-got; err != context.Canceled {
		t.Errorf("waiting for a held lock with a cancelled context: %v", err)
	}
	unlock()
	again, err := lockFile(context.Background(), path)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	again()
}

func TestDirNameAndValidate(t *testing.T) {
	t.Parallel()
	abs := "/tmp/x"
	tests := []struct {
		spec    Spec
		wantDir string
		wantErr bool
	}{
		{Spec{ID: "0"}, "0", false},
		{Spec{ID: "12/lxd/3"}, "12-lxd-3", false},
		{Spec{ID: ""}, "", true},
		{Spec{ID: "0-1"}, "", true},
		{Spec{ID: "../x"}, "", true},
		{Spec{ID: "0", ModelDir: "rel"}, "", true},
		{Spec{ID: "0", Binds: []Bind{{HostPath: abs, Path: "rel"}}}, "", true},
		{Spec{ID: "0", ModelDir: abs, ToolsBinary: abs, Binds: []Bind{{HostPath: abs}}}, "0", false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%+v", tt.spec), func(t *testing.T) {
			t.Parallel()
			err := validateSpec(tt.spec)
			if (err != nil) != tt.wantErr {
				t.Fatalf("validateSpec: %v, want error %v", err, tt.wantErr)
			}
			if err == nil && dirName(tt.spec.ID) != tt.wantDir {
				t.Errorf("dirName(%q) = %q, want %q", tt.spec.ID, dirName(tt.spec.ID), tt.wantDir)
			}
		})
	}
}

// TestProvisionOverDeadMachine: an id whose machine died (killed here, as by a host crash) can be
// provisioned again; a running one cannot be provisioned twice.
func TestProvisionOverDeadMachine(t *testing.T) {
	requireMachines(t)
	network := testNetwork(6)
	p, err := NewProvider(Options{StateDir: t.TempDir(), Network: network})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	first, err := p.Provision(ctx, Spec{ID: "0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = first.Destroy(ctx) })
	if _, err := p.Provision(ctx, Spec{ID: "0"}); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second Provision of a running machine: %v", err)
	}
	old := first.rec
	if err := syscall.Kill(old.Leader.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-first.nspawnDone // nspawn exits once the container's PID 1 is gone
	again, err := p.Provision(ctx, Spec{ID: "0"})
	if err != nil {
		t.Fatalf("Provision over a dead machine: %v", err)
	}
	t.Cleanup(func() { _ = again.Destroy(ctx) })
	if again.rec.Name == old.Name {
		t.Error("the new machine reuses the dead one's name")
	}
	if _, err := os.Stat(filepath.Join("/sys/class/net", "vb-"+old.Name)); err == nil {
		t.Error("the dead machine's link is still there")
	}
	// Destroying the stale handle of the dead machine must not touch the new one in its directory.
	if err := first.Destroy(ctx); err != nil {
		t.Fatalf("Destroy of the dead machine's handle: %v", err)
	}
	if _, err := Open(p.opts.StateDir, "0"); err != nil {
		t.Errorf("the new machine's record is gone after destroying the dead one's handle: %v", err)
	}
	if mounts := mountsUnder(t, again.rec.root()); len(mounts) == 0 {
		t.Error("the new machine's root was unmounted by destroying the dead one's handle")
	}
	if got := mustExec(t, again, "systemctl", "is-system-running"); got != "running" {
		t.Errorf("new machine: %q", got)
	}
	if err := again.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	assertGone(t, again.rec)
	assertNoBridge(t, network)
}

// TestUnmountBelow: what a killed debootstrap leaves mounted in its target (proc, and mounts under
// mounts) is detached before the half-made tree is removed.
func TestUnmountBelow(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount")
	}
	t.Parallel()
	dir := t.TempDir()
	for _, sub := range []string{"proc", "run", "run/lock"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mounts := []struct{ fstype, target string }{{"proc", "proc"}, {"tmpfs", "run"}, {"tmpfs", "run/lock"}}
	for _, m := range mounts {
		if m.target == "run/lock" { // the first tmpfs hid the directory made before it
			if err := os.Mkdir(filepath.Join(dir, m.target), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := syscall.Mount(m.fstype, filepath.Join(dir, m.target), m.fstype, 0, ""); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = unmountBelow(dir) })
	if got := mountsUnder(t, dir); len(got) != 3 {
		t.Fatalf("set up %d mounts, want 3: %v", len(got), got)
	}
	if err := unmountBelow(dir); err != nil {
		t.Fatal(err)
	}
	if got := mountsUnder(t, dir); len(got) != 0 {
		t.Errorf("still mounted: %v", got)
	}
}
