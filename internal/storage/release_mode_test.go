package storage

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// The top directory must already be readable by everyone when the tree is moved into place: the
// chmod after the marker is not durable, and a crash there must not leave a root-only release.
func TestReleaseIsReadableWhenMovedIntoPlace(t *testing.T) {
	t.Parallel()
	r := openTestRoot(t)
	var mode os.FileMode
	r.testHook = func(p string) {
		if p == "renamed" {
			fi, err := os.Stat(filepath.Join(r.Path(), "releases", "1.0.0-amd64"))
			if err != nil {
				t.Error(err)
				return
			}
			mode = fi.Mode().Perm()
		}
	}
	calls := 0
	if _, _, _, err := r.EnsureRelease(context.Background(), EnsureRequest{Version: "1.0.0", Arch: "amd64", Fill: fillFiles("1.0.0", 1, &calls)}); err != nil {
		t.Fatal(err)
	}
	if mode&0o005 != 0o005 {
		t.Errorf("release dir is %v when moved into place, want it readable and searchable by all", mode)
	}
}

// Something other than a directory under a release's name must not block that version forever.
func TestStrayFileOrLinkUnderReleaseName(t *testing.T) {
	t.Parallel()
	for name, create := range map[string]func(path string) error{
		"file":           func(p string) error { return os.WriteFile(p, []byte("x"), 0o644) },
		"dangling link":  func(p string) error { return os.Symlink("/nonexistent", p) },
		"link to a file": func(p string) error { return os.Symlink("/etc/hostname", p) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := openTestRoot(t)
			if err := create(filepath.Join(r.Path(), "releases", "1.0.0-amd64")); err != nil {
				t.Fatal(err)
			}
			calls := 0
			dir, _, _, err := r.EnsureRelease(context.Background(), EnsureRequest{Version: "1.0.0", Arch: "amd64", Fill: fillFiles("1.0.0", 1, &calls)})
			if err != nil {
				t.Fatalf("EnsureRelease: %v", err)
			}
			if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
				t.Fatalf("release is not a directory after install: %v", err)
			}
		})
	}
}
