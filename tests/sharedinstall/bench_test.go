package sharedinstall

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/benchfig"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/releasetest"
)

const (
	benchVersion = "7.99.0"
	benchUnits   = 10
	benchRepeats = 3 // each timed install runs this often; the median counts
)

// Baselines the install is compared with, run by sh in an empty directory. The sync variants add
// the durability our install gives (it flushes and fsyncs before writing the marker), so the
// table shows what that costs.
var baselines = []struct{ name, script string }{
	{"curl-sha1-tar", `curl -sSf -o "$NAME" "$URL" && curl -sSf -o "$NAME.sha1" "$URL.sha1" && sha1sum -c --quiet "$NAME.sha1" && tar xzf "$NAME"`},
	{"curl-pipe-tar", `curl -sSf "$URL" | tar xz`},
	{"curl-sha1-tar+sync", `curl -sSf -o "$NAME" "$URL" && curl -sSf -o "$NAME.sha1" "$URL.sha1" && sha1sum -c --quiet "$NAME.sha1" && tar xzf "$NAME" && sync -f .`},
	{"curl-pipe-tar+sync", `curl -sSf "$URL" | tar xz && sync -f .`},
}

// benchFixture is the synthetic release served from loopback.
type benchFixture struct {
	name string // "compressible" or "random"
	srv  *releasetest.Server
	art  releasetest.Artifact
	mb   int64
}

// figures is everything BenchmarkSharedInstall measures for one release.
type figures struct {
	downloads        int
	sharedBytes      int64 // allocated bytes of releases/ on the shared root after 10 units
	releaseBytes     int64 // allocated bytes of releases/ after one install onto an empty root
	sharedUnitsRSSKB int64 // peak RSS of the busiest of the 10 units
	install          time.Duration
	installRSSKB     int64
	baselines        map[string]time.Duration // absent when curl is missing
}

// BenchmarkSharedInstall: 10 units on one shared root (downloads, bytes on disk), one install's
// wall time against curl+sha1sum+tar and curl|tar, and the install's peak RSS, for two releases
// of RELEASE_BENCH_MB (default 64; `make bench` sets 512) in the real layout: one padded with
// copies of a Go binary, which compresses like a real release (gunzip is then the longest
// stage), and one padded with incompressible random bytes.
func BenchmarkSharedInstall(b *testing.B) {
	fixtures := []benchFixture{
		newBenchFixture(b, "compressible", releasetest.GoBinary(b)),
		newBenchFixture(b, "random", ""),
	}
	work := tempRoot(b)
	figs := make([]figures, len(fixtures))
	for b.Loop() {
		for i, f := range fixtures {
			figs[i] = figures{baselines: map[string]time.Duration{}}
			measureSingleInstalls(b, f, work, &figs[i])
			measureSharedRoot(b, f, work, &figs[i])
		}
	}
	reportFigures(b, fixtures, figs)
}

func newBenchFixture(b *testing.B, name, padFrom string) benchFixture {
	b.Helper()
	mb := releasetest.BenchSizeMB(b)
	served := b.TempDir()
	opts := releasetest.TarballOptions{Version: benchVersion, PadBytes: mb << 20, PadFrom: padFrom, Seed: 1, Layout: releasetest.LayoutReal}
	art, err := releasetest.WriteRelease(served, testArch, opts)
	if err != nil {
		b.Fatal(err)
	}
	warmPageCache(b, art.Path)
	return benchFixture{name: name, srv: releasetest.StartServer(b, served), art: art, mb: mb}
}

// warmPageCache flushes the freshly written tarball (so no install pays for its writeback) and
// reads it once, so every contender is served from memory.
func warmPageCache(b *testing.B, path string) {
	b.Helper()
	unix.Sync()
	data, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer data.Close()
	buf := make([]byte, 1<<20)
	for {
		n, err := data.Read(buf)
		if n == 0 || err != nil {
			return
		}
	}
}

// measureSingleInstalls times release.Ensure onto an empty root in a child, interleaved with the
// baselines, benchRepeats times each, under the same conditions: tarball cached, dirty pages
// flushed before every run, output on the same filesystem.
func measureSingleInstalls(b *testing.B, f benchFixture, work string, fig *figures) {
	b.Helper()
	haveCurl := true
	for _, tool := range []string{"curl", "sha1sum", "tar"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Logf("%s not installed: skipping the curl comparisons (apt-get install -y curl)", tool)
			haveCurl = false
		}
	}
	ours := make([]time.Duration, 0, benchRepeats)
	theirs := map[string][]time.Duration{}
	for rep := 0; rep < benchRepeats; rep++ {
		d, rss, bytes := timedEnsure(b, f, filepath.Join(work, fmt.Sprintf("single-%d", rep)))
		ours = append(ours, d)
		fig.installRSSKB = max(fig.installRSSKB, rss)
		fig.releaseBytes = bytes
		if !haveCurl {
			continue
		}
		for _, bl := range baselines {
			theirs[bl.name] = append(theirs[bl.name], timedBaseline(b, f, filepath.Join(work, bl.name), bl.script))
		}
	}
	fig.install = median(ours)
	for name, ds := range theirs {
		fig.baselines[name] = median(ds)
	}
}

// timedEnsure runs one unit onto the empty root dir and returns its wall time, peak RSS and the
// allocated bytes of the release it left; then it removes the root.
func timedEnsure(b *testing.B, f benchFixture, root string) (time.Duration, int64, int64) {
	b.Helper()
	mkdir(b, root)
	unix.Sync()
	start := time.Now()
	p := startUnit(b, unitSpec{root: root, unit: unitName(0), version: benchVersion, arch: testArch, urlTemplate: f.srv.URLTemplate()}, nil)
	p.expect(b, "ready")
	res := p.result(b)
	elapsed := time.Since(start)
	if !res.ByUs || res.SHA256 != f.art.SHA256 {
		b.Fatalf("single install: %+v", res)
	}
	bytes := allocatedBytes(b, filepath.Join(root, "releases"))
	removeTree(b, root)
	return elapsed, p.maxRSSKB(b), bytes
}

func timedBaseline(b *testing.B, f benchFixture, dir, script string) time.Duration {
	b.Helper()
	mkdir(b, dir)
	unix.Sync()
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "URL="+f.srv.URL+f.art.URLPath, "NAME="+f.art.Filename)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	elapsed := time.Since(start)
	if err != nil {
		b.Fatalf("baseline %q: %v\n%s", script, err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "concourse", "bin", "concourse")); err != nil {
		b.Fatalf("baseline %q unpacked nothing: %v", script, err)
	}
	removeTree(b, dir)
	return elapsed
}

// measureSharedRoot starts 10 units together on one root and counts what they cost.
func measureSharedRoot(b *testing.B, f benchFixture, work string, fig *figures) {
	b.Helper()
	root := filepath.Join(work, "shared")
	mkdir(b, root)
	before := f.srv.Stats(f.art.URLPath).Requests
	g := newGate(b)
	procs := make([]*unitProc, benchUnits)
	for i := range procs {
		procs[i] = startUnit(b, unitSpec{root: root, unit: unitName(i), version: benchVersion, arch: testArch, urlTemplate: f.srv.URLTemplate()}, g)
	}
	for _, p := range procs {
		p.expect(b, "ready")
	}
	g.open(b)
	installers := 0
	for _, p := range procs {
		res := p.result(b)
		if res.ByUs {
			installers++
		}
		if res.SHA256 != f.art.SHA256 {
			b.Fatalf("unit %s: marker sha256 %s, tarball %s", res.Unit, res.SHA256, f.art.SHA256)
		}
		fig.sharedUnitsRSSKB = max(fig.sharedUnitsRSSKB, p.maxRSSKB(b))
	}
	if installers != 1 {
		b.Errorf("%d of %d units installed, want 1", installers, benchUnits)
	}
	fig.downloads = f.srv.Stats(f.art.URLPath).Requests - before
	fig.sharedBytes = allocatedBytes(b, filepath.Join(root, "releases"))
	removeTree(b, root)
}

// goals per baseline and release: on a compressible release gunzip dominates every contender, so
// the margin over curl|tar (which inflates on its own core too) is smaller.
var goals = map[string]map[string]string{
	"compressible": {"curl-sha1-tar": "<= 0.7", "curl-pipe-tar": "<= 0.9"},
	"random":       {"curl-sha1-tar": "<= 0.7", "curl-pipe-tar": "<= 1.1"},
}

func reportFigures(b *testing.B, fixtures []benchFixture, figs []figures) {
	b.Helper()
	const mib = 1 << 20
	for i, f := range fixtures {
		b.ReportMetric(float64(figs[i].downloads), f.name+"-downloads")
		b.ReportMetric(figs[i].install.Seconds(), f.name+"-install-s")
	}
	fmt.Printf("\nBenchmarkSharedInstall: %d MiB of padding, real release layout, loopback, median of %d\n", fixtures[0].mb, benchRepeats)
	header := []string{"figure"}
	for _, f := range fixtures {
		header = append(header, f.name)
	}
	fmt.Printf("  %-40s %14s %14s  %s\n", header[0], header[1], header[2], "goal")
	row := func(name string, value func(f benchFixture, fig figures) string, goal func(f benchFixture) string) {
		var cells, perRelease []string
		for i, f := range fixtures {
			cells = append(cells, value(f, figs[i]))
			if g := goal(f); g != "" {
				perRelease = append(perRelease, f.name+" "+g)
			}
		}
		// One goal for both releases is shown once.
		goalText := strings.Join(perRelease, ", ")
		if g := goal(fixtures[0]); len(perRelease) == len(fixtures) && goal(fixtures[1]) == g {
			goalText = g
		}
		fmt.Printf("  %-40s %14s %14s  %s\n", name, cells[0], cells[1], goalText)
	}
	none := func(benchFixture) string { return "" }
	row("tarball MiB", func(f benchFixture, _ figures) string { return fmt.Sprintf("%.1f", float64(f.art.Size)/mib) }, none)
	row(fmt.Sprintf("downloads, %d units on one root", benchUnits), func(_ benchFixture, fig figures) string { return strconv.Itoa(fig.downloads) },
		func(benchFixture) string { return "1" })
	row("shared bytes / one release's bytes", func(_ benchFixture, fig figures) string {
		return fmt.Sprintf("%.4f", float64(fig.sharedBytes)/float64(fig.releaseBytes))
	}, func(benchFixture) string { return "<= 1.02" })
	row("  one install's releases/ allocated MiB", func(_ benchFixture, fig figures) string { return fmt.Sprintf("%.1f", float64(fig.releaseBytes)/mib) }, none)
	row("install wall time (release.Ensure)", func(_ benchFixture, fig figures) string { return fig.install.Round(time.Millisecond).String() }, none)
	for _, bl := range baselines {
		row(bl.name+" wall time", func(_ benchFixture, fig figures) string {
			if d, ok := fig.baselines[bl.name]; ok {
				return d.Round(time.Millisecond).String()
			}
			return "skipped"
		}, none)
		row("  ratio install / "+bl.name, func(f benchFixture, fig figures) string {
			d, ok := fig.baselines[bl.name]
			if !ok {
				return "-"
			}
			ratio := float64(fig.install) / float64(d)
			b.ReportMetric(ratio, f.name+"-ratio-vs-"+bl.name)
			return fmt.Sprintf("%.3f", ratio)
		}, func(f benchFixture) string { return goals[f.name][bl.name] })
	}
	recordFigures(b, fixtures, figs)
	row("peak RSS of the install (MB)", func(_ benchFixture, fig figures) string { return fmt.Sprintf("%.1f", float64(fig.installRSSKB)/1024) },
		func(benchFixture) string { return "<= 64" })
	row(fmt.Sprintf("peak RSS, busiest of %d units (MB)", benchUnits), func(_ benchFixture, fig figures) string {
		return fmt.Sprintf("%.1f", float64(fig.sharedUnitsRSSKB)/1024)
	}, none)
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func mkdir(b *testing.B, dir string) {
	b.Helper()
	if err := os.Mkdir(dir, 0o755); err != nil {
		b.Fatal(err)
	}
}

// removeTree deletes a root whose releases storage sealed read-only.
func removeTree(b *testing.B, dir string) {
	b.Helper()
	makeWritable(dir)
	if err := os.RemoveAll(dir); err != nil {
		b.Fatal(err)
	}
}

// recordFigures hands the figures to make bench's one table (internal/benchfig).
func recordFigures(b *testing.B, fixtures []benchFixture, figs []figures) {
	b.Helper()
	for i, f := range fixtures {
		fig := figs[i]
		area := fmt.Sprintf("install, %s release (%d MiB, %.0f MiB tgz)", f.name, f.mb, float64(f.art.Size)/(1<<20))
		benchfig.Recordf(b, area, fmt.Sprintf("downloads, %d units on one root", benchUnits), "1", benchfig.Verdict(fig.downloads == 1), "%d", fig.downloads)
		share := float64(fig.sharedBytes) / float64(fig.releaseBytes)
		benchfig.Recordf(b, area, "shared bytes / one release's bytes", "<= 1.02", benchfig.Verdict(share <= 1.02), "%.4f", share)
		benchfig.Recordf(b, area, "install wall time", "", nil, "%s", fig.install.Round(time.Millisecond))
		for _, bl := range baselines[:2] {
			d, ok := fig.baselines[bl.name]
			if !ok {
				continue
			}
			goal := goals[f.name][bl.name]
			ratio := float64(fig.install) / float64(d)
			var limit float64
			fmt.Sscanf(goal, "<= %g", &limit)
			benchfig.Recordf(b, area, "install / "+bl.name, goal, benchfig.Verdict(ratio <= limit), "%.3f", ratio)
		}
		rss := float64(fig.installRSSKB) / 1024
		benchfig.Recordf(b, area, "peak RSS of the install", "<= 64 MB", benchfig.Verdict(rss <= 64), "%.1f MB", rss)
	}
}
