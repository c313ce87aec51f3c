package sharedinstall

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/installer"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/releasetest"
)

// The crash test is only as strong as its tree comparison: every kind of partial tree must show.
func TestTreeDiffSeesPartialTrees(t *testing.T) {
	t.Parallel()
	served := t.TempDir()
	art, err := releasetest.WriteRelease(served, testArch, releasetest.TarballOptions{Version: "3.0.0", PadBytes: 300_000})
	if err != nil {
		t.Fatal(err)
	}
	srv := releasetest.StartServer(t, served)
	want := manifest(t, art.Path)
	rootfs := filepath.Join("concourse", "resource-types", "git", "rootfs.tgz")
	cases := []struct {
		name   string
		damage func(dir string) error
		diff   string // a substring of the reported differences; "" means none
	}{
		{"whole", func(string) error { return nil }, ""},
		{"truncated", func(d string) error { return os.Truncate(filepath.Join(d, rootfs), 1000) }, "wrong size"},
		{"missing", func(d string) error { return os.Remove(filepath.Join(d, rootfs)) }, "missing"},
		{"extra", func(d string) error { return os.WriteFile(filepath.Join(d, "concourse", "x"), nil, 0o644) }, "extra"},
		{"rewritten", func(d string) error { return overwriteByte(filepath.Join(d, rootfs)) }, "wrong content"},
		{"not executable", func(d string) error { return os.Chmod(filepath.Join(d, "concourse", "bin", "concourse"), 0o644) }, "not executable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			req := installer.Request{Version: "3.0.0", Arch: testArch, URLTemplate: srv.URLTemplate()}
			if _, err := installer.Install(context.Background(), req, dir); err != nil {
				t.Fatal(err)
			}
			if err := tc.damage(dir); err != nil {
				t.Fatal(err)
			}
			diffs, err := treeDiff(dir, want)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(diffs, "; ")
			if (tc.diff == "") != (got == "") || !strings.Contains(got, tc.diff) {
				t.Errorf("differences %q, want %q", got, tc.diff)
			}
		})
	}
}

// overwriteByte flips the first byte, keeping the size.
func overwriteByte(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, 0); err != nil {
		return err
	}
	_, err = f.WriteAt([]byte{b[0] ^ 0xff}, 0)
	return err
}
