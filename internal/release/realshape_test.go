package release_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/release"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/releasetest"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/storage"
)

// TestRealShapeReleaseInstalls: a release shaped like a published one (runtime binaries and CNI
// plugins in bin/, a hard link as GNU tar records it, relative symlinks, 14 resource types, fly for
// three platforms) installs whole through Ensure, links intact, both as `tar czf x concourse`
// writes names and as `tar czf x -C dir .` does ("./" first, every name under "./").
func TestRealShapeReleaseInstalls(t *testing.T) {
	t.Parallel()
	for _, prefix := range []string{"", "./"} {
		t.Run("prefix="+prefix, func(t *testing.T) {
			t.Parallel()
			served := t.TempDir()
			art, err := releasetest.WriteRelease(served, arch, releasetest.TarballOptions{Version: good, Layout: releasetest.LayoutReal, PadBytes: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			if prefix != "" {
				rewritePrefixed(t, art, prefix)
			}
			root, err := storage.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			w := world{root: root, srv: releasetest.StartServer(t, served)}
			rel, err := release.Ensure(context.Background(), root, unit, w.request(good), nil)
			if err != nil {
				t.Fatalf("Ensure: %v", err)
			}
			assertRealShape(t, filepath.Join(rel.Dir, "concourse"))
		})
	}
}

func assertRealShape(t *testing.T, dir string) {
	t.Helper()
	var files []string
	for _, b := range append([]string{"concourse"}, releasetest.RealBinaries...) {
		files = append(files, "bin/"+b)
	}
	for _, p := range releasetest.RealCNIPlugins {
		files = append(files, "bin/cni/"+p)
	}
	for _, typ := range releasetest.RealResourceTypes {
		files = append(files, "resource-types/"+typ+"/rootfs.tgz", "resource-types/"+typ+"/resource_metadata.json")
	}
	for _, a := range releasetest.RealFlyAssets {
		files = append(files, "fly-assets/"+a)
	}
	for _, f := range files {
		fi, err := os.Lstat(filepath.Join(dir, f))
		if err != nil || !fi.Mode().IsRegular() {
			t.Errorf("%s: not a regular file (%v)", f, err)
		}
	}
	for link, target := range releasetest.RealHardlinks {
		a, errA := os.Stat(filepath.Join(dir, strings.TrimPrefix(link, "concourse/")))
		b, errB := os.Stat(filepath.Join(dir, strings.TrimPrefix(target, "concourse/")))
		if errA != nil || errB != nil || !os.SameFile(a, b) {
			t.Errorf("hard link %s -> %s: not one inode (%v, %v)", link, target, errA, errB)
		}
	}
	for link, target := range releasetest.RealSymlinks {
		p := filepath.Join(dir, strings.TrimPrefix(link, "concourse/"))
		got, err := os.Readlink(p)
		if err != nil || got != target {
			t.Errorf("symlink %s = %q (%v), want %q", link, got, err, target)
			continue
		}
		resolved, err := filepath.EvalSymlinks(p)
		want := filepath.Join(filepath.Dir(p), target)
		if err != nil || resolved != filepath.Clean(want) {
			t.Errorf("symlink %s resolves to %q (%v), want %q inside the release", link, resolved, err, want)
		}
	}
}

// rewritePrefixed rewrites the served tarball with prefix before every name and hard-link
// target, and a "./" directory first, then fixes the sidecar.
func rewritePrefixed(t *testing.T, art releasetest.Artifact, prefix string) {
	t.Helper()
	data, err := os.ReadFile(art.Path)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: prefix, Mode: 0o755, Format: tar.FormatGNU}); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		hdr.Name = prefix + hdr.Name
		if hdr.Typeflag == tar.TypeLink {
			hdr.Linkname = prefix + hdr.Linkname
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	rewrite(t, world{art: art}, out.Bytes())
}
