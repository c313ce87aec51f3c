package installer_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/installer"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/releasetest"
)

// redirectFixture is a release on a CDN (another loopback host, f.srv) behind an origin that
// answers 302 with a signed query, as GitHub's release URLs answer to its asset CDN.
type redirectFixture struct {
	fixture
	origin *releasetest.Server
}

func newRedirectFixture(t *testing.T, opts releasetest.TarballOptions, signedUses int) redirectFixture {
	t.Helper()
	dir := t.TempDir()
	art, err := releasetest.WriteRelease(dir, testArch, opts)
	if err != nil {
		t.Fatal(err)
	}
	cdn := releasetest.StartServerWith(t, dir, releasetest.ServerOptions{OtherHost: true})
	origin := releasetest.StartServer(t, t.TempDir())
	origin.SetRedirect(releasetest.Redirect{To: cdn.URL, Signer: cdn.Handler, SignedUses: signedUses})
	return redirectFixture{fixture: fixture{srv: cdn, art: art}, origin: origin}
}

func (f redirectFixture) request(version string) installer.Request {
	req := f.fixture.request(version)
	req.URLTemplate = f.origin.URLTemplate()
	return req
}

// assertNoToken fails if text carries any signed query the CDN handed out.
func (f redirectFixture) assertNoToken(t *testing.T, what, text string) {
	t.Helper()
	for _, tok := range f.srv.Tokens() {
		if strings.Contains(text, tok) {
			t.Errorf("%s leaks the signed query %s: %s", what, tok, text)
		}
	}
	if strings.Contains(text, "sig=") {
		t.Errorf("%s shows a signed query: %s", what, text)
	}
}

// recordProgress collects every progress report as text.
func recordProgress(req *installer.Request, version string) func() string {
	var mu sync.Mutex
	var b strings.Builder
	req.Progress = func(p installer.Progress) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(&b, "%+v %s\n", p, p.Message(version))
	}
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		return b.String()
	}
}

// A plain install through a 302: tarball and sidecar both come from the CDN, once each, and the
// result names the configured URL, not the short-lived one.
func TestInstallFollowsRedirectToAnotherHost(t *testing.T) {
	t.Parallel()
	const version = "7.14.3"
	f := newRedirectFixture(t, releasetest.TarballOptions{Version: version, PadBytes: 1 << 20}, 1)
	req := f.request(version)
	progress := recordProgress(&req, version)
	res, err := installer.Install(context.Background(), req, newSandbox(t).staging)
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	if want := f.origin.URL + f.art.URLPath; res.Source != want || res.SHA256 != f.art.SHA256 {
		t.Errorf("result %+v, want source %s and sha256 %s", res, want, f.art.SHA256)
	}
	for _, p := range []string{f.art.URLPath, f.art.URLPath + ".sha1"} {
		if st := f.origin.Stats(p); st.Requests != 1 || st.Redirected != 1 {
			t.Errorf("origin %s: %+v, want one redirected request", p, st)
		}
		if st := f.srv.Stats(p); st.Requests != 1 || st.Full != 1 || st.Expired != 0 {
			t.Errorf("cdn %s: %+v, want one full, signed GET", p, st)
		}
	}
	f.assertNoToken(t, "progress", progress())
}

// A cut mid-download resumes at the CDN URL that served the first part, with Range from where the
// cut left off: no second trip through the origin, nothing downloaded twice.
func TestResumeAcrossRedirectGoesToTheFinalHost(t *testing.T) {
	t.Parallel()
	const version = "7.14.3"
	f := newRedirectFixture(t, releasetest.TarballOptions{Version: version, PadBytes: 2 << 20}, 0)
	cut := f.art.Size / 2
	f.srv.SetFault(f.art.URLPath, releasetest.Fault{CutAfter: cut, CutTimes: 1})
	req := f.request(version)
	progress := recordProgress(&req, version)
	res, err := installer.Install(context.Background(), req, newSandbox(t).staging)
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	if res.SHA256 != f.art.SHA256 {
		t.Errorf("sha256 %s, want %s", res.SHA256, f.art.SHA256)
	}
	if st := f.origin.Stats(f.art.URLPath); st.Requests != 1 {
		t.Errorf("origin saw %+v, want only the first GET", st)
	}
	wantRange := fmt.Sprintf("bytes=%d-", cut)
	if st := f.srv.Stats(f.art.URLPath); st.Full != 1 || st.Ranged != 1 || st.Ranges[0] != wantRange || st.Expired != 0 {
		t.Errorf("cdn saw %+v, want one full GET and one %q", st, wantRange)
	}
	f.assertNoToken(t, "progress", progress())
}

// The signed URL has expired when the cut comes (a one-use token here): the CDN refuses the resume
// with 403, and the resume goes through the origin again for a fresh URL, still with Range.
func TestResumeAfterSignedURLExpiredGoesThroughTheOrigin(t *testing.T) {
	t.Parallel()
	const version = "7.14.3"
	f := newRedirectFixture(t, releasetest.TarballOptions{Version: version, PadBytes: 2 << 20}, 1)
	cut := f.art.Size / 3
	f.srv.SetFault(f.art.URLPath, releasetest.Fault{CutAfter: cut, CutTimes: 1})
	req := f.request(version)
	progress := recordProgress(&req, version)
	res, err := installer.Install(context.Background(), req, newSandbox(t).staging)
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	if res.SHA256 != f.art.SHA256 {
		t.Errorf("sha256 %s, want %s", res.SHA256, f.art.SHA256)
	}
	wantRange := fmt.Sprintf("bytes=%d-", cut)
	if st := f.origin.Stats(f.art.URLPath); st.Full != 1 || st.Ranged != 1 || st.Ranges[0] != wantRange {
		t.Errorf("origin saw %+v, want the first GET and one %q", st, wantRange)
	}
	st := f.srv.Stats(f.art.URLPath)
	if st.Full != 1 || st.Ranged != 2 || st.Expired != 1 || st.Ranges[0] != wantRange || st.Ranges[1] != wantRange {
		t.Errorf("cdn saw %+v, want one full GET, then %q refused (expired) and %q served", st, wantRange, wantRange)
	}
	f.assertNoToken(t, "progress", progress())
}

// Redirects that cannot lead anywhere safe fail at once (no retries) as a download-url problem,
// naming the URL without its signed query, and the CDN is never asked.
func TestRedirectsRefused(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		setup    func(f *redirectFixture, req *installer.Request)
		want     string
		requests int // at the origin, for the sidecar
	}{
		{"https to http", func(f *redirectFixture, req *installer.Request) {
			tls := releasetest.StartServerWith(t, t.TempDir(), releasetest.ServerOptions{TLS: true})
			tls.SetRedirect(releasetest.Redirect{To: f.srv.URL, Signer: f.srv.Handler})
			f.origin, req.URLTemplate, req.HTTPClient = tls, tls.URLTemplate(), tls.Client()
		}, "redirects from https to http", 1},
		{"loop", func(f *redirectFixture, _ *installer.Request) {
			f.origin.SetRedirect(releasetest.Redirect{To: f.origin.URL})
		}, "redirect loop", 1},
		{"too many hops", func(f *redirectFixture, _ *installer.Request) {
			// A fresh signature each time: every hop is a new URL, the loop is only seen by counting.
			f.origin.SetRedirect(releasetest.Redirect{To: f.origin.URL, Signer: f.origin.Handler})
		}, "more than 10 redirects", 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newRedirectFixture(t, releasetest.TarballOptions{Version: "7.1.0"}, 0)
			req := f.request("7.1.0")
			tc.setup(&f, &req)
			_, err := installer.Install(context.Background(), req, newSandbox(t).staging)
			var cfg *installer.ConfigError
			if !errors.As(err, &cfg) || cfg.Field != installer.FieldURL || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Install: %v; want a download-url error saying %q", err, tc.want)
			}
			sidecar := f.art.URLPath + ".sha1"
			if !strings.Contains(err.Error(), sidecar) {
				t.Errorf("error does not name the URL %s: %v", sidecar, err)
			}
			if st := f.origin.Stats(sidecar); st.Requests != tc.requests {
				t.Errorf("origin saw %d requests, want %d (no retries)", st.Requests, tc.requests)
			}
			if st := f.srv.AllStats(); len(st) != 0 {
				t.Errorf("the cdn was asked: %v", st)
			}
			f.assertNoToken(t, "error", err.Error())
			for _, tok := range f.origin.Tokens() {
				if strings.Contains(err.Error(), tok) {
					t.Errorf("error leaks %s: %v", tok, err)
				}
			}
		})
	}
}

// Failures at the redirect target name it with its signed query hidden.
func TestRedirectTargetFailuresHideTheSignedQuery(t *testing.T) {
	t.Parallel()
	t.Run("404 at the cdn", func(t *testing.T) {
		t.Parallel()
		f := newRedirectFixture(t, releasetest.TarballOptions{Version: "7.1.0"}, 0)
		f.srv.SetFault(f.art.URLPath+".sha1", releasetest.Fault{FailStatus: 404, FailTimes: 1})
		_, err := installer.Install(context.Background(), f.request("7.1.0"), newSandbox(t).staging)
		var status *installer.HTTPStatusError
		if !errors.As(err, &status) || status.Code != 404 || status.Via != f.srv.URL+f.art.URLPath+".sha1?(query hidden)" {
			t.Fatalf("Install: %v; want a 404 naming the cdn URL, query hidden", err)
		}
		f.assertNoToken(t, "error", err.Error())
	})
	t.Run("cdn down", func(t *testing.T) {
		t.Parallel()
		f := newRedirectFixture(t, releasetest.TarballOptions{Version: "7.1.0"}, 0)
		f.srv.Close()
		req := f.request("7.1.0")
		req.Retries, req.Backoff = 1, time.Millisecond
		_, err := installer.Install(context.Background(), req, newSandbox(t).staging)
		if err == nil || len(f.srv.Tokens()) == 0 {
			t.Fatalf("Install: %v after %d redirects; want a connection error", err, len(f.srv.Tokens()))
		}
		f.assertNoToken(t, "error", err.Error())
	})
}
