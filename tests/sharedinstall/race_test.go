package sharedinstall

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/releasetest"
)

// testArch is the arch of the fixture releases; any plain arch works with the shell stand-in.
const testArch = runtime.GOARCH

// raceRounds is SHAREDINSTALL_ROUNDS, else 20 with -short, else 100.
func raceRounds(t *testing.T) int {
	if s := os.Getenv("SHAREDINSTALL_ROUNDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("SHAREDINSTALL_ROUNDS=%q: want a positive integer", s)
		}
		return n
	}
	if testing.Short() {
		return 20
	}
	return 100
}

// Eight unit processes start together on one shared root and each runs release.Ensure for a new
// version, round after round: the server must see exactly one download per round, and every unit
// must end up with the same complete release.
func TestEightUnitsDownloadOncePerRound(t *testing.T) {
	t.Parallel()
	const units = 8
	rounds := raceRounds(t)
	root, served := tempRoot(t), t.TempDir()
	srv := releasetest.StartServer(t, served)
	for round := 0; round < rounds; round++ {
		version := fmt.Sprintf("1.0.%d", round)
		art, err := releasetest.WriteRelease(served, testArch, releasetest.TarballOptions{Version: version, PadBytes: 64 << 10, Seed: uint64(round)})
		if err != nil {
			t.Fatal(err)
		}
		results := raceRound(t, units, unitSpec{root: root, version: version, arch: testArch, urlTemplate: srv.URLTemplate()})
		if st := srv.Stats(art.URLPath); st.Requests != 1 {
			t.Fatalf("round %d: %d tarball requests (%+v), want exactly 1", round, st.Requests, st)
		}
		if st := srv.Stats(art.URLPath + ".sha1"); st.Requests != 1 {
			t.Fatalf("round %d: %d sidecar requests, want exactly 1", round, st.Requests)
		}
		assertSameRelease(t, round, results, art)
		assertCompleteRelease(t, results[0].Dir, version, manifest(t, art.Path))
		if d := debris(t, root); len(d) > 0 {
			t.Fatalf("round %d left %v", round, d)
		}
	}
}

// raceRound starts the units, waits until every one has opened the root, releases them together
// and collects their results.
func raceRound(t *testing.T, units int, spec unitSpec) []childResult {
	t.Helper()
	g := newGate(t)
	procs := make([]*unitProc, units)
	for i := range procs {
		s := spec
		s.unit = unitName(i)
		procs[i] = startUnit(t, s, g)
	}
	for _, p := range procs {
		p.expect(t, "ready")
	}
	g.open(t)
	results := make([]childResult, units)
	for i, p := range procs {
		results[i] = p.result(t)
	}
	return results
}

// assertSameRelease: one unit installed, all got the same directory and the tarball's digest.
func assertSameRelease(t *testing.T, round int, results []childResult, art releasetest.Artifact) {
	t.Helper()
	installers := 0
	for _, r := range results {
		if r.ByUs {
			installers++
		}
		if r.Dir != results[0].Dir || r.SHA256 != art.SHA256 || r.Version != results[0].Version {
			t.Fatalf("round %d: unit %s got %+v, unit %s got %+v (tarball sha256 %s)", round, r.Unit, r, results[0].Unit, results[0], art.SHA256)
		}
	}
	if installers != 1 {
		t.Fatalf("round %d: %d units installed, want 1: %+v", round, installers, results)
	}
}
