package sharedinstall

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/storage"
)

// entry is one path of a release tarball.
type entry struct {
	dir  bool
	size int64
	sum  [sha256.Size]byte
	exec bool
}

// manifest lists every path of a tarball, from the tarball itself: the reference an installed tree
// is compared with.
func manifest(tb testing.TB, tarball string) map[string]entry {
	tb.Helper()
	f, err := os.Open(tarball)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	tr := tar.NewReader(gz)
	out := map[string]entry{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			tb.Fatalf("read %s: %v", tarball, err)
		}
		name := strings.TrimSuffix(hdr.Name, "/")
		switch hdr.Typeflag {
		case tar.TypeDir:
			out[name] = entry{dir: true}
		case tar.TypeReg:
			h := sha256.New()
			if _, err := io.Copy(h, tr); err != nil {
				tb.Fatal(err)
			}
			e := entry{size: hdr.Size, exec: hdr.Mode&0o100 != 0}
			copy(e.sum[:], h.Sum(nil))
			out[name] = e
		default:
			tb.Fatalf("%s: unexpected tar type %c in fixture", name, hdr.Typeflag)
		}
	}
}

// treeDiff compares an installed release dir with the manifest and returns what differs (nil when
// the tree is exactly the tarball plus the marker).
func treeDiff(dir string, want map[string]entry) ([]string, error) {
	var diffs []string
	seen := map[string]bool{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel := filepath.ToSlash(strings.TrimPrefix(path, dir+string(filepath.Separator)))
		if rel == storage.MarkerFile {
			return nil
		}
		seen[rel] = true
		w, ok := want[rel]
		switch {
		case !ok:
			diffs = append(diffs, "extra "+rel)
		case w.dir != d.IsDir():
			diffs = append(diffs, "wrong type "+rel)
		case !w.dir:
			if msg := fileDiff(path, w); msg != "" {
				diffs = append(diffs, msg+" "+rel)
			}
		}
		return nil
	})
	for name := range want {
		if !seen[name] {
			diffs = append(diffs, "missing "+name)
		}
	}
	return diffs, err
}

func fileDiff(path string, w entry) string {
	f, err := os.Open(path)
	if err != nil {
		return "unreadable"
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return "not a regular file"
	}
	if fi.Size() != w.size {
		return "wrong size"
	}
	if w.exec && fi.Mode().Perm()&0o100 == 0 {
		return "not executable"
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "unreadable"
	}
	if string(h.Sum(nil)) != string(w.sum[:]) {
		return "wrong content"
	}
	return ""
}

// assertCompleteRelease checks what a marker promises: the whole tarball on disk, and a binary
// that runs and reports the version.
func assertCompleteRelease(tb testing.TB, dir, version string, want map[string]entry) {
	tb.Helper()
	diffs, err := treeDiff(dir, want)
	if err != nil {
		tb.Fatalf("walk %s: %v", dir, err)
	}
	if len(diffs) > 0 {
		tb.Fatalf("release %s differs from its tarball: %v", dir, diffs)
	}
	out, err := exec.Command(filepath.Join(dir, "concourse", "bin", "concourse"), "--version").Output()
	if err != nil || strings.TrimSpace(string(out)) != version {
		tb.Fatalf("concourse --version in %s = %q, %v; want %s", dir, out, err, version)
	}
}

// debris lists the transient directories left under releases/ (storage names them .staging-* and
// .trash-*; the next lock holder removes them).
func debris(tb testing.TB, root string) []string {
	tb.Helper()
	entries, err := os.ReadDir(filepath.Join(root, "releases"))
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".staging-") || strings.HasPrefix(e.Name(), ".trash-") {
			out = append(out, e.Name())
		}
	}
	return out
}

// allocatedBytes is what du reports for dir: st_blocks*512 summed over every inode once.
func allocatedBytes(tb testing.TB, dir string) int64 {
	tb.Helper()
	type inode struct{ dev, ino uint64 }
	seen := map[inode]bool{}
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return errors.New("no stat_t")
		}
		key := inode{uint64(st.Dev), st.Ino}
		if !seen[key] {
			seen[key] = true
			total += st.Blocks * 512
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("du %s: %v", dir, err)
	}
	return total
}

// tempRoot is a temp dir whose read-only release trees (storage seals them) are made writable
// again before the testing package removes it, so cleanup also works for non-root users.
func tempRoot(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	tb.Cleanup(func() { makeWritable(dir) }) // runs before TempDir's removal (cleanups are LIFO)
	return dir
}

func makeWritable(dir string) {
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(path, 0o755)
		}
		return nil
	})
}
