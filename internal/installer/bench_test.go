package installer_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/installer"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/releasetest"
)

const benchVersion = "7.99.0"

// benchRelease serves a synthetic release of RELEASE_BENCH_MB (default 64).
func benchRelease(b *testing.B) fixture {
	b.Helper()
	mb := int64(64)
	if v := os.Getenv("RELEASE_BENCH_MB"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			b.Fatalf("RELEASE_BENCH_MB=%q: want a positive integer", v)
		}
		mb = n
	}
	dir := b.TempDir()
	art, err := releasetest.WriteRelease(dir, testArch, releasetest.TarballOptions{Version: benchVersion, PadBytes: mb << 20})
	if err != nil {
		b.Fatal(err)
	}
	return fixture{srv: releasetest.StartServer(b, dir), art: art}
}

func benchRequest(f fixture) installer.Request {
	return installer.Request{Version: benchVersion, Arch: testArch, URLTemplate: f.srv.URLTemplate(), HTTPClient: f.srv.Client()}
}

// freshDir makes an empty staging dir per iteration and removes it after.
func freshDir(b *testing.B, root string, i int) string {
	b.Helper()
	d := filepath.Join(root, fmt.Sprintf("staging-%d", i))
	if err := os.Mkdir(d, 0o755); err != nil {
		b.Fatal(err)
	}
	return d
}

// BenchmarkInstall measures download+verify+unpack throughput (MB/s).
func BenchmarkInstall(b *testing.B) {
	f := benchRelease(b)
	root := b.TempDir()
	b.SetBytes(f.art.Size)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		dir := freshDir(b, root, i)
		if _, err := installer.Install(context.Background(), benchRequest(f), dir); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := os.RemoveAll(dir); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkInstallVsCurl compares Install with `curl -o f && sha1sum -c &&
// tar xzf` on the same release (ratio < 1: Install is faster), and reports
// the peak RSS of an Install run in a child process.
func BenchmarkInstallVsCurl(b *testing.B) {
	for _, tool := range []string{"curl", "sha1sum", "tar"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("%s not installed", tool)
		}
	}
	f := benchRelease(b)
	root := b.TempDir()
	var ours, theirs time.Duration
	for i := 0; b.Loop(); i++ {
		dir := freshDir(b, root, i)
		start := time.Now()
		if _, err := installer.Install(context.Background(), benchRequest(f), dir); err != nil {
			b.Fatal(err)
		}
		ours += time.Since(start)
		must(b, os.RemoveAll(dir))

		dir = freshDir(b, root, i)
		start = time.Now()
		runShell(b, dir, f)
		theirs += time.Since(start)
		must(b, os.RemoveAll(dir))
	}
	b.ReportMetric(float64(ours)/float64(theirs), "install/curl")
	b.ReportMetric(float64(f.art.Size)/(1<<20)/ours.Seconds()*float64(b.N), "install-MB/s")
	b.ReportMetric(float64(f.art.Size)/(1<<20)/theirs.Seconds()*float64(b.N), "curl-MB/s")
	b.ReportMetric(childPeakRSSMB(b, f, root), "peak-RSS-MB")
}

// runShell is the naive baseline: download to a file, check, extract, and
// flush like Install does.
func runShell(b *testing.B, dir string, f fixture) {
	b.Helper()
	script := `set -e
curl -sSf -o "$NAME" "$URL"
curl -sSf -o "$NAME.sha1" "$URL.sha1"
sha1sum -c --quiet "$NAME.sha1"
tar xzf "$NAME"
rm "$NAME" "$NAME.sha1"
sync -f .`
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "URL="+f.url(), "NAME="+f.art.Filename)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("shell baseline: %v\n%s", err, out)
	}
}

// childEnv marks the re-executed test binary that runs one Install.
const childEnv = "INSTALLER_BENCH_CHILD"

// childPeakRSSMB re-executes the test binary to run one Install alone and
// returns its ru_maxrss in MiB: memory must not grow with the release.
func childPeakRSSMB(b *testing.B, f fixture, root string) float64 {
	b.Helper()
	dir := freshDir(b, root, -1)
	defer os.RemoveAll(dir)
	cmd := exec.Command(os.Args[0], "-test.run=^TestInstallChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"=1", "CHILD_URL_TEMPLATE="+f.srv.URLTemplate(), "CHILD_STAGING="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("child install: %v\n%s", err, out)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		b.Fatal("no rusage for child")
	}
	return float64(ru.Maxrss) / 1024 // Linux reports KiB
}

// TestInstallChildProcess is the child of childPeakRSSMB; it does nothing
// in a normal test run.
func TestInstallChildProcess(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("only runs re-executed by BenchmarkInstallVsCurl")
	}
	req := installer.Request{Version: benchVersion, Arch: testArch, URLTemplate: os.Getenv("CHILD_URL_TEMPLATE")}
	if _, err := installer.Install(context.Background(), req, os.Getenv("CHILD_STAGING")); err != nil {
		t.Fatal(err)
	}
}
