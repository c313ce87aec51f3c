package sharedinstall

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/releasetest"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/storage"
)

// crashKind is how one install is interrupted.
type crashKind int

const (
	// killDownload stops the unit at a random byte offset of the download (which is also the
	// unpack: they stream together) and kills it there.
	killDownload crashKind = iota
	killVerify             // stopped while about to run concourse --version
	killSync               // stopped while about to flush the staging filesystem
	// killFree lets the unit run on from the sync point and kills it a random moment later, within
	// the time the rest of an install took last round: it reaches the steps after Fill (syncfs,
	// seal, rename, marker) that report no progress.
	killFree
)

func (k crashKind) String() string {
	return [...]string{"download", "verify", "sync", "free"}[k]
}

// crashSchedule cycles through the kinds so every run covers each of them several times.
var crashSchedule = []crashKind{killDownload, killDownload, killDownload, killVerify, killSync, killFree, killFree, killFree}

// crashSeed is SHAREDINSTALL_SEED, else a fixed seed: a failure can be replayed.
func crashSeed(t *testing.T) uint64 {
	if s := os.Getenv("SHAREDINSTALL_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("SHAREDINSTALL_SEED=%q: %v", s, err)
		}
		return n
	}
	return 20240501
}

// The unit downloading a release is SIGKILLed at 24 seeded random moments, sometimes twice in a
// row. After each kill no marker may sit beside a partial tree; then a fresh unit must complete
// the install (downloading again only if there was no marker), leaving one complete release, no
// staging or trash, and the install lock free.
func TestDownloaderKilledAtRandomMoments(t *testing.T) {
	t.Parallel()
	const kills = 24
	seed := crashSeed(t)
	t.Logf("seed %d (set SHAREDINSTALL_SEED to replay)", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	root, served := tempRoot(t), t.TempDir()
	srv := releasetest.StartServer(t, served)
	outcomes := map[string]int{}
	postSync := 20 * time.Millisecond // until the first recovery measures it
	manifests := map[string]map[string]entry{}
	for i := 0; i < kills; i++ {
		version := fmt.Sprintf("2.0.%d", i)
		art, err := releasetest.WriteRelease(served, testArch, releasetest.TarballOptions{Version: version, PadBytes: 6 << 20, Seed: uint64(i)})
		if err != nil {
			t.Fatal(err)
		}
		want := manifest(t, art.Path)
		manifests[version] = want
		spec := unitSpec{root: root, unit: unitName(0), version: version, arch: testArch, urlTemplate: srv.URLTemplate()}
		kind := crashSchedule[i%len(crashSchedule)]
		state := killAt(t, rng, spec, kind, postSync, art, want)
		outcomes[state]++
		if i%4 == 1 && state != stateComplete { // a second crash on top of the first one's debris
			outcomes[killAt(t, rng, spec, crashSchedule[rng.IntN(len(crashSchedule))], postSync, art, want)]++
		}
		postSync = recoverInstall(t, srv, spec, art, want)
	}
	t.Logf("states left by the kills: %v", outcomes)
	r, err := storage.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	for version, want := range manifests { // later crashes never damaged earlier releases
		dir, _, ok, err := r.Release(version, testArch)
		if err != nil || !ok {
			t.Fatalf("release %s gone at the end: %v", version, err)
		}
		assertCompleteRelease(t, dir, version, want)
	}
}

// killAt runs one unit, kills it as kind says, checks the root and names the state it was left in.
func killAt(t *testing.T, rng *rand.Rand, spec unitSpec, kind crashKind, postSync time.Duration, art releasetest.Artifact, want map[string]entry) string {
	t.Helper()
	spec.stopBlock = kind != killFree
	switch kind {
	case killDownload:
		spec.stopAt = fmt.Sprintf("download:%d", rng.Int64N(art.Size))
	case killVerify:
		spec.stopAt = "verify"
	case killSync, killFree:
		spec.stopAt = "sync"
	}
	delay := time.Duration(rng.Int64N(int64(postSync) * 5 / 4))
	p := startUnit(t, spec, nil)
	p.expect(t, "ready")
	p.expect(t, "at ") // the release is incomplete, so the unit installs and reaches the point
	if kind == killFree {
		// Not synchronisation: the delay only picks a moment in the steps that report nothing.
		time.Sleep(delay)
	}
	p.kill(t)
	state := inspectAfterKill(t, spec, want)
	// An exact kill stops an unfinished install: its staging must be there and no marker. (The
	// root may also hold an unmarked tree left by an earlier free kill of the same version: the
	// install only replaces that at its rename.)
	if kind != killFree && (state == stateComplete || len(debris(t, spec.root)) == 0) {
		t.Fatalf("kill at %s left %q, want the staging of an unfinished install", spec.stopAt, state)
	}
	return state
}

// States a kill can leave the root in.
const (
	stateComplete = "complete"           // marker written: the tree must be whole
	stateUnmarked = "renamed, no marker" // between rename and marker: not trusted, reinstalled
	stateStaging  = "staging left"       // staging or trash for the next lock holder to remove
	stateClean    = "nothing left"
)

// inspectAfterKill fails if a marker promises a tree that is not whole, and names what is there.
func inspectAfterKill(t *testing.T, spec unitSpec, want map[string]entry) string {
	t.Helper()
	r, err := storage.Open(spec.root)
	if err != nil {
		t.Fatal(err)
	}
	dir, _, marked, err := r.Release(spec.version, spec.arch)
	if err != nil {
		t.Fatal(err)
	}
	if marked {
		assertCompleteRelease(t, dir, spec.version, want)
		return stateComplete
	}
	name, err := storage.ReleaseName(spec.version, spec.arch)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(r.Path(), "releases", name)); err == nil {
		return stateUnmarked
	}
	if len(debris(t, spec.root)) > 0 {
		return stateStaging
	}
	return stateClean
}

// recoverInstall runs a fresh unit to completion and checks it finished the job exactly once. It
// returns how long the unit took from its sync point to its result, when it installed.
func recoverInstall(t *testing.T, srv *releasetest.Server, spec unitSpec, art releasetest.Artifact, want map[string]entry) time.Duration {
	t.Helper()
	r, err := storage.Open(spec.root)
	if err != nil {
		t.Fatal(err)
	}
	_, _, wasComplete, err := r.Release(spec.version, spec.arch)
	if err != nil {
		t.Fatal(err)
	}
	before := srv.Stats(art.URLPath).Requests
	spec.unit, spec.stopAt = unitName(1), "sync"
	p := startUnit(t, spec, nil)
	p.expect(t, "ready")
	if !wasComplete {
		p.expect(t, "at sync")
	}
	syncAt := time.Now()
	res := p.result(t)
	postSync := time.Since(syncAt)
	downloads := srv.Stats(art.URLPath).Requests - before
	if res.ByUs == wasComplete || downloads != map[bool]int{true: 1}[res.ByUs] {
		t.Fatalf("%s: complete before=%v, installed now=%v, downloads=%d", spec.version, wasComplete, res.ByUs, downloads)
	}
	if res.SHA256 != art.SHA256 {
		t.Fatalf("%s: marker sha256 %s, tarball %s", spec.version, res.SHA256, art.SHA256)
	}
	assertCompleteRelease(t, res.Dir, spec.version, want)
	if d := debris(t, spec.root); len(d) > 0 {
		t.Fatalf("%s: recovery left %v", spec.version, d)
	}
	held, err := storage.TryLock(r.InstallLockPath(), storage.Owner{Unit: "test/0"})
	if err != nil {
		t.Fatalf("install lock still held after recovery: %v", err)
	}
	if err := held.Release(); err != nil {
		t.Fatal(err)
	}
	if wasComplete {
		return 20 * time.Millisecond // nothing measured: the unit had no install to do
	}
	return postSync
}
