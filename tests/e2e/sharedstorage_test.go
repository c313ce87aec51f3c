package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const version = "7.14.3"

// deployArgs deploys the packed charm with n units against srv.
func deployArgs(m *model, srv *releaseServer, n int, extra ...string) []string {
	args := []string{"deploy", built.charm, "concourse-ci", "-n", fmt.Sprint(n), "--provider", built.provider,
		"--storage", "concourse-data=1G",
		"--config", "version=" + version, "--config", "download-url=" + srv.urlTemplate()}
	if built.provider == "local" {
		// The local provider links shared dirs instead of mounting them.
		args = append(args, "--config", "shared-storage-require-mount=false")
	}
	return append(args, extra...)
}

// sharedDirArgs gives every machine hostDir at /srv/concourse-shared (an LXD disk device). The
// local provider runs hooks on the host, where the charm must be pointed at hostDir itself.
func sharedDirArgs(hostDir string) []string {
	if built.provider == "local" {
		return []string{"--shared-dir", hostDir + ":" + hostDir, "--config", "shared-storage-path=" + hostDir}
	}
	return []string{"--shared-dir", hostDir + ":/srv/concourse-shared", "--config", "shared-storage-path=/srv/concourse-shared"}
}

// wantStatuses checks every unit is active, names the version and contains want.
func wantStatuses(t *testing.T, m *model, units int, want string) {
	t.Helper()
	app := m.status().Applications["concourse-ci"]
	if len(app.Units) != units {
		t.Fatalf("%d units in status, want %d", len(app.Units), units)
	}
	for name, u := range app.Units {
		ws := u.WorkloadStatus
		if ws.Current != "active" || !strings.Contains(ws.Message, version) || !strings.Contains(ws.Message, want) {
			t.Errorf("%s: %s %q, want active naming %s and %q", name, ws.Current, ws.Message, version, want)
		}
	}
}

// wantJujuHookOrder checks a new unit's first hooks are those Juju runs, in Juju's order.
func wantJujuHookOrder(t *testing.T, m *model, unit string) {
	t.Helper()
	hooks := m.hooks(unit)
	want := []string{"concourse-data-storage-attached", "install", "cluster-relation-created", "LEADER", "config-changed", "start"}
	if len(hooks) < len(want) {
		t.Fatalf("%s ran %v, want at least %v", unit, hooks, want)
	}
	for i, w := range want {
		ok := hooks[i] == w || w == "LEADER" && (hooks[i] == "leader-elected" || hooks[i] == "leader-settings-changed")
		if !ok {
			t.Fatalf("%s ran %v, want it to start with %v", unit, hooks, want)
		}
	}
	if !slices.Contains(hooks[len(want):], "cluster-relation-joined") {
		t.Errorf("%s never saw a peer join: %v", unit, hooks)
	}
}

func TestSharedStorageOneDownloadForAllMachines(t *testing.T) {
	t.Parallel()
	m := newModel(t)
	srv := serveRelease(t, version)
	shared := filepath.Join(t.TempDir(), "shared")
	m.juju(deployArgs(m, srv, 3, sharedDirArgs(shared)...)...)
	m.juju("wait")

	st := m.status()
	if len(st.Machines) != 3 {
		t.Fatalf("%d machines, want one per unit", len(st.Machines))
	}
	for i := range 3 {
		wantJujuHookOrder(t, m, fmt.Sprintf("concourse-ci/%d", i))
	}
	if n := srv.downloads(version); n != 1 {
		t.Errorf("3 units on one shared dir downloaded the release %d times, want 1", n)
	}
	wantStatuses(t, m, 3, "shared storage")

	m.juju("add-unit", "concourse-ci", "-n", "2")
	m.juju("wait")
	if n := srv.downloads(version); n != 1 {
		t.Errorf("after add-unit -n 2: %d downloads, want still 1", n)
	}
	wantStatuses(t, m, 5, "shared storage")
	wantJujuHookOrder(t, m, "concourse-ci/4")

	// A removed unit stops referring to the shared release (in storage-detaching), so that the
	// leader may collect releases nobody uses; the release stays for the others.
	m.juju("remove-unit", "concourse-ci/4")
	m.juju("wait")
	if _, err := os.Stat(filepath.Join(shared, "units", "concourse-ci-4")); !os.IsNotExist(err) {
		t.Errorf("removed unit still has a reference on shared storage (err %v)", err)
	}
	if _, err := os.Stat(filepath.Join(shared, "releases", version+"-amd64", ".complete")); err != nil {
		t.Errorf("the shared release went with the removed unit: %v", err)
	}

	// A unit whose machine has another filesystem at the shared path installs on its own.
	if built.provider == "local" {
		t.Log("local provider: units see host paths, so no unit can have another filesystem at the same path")
		return
	}
	m.juju("add-unit", "concourse-ci", "--shared-dir", filepath.Join(t.TempDir(), "other")+":/srv/concourse-shared")
	m.juju("wait")
	ws := m.status().Applications["concourse-ci"].Units["concourse-ci/5"].WorkloadStatus
	if ws.Current != "active" || !strings.Contains(ws.Message, "local:") || !strings.Contains(ws.Message, "the leader's is") {
		t.Errorf("unit on another filesystem: %s %q, want active on its own copy naming the identity mismatch", ws.Current, ws.Message)
	}
	if n := srv.downloads(version); n != 2 {
		t.Errorf("after a unit on other storage: %d downloads, want 2", n)
	}
}

func TestWithoutSharedDirEachMachineDownloads(t *testing.T) {
	t.Parallel()
	m := newModel(t)
	srv := serveRelease(t, version)
	m.juju(deployArgs(m, srv, 3)...)
	m.juju("wait")
	if n := srv.downloads(version); n != 3 {
		t.Errorf("3 units without shared storage downloaded %d times, want 3", n)
	}
	wantStatuses(t, m, 3, "(local)")

	// Refreshing the charm (upgrade-charm, config-changed) keeps the installed release.
	m.juju("refresh", "concourse-ci", "--path", built.charm)
	m.juju("wait")
	hooks := m.hooks("concourse-ci/0")
	if i := slices.Index(hooks, "upgrade-charm"); i < 0 || !slices.Contains(hooks[i:], "config-changed") {
		t.Errorf("refresh ran %v, want upgrade-charm then config-changed", hooks)
	}
	if n := srv.downloads(version); n != 3 {
		t.Errorf("after refresh: %d downloads, want still 3", n)
	}
	wantStatuses(t, m, 3, "(local)")
}

// TestAirGappedInstallFromResource: with the release attached as the concourse-release resource
// and its sha256 pinned, units install without touching download-url, once on shared storage.
func TestAirGappedInstallFromResource(t *testing.T) {
	t.Parallel()
	m := newModel(t)
	srv := serveRelease(t, version)
	art := srv.artifact(version)
	shared := filepath.Join(t.TempDir(), "shared")
	m.juju(deployArgs(m, srv, 2, append(sharedDirArgs(shared), "--config", "checksum="+art.SHA256)...)...)
	// Attached before any hook runs, as `juju deploy --resource` would.
	m.juju("attach-resource", "concourse-ci", "concourse-release="+art.Path)
	m.juju("wait")
	if n := srv.downloads(version); n != 0 {
		t.Errorf("%d downloads from download-url with the release attached as a resource, want 0", n)
	}
	wantStatuses(t, m, 2, "shared storage")
	out := m.juju("run", "concourse-ci/1", "shared-storage-info")
	if !strings.Contains(out, "source: resource") || !strings.Contains(out, art.SHA256) {
		t.Errorf("shared-storage-info does not show the pinned resource as the source:\n%s", out)
	}
}

// TestVersionChangeAndBadChecksum: an operator pins a wrong checksum for a new version (blocked,
// saying what was expected, the running release untouched), fixes it, and the old release is
// removed from shared storage once no unit refers to it.
func TestVersionChangeAndBadChecksum(t *testing.T) {
	t.Parallel()
	const next = "7.14.4"
	m := newModel(t)
	srv := serveRelease(t, version, next)
	shared := filepath.Join(t.TempDir(), "shared")
	m.juju(deployArgs(m, srv, 2, sharedDirArgs(shared)...)...)
	m.juju("wait")
	oldDir := filepath.Join(shared, "releases", version+"-amd64")

	wrong := strings.Repeat("0", 64)
	m.juju("config", "concourse-ci", "version="+next, "checksum="+wrong)
	m.juju("wait")
	for name, u := range m.status().Applications["concourse-ci"].Units {
		ws := u.WorkloadStatus
		if ws.Current != "blocked" || !strings.Contains(ws.Message, wrong) || !strings.Contains(ws.Message, srv.artifact(next).SHA256) {
			t.Errorf("%s: %s %q, want blocked with the expected and actual sha256", name, ws.Current, ws.Message)
		}
	}
	if _, err := os.Stat(filepath.Join(oldDir, ".complete")); err != nil {
		t.Fatalf("the running release was touched by a bad download: %v", err)
	}

	m.juju("config", "concourse-ci", "checksum=")
	m.juju("wait")
	m.juju("update-status") // the leader collects releases no unit uses any more
	m.juju("wait")
	app := m.status().Applications["concourse-ci"]
	for name, u := range app.Units {
		if ws := u.WorkloadStatus; ws.Current != "active" || !strings.Contains(ws.Message, next) {
			t.Errorf("%s: %s %q, want active on %s", name, ws.Current, ws.Message, next)
		}
	}
	if app.Version != next {
		t.Errorf("application version %q, want %s", app.Version, next)
	}
	if _, err := os.Stat(oldDir); !os.IsNotExist(err) {
		t.Errorf("%s still on shared storage after every unit moved to %s (err %v)", version, next, err)
	}
}

// TestLeadershipChangeAndBadConfig: a new leader keeps everyone on the shared release; a bad config
// value blocks every unit naming the option, and fixing it brings them back without a download.
func TestLeadershipChangeAndBadConfig(t *testing.T) {
	t.Parallel()
	m := newModel(t)
	srv := serveRelease(t, version)
	m.juju(deployArgs(m, srv, 2, sharedDirArgs(filepath.Join(t.TempDir(), "shared"))...)...)
	m.juju("wait")

	m.juju("set-leader", "concourse-ci/1")
	m.juju("wait")
	if !m.status().Applications["concourse-ci"].Units["concourse-ci/1"].Leader {
		t.Fatal("concourse-ci/1 is not the leader after set-leader")
	}
	m.juju("update-status")
	m.juju("wait")
	wantStatuses(t, m, 2, "shared storage")

	m.juju("config", "concourse-ci", "mode=both")
	m.juju("wait")
	for name, u := range m.status().Applications["concourse-ci"].Units {
		if ws := u.WorkloadStatus; ws.Current != "blocked" || !strings.Contains(ws.Message, `"mode"`) {
			t.Errorf("%s: %s %q, want blocked naming mode", name, ws.Current, ws.Message)
		}
	}
	m.juju("config", "concourse-ci", "mode=auto")
	m.juju("wait")
	wantStatuses(t, m, 2, "shared storage")
	if n := srv.downloads(version); n != 1 {
		t.Errorf("%d downloads, want 1", n)
	}
}
