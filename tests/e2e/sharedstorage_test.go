package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/state"
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

// storageModel is a model for the storage tests. On nspawn machines PostgreSQL is deployed and
// related too, so that the units run Concourse and end active, their status naming where the
// release lives. On the local provider hooks run on the host without a service supervisor: units
// end `blocked: cannot run services` once their release is placed, and only storage facts (peer
// data, the shared directory, downloads, shared-storage-info) are checked there.
type storageModel struct {
	*model
	srv *releaseServer
	cm  *concourseModel // nil on the local provider
}

func newStorageModel(t *testing.T, versions ...string) *storageModel {
	t.Helper()
	if built.provider != "nspawn" {
		m := newModel(t)
		return &storageModel{model: m, srv: serveRelease(t, versions...)}
	}
	cm := newConcourseModel(t)
	if !slices.Equal(versions, []string{version}) {
		cm.srv = serveRelease(t, versions...) // newConcourseModel serves only version
	}
	return &storageModel{model: cm.model, srv: cm.srv, cm: cm}
}

// runsServices is whether units can get to active: false on the local provider.
func (m *storageModel) runsServices() bool { return m.cm != nil }

// deploy deploys concourse-ci with n units (related to postgresql on nspawn).
func (m *storageModel) deploy(n int, extra ...string) {
	m.t.Helper()
	if m.cm != nil {
		m.cm.deploy("concourse-ci", n, extra...)
		return
	}
	m.juju(deployArgs(m.model, m.srv, n, extra...)...)
}

// wantStatuses checks every unit is active, names the version and contains want (which says
// where the release lives: "shared storage", "(local)"). On the local provider, where no unit can
// run a service, every unit must be blocked on exactly that, i.e. got past its release.
func wantStatuses(t *testing.T, m *storageModel, units int, want string) {
	t.Helper()
	app := m.status().Applications["concourse-ci"]
	if len(app.Units) != units {
		t.Fatalf("%d units in status, want %d", len(app.Units), units)
	}
	for name, u := range app.Units {
		ws := u.WorkloadStatus
		if !m.runsServices() {
			if ws.Current != "blocked" || !strings.HasPrefix(ws.Message, "cannot run services") {
				t.Errorf("%s: %s %q, want blocked at cannot run services (local provider)", name, ws.Current, ws.Message)
			}
			continue
		}
		if ws.Current != "active" || !strings.Contains(ws.Message, version) || !strings.Contains(ws.Message, want) {
			t.Errorf("%s: %s %q, want active naming %s and %q", name, ws.Current, ws.Message, version, want)
		}
	}
}

// peerBags are the unit bags of concourse-ci's peer relation, by unit, as committed.
func peerBags(t *testing.T, m *model) map[string]state.Bag {
	t.Helper()
	st := m.modelState()
	r := peerRelation(t, st)
	bags := map[string]state.Bag{}
	for _, u := range st.AppUnits("concourse-ci") {
		bags[u] = r.UnitData[u]
	}
	return bags
}

// wantReleases checks, from the peer data every unit publishes, that each of units runs rel (a
// version) from location ("shared" or "local"); no units means every unit of the application.
func wantReleases(t *testing.T, m *model, rel, location string, units ...string) {
	t.Helper()
	bags := peerBags(t, m)
	if len(units) == 0 {
		for u := range bags {
			units = append(units, u)
		}
		slices.Sort(units)
	}
	for _, u := range units {
		bag := bags[u]
		if bag["release"] != rel+"-amd64" || bag["release-location"] != location {
			t.Errorf("%s publishes release %q at %q, want %s-amd64 at %s", u, bag["release"], bag["release-location"], rel, location)
		}
	}
}

// sharedID is the shared storage identity the leader published in the peer application bag; every
// unit publishes the same in its own bag when it uses that storage.
func sharedID(t *testing.T, m *model) string {
	t.Helper()
	r := peerRelation(t, m.modelState())
	id := r.AppData["concourse-ci"]["shared-storage-id"]
	if id == "" {
		t.Fatalf("the leader published no shared storage identity: %v", r.AppData["concourse-ci"])
	}
	for u, bag := range r.UnitData {
		if bag["release-location"] == "shared" && bag["shared-storage-id"] != id {
			t.Errorf("%s uses shared storage %q, the leader published %q", u, bag["shared-storage-id"], id)
		}
	}
	return id
}

// wantSharedRefs checks that the shared directory holds the complete release rel and that each
// of units refers to it there (units/<app>-<n>/ref.json).
func wantSharedRefs(t *testing.T, shared, rel string, units ...string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(shared, "releases", rel+"-amd64", ".complete")); err != nil {
		t.Errorf("no complete %s on shared storage: %v", rel, err)
	}
	for _, u := range units {
		var ref struct{ Unit, Version string }
		data, err := os.ReadFile(filepath.Join(shared, "units", strings.ReplaceAll(u, "/", "-"), "ref.json"))
		if err == nil {
			err = json.Unmarshal(data, &ref)
		}
		if err != nil || ref.Unit != u || ref.Version != rel {
			t.Errorf("%s's reference on shared storage: %+v (%v), want %s", u, ref, err, rel)
		}
	}
}

// wantJujuHookOrder checks a new unit's first hooks are those Juju runs, in Juju's order: one
// relation-created per relation it enters (the peer relation among them; postgresql too on nspawn),
// in no set order among themselves.
func wantJujuHookOrder(t *testing.T, m *model, unit string) {
	t.Helper()
	hooks := m.hooks(unit)
	fail := func() {
		t.Fatalf("%s ran %v, want storage-attached, install, relation-created (cluster's among them), LEADER, config-changed, start", unit, hooks)
	}
	if len(hooks) < 2 || hooks[0] != "concourse-data-storage-attached" || hooks[1] != "install" {
		fail()
	}
	i := 2
	for i < len(hooks) && strings.HasSuffix(hooks[i], "-relation-created") {
		i++
	}
	if !slices.Contains(hooks[2:i], "cluster-relation-created") {
		fail()
	}
	rest := hooks[i:]
	if len(rest) < 3 || rest[0] != "leader-elected" && rest[0] != "leader-settings-changed" || rest[1] != "config-changed" || rest[2] != "start" {
		fail()
	}
	if !slices.Contains(rest[3:], "cluster-relation-joined") {
		t.Errorf("%s never saw a peer join: %v", unit, hooks)
	}
}

// TestSharedStorageOneDownloadForAllMachines: units on one shared directory download the release
// once, and units added later use it too; a removed unit drops its reference and leaves the
// release; a unit whose machine has another filesystem at the shared path installs its own copy.
func TestSharedStorageOneDownloadForAllMachines(t *testing.T) {
	t.Parallel()
	m := newStorageModel(t, version)
	shared := filepath.Join(t.TempDir(), "shared")
	m.deploy(3, sharedDirArgs(shared)...)
	m.juju("wait")

	units := []string{"concourse-ci/0", "concourse-ci/1", "concourse-ci/2"}
	machines := map[string]bool{}
	for _, u := range m.status().Applications["concourse-ci"].Units {
		machines[u.Machine] = true
	}
	if len(machines) != 3 {
		t.Fatalf("3 units on %d machines, want one machine per unit", len(machines))
	}
	for _, u := range units {
		wantJujuHookOrder(t, m.model, u)
	}
	if n := m.srv.downloads(version); n != 1 {
		t.Errorf("3 units on one shared dir downloaded the release %d times, want 1", n)
	}
	wantStatuses(t, m, 3, "shared storage")
	wantReleases(t, m.model, version, "shared")
	wantSharedRefs(t, shared, version, units...)

	m.juju("add-unit", "concourse-ci")
	m.juju("wait")
	if n := m.srv.downloads(version); n != 1 {
		t.Errorf("after add-unit: %d downloads, want still 1", n)
	}
	wantStatuses(t, m, 4, "shared storage")
	wantReleases(t, m.model, version, "shared")
	wantSharedRefs(t, shared, version, "concourse-ci/3")
	wantJujuHookOrder(t, m.model, "concourse-ci/3")
	out := m.juju("run", "concourse-ci/3", "shared-storage-info", "verbose=true")
	for _, want := range []string{"location: shared", "release-count: \"1\"", "concourse-ci-0:", "concourse-ci-3:"} {
		if !strings.Contains(out, want) {
			t.Errorf("shared-storage-info on the added unit lacks %q:\n%s", want, out)
		}
	}

	// A unit whose machine has another filesystem at the shared path installs on its own.
	if built.provider == "local" {
		t.Log("local provider: units see host paths, so no unit can have another filesystem at the same path")
	} else {
		m.juju("add-unit", "concourse-ci", "--shared-dir", filepath.Join(t.TempDir(), "other")+":/srv/concourse-shared")
		m.juju("wait")
		ws := m.status().Applications["concourse-ci"].Units["concourse-ci/4"].WorkloadStatus
		if ws.Current != "active" || !strings.Contains(ws.Message, "local:") || !strings.Contains(ws.Message, "the leader's is") {
			t.Errorf("unit on another filesystem: %s %q, want active on its own copy naming the identity mismatch", ws.Current, ws.Message)
		}
		wantReleases(t, m.model, version, "local", "concourse-ci/4")
		wantReleases(t, m.model, version, "shared", units...)
		if n := m.srv.downloads(version); n != 2 {
			t.Errorf("after a unit on other storage: %d downloads, want 2", n)
		}
		if _, err := os.Stat(filepath.Join(shared, "units", "concourse-ci-4")); !os.IsNotExist(err) {
			t.Errorf("a unit on other storage left a reference on the shared one (err %v)", err)
		}
	}

	// A removed unit stops referring to the shared release (in storage-detaching), so that the
	// leader may collect releases nobody uses; the release stays for the others. The later hooks
	// of the removal (relation-broken, stop, remove) must succeed too: reported, then the storage
	// facts are still checked, storage-detaching having run first.
	m.juju("remove-unit", "concourse-ci/3")
	if out, err := m.cmd("wait"); err != nil {
		t.Errorf("removing a unit: wait: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(shared, "units", "concourse-ci-3")); !os.IsNotExist(err) {
		t.Errorf("removed unit still has a reference on shared storage (err %v)", err)
	}
	wantSharedRefs(t, shared, version, units...)
}

// TestWithoutSharedDirEachMachineDownloads: without shared storage every machine downloads its own
// copy into its concourse-data storage, and a charm refresh keeps it.
func TestWithoutSharedDirEachMachineDownloads(t *testing.T) {
	t.Parallel()
	m := newStorageModel(t, version)
	m.deploy(2)
	m.juju("wait")
	if n := m.srv.downloads(version); n != 2 {
		t.Errorf("2 units without shared storage downloaded %d times, want 2", n)
	}
	wantStatuses(t, m, 2, "(local)")
	wantReleases(t, m.model, version, "local")

	// Refreshing the charm (upgrade-charm, config-changed) keeps the installed release.
	m.juju("refresh", "concourse-ci", "--path", built.charm)
	m.juju("wait")
	hooks := m.hooks("concourse-ci/0")
	if i := slices.Index(hooks, "upgrade-charm"); i < 0 || !slices.Contains(hooks[i:], "config-changed") {
		t.Errorf("refresh ran %v, want upgrade-charm then config-changed", hooks)
	}
	if n := m.srv.downloads(version); n != 2 {
		t.Errorf("after refresh: %d downloads, want still 2", n)
	}
	wantStatuses(t, m, 2, "(local)")
	wantReleases(t, m.model, version, "local")
}

// TestAirGappedInstallFromResource: with the release attached as the concourse-release resource
// and its sha256 pinned, units install without touching download-url, once on shared storage.
func TestAirGappedInstallFromResource(t *testing.T) {
	t.Parallel()
	m := newStorageModel(t, version)
	art := m.srv.artifact(version)
	shared := filepath.Join(t.TempDir(), "shared")
	m.deploy(2, append(sharedDirArgs(shared), "--config", "checksum="+art.SHA256)...)
	// Attached before any hook runs, as `juju deploy --resource` would.
	m.juju("attach-resource", "concourse-ci", "concourse-release="+art.Path)
	m.juju("wait")
	if n := m.srv.downloads(version); n != 0 {
		t.Errorf("%d downloads from download-url with the release attached as a resource, want 0", n)
	}
	wantStatuses(t, m, 2, "shared storage")
	wantReleases(t, m.model, version, "shared")
	wantSharedRefs(t, shared, version, "concourse-ci/0", "concourse-ci/1")
	out := m.juju("run", "concourse-ci/1", "shared-storage-info")
	if !strings.Contains(out, "source: resource") || !strings.Contains(out, art.SHA256) || !strings.Contains(out, "release-count: \"1\"") {
		t.Errorf("shared-storage-info does not show the pinned resource as the one source:\n%s", out)
	}
}

// TestVersionChangeAndBadChecksum: an operator pins a wrong checksum for a new version (blocked,
// saying what was expected, the running release untouched), fixes it, and the old release is
// removed from shared storage once no unit refers to it.
func TestVersionChangeAndBadChecksum(t *testing.T) {
	t.Parallel()
	const next = "7.14.4"
	m := newStorageModel(t, version, next)
	shared := filepath.Join(t.TempDir(), "shared")
	m.deploy(2, sharedDirArgs(shared)...)
	m.juju("wait")
	wantStatuses(t, m, 2, "shared storage")
	oldDir := filepath.Join(shared, "releases", version+"-amd64")

	wrong := strings.Repeat("0", 64)
	m.juju("config", "concourse-ci", "version="+next, "checksum="+wrong)
	m.juju("wait")
	for name, u := range m.status().Applications["concourse-ci"].Units {
		ws := u.WorkloadStatus
		if ws.Current != "blocked" || !strings.Contains(ws.Message, wrong) || !strings.Contains(ws.Message, m.srv.artifact(next).SHA256) {
			t.Errorf("%s: %s %q, want blocked with the expected and actual sha256", name, ws.Current, ws.Message)
		}
	}
	if _, err := os.Stat(filepath.Join(oldDir, ".complete")); err != nil {
		t.Fatalf("the running release was touched by a bad download: %v", err)
	}
	wantReleases(t, m.model, version, "shared") // still what the units run
	if m.runsServices() {
		for _, u := range []string{"concourse-ci/0", "concourse-ci/1"} {
			svc := "concourse-worker"
			if u == "concourse-ci/0" {
				svc = "concourse-web"
			}
			if s := m.activeState(u, svc); s != "active" {
				t.Errorf("%s: %s is %s after a bad download, want it still running the old release", u, svc, s)
			}
		}
	}

	m.juju("config", "concourse-ci", "checksum=")
	m.juju("wait")
	m.juju("update-status") // the leader collects releases no unit uses any more
	m.juju("wait")
	app := m.status().Applications["concourse-ci"]
	for name, u := range app.Units {
		if ws := u.WorkloadStatus; m.runsServices() && (ws.Current != "active" || !strings.Contains(ws.Message, next)) {
			t.Errorf("%s: %s %q, want active on %s", name, ws.Current, ws.Message, next)
		}
	}
	wantReleases(t, m.model, next, "shared")
	wantSharedRefs(t, shared, next, "concourse-ci/0", "concourse-ci/1")
	// The application version is set by units that run Concourse: not on the local provider.
	if m.runsServices() && app.Version != next {
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
	m := newStorageModel(t, version)
	shared := filepath.Join(t.TempDir(), "shared")
	m.deploy(2, sharedDirArgs(shared)...)
	m.juju("wait")
	id := sharedID(t, m.model)

	m.juju("set-leader", "concourse-ci/1")
	m.juju("wait")
	if !m.status().Applications["concourse-ci"].Units["concourse-ci/1"].Leader {
		t.Fatal("concourse-ci/1 is not the leader after set-leader")
	}
	m.juju("update-status")
	m.juju("wait")
	wantStatuses(t, m, 2, "shared storage")
	wantReleases(t, m.model, version, "shared")
	if now := sharedID(t, m.model); now != id {
		t.Errorf("the new leader published shared storage %q, the old one %q", now, id)
	}

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
	wantReleases(t, m.model, version, "shared")
	wantSharedRefs(t, shared, version, "concourse-ci/0", "concourse-ci/1")
	if n := m.srv.downloads(version); n != 1 {
		t.Errorf("%d downloads, want 1", n)
	}
}
