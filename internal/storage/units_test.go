package storage

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUnitDir(t *testing.T) {
	t.Parallel()
	r := openTestRoot(t)
	tests := []struct {
		unit, want string
	}{
		{"concourse-ci/0", "concourse-ci-0"},
		{"web2/13", "web2-13"},
		{"../x/0", ""},
		{"app", ""},
		{"app/", ""},
		{"App/0", ""},
		{"app/0/1", ""},
		{"app/x", ""},
		{"", ""},
	}
	for _, tt := range tests {
		dir, err := r.UnitDir(tt.unit)
		if tt.want == "" {
			if err == nil {
				t.Errorf("UnitDir(%q) accepted: %s", tt.unit, dir)
			}
			continue
		}
		info, statErr := os.Stat(dir)
		if err != nil || filepath.Base(dir) != tt.want || statErr != nil || info.Mode().Perm() != 0o700 {
			t.Errorf("UnitDir(%q) = %s, %v (stat %v %v)", tt.unit, dir, err, info, statErr)
		}
	}
}

func TestUnitRefsAndHeartbeat(t *testing.T) {
	t.Parallel()
	r := openTestRoot(t)
	if err := r.SetUnitRef("web/0", "7.14.3", "amd64"); err != nil {
		t.Fatal(err)
	}
	if err := r.holdRelease("web/0", "7.14.4-amd64"); err != nil {
		t.Fatal(err)
	}
	if err := r.Heartbeat("worker/1"); err != nil {
		t.Fatal(err)
	}
	if err := r.SetUnitRef("web/0", "bad/version", "amd64"); err == nil {
		t.Error("SetUnitRef accepted an invalid version")
	}
	refs, err := r.UnitRefs()
	if err != nil {
		t.Fatal(err)
	}
	web, worker := refs["web/0"], refs["worker/1"]
	if len(refs) != 2 || web.Version != "7.14.3" || !equalStrings(web.Releases(), []string{"7.14.4-amd64", "7.14.3-amd64"}) || web.UpdatedAt.IsZero() {
		t.Errorf("refs = %+v", refs)
	}
	if worker.Heartbeat.IsZero() || len(worker.Releases()) != 0 {
		t.Errorf("worker = %+v", worker)
	}
	// Switching clears holds: the unit now needs only what it runs.
	if err := r.SetUnitRef("web/0", "7.14.4", "amd64"); err != nil {
		t.Fatal(err)
	}
	refs, _ = r.UnitRefs()
	if got := refs["web/0"].Releases(); !equalStrings(got, []string{"7.14.4-amd64"}) {
		t.Errorf("after switch: %v", got)
	}
	assertNoWorldReadable(t, filepath.Join(r.Path(), "units"))
	if err := r.ForgetUnit("web/0"); err != nil {
		t.Fatal(err)
	}
	if refs, _ = r.UnitRefs(); len(refs) != 1 {
		t.Errorf("after forget: %+v", refs)
	}
}

func assertNoWorldReadable(t *testing.T, dir string) {
	t.Helper()
	err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err == nil && path != dir && info.Mode().Perm()&0o007 != 0 {
			t.Errorf("%s is open to others (%v)", path, info.Mode())
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func installVersions(t *testing.T, r *Root, versions ...string) {
	t.Helper()
	for _, v := range versions {
		calls := 0
		if _, _, _, err := r.EnsureRelease(context.Background(), EnsureRequest{Version: v, Arch: "amd64", Fill: fillFiles(v, 1, &calls)}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestGCRemovesOnlyUnreferencedReleases(t *testing.T) {
	t.Parallel()
	r := openTestRoot(t)
	installVersions(t, r, "1.0.0", "2.0.0", "3.0.0", "4.0.0")
	if err := r.SetUnitRef("web/0", "1.0.0", "amd64"); err != nil {
		t.Fatal(err)
	}
	calls := 0
	if _, _, _, err := r.EnsureRelease(context.Background(), EnsureRequest{Version: "2.0.0", Arch: "amd64", Owner: Owner{Unit: "worker/0"}, Fill: fillFiles("2.0.0", 1, &calls)}); err != nil {
		t.Fatal(err)
	}
	// Debris a crashed installer could leave: GC clears it too.
	if err := os.MkdirAll(filepath.Join(r.Path(), "releases", "5.0.0-amd64", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(r.Path(), "releases", ".staging-x"), 0o755); err != nil {
		t.Fatal(err)
	}
	removed, err := r.GC(context.Background(), Owner{Unit: "web/0"}, "3.0.0-amd64")
	if err != nil {
		t.Fatal(err)
	}
	if !equalStrings(removed, []string{"4.0.0-amd64", "5.0.0-amd64"}) {
		t.Errorf("removed %v", removed)
	}
	assertReleaseDirs(t, r, "1.0.0-amd64", "2.0.0-amd64", "3.0.0-amd64")
	for _, v := range []string{"1.0.0", "2.0.0", "3.0.0"} {
		if dir, _, ok, err := r.Release(v, "amd64"); err != nil || !ok {
			t.Errorf("kept release %s lost its marker: %v", v, err)
		} else {
			assertCompleteRelease(t, dir, v, 1)
		}
	}
}

// GC deletes the marker before anything else, and re-reads references after: a release that a
// unit starts holding in that instant gets its marker back and stays.
func TestGCDeletesMarkerFirstAndRespectsLateHold(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		lateHold bool
		removed  []string
	}{
		{"unreferenced", false, []string{"1.0.0-amd64"}},
		{"held while collecting", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := openTestRoot(t)
			installVersions(t, r, "1.0.0")
			dir := filepath.Join(r.Path(), "releases", "1.0.0-amd64")
			sawPoint := false
			r.testHook = func(point string) {
				if !strings.HasPrefix(point, "gc-marker-removed:") {
					return
				}
				sawPoint = true
				if _, err := os.Stat(filepath.Join(dir, MarkerFile)); !os.IsNotExist(err) {
					t.Errorf("marker still present when GC starts removing: %v", err)
				}
				assertCompleteRelease(t, dir, "1.0.0", 1) // tree untouched until the marker is gone
				if tt.lateHold {
					if err := r.holdRelease("late/0", "1.0.0-amd64"); err != nil {
						t.Error(err)
					}
				}
			}
			removed, err := r.GC(context.Background(), Owner{})
			if err != nil || !sawPoint || !equalStrings(removed, tt.removed) {
				t.Fatalf("GC = %v, %v (hook reached %v)", removed, err, sawPoint)
			}
			_, _, ok, err := r.Release("1.0.0", "amd64")
			if err != nil || ok != tt.lateHold {
				t.Errorf("release present=%v (%v), want %v", ok, err, tt.lateHold)
			}
			if tt.lateHold {
				assertReadOnly(t, dir)
			} else {
				assertReleaseDirs(t, r)
			}
		})
	}
}
