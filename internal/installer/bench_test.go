package installer_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/installer"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/releasetest"
)

const benchVersion = "7.99.0"

// benchRelease serves a synthetic release of RELEASE_BENCH_MB (default 64) padded from padFrom
// (a Go binary: compresses like a real release) or, when empty, with random bytes.
func benchRelease(b *testing.B, padFrom string) fixture {
	b.Helper()
	mb := releasetest.BenchSizeMB(b)
	dir := b.TempDir()
	art, err := releasetest.WriteRelease(dir, testArch, releasetest.TarballOptions{Version: benchVersion, PadBytes: mb << 20, PadFrom: padFrom, Layout: releasetest.LayoutReal})
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

// BenchmarkInstall measures download+verify+unpack throughput (MB/s of tarball) on a release
// that compresses like a real one and on an incompressible one.
func BenchmarkInstall(b *testing.B) {
	b.Run("compressible", func(b *testing.B) { benchInstall(b, benchRelease(b, releasetest.GoBinary(b))) })
	b.Run("random", func(b *testing.B) { benchInstall(b, benchRelease(b, "")) })
}

func benchInstall(b *testing.B, f fixture) {
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
