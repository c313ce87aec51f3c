package installer_test

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/installer"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/releasetest"
)

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestContentRefusalsCarryTheArtifactRead: every refusal of a fully read artifact is an
// *ArtifactError naming its cause, the bytes read (size, sha256) and the validators the server sent
// with them, and still wraps the typed error with its message.
func TestContentRefusalsCarryTheArtifactRead(t *testing.T) {
	t.Parallel()
	const version = "7.12.2"
	wrongPin := strings.Repeat("ab", 32)
	cases := []struct {
		name         string
		opts         func(*releasetest.TarballOptions)
		setup        func(t *testing.T, f fixture)
		pin          string
		cause        string
		wantExpected func(f fixture) string
		wantAs       func(error) bool
	}{
		{name: "wrong sidecar", cause: installer.CauseChecksum,
			setup: func(t *testing.T, f fixture) {
				writeFile(t, f.art.Path+".sha1", strings.Repeat("0", 40)+"  "+f.art.Filename+"\n")
			},
			wantExpected: func(fixture) string { return "sha1:" + strings.Repeat("0", 40) },
			wantAs:       asType[*installer.ChecksumError]},
		{name: "wrong pin", cause: installer.CauseChecksum, pin: wrongPin,
			wantExpected: func(fixture) string { return "sha256:" + wrongPin },
			wantAs:       asType[*installer.ChecksumError]},
		{name: "unsafe entry", cause: installer.CauseUnsafe,
			opts: func(o *releasetest.TarballOptions) {
				o.Extra = []releasetest.Entry{entry(tar.TypeChar, "concourse/null", "")}
			},
			wantExpected: func(f fixture) string { return "sha1:" + f.art.SHA1 },
			wantAs:       asType[*installer.UnsafeEntryError]},
		{name: "version inside", cause: installer.CauseVersion,
			opts: func(o *releasetest.TarballOptions) {
				o.OmitBinary = true
				o.Extra = []releasetest.Entry{{Header: tar.Header{Typeflag: tar.TypeReg, Name: "concourse/bin/concourse", Mode: 0o755},
					Body: []byte("#!/bin/sh\necho 6.0.0\n")}}
			},
			wantExpected: func(f fixture) string { return "sha1:" + f.art.SHA1 },
			wantAs:       asType[*installer.VersionMismatchError]},
		{name: "no concourse binary", cause: installer.CauseArchive,
			opts:         func(o *releasetest.TarballOptions) { o.OmitBinary = true },
			wantExpected: func(f fixture) string { return "sha1:" + f.art.SHA1 }},
		{name: "not gzip", cause: installer.CauseArchive,
			setup: func(t *testing.T, f fixture) {
				writeFile(t, f.art.Path, "<html>sorry</html>")
				f.rewriteSidecar(t)
			}},
		{name: "truncated with a matching sidecar", cause: installer.CauseArchive,
			setup: func(t *testing.T, f fixture) {
				must(t, os.Truncate(f.art.Path, f.art.Size/2))
				f.rewriteSidecar(t)
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := releasetest.TarballOptions{Version: version, PadBytes: 32 << 10}
			if tc.opts != nil {
				tc.opts(&opts)
			}
			f := newFixture(t, opts)
			if tc.setup != nil {
				tc.setup(t, f)
			}
			served, err := os.ReadFile(f.art.Path)
			must(t, err)
			req := f.request(version)
			req.SHA256 = tc.pin
			_, err = installer.Install(context.Background(), req, newSandbox(t).staging)
			var ae *installer.ArtifactError
			if !errors.As(err, &ae) {
				t.Fatalf("Install: %v (%T), want an *ArtifactError", err, err)
			}
			if ae.Cause != tc.cause || ae.Kind != installer.KindURL || ae.Display != f.url() || ae.URLSHA256 != sha256Hex([]byte(f.url())) {
				t.Errorf("cause %q kind %q display %q url-sha256 %q, want %q url %q", ae.Cause, ae.Kind, ae.Display, ae.URLSHA256, tc.cause, f.url())
			}
			if ae.Size != int64(len(served)) || ae.SHA256 != sha256Hex(served) {
				t.Errorf("read %d bytes sha256 %s, the server has %d bytes sha256 %s", ae.Size, ae.SHA256, len(served), sha256Hex(served))
			}
			head := probeHeaders(t, f.url())
			if v := ae.Validators; v.ETag == "" || v.ETag != head.Get("ETag") || v.LastModified != head.Get("Last-Modified") || v.ContentLength != int64(len(served)) {
				t.Errorf("validators %+v, the server sends ETag %q Last-Modified %q for %d bytes", v, head.Get("ETag"), head.Get("Last-Modified"), len(served))
			}
			if tc.wantExpected != nil && ae.Expected != tc.wantExpected(f) {
				t.Errorf("expected %q, want %q", ae.Expected, tc.wantExpected(f))
			}
			if tc.wantAs != nil && !tc.wantAs(err) {
				t.Errorf("the typed error is lost: %v", err)
			}
			if got, again := ae.Error(), errors.Unwrap(ae).Error(); got != again {
				t.Errorf("message %q changed by the wrapper (%q)", got, again)
			}
		})
	}
}

func probeHeaders(t *testing.T, u string) http.Header {
	t.Helper()
	resp, err := http.Head(u)
	must(t, err)
	resp.Body.Close()
	return resp.Header
}

// TestFailuresThatMayHealAreNotArtifactErrors: transfer failures, HTTP errors, cancellation and a
// missing sidecar say nothing about the artifact's content.
func TestFailuresThatMayHealAreNotArtifactErrors(t *testing.T) {
	t.Parallel()
	const version = "7.12.3"
	cases := []struct {
		name  string
		setup func(f fixture, req *installer.Request, ctx context.CancelFunc)
	}{
		{"server 500", func(f fixture, _ *installer.Request, _ context.CancelFunc) {
			f.srv.SetFault(f.art.URLPath, releasetest.Fault{FailStatus: 500, FailTimes: 100})
		}},
		{"server 404", func(f fixture, _ *installer.Request, _ context.CancelFunc) {
			f.srv.SetFault(f.art.URLPath, releasetest.Fault{FailStatus: 404, FailTimes: 100})
		}},
		{"cut beyond the budget", func(f fixture, _ *installer.Request, _ context.CancelFunc) {
			f.srv.SetFault(f.art.URLPath, releasetest.Fault{CutAfter: 5000, CutTimes: 100, NoRange: true})
		}},
		{"missing sidecar", func(f fixture, _ *installer.Request, _ context.CancelFunc) {
			f.srv.SetFault(f.art.URLPath+".sha1", releasetest.Fault{FailStatus: 404, FailTimes: 100})
		}},
		{"cancelled", func(f fixture, req *installer.Request, cancel context.CancelFunc) {
			f.srv.SetFault(f.art.URLPath, releasetest.Fault{StallAfter: 1000, StallTimes: 1})
			req.Progress = func(installer.Progress) { cancel() }
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, releasetest.TarballOptions{Version: version, PadBytes: 256 << 10})
			req := f.request(version)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tc.setup(f, &req, cancel)
			_, err := installer.Install(ctx, req, newSandbox(t).staging)
			if err == nil || asType[*installer.ArtifactError](err) {
				t.Fatalf("Install: %v, want a failure that is not an *ArtifactError", err)
			}
		})
	}
}

// TestResourceRefusalCarriesItsStamp: a refused resource is identified by its digest and the stamp
// of the very file read, so a unit can tell later, by a stat, that it has not changed.
func TestResourceRefusalCarriesItsStamp(t *testing.T) {
	t.Parallel()
	f := newFixture(t, releasetest.TarballOptions{Version: "7.12.4"})
	data, err := os.ReadFile(f.art.Path)
	must(t, err)
	req := installer.Request{Version: "7.12.4", Arch: testArch, ResourcePath: f.art.Path, SHA256: strings.Repeat("cd", 32)}
	_, err = installer.Install(context.Background(), req, newSandbox(t).staging)
	var ae *installer.ArtifactError
	if !errors.As(err, &ae) || ae.Kind != installer.KindResource || ae.Cause != installer.CauseChecksum {
		t.Fatalf("Install: %v, want a resource *ArtifactError for the checksum", err)
	}
	stamp, sum, err := installer.HashFile(f.art.Path)
	must(t, err)
	if ae.Stamp != stamp || ae.SHA256 != sum || sum != sha256Hex(data) || ae.Display != f.art.Path {
		t.Errorf("stamp %+v sha256 %s display %s, want %+v %s %s", ae.Stamp, ae.SHA256, ae.Display, stamp, sum, f.art.Path)
	}
	if len(f.srv.AllStats()) != 0 {
		t.Errorf("a resource install asked the server: %v", f.srv.AllStats())
	}
}

// TestProbeReadsNoBody: Probe answers the validators a download would see, with one HEAD and no
// GET, and sees a replaced file as changed.
func TestProbeReadsNoBody(t *testing.T) {
	t.Parallel()
	f := newFixture(t, releasetest.TarballOptions{Version: "7.12.5", PadBytes: 64 << 10})
	req := f.request("7.12.5")
	req.SHA256 = strings.Repeat("ef", 32)
	_, err := installer.Install(context.Background(), req, newSandbox(t).staging)
	var ae *installer.ArtifactError
	if !errors.As(err, &ae) {
		t.Fatalf("Install: %v, want an *ArtifactError", err)
	}
	before := f.srv.Stats(f.art.URLPath)
	v, err := installer.Probe(context.Background(), req)
	must(t, err)
	if v != ae.Validators {
		t.Errorf("probe %+v, the download saw %+v", v, ae.Validators)
	}
	after := f.srv.Stats(f.art.URLPath)
	if after.GETs() != before.GETs() || after.Heads != before.Heads+1 {
		t.Errorf("probe made %d GETs and %d HEADs, want 0 and 1", after.GETs()-before.GETs(), after.Heads-before.Heads)
	}

	writeFile(t, f.art.Path, "a different file behind the same URL")
	changed, err := installer.Probe(context.Background(), req)
	must(t, err)
	if changed == v || changed.ContentLength != int64(len("a different file behind the same URL")) {
		t.Errorf("probe after replacing the file: %+v, before %+v", changed, v)
	}
}

// TestProbeFollowsRedirectsAndFallsBackToOneByte: a URL that redirects (GitHub's do) is probed at its
// target; a server that refuses HEAD (a URL presigned for GET only) is asked for byte 0, and the
// size comes from Content-Range.
func TestProbeFollowsRedirectsAndFallsBackToOneByte(t *testing.T) {
	t.Parallel()
	f := newFixture(t, releasetest.TarballOptions{Version: "7.12.6"})
	want := probeHeaders(t, f.url())
	noHead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			http.Error(w, "signature does not match", http.StatusForbidden)
			return
		}
		f.srv.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(noHead.Close)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, noHead.URL+r.URL.Path, http.StatusFound)
	}))
	t.Cleanup(front.Close)
	req := installer.Request{Version: "7.12.6", Arch: testArch, URLTemplate: front.URL + releasetest.URLTemplate}
	v, err := installer.Probe(context.Background(), req)
	must(t, err)
	if v.ETag != want.Get("ETag") || v.LastModified != want.Get("Last-Modified") || v.ContentLength != f.art.Size {
		t.Errorf("probe %+v, want ETag %s Last-Modified %s length %d", v, want.Get("ETag"), want.Get("Last-Modified"), f.art.Size)
	}
	st := f.srv.Stats(f.art.URLPath)
	if st.Ranged != 1 || st.Full != 0 || st.Ranges[0] != "bytes=0-0" {
		t.Errorf("the fallback asked %+v, want one GET of bytes=0-0", st)
	}
}

// TestArtifactIdentityHoldsNoCredential: a download-url with a password and a token identifies the
// artifact by a digest; neither the display form nor a refusal carries either.
func TestArtifactIdentityHoldsNoCredential(t *testing.T) {
	t.Parallel()
	f := newFixture(t, releasetest.TarballOptions{Version: "7.12.7"})
	template := "http://mirror:pa55word@" + strings.TrimPrefix(f.srv.URLTemplate(), "http://") + "?token=t0ken-s3cret"
	req := f.request("7.12.7")
	req.URLTemplate = template
	req.SHA256 = strings.Repeat("12", 32)
	art, err := req.Identify()
	must(t, err)
	full := strings.NewReplacer("{version}", "7.12.7", "{arch}", testArch).Replace(template)
	if art.URLSHA256 != sha256Hex([]byte(full)) || art.Kind != installer.KindURL || art.Checksum != req.SHA256 {
		t.Errorf("identity %+v, want the sha256 of the full URL", art)
	}
	_, err = installer.Install(context.Background(), req, newSandbox(t).staging)
	var ae *installer.ArtifactError
	if !errors.As(err, &ae) {
		t.Fatalf("Install: %v, want an *ArtifactError", err)
	}
	encoded, err := json.Marshal(ae)
	must(t, err)
	for _, secret := range []string{"pa55word", "t0ken-s3cret"} {
		for what, text := range map[string]string{"identity": art.Display, "refusal": string(encoded), "message": ae.Error()} {
			if strings.Contains(text, secret) {
				t.Errorf("%s carries %q: %s", what, secret, text)
			}
		}
	}
	if ae.URLSHA256 != art.URLSHA256 {
		t.Errorf("the refusal names %s, Identify %s", ae.URLSHA256, art.URLSHA256)
	}
}
