package storage

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// Eight processes open one fresh root at the same instant (a shared pipe closes under all of them);
// exactly one UUID may come out, and no temporary file may be left.
func TestOpenCreatesOneIdentityAcrossProcesses(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	barrierR, barrierW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	helpers := make([]*helper, n)
	for i := range helpers {
		helpers[i] = startHelper(t, "open", []string{"ROOT=" + root}, barrierR)
	}
	barrierR.Close()
	barrierW.Close() // every helper's read returns EOF now: they all start together
	uuids := map[string]int{}
	for _, h := range helpers {
		uuids[h.line(t)]++
		if err := h.wait(); err != nil {
			t.Fatal(err)
		}
	}
	id, err := ReadIdentity(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(uuids) != 1 || uuids[id.UUID] != n {
		t.Errorf("helpers saw %v, file holds %s", uuids, id.UUID)
	}
	assertNoTempFiles(t, root)
}

func TestOpenCreatesOneIdentityAcrossGoroutines(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	const n = 8
	uuids := make([]string, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range uuids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := Open(root)
			if err != nil {
				t.Error(err)
				return
			}
			uuids[i] = r.Identity().UUID
		}()
	}
	close(start)
	wg.Wait()
	for _, u := range uuids {
		if u != uuids[0] || !validUUID(u) {
			t.Fatalf("uuids differ or are invalid: %v", uuids)
		}
	}
	assertNoTempFiles(t, root)
}

func assertNoTempFiles(t *testing.T, root string) {
	t.Helper()
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

func TestOpenLayout(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	if _, err := Open(filepath.Join(root, "absent")); err == nil {
		t.Error("Open created a missing root")
	}
	r, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	for dir, mode := range map[string]os.FileMode{"locks": 0o755, "releases": 0o755, "units": 0o755} {
		info, err := os.Stat(filepath.Join(root, dir))
		if err != nil || info.Mode().Perm() != mode {
			t.Errorf("%s: %v %v", dir, info, err)
		}
	}
	again, err := Open(root)
	if err != nil || again.Identity() != r.Identity() {
		t.Errorf("reopen gave %v, %v; want %v", again.Identity(), err, r.Identity())
	}
	if r.Identity().Mounted {
		t.Error("a temp dir is not a mount point")
	}
}

func TestRevalidateDetectsSwappedRoot(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		swap func(t *testing.T, root string)
		want error
	}{
		{"untouched", func(*testing.T, string) {}, nil},
		{"new storage at same path", func(t *testing.T, root string) {
			moveAway(t, root)
			mkdir(t, root)
			if _, err := Open(root); err != nil {
				t.Fatal(err)
			}
		}, ErrIdentityChanged},
		{"empty directory at same path", func(t *testing.T, root string) {
			moveAway(t, root)
			mkdir(t, root)
		}, ErrIdentityChanged},
		{"path gone", moveAway, ErrIdentityChanged},
		{"copy with same uuid", func(t *testing.T, root string) {
			data, err := os.ReadFile(filepath.Join(root, IdentityFile))
			if err != nil {
				t.Fatal(err)
			}
			moveAway(t, root)
			mkdir(t, root)
			if err := os.WriteFile(filepath.Join(root, IdentityFile), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}, ErrDeviceChanged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := filepath.Join(t.TempDir(), "shared")
			mkdir(t, root)
			r, err := Open(root)
			if err != nil {
				t.Fatal(err)
			}
			tt.swap(t, root)
			err = r.Revalidate(r.Identity())
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Revalidate = %v, want %v", err, tt.want)
			}
			if tt.want != nil {
				if _, _, _, err := r.Release("1.0.0", "amd64"); !errors.Is(err, tt.want) {
					t.Errorf("Release trusted swapped storage: %v", err)
				}
			}
		})
	}
}

func moveAway(t *testing.T, root string) {
	t.Helper()
	if err := os.Rename(root, root+".old"); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

// mountForTest mounts a tmpfs (or bind-mounts source) on dir and unmounts it at cleanup.
func mountForTest(t *testing.T, source, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root")
	}
	var err error
	if source == "" {
		err = unix.Mount("tmpfs", dir, "tmpfs", 0, "size=8m")
	} else {
		err = unix.Mount(source, dir, "", unix.MS_BIND, "")
	}
	if errors.Is(err, unix.EPERM) {
		t.Skipf("mount not permitted here: %v", err)
	}
	if err != nil {
		t.Fatalf("mount on %s: %v", dir, err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
}

func TestRevalidateDetectsUnmount(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "shared")
	mkdir(t, root)
	mountForTest(t, "", root)
	r, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Identity().Mounted {
		t.Fatal("tmpfs root not seen as mounted")
	}
	if err := r.Revalidate(r.Identity()); err != nil {
		t.Fatalf("mounted: %v", err)
	}
	if err := unix.Unmount(root, 0); err != nil {
		t.Fatal(err)
	}
	if err := r.Revalidate(r.Identity()); !errors.Is(err, ErrNotMounted) {
		t.Fatalf("after unmount: %v, want ErrNotMounted", err)
	}
	if _, _, _, err := r.Release("1.0.0", "amd64"); !errors.Is(err, ErrNotMounted) {
		t.Errorf("Release on unmounted root: %v", err)
	}
}

func TestIsMountPoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  bool
	}{
		{"plain directory", func(*testing.T, string) {}, false},
		{"tmpfs", func(t *testing.T, dir string) { mountForTest(t, "", dir) }, true},
		// Same filesystem, same st_dev as the parent: only the mount table can tell.
		{"bind mount", func(t *testing.T, dir string) {
			src := filepath.Join(filepath.Dir(dir), "src")
			mkdir(t, src)
			mountForTest(t, src, dir)
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "with space")
			mkdir(t, dir)
			tt.setup(t, dir)
			got, err := IsMountPoint(dir)
			if err != nil || got != tt.want {
				t.Errorf("IsMountPoint = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	if got, err := IsMountPoint("/"); err != nil || !got {
		t.Errorf("IsMountPoint(/) = %v, %v", got, err)
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		`/plain`:         "/plain",
		`/with\040space`: "/with space",
		`/tab\011x`:      "/tab\tx",
		`/back\134slash`: `/back\slash`,
		`/short\04`:      `/short\04`,
	}
	for in, want := range tests {
		if got := unescapeMountinfo(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}
