package release_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/installer"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/release"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/releasetest"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/storage"
)

// rejectedVersion is asked for; the tarballs served for it are wrong in some way.
const rejectedVersion = "2.0.0"

// wrongVersionTarball is a well-formed release whose binary reports another version.
func wrongVersionTarball(t *testing.T, reports string) []byte {
	t.Helper()
	var buf bytes.Buffer
	err := releasetest.WriteTarball(&buf, releasetest.TarballOptions{Version: rejectedVersion, OmitBinary: true,
		Extra: []releasetest.Entry{{Header: tar.Header{Typeflag: tar.TypeReg, Name: "concourse/bin/concourse", Mode: 0o755},
			Body: []byte("#!/bin/sh\necho " + reports + "\n")}}})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func hexSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// artifactServer serves one tarball and its sidecar with validators the test controls, and counts
// GETs (downloads) and HEADs (probes) of the tarball.
type artifactServer struct {
	t   *testing.T
	srv *httptest.Server

	mu            sync.Mutex
	data          []byte
	etag, lastMod string
	sidecarSHA1   string // "" means the sha1 of data
	gets, heads   int
}

func newArtifactServer(t *testing.T, data []byte) *artifactServer {
	a := &artifactServer{t: t, data: data, etag: `"v1"`, lastMod: "Mon, 01 Jan 2024 00:00:00 GMT"}
	a.srv = httptest.NewServer(a)
	t.Cleanup(a.srv.Close)
	return a
}

func (a *artifactServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	data, etag, lastMod, sidecar := a.data, a.etag, a.lastMod, a.sidecarSHA1
	tarball := releasetest.URLPath(rejectedVersion, arch)
	switch {
	case r.URL.Path == tarball && r.Method == http.MethodHead:
		a.heads++
	case r.URL.Path == tarball:
		a.gets++
	}
	a.mu.Unlock()
	switch r.URL.Path {
	case tarball:
		if etag != "" {
			w.Header().Set("ETag", etag)
		}
		if lastMod != "" {
			w.Header().Set("Last-Modified", lastMod)
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	case tarball + ".sha1":
		if sidecar == "" {
			sum := sha1.Sum(data)
			sidecar = hex.EncodeToString(sum[:])
		}
		fmt.Fprintf(w, "%s  %s\n", sidecar, path.Base(tarball))
	default:
		http.NotFound(w, r)
	}
}

func (a *artifactServer) set(change func(a *artifactServer)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	change(a)
}

func (a *artifactServer) counts() (gets, heads int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.gets, a.heads
}

func (a *artifactServer) request() installer.Request {
	return installer.Request{Version: rejectedVersion, Arch: arch, URLTemplate: a.srv.URL + releasetest.URLTemplate,
		HTTPClient: a.srv.Client(), Retries: 1, Backoff: time.Millisecond, StallTimeout: 5 * time.Second}
}

func openRoot(t *testing.T) *storage.Root {
	t.Helper()
	root, err := storage.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func explain(err error) string { return "BLOCKED: " + err.Error() }

// ensureRejected runs one Ensure that must end in a *RejectedError and returns it.
func ensureRejected(t *testing.T, root *storage.Root, unit string, req installer.Request) *release.RejectedError {
	t.Helper()
	_, err := release.EnsureWith(context.Background(), root, unit, req, release.Options{Explain: explain, Log: func(s string) { t.Log(unit + ": " + s) }})
	var rej *release.RejectedError
	if !errors.As(err, &rej) {
		t.Fatalf("%s: Ensure = %v, want a *RejectedError", unit, err)
	}
	return rej
}

// TestRejectedArtifactIsDownloadedOnce: three units on one root asking at once for a release whose
// tarball holds another version download it once and all report the same reason; another round
// downloads nothing (a HEAD each); a new checksum pin or a new file behind the URL is tried again.
func TestRejectedArtifactIsDownloadedOnce(t *testing.T) {
	t.Parallel()
	bad := wrongVersionTarball(t, "9.9.9")
	srv := newArtifactServer(t, bad)
	root := openRoot(t)
	units := []string{"concourse-ci/0", "concourse-ci/1", "concourse-ci/2"}

	round := func(req installer.Request) map[string]*release.RejectedError {
		var mu sync.Mutex
		got := map[string]*release.RejectedError{}
		var wg sync.WaitGroup
		for _, u := range units {
			wg.Go(func() {
				rej := ensureRejected(t, root, u, req)
				mu.Lock()
				got[u] = rej
				mu.Unlock()
			})
		}
		wg.Wait()
		return got
	}
	sameReason := func(what string, got map[string]*release.RejectedError, want string) {
		t.Helper()
		for u, rej := range got {
			if rej.Record.Reason != want {
				t.Errorf("%s: %s reports %q, want %q", what, u, rej.Record.Reason, want)
			}
		}
	}

	first := round(srv.request())
	gets, heads := srv.counts()
	t.Logf("first round: %d GETs, %d HEADs", gets, heads)
	if gets != 1 {
		t.Fatalf("3 units downloaded the bad release %d times, want 1", gets)
	}
	reason := first[units[0]].Record.Reason
	if !strings.HasPrefix(reason, "BLOCKED: ") || !strings.Contains(reason, `"9.9.9"`) {
		t.Errorf("reason %q, want the Explain of the version mismatch", reason)
	}
	sameReason("first round", first, reason)
	fresh := 0
	for _, rej := range first {
		if rej.Err != nil {
			fresh++
		}
	}
	if fresh != 1 {
		t.Errorf("%d units read the artifact themselves, want 1", fresh)
	}

	second := round(srv.request())
	gets2, heads2 := srv.counts()
	t.Logf("update-status round: %d GETs, %d HEADs", gets2-gets, heads2-heads)
	if gets2 != gets || heads2-heads != len(units) {
		t.Errorf("an idle round made %d GETs and %d HEADs, want 0 and one per unit", gets2-gets, heads2-heads)
	}
	sameReason("second round", second, reason)

	pinned := srv.request()
	pinned.SHA256 = hexSHA256(bad) // passes the checksum; the version inside is still wrong
	third := round(pinned)
	gets3, _ := srv.counts()
	if gets3 != gets2+1 {
		t.Errorf("a new checksum pin: %d downloads, want 1", gets3-gets2)
	}
	if rec := third[units[0]].Record; rec.Checksum != pinned.SHA256 || rec.Expected != "sha256:"+pinned.SHA256 {
		t.Errorf("the new record has checksum %q expected %q, want the new pin", rec.Checksum, rec.Expected)
	}

	other := wrongVersionTarball(t, "8.8.8")
	srv.set(func(a *artifactServer) { a.data, a.etag = other, `"v2"` })
	fourth := round(srv.request())
	gets4, _ := srv.counts()
	if gets4 != gets3+1 {
		t.Errorf("a new file behind the URL: %d downloads, want 1", gets4-gets3)
	}
	sameReason("new file", fourth, fourth[units[0]].Record.Reason)
	if !strings.Contains(fourth[units[0]].Record.Reason, `"8.8.8"`) {
		t.Errorf("reason %q does not describe the new file", fourth[units[0]].Record.Reason)
	}
}

// TestRejectionMatchingRules: after one refusal, each change of what a download would read is
// tried again (one GET), and only the same artifact under the same checks is refused unread.
func TestRejectionMatchingRules(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		change func(t *testing.T, a *artifactServer, req *installer.Request)
		// cause of the first refusal: a wrong sidecar, or else the version inside
		wrongSidecar bool
		// wantGET: downloaded again; wantRead: read again (from the URL or a resource) rather than
		// refused from the record
		wantGET, wantRead bool
	}{
		{name: "nothing changed", wantGET: false,
			change: func(*testing.T, *artifactServer, *installer.Request) {}},
		{name: "nothing changed, refused by its sidecar", wrongSidecar: true, wantGET: false,
			change: func(*testing.T, *artifactServer, *installer.Request) {}},
		{name: "checksum pin set", wantGET: true, wantRead: true,
			change: func(_ *testing.T, a *artifactServer, r *installer.Request) { r.SHA256 = hexSHA256(a.data) }},
		{name: "download-url changed", wantGET: true, wantRead: true,
			change: func(_ *testing.T, _ *artifactServer, r *installer.Request) {
				r.URLTemplate = strings.Replace(r.URLTemplate, "127.0.0.1", "localhost", 1) // same server, another URL
			}},
		{name: "password in download-url changed", wantGET: true, wantRead: true,
			change: func(_ *testing.T, a *artifactServer, r *installer.Request) {
				r.URLTemplate = "http://u:other@" + strings.TrimPrefix(a.srv.URL, "http://") + releasetest.URLTemplate
			}},
		{name: "ETag changed", wantGET: true, wantRead: true,
			change: func(_ *testing.T, a *artifactServer, _ *installer.Request) {
				a.set(func(a *artifactServer) { a.etag = `"v2"` })
			}},
		{name: "ETag dropped", wantGET: true, wantRead: true,
			change: func(_ *testing.T, a *artifactServer, _ *installer.Request) {
				a.set(func(a *artifactServer) { a.etag = "" })
			}},
		{name: "Last-Modified changed", wantGET: true, wantRead: true,
			change: func(_ *testing.T, a *artifactServer, _ *installer.Request) {
				a.set(func(a *artifactServer) { a.lastMod = "Tue, 02 Jan 2024 00:00:00 GMT" })
			}},
		{name: "size changed", wantGET: true, wantRead: true,
			change: func(_ *testing.T, a *artifactServer, _ *installer.Request) {
				a.set(func(a *artifactServer) { a.data = append(append([]byte(nil), a.data...), 0) })
			}},
		{name: "sidecar republished", wrongSidecar: true, wantGET: true, wantRead: true,
			change: func(_ *testing.T, a *artifactServer, _ *installer.Request) {
				a.set(func(a *artifactServer) { a.sidecarSHA1 = "" })
			}},
		{name: "sidecar republished after a version refusal", wantGET: false,
			change: func(_ *testing.T, a *artifactServer, _ *installer.Request) {
				a.set(func(a *artifactServer) { a.sidecarSHA1 = strings.Repeat("1", 40) })
			}},
		{name: "resource attached", wantGET: false, wantRead: true,
			change: func(t *testing.T, a *artifactServer, r *installer.Request) {
				r.ResourcePath = filepath.Join(t.TempDir(), "concourse.tgz")
				if err := os.WriteFile(r.ResourcePath, a.data, 0o644); err != nil {
					t.Fatal(err)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := newArtifactServer(t, wrongVersionTarball(t, "9.9.9"))
			if tc.wrongSidecar {
				a.set(func(a *artifactServer) { a.sidecarSHA1 = strings.Repeat("0", 40) })
			}
			root := openRoot(t)
			req := a.request()
			first := ensureRejected(t, root, "concourse-ci/0", req)
			if first.Err == nil {
				t.Fatal("the first refusal did not come from a download")
			}
			tc.change(t, a, &req)
			before, _ := a.counts()
			_, err := release.EnsureWith(context.Background(), root, "concourse-ci/1", req, release.Options{Explain: explain})
			after, _ := a.counts()
			if got := after > before; got != tc.wantGET {
				t.Errorf("downloaded again: %v, want %v (err %v)", got, tc.wantGET, err)
			}
			var rej *release.RejectedError
			if !errors.As(err, &rej) {
				t.Fatalf("Ensure = %v, want a refusal (the served release stays wrong)", err)
			}
			if read := rej.Err != nil; read != tc.wantRead {
				t.Errorf("read again: %v (%v), want %v", read, rej.Err, tc.wantRead)
			}
			if !tc.wantRead && rej.Record.Reason != first.Record.Reason {
				t.Errorf("refused with %q, want the remembered %q", rej.Record.Reason, first.Record.Reason)
			}
		})
	}
}

// TestServerWithoutValidatorsIsAlwaysTriedAgain: with neither ETag nor Last-Modified a replaced
// file of the same size could not be told apart, so the record informs but never stops a download.
func TestServerWithoutValidatorsIsAlwaysTriedAgain(t *testing.T) {
	t.Parallel()
	a := newArtifactServer(t, wrongVersionTarball(t, "9.9.9"))
	a.set(func(a *artifactServer) { a.etag, a.lastMod = "", "" })
	root := openRoot(t)
	for i := range 2 {
		rej := ensureRejected(t, root, "concourse-ci/0", a.request())
		if rej.Err == nil {
			t.Errorf("round %d: refused unread without any validator to match", i)
		}
	}
	if gets, heads := a.counts(); gets != 2 || heads != 0 {
		t.Errorf("%d GETs and %d HEADs, want 2 and 0 (nothing to probe for)", gets, heads)
	}
}

// TestRejectedResourceIsNotReadAgain: a refused resource is matched by size and digest, so a unit
// with its own copy of the same file (another path, inode and times) is refused without unpacking,
// hashing its copy once; a different file of any size is tried again.
func TestRejectedResourceIsNotReadAgain(t *testing.T) {
	t.Parallel()
	bad := wrongVersionTarball(t, "9.9.9")
	root := openRoot(t)
	write := func(data []byte) string {
		p := filepath.Join(t.TempDir(), "concourse.tgz")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	req := installer.Request{Version: rejectedVersion, Arch: arch, ResourcePath: write(bad)}
	first := ensureRejected(t, root, "concourse-ci/0", req)
	if first.Err == nil || first.Record.SourceKind != installer.KindResource || first.Record.SHA256 != hexSHA256(bad) {
		t.Fatalf("first refusal %+v (%v), want a resource record of the file's sha256", first.Record, first.Err)
	}
	if again := ensureRejected(t, root, "concourse-ci/0", req); again.Err != nil {
		t.Errorf("the same unit and file were read again: %v", again.Err)
	}
	copyReq := req
	copyReq.ResourcePath = write(bad)
	if other := ensureRejected(t, root, "concourse-ci/1", copyReq); other.Err != nil || other.Record.Reason != first.Record.Reason {
		t.Errorf("another unit's copy of the same file: %v / %q, want the remembered refusal", other.Err, other.Record.Reason)
	}
	memo, err := os.ReadFile(filepath.Join(root.Path(), "units", "concourse-ci-1", "resource-sha256.json"))
	if err != nil || !strings.Contains(string(memo), hexSHA256(bad)) {
		t.Errorf("the other unit kept no digest of its copy: %s (%v)", memo, err)
	}

	sameSize := append([]byte(nil), bad...)
	sameSize[len(sameSize)-1] ^= 0xff // a corrupt gzip trailer: refused for another reason
	changedReq := req
	changedReq.ResourcePath = write(sameSize)
	if rej := ensureRejected(t, root, "concourse-ci/1", changedReq); rej.Err == nil {
		t.Error("another file of the same size was refused unread")
	}
}

// TestRejectionRecordHoldsNoCredential: a download-url carrying a password and a token leaves
// neither in the record any unit can read, nor in the reason units report.
func TestRejectionRecordHoldsNoCredential(t *testing.T) {
	t.Parallel()
	a := newArtifactServer(t, wrongVersionTarball(t, "9.9.9"))
	root := openRoot(t)
	req := a.request()
	req.URLTemplate = "http://mirror:pa55word@" + strings.TrimPrefix(a.srv.URL, "http://") + releasetest.URLTemplate + "?token=t0ken-s3cret"
	req.SHA256 = strings.Repeat("ab", 32)
	rej := ensureRejected(t, root, "concourse-ci/0", req)
	data, err := os.ReadFile(filepath.Join(root.Path(), "rejected", rejectedVersion+"-"+arch+".json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"pa55word", "t0ken-s3cret"} {
		if strings.Contains(string(data), secret) || strings.Contains(rej.Error(), secret) {
			t.Errorf("%q reached the record or the reason:\n%s\n%s", secret, data, rej.Error())
		}
	}
	full := strings.NewReplacer("{version}", rejectedVersion, "{arch}", arch).Replace(req.URLTemplate)
	if rej.Record.URLSHA256 != hexSHA256([]byte(full)) || !strings.HasSuffix(rej.Record.Source, "?(query hidden)") {
		t.Errorf("record names %q / %s, want the display URL and the sha256 of the full one", rej.Record.Source, rej.Record.URLSHA256)
	}
}

// TestTransientFailuresAndSuccessLeaveNoRecord: a server error is no verdict on the artifact, and a
// release that finally installs clears the refusal of its earlier artifact.
func TestTransientFailuresAndSuccessLeaveNoRecord(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	art, err := releasetest.WriteRelease(dir, arch, releasetest.TarballOptions{Version: rejectedVersion})
	if err != nil {
		t.Fatal(err)
	}
	srv := releasetest.StartServer(t, dir)
	root := openRoot(t)
	req := installer.Request{Version: rejectedVersion, Arch: arch, URLTemplate: srv.URLTemplate(), HTTPClient: srv.Client(),
		Retries: 1, Backoff: time.Millisecond, StallTimeout: 5 * time.Second}

	srv.SetFault(art.URLPath, releasetest.Fault{FailStatus: 503, FailTimes: 2})
	if _, err := release.Ensure(context.Background(), root, "concourse-ci/0", req, nil); err == nil || errors.As(err, new(*release.RejectedError)) {
		t.Fatalf("Ensure against a failing server = %v, want a plain error", err)
	}
	if recs, _ := root.Rejections(); len(recs) != 0 {
		t.Fatalf("a 503 was remembered as a refusal: %+v", recs)
	}

	pinned := req
	pinned.SHA256 = strings.Repeat("0", 64)
	ensureRejected(t, root, "concourse-ci/0", pinned)
	if _, err := release.Ensure(context.Background(), root, "concourse-ci/0", req, nil); err != nil {
		t.Fatalf("without the wrong pin: %v", err)
	}
	if recs, _ := root.Rejections(); len(recs) != 0 {
		t.Errorf("the refusal outlived the install of %s: %+v", rejectedVersion, recs)
	}
}
