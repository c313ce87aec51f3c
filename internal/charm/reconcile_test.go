package charm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju/jujutest"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/releasetest"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/storage"
)

// release serves version(s) of a small fixture release from a loopback server.
func serveReleases(t *testing.T, versions ...string) *releasetest.Server {
	t.Helper()
	dir := t.TempDir()
	for _, v := range versions {
		if _, err := releasetest.WriteRelease(dir, "amd64", releasetest.TarballOptions{Version: v, PadBytes: 256 << 10}); err != nil {
			t.Fatal(err)
		}
	}
	return releasetest.StartServer(t, dir)
}

func testConfig(srv *releasetest.Server, sharedPath string) map[string]any {
	return map[string]any{
		"mode": "auto", "version": "1.2.3", "download-url": srv.URLTemplate(), "checksum": "",
		"shared-storage-path": sharedPath, "shared-storage-require-mount": false, "log-level": "info", "runtime": "containerd",
	}
}

func downloads(srv *releasetest.Server, version string) int {
	return srv.Stats(releasetest.URLPath(version, "amd64")).Requests
}

func unitNames(n int) []string {
	var names []string
	for i := range n {
		names = append(names, fmt.Sprintf("concourse-ci/%d", i))
	}
	return names
}

// reconcileAll runs every unit's reconcile at once, as Juju runs hooks of different units, and
// again while any unit's status changes: what one unit publishes wakes the others with
// relation-changed, and so on until the model settles.
func reconcileAll(t *testing.T, m *fakeModel, names []string) {
	t.Helper()
	for range 5 {
		before := map[string]juju.Status{}
		for _, n := range names {
			before[n] = m.lastStatus(n)
		}
		reconcileRound(t, m, names)
		settled := true
		for _, n := range names {
			settled = settled && m.lastStatus(n) == before[n]
		}
		if settled {
			return
		}
	}
}

func reconcileRound(t *testing.T, m *fakeModel, names []string) {
	t.Helper()
	units := map[string]*Charm{}
	for _, name := range names {
		units[name] = m.unit(name)
	}
	var wg sync.WaitGroup
	for name, c := range units {
		wg.Go(func() {
			if err := c.Reconcile(context.Background()); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		})
	}
	wg.Wait()
}

// sharedModel is a model whose units share one root, with the leader's identity of it already
// published (as after the leader's first hook), so the others may start together.
func sharedModel(t *testing.T, srv *releasetest.Server) (*fakeModel, string, *storage.Root) {
	t.Helper()
	shared := t.TempDir()
	m := newFakeModel(t, testConfig(srv, shared))
	root, err := storage.Open(shared)
	if err != nil {
		t.Fatal(err)
	}
	m.app[keySharedID] = root.Identity().UUID
	return m, shared, root
}

func TestSharedStorageInstallsOnceForAllUnits(t *testing.T) {
	t.Parallel()
	srv := serveReleases(t, "1.2.3")
	m, _, root := sharedModel(t, srv)

	names := unitNames(5)
	reconcileAll(t, m, names)

	if n := downloads(srv, "1.2.3"); n != 1 {
		t.Errorf("%d downloads of the release for 5 units on one shared root, want 1", n)
	}
	for _, name := range names {
		st := m.lastStatus(name)
		if st.State != juju.Active || !strings.Contains(st.Message, "1.2.3") || !strings.Contains(st.Message, "shared storage") {
			t.Errorf("%s status %+v, want active naming 1.2.3 and shared storage", name, st)
		}
		if m.units[name][keyReleaseHome] != "shared" || m.units[name][keySharedID] != root.Identity().UUID {
			t.Errorf("%s peer data %v", name, m.units[name])
		}
	}
	if _, _, ok, err := root.Release("1.2.3", "amd64"); !ok || err != nil {
		t.Errorf("release not complete on the shared root: %v", err)
	}
}

func TestLeaderPublishesIdentityThenOthersFollow(t *testing.T) {
	t.Parallel()
	srv := serveReleases(t, "1.2.3")
	m := newFakeModel(t, testConfig(srv, t.TempDir()))

	follower := m.unit("concourse-ci/1")
	if err := follower.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := m.lastStatus("concourse-ci/1"); st.State != juju.Waiting || !strings.Contains(st.Message, "leader") {
		t.Fatalf("follower before the leader: status %+v, want waiting for the leader", st)
	}
	if n := downloads(srv, "1.2.3"); n != 0 {
		t.Fatalf("follower downloaded %d times before knowing the leader's storage", n)
	}
	reconcileAll(t, m, []string{"concourse-ci/0"})
	if m.app[keySharedID] == "" {
		t.Fatal("leader did not publish the shared storage identity")
	}
	reconcileAll(t, m, []string{"concourse-ci/1"})
	if n := downloads(srv, "1.2.3"); n != 1 {
		t.Errorf("%d downloads, want 1", n)
	}
}

func TestWithoutSharedPathEachUnitInstallsLocally(t *testing.T) {
	t.Parallel()
	srv := serveReleases(t, "1.2.3")
	m := newFakeModel(t, testConfig(srv, ""))
	names := unitNames(3)
	reconcileAll(t, m, names)
	if n := downloads(srv, "1.2.3"); n != 3 {
		t.Errorf("%d downloads for 3 units without shared storage, want 3", n)
	}
	for _, name := range names {
		if st := m.lastStatus(name); st.State != juju.Active || !strings.HasSuffix(st.Message, "(local)") {
			t.Errorf("%s status %+v, want active ... (local)", name, st)
		}
	}
}

func TestOtherFilesystemThanTheLeadersFallsBackToLocal(t *testing.T) {
	t.Parallel()
	srv := serveReleases(t, "1.2.3")
	leaderDir, otherDir := t.TempDir(), t.TempDir()
	m := newFakeModel(t, testConfig(srv, leaderDir))
	reconcileAll(t, m, []string{"concourse-ci/0"})

	// unit 1 has another filesystem mounted at the same path: simulate with its own directory.
	m.setConfig("shared-storage-path", otherDir)
	reconcileAll(t, m, []string{"concourse-ci/1"})

	st := m.lastStatus("concourse-ci/1")
	if st.State != juju.Active || !strings.Contains(st.Message, "local:") || !strings.Contains(st.Message, "the leader's is") {
		t.Errorf("status %+v, want active on a local copy naming the identity mismatch", st)
	}
	entries, _ := os.ReadDir(filepath.Join(otherDir, "releases"))
	for _, e := range entries {
		t.Errorf("unit wrote %s into the filesystem that is not the leader's", e.Name())
	}
	if n := downloads(srv, "1.2.3"); n != 2 {
		t.Errorf("%d downloads, want 2 (the leader's shared copy and the unit's own)", n)
	}
}

func TestSharedPathThatIsNotAMountPoint(t *testing.T) {
	t.Parallel()
	srv := serveReleases(t, "1.2.3")
	cfg := testConfig(srv, t.TempDir())
	cfg["shared-storage-require-mount"] = true
	m := newFakeModel(t, cfg)
	reconcileAll(t, m, []string{"concourse-ci/0"})
	if st := m.lastStatus("concourse-ci/0"); st.State != juju.Active || !strings.Contains(st.Message, "is not a mount point") {
		t.Errorf("status %+v, want active on a local copy saying the path is not a mount point", st)
	}
}

func TestBadChecksumBlocksAndKeepsTheInstalledRelease(t *testing.T) {
	t.Parallel()
	srv := serveReleases(t, "1.2.3", "1.2.4")
	m := newFakeModel(t, testConfig(srv, ""))
	c := m.unit("concourse-ci/0")
	if err := c.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	m.setConfig("version", "1.2.4")
	m.setConfig("checksum", strings.Repeat("ab", 32))
	if err := c.Reconcile(context.Background()); err != nil {
		t.Fatalf("a bad download is the operator's to fix, not a hook error: %v", err)
	}
	st := m.lastStatus("concourse-ci/0")
	if st.State != juju.Blocked || !strings.Contains(st.Message, strings.Repeat("ab", 32)) || !strings.Contains(st.Message, "untouched") {
		t.Fatalf("status %+v, want blocked with the expected checksum", st)
	}
	p, err := readPlacement(m.unitDataDir(t, c))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok, _ := p.root.Release("1.2.3", "amd64"); !ok {
		t.Error("the installed 1.2.3 release was damaged by a bad 1.2.4 download")
	}
	if _, _, ok, _ := p.root.Release("1.2.4", "amd64"); ok {
		t.Error("a release that failed verification was marked complete")
	}
}

func TestBadConfigBlocksNamingTheOption(t *testing.T) {
	t.Parallel()
	srv := serveReleases(t)
	cfg := testConfig(srv, "")
	cfg["version"] = "latest"
	m := newFakeModel(t, cfg)
	reconcileRound(t, m, []string{"concourse-ci/0"})
	st := m.lastStatus("concourse-ci/0")
	if st.State != juju.Blocked || !strings.Contains(st.Message, `"version"`) {
		t.Errorf("status %+v, want blocked naming version", st)
	}
	if len(m.statuses("concourse-ci/0")) != 1 || len(srv.AllStats()) != 0 {
		t.Error("a bad config must change nothing but the status")
	}
}

// unitDataDir is the unit's concourse-data location, as its storage-get answers.
func (m *fakeModel) unitDataDir(t *testing.T, c *Charm) string {
	t.Helper()
	dir, err := c.dataDir(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestMain(m *testing.M) { os.Exit(releasetest.RunTests(m)) }

func TestLeaderThatCannotUseTheSharedPathSaysSo(t *testing.T) {
	t.Parallel()
	srv := serveReleases(t, "1.2.3")
	cfg := testConfig(srv, filepath.Join(t.TempDir(), "not-mounted-here"))
	m := newFakeModel(t, cfg)
	reconcileAll(t, m, []string{"concourse-ci/0"})
	if got := m.app[keySharedProblem]; !strings.Contains(got, "does not exist") || m.app[keySharedID] != "" {
		t.Fatalf("leader published %v, want no identity and the problem", m.app)
	}
}

func TestFollowerDoesNotWaitForALeaderWithoutSharedStorage(t *testing.T) {
	t.Parallel()
	srv := serveReleases(t, "1.2.3")
	m := newFakeModel(t, testConfig(srv, t.TempDir()))
	m.app[keySharedProblem] = "shared-storage-path /x is not a mount point"
	reconcileAll(t, m, []string{"concourse-ci/1"})
	// No leader has run, so the unit waits for its role; its release is already placed locally.
	p, err := readPlacement(m.dataDirs["concourse-ci/1"])
	if err != nil || p.Shared || !strings.Contains(p.Note, "the leader cannot use it either") {
		t.Errorf("placement %+v (%v), want a local copy saying the leader cannot use the path", p, err)
	}
	if st := m.lastStatus("concourse-ci/1"); strings.Contains(st.Message, "identity") {
		t.Errorf("status %+v: waits for the identity of a path the leader cannot use", st)
	}
}

func TestStorageDetachingForgetsTheUnitOnSharedStorage(t *testing.T) {
	t.Parallel()
	srv := serveReleases(t, "1.2.3")
	shared := t.TempDir()
	m := newFakeModel(t, testConfig(srv, shared))
	reconcileAll(t, m, []string{"concourse-ci/0"})
	c := m.unit("concourse-ci/0")
	root, err := storage.Open(shared)
	if err != nil {
		t.Fatal(err)
	}
	// The fake gives each Charm its own data dir: reconcile this one before it detaches.
	if err := c.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if refs, _ := root.UnitRefs(); refs["concourse-ci/0"].Version != "1.2.3" {
		t.Fatalf("refs before removal: %v", refs)
	}
	c.env.StorageLocation = m.unitDataDir(t, c)
	if err := c.RunHook(context.Background(), "concourse-data-storage-detaching"); err != nil {
		t.Fatal(err)
	}
	if refs, _ := root.UnitRefs(); len(refs) != 0 {
		t.Errorf("refs after storage-detaching: %v, want none", refs)
	}
	if _, _, ok, _ := root.Release("1.2.3", "amd64"); !ok {
		t.Error("the release itself must stay for the other units")
	}
}

// A departing unit's own relation-departed/broken hooks come after its storage was detached: they
// must not reconcile (which would write to the detached storage) nor touch anything.
func TestDepartingUnitDoesNotReconcile(t *testing.T) {
	t.Parallel()
	r := jujutest.New()
	c := New(Options{Env: juju.Env{UnitName: "concourse-ci/3", DepartingUnit: "concourse-ci/3"}, Tools: juju.NewClient(r)})
	for _, hook := range []string{"cluster-relation-departed", "cluster-relation-broken"} {
		if err := c.RunHook(context.Background(), hook); err != nil {
			t.Fatalf("%s: %v", hook, err)
		}
	}
	if calls := r.Argv(); len(calls) != 0 {
		t.Errorf("a departing unit ran hook tools: %v", calls)
	}
}

// TestWaitingUnitNamesTheDownloader: while concourse-ci/0 downloads into the shared root,
// concourse-ci/1 says whom it waits for, then uses the same release without downloading.
func TestWaitingUnitNamesTheDownloader(t *testing.T) {
	t.Parallel()
	srv := serveReleases(t, "1.2.3")
	m, _, _ := sharedModel(t, srv)

	downloading, waiting := make(chan struct{}), make(chan struct{})
	var once0, once1 sync.Once
	m.onStatus = func(unit string, st juju.Status) {
		switch {
		case unit == "concourse-ci/0" && strings.HasPrefix(st.Message, "Downloading Concourse 1.2.3"):
			// Hold the downloader (it holds the install lock) until the other unit waits for it.
			once0.Do(func() { close(downloading); <-waiting })
		case unit == "concourse-ci/1" && st.State == juju.Waiting && strings.Contains(st.Message, "downloading"):
			if st.Message != "Waiting for concourse-ci/0 to finish downloading 1.2.3" {
				t.Errorf("waiting status %q", st.Message)
			}
			once1.Do(func() { close(waiting) })
		}
	}
	errs := make(chan error, 2)
	go func() { errs <- m.unit("concourse-ci/0").Reconcile(context.Background()) }()
	<-downloading
	go func() { errs <- m.unit("concourse-ci/1").Reconcile(context.Background()) }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := downloads(srv, "1.2.3"); n != 1 {
		t.Errorf("%d downloads, want 1", n)
	}
	reconcileAll(t, m, []string{"concourse-ci/0", "concourse-ci/1"}) // they meet over the peer relation
	if st := m.lastStatus("concourse-ci/1"); st.State != juju.Active {
		t.Errorf("waiting unit ended %+v, want active", st)
	}
	if n := downloads(srv, "1.2.3"); n != 1 {
		t.Errorf("%d downloads after settling, want 1", n)
	}
}

// TestMovingToSharedStorageDropsTheOwnCopy: a unit that installed on its own and then gets a usable
// shared path moves there and removes its private copy; moving back drops its shared reference.
func TestMovingToSharedStorageDropsTheOwnCopy(t *testing.T) {
	t.Parallel()
	srv := serveReleases(t, "1.2.3")
	m := newFakeModel(t, testConfig(srv, ""))
	c := m.unit("concourse-ci/0")
	if err := c.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	local, err := readPlacement(m.unitDataDir(t, c))
	if err != nil || local.Shared {
		t.Fatalf("first placement %+v (%v), want local", local, err)
	}

	shared := t.TempDir()
	m.setConfig("shared-storage-path", shared)
	if err := c.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := m.lastStatus("concourse-ci/0"); !strings.Contains(st.Message, "shared storage") {
		t.Fatalf("status %+v, want shared storage", st)
	}
	if _, _, ok, _ := local.root.Release("1.2.3", "amd64"); ok {
		t.Error("the private copy is still there after moving to shared storage")
	}

	m.setConfig("shared-storage-path", "")
	if err := c.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	root, err := storage.Open(shared)
	if err != nil {
		t.Fatal(err)
	}
	if refs, _ := root.UnitRefs(); len(refs) != 0 {
		t.Errorf("shared refs after moving back to a local copy: %v, want none", refs)
	}
	if n := downloads(srv, "1.2.3"); n != 3 {
		t.Errorf("%d downloads, want 3 (local, shared, local again)", n)
	}
}

func TestSharedStorageInfoAction(t *testing.T) {
	t.Parallel()
	srv := serveReleases(t, "1.2.3")
	shared := t.TempDir()
	m := newFakeModel(t, testConfig(srv, shared))
	c := m.unit("concourse-ci/0")
	if err := c.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := m.runners["concourse-ci/0"]
	r.SetOutput("action-get", `{"verbose":true}`)
	if err := c.RunAction(context.Background(), "shared-storage-info"); err != nil {
		t.Fatal(err)
	}
	calls := r.Calls("action-set")
	if len(calls) != 1 {
		t.Fatalf("action-set called %d times", len(calls))
	}
	got := strings.Join(calls[0].Args, " ")
	for _, want := range []string{"location=shared", "root=" + shared, "release-count=1",
		"releases.r0.name=1.2.3-amd64", "releases.r0.installed-by=concourse-ci/0",
		"units.concourse-ci-0.releases=1.2.3-amd64", "units.concourse-ci-0.last-seen="} {
		if !strings.Contains(got, want) {
			t.Errorf("action results %q lack %q", got, want)
		}
	}
}
