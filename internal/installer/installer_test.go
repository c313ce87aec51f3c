package installer_test

import (
	"archive/tar"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/installer"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/releasetest"
)

func TestInstallFromURL(t *testing.T) {
	t.Parallel()
	const version = "7.14.3"
	extras := []releasetest.Entry{
		{Header: tar.Header{Typeflag: tar.TypeReg, Name: "concourse/bin/suid", Mode: 0o4755}, Body: []byte("x")},
		{Header: tar.Header{Typeflag: tar.TypeSymlink, Name: "concourse/bin/alias", Linkname: "concourse"}},
		{Header: tar.Header{Typeflag: tar.TypeSymlink, Name: "concourse/types", Linkname: "./resource-types/git"}},
		{Header: tar.Header{Typeflag: tar.TypeLink, Name: "concourse/bin/hard", Linkname: "concourse/bin/suid"}},
	}
	f := newFixture(t, releasetest.TarballOptions{
		Version: version, StandinPath: releasetest.Standin(t, version), PadBytes: 3 << 20, Extra: extras,
	})
	box := newSandbox(t)
	req := f.request(version)
	var mu sync.Mutex
	var reports []installer.Progress
	req.Progress = func(p installer.Progress) {
		mu.Lock()
		defer mu.Unlock()
		reports = append(reports, p)
	}

	res, err := installer.Install(context.Background(), req, box.staging)
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	want := installer.Result{Version: version, Arch: testArch, Source: f.url(), Size: f.art.Size, SHA1: f.art.SHA1, SHA256: f.art.SHA256}
	if res != want {
		t.Errorf("result = %+v\nwant     %+v", res, want)
	}
	for path, mode := range map[string]os.FileMode{
		"concourse":                                            os.ModeDir | 0o755,
		"concourse/bin/concourse":                              0o755,
		"concourse/bin/suid":                                   0o755, // setuid stripped
		"concourse/resource-types/git/rootfs.tgz":              0o644,
		"concourse/resource-types/time/resource_metadata.json": 0o644,
		"concourse/fly-assets/fly-linux-amd64.tgz":             0o644,
		"concourse/bin/alias":                                  os.ModeSymlink | 0o777,
	} {
		if got := fileMode(t, filepath.Join(box.staging, path)); got != mode {
			t.Errorf("%s mode = %v, want %v", path, got, mode)
		}
	}
	checkProgress(t, reports, f.art.Size)
	box.assertUntouched(t)
	if st := f.srv.Stats(f.art.URLPath); st.Full != 1 || st.Ranged != 0 {
		t.Errorf("tarball requests = %+v, want one full GET", st)
	}
}

func checkProgress(t *testing.T, reports []installer.Progress, size int64) {
	t.Helper()
	var last int64
	var downloads int
	phases := map[string]bool{}
	for _, p := range reports {
		phases[p.Phase] = true
		if p.Phase != installer.PhaseDownload {
			continue
		}
		downloads++
		if p.Done < last || p.Total != size {
			t.Errorf("progress %+v after %d (size %d)", p, last, size)
		}
		last = p.Done
	}
	if last != size {
		t.Errorf("last download progress %d, want %d", last, size)
	}
	// A 1 MiB step: one report per MiB plus the first and the last, not one per read.
	if most := int(size>>20) + 2; downloads < 3 || downloads > most {
		t.Errorf("%d download progress reports, want a throttled handful", downloads)
	}
	for _, ph := range []string{installer.PhaseVerify, installer.PhaseSync} {
		if !phases[ph] {
			t.Errorf("no %s progress report", ph)
		}
	}
}

func TestInstallFromResource(t *testing.T) {
	t.Parallel()
	const version = "7.14.2"
	f := newFixture(t, releasetest.TarballOptions{Version: version})
	empty := filepath.Join(t.TempDir(), "placeholder.tgz")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name       string
		resource   string
		pin        string
		wantSource string
		wantHits   int // requests the server sees (sidecar + tarball)
	}{
		{"unpinned resource", f.art.Path, "", installer.SourceResourceUnpinned, 0},
		{"pinned resource", f.art.Path, strings.ToUpper(f.art.SHA256), installer.SourceResource, 0},
		{"zero-byte placeholder falls back to URL", empty, "", f.url(), 2},
		{"missing resource falls back to URL", filepath.Join(t.TempDir(), "none"), "", f.url(), 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Not parallel: subtests share the server's counters.
			before := len(f.srv.AllStats())
			box := newSandbox(t)
			req := f.request(version)
			req.ResourcePath, req.SHA256 = tc.resource, tc.pin
			res, err := installer.Install(context.Background(), req, box.staging)
			if err != nil {
				t.Fatalf("Install: %v", err)
			}
			if res.Source != tc.wantSource || res.SHA1 != f.art.SHA1 || res.Size != f.art.Size {
				t.Errorf("result = %+v, want source %q sha1 %s", res, tc.wantSource, f.art.SHA1)
			}
			if hits := len(f.srv.AllStats()) - before; tc.wantHits == 0 && hits != 0 {
				t.Errorf("resource install made %d HTTP requests", hits)
			}
			if _, err := os.Stat(filepath.Join(box.staging, "concourse/bin/concourse")); err != nil {
				t.Error(err)
			}
			box.assertUntouched(t)
		})
	}
}

func TestInstallRecoversFromTransferFaults(t *testing.T) {
	t.Parallel()
	const version = "7.13.0"
	cases := []struct {
		name       string
		fault      func(size int64) releasetest.Fault
		wantFull   int
		wantRanged int
	}{
		{"resume after cut", func(size int64) releasetest.Fault {
			return releasetest.Fault{CutAfter: size / 2, CutTimes: 1}
		}, 1, 1},
		{"two cuts, two resumes", func(size int64) releasetest.Fault {
			return releasetest.Fault{CutAfter: size / 3, CutTimes: 2}
		}, 1, 2},
		{"200 instead of 206 restarts", func(size int64) releasetest.Fault {
			return releasetest.Fault{CutAfter: size / 2, CutTimes: 1, NoRange: true}
		}, 1, 1},
		{"file changed (If-Range) restarts", func(size int64) releasetest.Fault {
			return releasetest.Fault{CutAfter: size / 2, CutTimes: 1, ChangeETag: true}
		}, 1, 1},
		{"500 twice then success", func(int64) releasetest.Fault {
			return releasetest.Fault{FailStatus: 500, FailTimes: 2}
		}, 3, 0},
		{"429 then success", func(int64) releasetest.Fault {
			return releasetest.Fault{FailStatus: 429, FailTimes: 1}
		}, 2, 0},
		{"stall then resume", func(size int64) releasetest.Fault {
			return releasetest.Fault{StallAfter: size / 4, StallTimes: 1}
		}, 1, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, releasetest.TarballOptions{Version: version, PadBytes: 2 << 20})
			f.srv.SetFault(f.art.URLPath, tc.fault(f.art.Size))
			box := newSandbox(t)
			req := f.request(version)
			req.StallTimeout = 300 * time.Millisecond
			res, err := installer.Install(context.Background(), req, box.staging)
			if err != nil {
				t.Fatalf("Install: %v", err)
			}
			if res.SHA1 != f.art.SHA1 || res.SHA256 != f.art.SHA256 || res.Size != f.art.Size {
				t.Errorf("result = %+v, want sha1 %s size %d", res, f.art.SHA1, f.art.Size)
			}
			st := f.srv.Stats(f.art.URLPath)
			// A restart re-requests from byte 0 without Range.
			wantFull := tc.wantFull
			if strings.Contains(tc.name, "restarts") {
				wantFull++
			}
			if st.Full != wantFull || st.Ranged != tc.wantRanged {
				t.Errorf("server saw %+v, want full=%d ranged=%d", st, wantFull, tc.wantRanged)
			}
			for _, r := range st.Ranges {
				if !strings.HasPrefix(r, "bytes=") || r == "bytes=0-" {
					t.Errorf("odd Range %q", r)
				}
			}
			box.assertUntouched(t)
		})
	}
}
