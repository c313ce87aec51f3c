package release_test

import (
	"archive/tar"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/installer"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/release"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/releasetest"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/storage"
)

const (
	good = "1.0.0" // installed first, must survive every bad upgrade
	bad  = "1.0.1"
	arch = "amd64"
	unit = "concourse-ci/0"
)

func TestMain(m *testing.M) { os.Exit(releasetest.RunTests(m)) }

// world is a root with the good release installed and a server that also has the bad one.
type world struct {
	root   *storage.Root
	srv    *releasetest.Server
	served string
	art    releasetest.Artifact
}

func newWorld(t *testing.T, rootDir string, badOpts releasetest.TarballOptions) world {
	t.Helper()
	served := t.TempDir()
	if _, err := releasetest.WriteRelease(served, arch, releasetest.TarballOptions{Version: good}); err != nil {
		t.Fatal(err)
	}
	badOpts.Version = bad
	art, err := releasetest.WriteRelease(served, arch, badOpts)
	if err != nil {
		t.Fatal(err)
	}
	root, err := storage.Open(rootDir)
	if err != nil {
		t.Fatal(err)
	}
	w := world{root: root, srv: releasetest.StartServer(t, served), served: served, art: art}
	if _, err := release.Ensure(context.Background(), root, unit, w.request(good), nil); err != nil {
		t.Fatalf("installing the good release: %v", err)
	}
	return w
}

func (w world) request(version string) installer.Request {
	return installer.Request{Version: version, Arch: arch, URLTemplate: w.srv.URLTemplate(),
		HTTPClient: w.srv.Client(), Retries: 2, Backoff: time.Millisecond, StallTimeout: 200 * time.Millisecond}
}

func rewrite(t *testing.T, w world, data []byte) {
	t.Helper()
	if err := os.WriteFile(w.art.Path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum(data)
	sidecar := hex.EncodeToString(sum[:]) + "  " + w.art.Filename + "\n"
	if err := os.WriteFile(w.art.Path+".sha1", []byte(sidecar), 0o644); err != nil {
		t.Fatal(err)
	}
}

func hostile(typ byte, name, link string) releasetest.TarballOptions {
	return releasetest.TarballOptions{Extra: []releasetest.Entry{{Header: tar.Header{Typeflag: typ, Name: name, Linkname: link, Mode: 0o644}}}}
}

// TestBadUpgradeActivatesNothing: whatever is wrong with the new release, Ensure fails with an
// error naming the cause, the new version is not installed (no marker, no directory), the
// release installed before is intact, and no staging is left behind.
func TestBadUpgradeActivatesNothing(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		opts  releasetest.TarballOptions
		setup func(t *testing.T, w world, req *installer.Request)
		want  string
	}{
		{name: "wrong sha1", want: "sha1 mismatch",
			setup: func(t *testing.T, w world, _ *installer.Request) {
				w.srv.SetFault(w.art.URLPath+".sha1", releasetest.Fault{WrongSHA1: true})
			}},
		{name: "wrong sha256 pin", want: "sha256 mismatch",
			setup: func(t *testing.T, w world, req *installer.Request) { req.SHA256 = strings.Repeat("0", 64) }},
		{name: "truncated tarball", want: "truncated",
			setup: func(t *testing.T, w world, _ *installer.Request) {
				data, _ := os.ReadFile(w.art.Path)
				rewrite(t, w, data[:len(data)/2])
			}},
		{name: "not gzip", want: "not a gzip stream",
			setup: func(t *testing.T, w world, _ *installer.Request) { rewrite(t, w, []byte("<html>sorry</html>")) }},
		{name: "path traversal", want: "..", opts: hostile(tar.TypeReg, "concourse/../../x", "")},
		{name: "escaping symlink", want: "escapes", opts: hostile(tar.TypeSymlink, "concourse/up", "../../")},
		{name: "device node", want: "device node", opts: hostile(tar.TypeChar, "concourse/null", "")},
		{name: "server 404", want: "HTTP 404",
			setup: func(t *testing.T, w world, _ *installer.Request) { os.Remove(w.art.Path) }},
		{name: "server 500", want: "HTTP 500",
			setup: func(t *testing.T, w world, _ *installer.Request) {
				w.srv.SetFault(w.art.URLPath, releasetest.Fault{FailStatus: 500, FailTimes: 100})
			}},
		{name: "server stall", want: "stalled",
			setup: func(t *testing.T, w world, _ *installer.Request) {
				w.srv.SetFault(w.art.URLPath, releasetest.Fault{StallAfter: 100, StallTimes: 100})
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, t.TempDir(), tc.opts)
			req := w.request(bad)
			if tc.setup != nil {
				tc.setup(t, w, &req)
			}
			assertBadUpgradeLeavesGood(t, w, req, tc.want)
		})
	}
}

// TestDiskFullActivatesNothing fills a small tmpfs root during the upgrade.
func TestDiskFullActivatesNothing(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=6m"); err != nil {
		t.Skipf("cannot mount tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	w := newWorld(t, dir, releasetest.TarballOptions{PadBytes: 16 << 20})
	assertBadUpgradeLeavesGood(t, w, w.request(bad), "disk full")
}

func assertBadUpgradeLeavesGood(t *testing.T, w world, req installer.Request, want string) {
	t.Helper()
	goodDir, _, ok, err := w.root.Release(good, arch)
	if err != nil || !ok {
		t.Fatalf("good release missing before the upgrade: %v", err)
	}
	before := treeDigest(t, goodDir)

	_, err = release.Ensure(context.Background(), w.root, unit, req, nil)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Ensure(%s) = %v, want an error mentioning %q", bad, err, want)
	}
	if _, _, ok, _ := w.root.Release(bad, arch); ok {
		t.Errorf("%s is marked complete after a failed install", bad)
	}
	name, _ := storage.ReleaseName(bad, arch)
	entries, _ := os.ReadDir(filepath.Join(w.root.Path(), "releases"))
	for _, e := range entries {
		if e.Name() == name || strings.HasPrefix(e.Name(), ".") {
			t.Errorf("releases/%s left behind by the failed install", e.Name())
		}
	}
	if _, _, ok, err := w.root.Release(good, arch); err != nil || !ok {
		t.Fatalf("good release lost its marker: %v", err)
	}
	if after := treeDigest(t, goodDir); after != before {
		t.Errorf("good release changed: %s -> %s", before, after)
	}
}

// treeDigest hashes every path, mode and file content under dir.
func treeDigest(t *testing.T, dir string) string {
	t.Helper()
	h := sha1.New()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		h.Write([]byte(rel + info.Mode().String()))
		if info.Mode().IsRegular() {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			h.Write(data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestFetchingTheNextVersionKeepsTheRunningOne: a unit fetches 1.0.1 while it still runs 1.0.0;
// until it says it switched, the leader's clean-up must keep both.
func TestFetchingTheNextVersionKeepsTheRunningOne(t *testing.T) {
	t.Parallel()
	w := newWorld(t, t.TempDir(), releasetest.TarballOptions{})
	if err := w.root.SetUnitRef(unit, good, arch); err != nil {
		t.Fatal(err)
	}
	if _, err := release.Ensure(context.Background(), w.root, unit, w.request(bad), nil); err != nil {
		t.Fatal(err)
	}
	removed, err := w.root.GC(context.Background(), storage.Owner{Unit: "concourse-ci/9"})
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 0 {
		t.Fatalf("GC removed %v while %s runs %s and holds %s", removed, unit, good, bad)
	}
	if err := w.root.SetUnitRef(unit, bad, arch); err != nil {
		t.Fatal(err)
	}
	removed, err = w.root.GC(context.Background(), storage.Owner{Unit: "concourse-ci/9"})
	if err != nil || len(removed) != 1 {
		t.Fatalf("after the switch GC removed %v (%v), want the old release only", removed, err)
	}
}
