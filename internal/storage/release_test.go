package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func openTestRoot(t *testing.T) *Root {
	t.Helper()
	r, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// fillFiles is a Fill that writes n release files and counts its calls.
func fillFiles(version string, n int, calls *int) func(context.Context, string) (Marker, error) {
	return func(_ context.Context, staging string) (Marker, error) {
		*calls++
		return Marker{SHA256: "sum-" + version, Size: int64(n)}, writeReleaseFiles(staging, version, n, nil)
	}
}

// assertCompleteRelease checks that dir holds exactly the n files fillFiles writes, intact.
func assertCompleteRelease(t *testing.T, dir, version string, n int) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "bin"))
	if err != nil {
		t.Fatalf("release %s: %v", dir, err)
	}
	if len(entries) != n {
		t.Fatalf("release %s has %d files, want %d", dir, len(entries), n)
	}
	for k := 0; k < n; k++ {
		got, err := os.ReadFile(filepath.Join(dir, "bin", fmt.Sprintf("f%d", k)))
		if err != nil || !bytes.Equal(got, releaseFileContent(version, k)) {
			t.Fatalf("release %s file %d damaged (%v)", dir, k, err)
		}
	}
}

func TestEnsureReleaseInstallsOnceThenReuses(t *testing.T) {
	t.Parallel()
	r := openTestRoot(t)
	calls := 0
	req := EnsureRequest{Version: "7.14.3", Arch: "amd64", Owner: Owner{Unit: "concourse-ci/0"}, Fill: fillFiles("7.14.3", 3, &calls)}
	dir, m, ours, err := r.EnsureRelease(context.Background(), req)
	if err != nil || !ours {
		t.Fatalf("first ensure: ours=%v err=%v", ours, err)
	}
	if dir != filepath.Join(r.Path(), "releases", "7.14.3-amd64") {
		t.Errorf("dir = %s", dir)
	}
	if m.Version != "7.14.3" || m.Arch != "amd64" || m.SHA256 != "sum-7.14.3" || m.Unit != "concourse-ci/0" || m.CompletedAt.IsZero() {
		t.Errorf("marker = %+v", m)
	}
	assertCompleteRelease(t, dir, "7.14.3", 3)
	assertReadOnly(t, dir)

	dir2, m2, ours2, err := r.EnsureRelease(context.Background(), req)
	if err != nil || ours2 || dir2 != dir || m2 != m || calls != 1 {
		t.Fatalf("second ensure: dir=%s ours=%v err=%v calls=%d marker equal=%v", dir2, ours2, err, calls, m2 == m)
	}
	gotDir, gotMarker, ok, err := r.Release("7.14.3", "amd64")
	if err != nil || !ok || gotDir != dir || *gotMarker != m {
		t.Errorf("Release = %s %+v %v %v", gotDir, gotMarker, ok, err)
	}
	refs, err := r.UnitRefs()
	if err != nil || !equalStrings(refs["concourse-ci/0"].Holds, []string{"7.14.3-amd64"}) {
		t.Errorf("ensure did not hold the release for its unit: %+v %v", refs, err)
	}
}

// assertReadOnly: no file of a complete release is writable, no directory writable but by its owner.
func assertReadOnly(t *testing.T, dir string) {
	t.Helper()
	err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		writable := os.FileMode(0o222)
		if info != nil && info.IsDir() {
			writable = 0o022
		}
		if err == nil && info.Mode().Perm()&writable != 0 {
			t.Errorf("%s is writable (%v)", path, info.Mode())
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func equalStrings(a, b []string) bool {
	return strings.Join(a, "\n") == strings.Join(b, "\n")
}

func TestEnsureReleaseFillErrorLeavesOthersAlone(t *testing.T) {
	t.Parallel()
	r := openTestRoot(t)
	calls := 0
	okDir, _, _, err := r.EnsureRelease(context.Background(), EnsureRequest{Version: "1.0.0", Arch: "amd64", Fill: fillFiles("1.0.0", 2, &calls)})
	if err != nil {
		t.Fatal(err)
	}
	errBroken := errors.New("checksum mismatch")
	_, _, _, err = r.EnsureRelease(context.Background(), EnsureRequest{
		Version: "2.0.0", Arch: "amd64",
		Fill: func(_ context.Context, staging string) (Marker, error) {
			if err := writeReleaseFiles(staging, "2.0.0", 2, nil); err != nil {
				return Marker{}, err
			}
			return Marker{}, errBroken
		},
	})
	if !errors.Is(err, errBroken) || !strings.Contains(err.Error(), "2.0.0-amd64") {
		t.Fatalf("err = %v, want wrapped %v naming the release", err, errBroken)
	}
	assertReleaseDirs(t, r, "1.0.0-amd64")
	assertCompleteRelease(t, okDir, "1.0.0", 2)
	if _, err := ReadOwner(r.InstallLockPath()); err == nil {
		t.Error("lock owner record left after failed install")
	}
}

// assertReleaseDirs checks that releases/ holds exactly the named entries (no staging, no trash).
func assertReleaseDirs(t *testing.T, r *Root, want ...string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(r.Path(), "releases"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if !equalStrings(got, want) {
		t.Errorf("releases/ holds %v, want %v", got, want)
	}
}

// Whatever an earlier crash left (staging, trash, an unmarked release dir, a marker Fill copied
// in) must not survive the next install.
func TestEnsureReleaseClearsLeftovers(t *testing.T) {
	t.Parallel()
	r := openTestRoot(t)
	rel := filepath.Join(r.Path(), "releases")
	for _, d := range []string{".staging-dead", ".trash-dead", "3.0.0-amd64/bin"} {
		if err := os.MkdirAll(filepath.Join(rel, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(rel, "3.0.0-amd64", "bin", "junk"), []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir, m, _, err := r.EnsureRelease(context.Background(), EnsureRequest{
		Version: "3.0.0", Arch: "amd64",
		Fill: func(_ context.Context, staging string) (Marker, error) {
			bogus := []byte(`{"version":"3.0.0","arch":"amd64","sha256":"bogus"}`)
			if err := os.WriteFile(filepath.Join(staging, MarkerFile), bogus, 0o644); err != nil {
				return Marker{}, err
			}
			return Marker{SHA256: "real"}, writeReleaseFiles(staging, "3.0.0", 2, nil)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	assertReleaseDirs(t, r, "3.0.0-amd64")
	assertCompleteRelease(t, dir, "3.0.0", 2)
	if _, _, ok, _ := r.Release("3.0.0", "amd64"); !ok || m.SHA256 != "real" {
		t.Errorf("marker = %+v, ok %v", m, ok)
	}
}

func TestReleaseNeedsMatchingMarker(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		marker string // "" = no marker file
		ok     bool
	}{
		{"no marker", "", false},
		{"corrupt marker", `{"version":`, false},
		{"other version", `{"version":"9.9.9","arch":"amd64"}`, false},
		{"other arch", `{"version":"1.0.0","arch":"arm64"}`, false},
		{"matching", `{"version":"1.0.0","arch":"amd64","sha256":"x"}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := openTestRoot(t)
			dir := filepath.Join(r.Path(), "releases", "1.0.0-amd64")
			mkdir(t, dir)
			if tt.marker != "" {
				if err := os.WriteFile(filepath.Join(dir, MarkerFile), []byte(tt.marker), 0o444); err != nil {
					t.Fatal(err)
				}
			}
			gotDir, m, ok, err := r.Release("1.0.0", "amd64")
			if err != nil || ok != tt.ok || (ok && (gotDir != dir || m.SHA256 != "x")) {
				t.Errorf("Release = %q %+v %v %v; want ok=%v", gotDir, m, ok, err, tt.ok)
			}
		})
	}
}

func TestReleaseName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		version, arch, want string
	}{
		{"7.14.3", "amd64", "7.14.3-amd64"},
		{"7.14.3-rc.1", "arm64", "7.14.3-rc.1-arm64"},
		{"", "amd64", ""},
		{"../x", "amd64", ""},
		{".hidden", "amd64", ""},
		{"a/b", "amd64", ""},
		{"1.0", "amd-64", ""},
		{"1.0", "", ""},
	}
	for _, tt := range tests {
		got, err := ReleaseName(tt.version, tt.arch)
		if got != tt.want || (err == nil) != (tt.want != "") {
			t.Errorf("ReleaseName(%q, %q) = %q, %v; want %q", tt.version, tt.arch, got, err, tt.want)
		}
	}
}

// A waiter for the install lock reports who holds it, then finds the release the holder made.
func TestEnsureReleaseWaitsForInstallerAndReusesItsWork(t *testing.T) {
	t.Parallel()
	r := openTestRoot(t)
	calls := 0
	var first Marker
	installerInFill := make(chan struct{})
	waiterReported := make(chan Owner, 1)
	waiterDone := make(chan error, 1)
	_, first, _, err := r.EnsureRelease(context.Background(), EnsureRequest{
		Version: "5.0.0", Arch: "amd64", Owner: Owner{Unit: "concourse-ci/1"},
		Fill: func(ctx context.Context, staging string) (Marker, error) {
			close(installerInFill)
			go func() {
				_, m, ours, err := r.EnsureRelease(context.Background(), EnsureRequest{
					Version: "5.0.0", Arch: "amd64", Owner: Owner{Unit: "concourse-ci/0"},
					Fill:   fillFiles("5.0.0", 1, &calls),
					OnWait: func(o Owner) { waiterReported <- o },
				})
				if err == nil && (ours || m.Unit != "concourse-ci/1") {
					err = fmt.Errorf("waiter installed again: ours=%v marker=%+v", ours, m)
				}
				waiterDone <- err
			}()
			o := <-waiterReported // the waiter found the lock busy and is about to sleep on it
			if o.Unit != "concourse-ci/1" || !strings.Contains(o.Purpose, "5.0.0-amd64") {
				return Marker{}, fmt.Errorf("waiter saw owner %+v", o)
			}
			return fillFiles("5.0.0", 1, new(int))(ctx, staging)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	<-installerInFill
	if err := <-waiterDone; err != nil {
		t.Fatal(err)
	}
	if calls != 0 || first.Unit != "concourse-ci/1" {
		t.Errorf("waiter filled %d times; marker %+v", calls, first)
	}
}
