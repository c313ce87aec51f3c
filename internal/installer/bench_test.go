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

// benchRelease serves a synthetic release of RELEASE_BENCH_MB (default 64).
func benchRelease(b *testing.B) fixture {
	b.Helper()
	mb := releasetest.BenchSizeMB(b)
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
