package installer_test

import (
	"archive/tar"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/installer"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/releasetest"
)

// badCase is one broken release or server and the error it must produce.
type badCase struct {
	name string
	// opts adjusts the tarball; parent is the sandbox dir outside staging,
	// which hostile entries aim at.
	opts func(o *releasetest.TarballOptions, parent string)
	// setup breaks the served files or server after writing.
	setup   func(t *testing.T, f fixture)
	req     func(r *installer.Request, f fixture)
	wantAs  func(error) bool
	wantMsg []string
}

func asType[T error](err error) bool {
	var target T
	return errors.As(err, &target)
}

func entry(typ byte, name, link string) releasetest.Entry {
	return releasetest.Entry{Header: tar.Header{Typeflag: typ, Name: name, Linkname: link, Mode: 0o644}, Body: []byte("evil")}
}

func extra(entries ...func(parent string) releasetest.Entry) func(*releasetest.TarballOptions, string) {
	return func(o *releasetest.TarballOptions, parent string) {
		for _, e := range entries {
			o.Extra = append(o.Extra, e(parent))
		}
	}
}

func fixed(e releasetest.Entry) func(string) releasetest.Entry {
	return func(string) releasetest.Entry { return e }
}

func TestInstallRejectsBadInput(t *testing.T) {
	t.Parallel()
	const version = "7.12.1"
	cases := []badCase{
		{name: "wrong sha1 sidecar",
			setup: func(t *testing.T, f fixture) {
				f.srv.SetFault(f.art.URLPath+".sha1", releasetest.Fault{WrongSHA1: true})
			},
			wantAs: asType[*installer.ChecksumError], wantMsg: []string{"sha1 mismatch"}},
		{name: "wrong sha256 pin",
			req:    func(r *installer.Request, _ fixture) { r.SHA256 = strings.Repeat("ab", 32) },
			wantAs: asType[*installer.ChecksumError], wantMsg: []string{"sha256 mismatch", strings.Repeat("ab", 32)}},
		{name: "malformed sidecar",
			setup: func(t *testing.T, f fixture) {
				writeFile(t, f.art.Path+".sha1", "not a checksum\n")
			},
			wantMsg: []string{"checksum sidecar", "malformed"}},
		{name: "sidecar names another file",
			setup: func(t *testing.T, f fixture) {
				writeFile(t, f.art.Path+".sha1", f.art.SHA1+"  other.tgz\n")
			},
			wantMsg: []string{"names file \"other.tgz\""}},
		{name: "missing sidecar",
			setup:  func(t *testing.T, f fixture) { must(t, os.Remove(f.art.Path+".sha1")) },
			wantAs: asType[*installer.HTTPStatusError], wantMsg: []string{"checksum sidecar", ".tgz.sha1", "404"}},
		{name: "truncated tarball",
			setup: func(t *testing.T, f fixture) {
				must(t, os.Truncate(f.art.Path, f.art.Size/2))
				f.rewriteSidecar(t)
			},
			wantMsg: []string{"truncated"}},
		{name: "not gzip",
			setup: func(t *testing.T, f fixture) {
				writeFile(t, f.art.Path, "<html>rate limited</html>")
				f.rewriteSidecar(t)
			},
			wantMsg: []string{"not a gzip stream"}},
		{name: "path traversal",
			opts:   extra(fixed(entry(tar.TypeReg, "concourse/../../escaped", ""))),
			wantAs: asType[*installer.UnsafeEntryError], wantMsg: []string{"concourse/../../escaped", ".."}},
		{name: "absolute path",
			opts: extra(func(parent string) releasetest.Entry {
				return entry(tar.TypeReg, filepath.Join(parent, "escaped"), "")
			}),
			wantAs: asType[*installer.UnsafeEntryError], wantMsg: []string{"absolute path"}},
		{name: "entry outside concourse/",
			opts:   extra(fixed(entry(tar.TypeReg, "other/file", ""))),
			wantAs: asType[*installer.UnsafeEntryError], wantMsg: []string{"other/file", "outside the top-level concourse/"}},
		{name: "symlink escaping relative",
			opts: extra(fixed(entry(tar.TypeSymlink, "concourse/up", "../../")),
				fixed(entry(tar.TypeReg, "concourse/up/escaped", ""))),
			wantAs: asType[*installer.UnsafeEntryError], wantMsg: []string{"concourse/up", "escapes"}},
		{name: "symlink absolute target",
			opts: extra(func(parent string) releasetest.Entry {
				return entry(tar.TypeSymlink, "concourse/abs", parent)
			}),
			wantAs: asType[*installer.UnsafeEntryError], wantMsg: []string{"is absolute"}},
		{name: "symlink chain escaping once followed",
			// concourse/bin/up -> .. is concourse; b -> bin/up/../.. looks
			// like concourse lexically but the kernel lands above staging.
			opts: extra(fixed(entry(tar.TypeSymlink, "concourse/bin/up", "..")),
				fixed(entry(tar.TypeSymlink, "concourse/b", "bin/up/../.."))),
			wantAs: asType[*installer.UnsafeEntryError], wantMsg: []string{"concourse/b", "resolves outside"}},
		{name: "write through an in-tree symlink",
			opts: extra(fixed(entry(tar.TypeSymlink, "concourse/lnk", "bin")),
				fixed(entry(tar.TypeReg, "concourse/lnk/x", ""))),
			wantAs: asType[*installer.UnsafeEntryError], wantMsg: []string{"parent concourse/lnk is a symlink"}},
		{name: "hard link escape",
			opts:   extra(fixed(entry(tar.TypeLink, "concourse/passwd", "../../etc/passwd"))),
			wantAs: asType[*installer.UnsafeEntryError], wantMsg: []string{"hard link target", ".."}},
		{name: "hard link absolute",
			opts:   extra(fixed(entry(tar.TypeLink, "concourse/passwd", "/etc/passwd"))),
			wantAs: asType[*installer.UnsafeEntryError], wantMsg: []string{"hard link target", "absolute"}},
		{name: "hard link to a later file",
			opts: extra(fixed(entry(tar.TypeLink, "concourse/early", "concourse/late")),
				fixed(entry(tar.TypeReg, "concourse/late", ""))),
			wantAs: asType[*installer.UnsafeEntryError], wantMsg: []string{"not an earlier regular file"}},
		{name: "char device",
			opts:   extra(fixed(entry(tar.TypeChar, "concourse/null", ""))),
			wantAs: asType[*installer.UnsafeEntryError], wantMsg: []string{"concourse/null", "device node"}},
		{name: "block device",
			opts:   extra(fixed(entry(tar.TypeBlock, "concourse/sda", ""))),
			wantAs: asType[*installer.UnsafeEntryError], wantMsg: []string{"device node"}},
		{name: "fifo",
			opts:   extra(fixed(entry(tar.TypeFifo, "concourse/pipe", ""))),
			wantAs: asType[*installer.UnsafeEntryError], wantMsg: []string{"fifo"}},
		{name: "duplicate entry",
			opts:   extra(fixed(entry(tar.TypeReg, "concourse/bin/concourse", ""))),
			wantAs: asType[*installer.UnsafeEntryError], wantMsg: []string{"duplicate entry"}},
		{name: "missing concourse binary",
			opts:    func(o *releasetest.TarballOptions, _ string) { o.OmitBinary = true },
			wantMsg: []string{"no concourse/bin/concourse"}},
		{name: "version mismatch",
			opts: func(o *releasetest.TarballOptions, _ string) {
				o.OmitBinary = true
				o.Extra = append(o.Extra, releasetest.Entry{
					Header: tar.Header{Typeflag: tar.TypeReg, Name: "concourse/bin/concourse", Mode: 0o755},
					Body:   []byte("#!/bin/sh\necho 6.7.8\n")})
			},
			wantAs: asType[*installer.VersionMismatchError], wantMsg: []string{`"6.7.8"`, `"7.12.1"`}},
		{name: "server 404",
			req:    func(r *installer.Request, _ fixture) { r.Version = "0.0.404" },
			wantAs: asType[*installer.HTTPStatusError], wantMsg: []string{"/v0.0.404/concourse-0.0.404-linux-amd64.tgz", "HTTP 404"}},
		{name: "server 403 is not retried",
			setup: func(t *testing.T, f fixture) {
				f.srv.SetFault(f.art.URLPath, releasetest.Fault{FailStatus: 403, FailTimes: 1})
			},
			wantAs: asType[*installer.HTTPStatusError], wantMsg: []string{"HTTP 403"}},
		{name: "server 500 forever",
			setup: func(t *testing.T, f fixture) {
				f.srv.SetFault(f.art.URLPath, releasetest.Fault{FailStatus: 500, FailTimes: 1000})
			},
			wantAs: asType[*installer.HTTPStatusError], wantMsg: []string{"giving up after 3 retries", "HTTP 500"}},
		{name: "server stalls forever",
			setup: func(t *testing.T, f fixture) {
				f.srv.SetFault(f.art.URLPath, releasetest.Fault{StallAfter: 1000, StallTimes: 1000})
			},
			req:     func(r *installer.Request, _ fixture) { r.StallTimeout = 100 * time.Millisecond },
			wantMsg: []string{"giving up after 3 retries", "stalled"}},
		{name: "cut forever without Range support",
			setup: func(t *testing.T, f fixture) {
				f.srv.SetFault(f.art.URLPath, releasetest.Fault{CutAfter: 5000, CutTimes: 1000, NoRange: true})
			},
			wantMsg: []string{"giving up after 3 retries", "cut"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			box := newSandbox(t)
			opts := releasetest.TarballOptions{Version: version, PadBytes: 64 << 10}
			if tc.opts != nil {
				tc.opts(&opts, box.parent)
			}
			f := newFixture(t, opts)
			if tc.setup != nil {
				tc.setup(t, f)
			}
			req := f.request(version)
			if tc.req != nil {
				tc.req(&req, f)
			}
			_, err := installer.Install(context.Background(), req, box.staging)
			if err == nil {
				t.Fatal("Install succeeded, want an error")
			}
			t.Logf("error: %v", err)
			if tc.wantAs != nil && !tc.wantAs(err) {
				t.Errorf("error %T (%v) is not of the expected type", err, err)
			}
			for _, m := range tc.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
			box.assertEmptyStaging(t)
			box.assertUntouched(t)
		})
	}
}

func TestInstallDoesNotRetryPermanentFailures(t *testing.T) {
	t.Parallel()
	f := newFixture(t, releasetest.TarballOptions{Version: "7.0.0"})
	f.srv.SetFault(f.art.URLPath, releasetest.Fault{FailStatus: 404, FailTimes: 1000})
	box := newSandbox(t)
	_, err := installer.Install(context.Background(), f.request("7.0.0"), box.staging)
	if !asType[*installer.HTTPStatusError](err) {
		t.Fatalf("err = %v, want HTTPStatusError", err)
	}
	if st := f.srv.Stats(f.art.URLPath); st.Requests != 1 {
		t.Errorf("404 was requested %d times, want 1", st.Requests)
	}
}

func TestInstallRejectsBadRequest(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		req       installer.Request
		wantField string
	}{
		{"empty version", installer.Request{Arch: "amd64", URLTemplate: "https://x/{version}"}, installer.FieldVersion},
		{"version with slash", installer.Request{Version: "7/../..", Arch: "amd64", URLTemplate: "https://x/{version}"}, installer.FieldVersion},
		{"bad arch", installer.Request{Version: "7.1.0", Arch: "AMD 64", URLTemplate: "https://x/{version}"}, installer.FieldArch},
		{"no url, no resource", installer.Request{Version: "7.1.0", Arch: "amd64"}, installer.FieldURL},
		{"url without {version}", installer.Request{Version: "7.1.0", Arch: "amd64", URLTemplate: "https://x/latest.tgz"}, installer.FieldURL},
		{"ftp url", installer.Request{Version: "7.1.0", Arch: "amd64", URLTemplate: "ftp://x/{version}.tgz"}, installer.FieldURL},
		{"url without host", installer.Request{Version: "7.1.0", Arch: "amd64", URLTemplate: "https:///{version}.tgz"}, installer.FieldURL},
		{"short pin", installer.Request{Version: "7.1.0", Arch: "amd64", URLTemplate: "https://x/{version}", SHA256: "abc"}, installer.FieldChecksum},
		{"non-hex pin", installer.Request{Version: "7.1.0", Arch: "amd64", URLTemplate: "https://x/{version}", SHA256: strings.Repeat("zz", 32)}, installer.FieldChecksum},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			box := newSandbox(t)
			_, err := installer.Install(context.Background(), tc.req, box.staging)
			var ce *installer.ConfigError
			if !errors.As(err, &ce) || ce.Field != tc.wantField {
				t.Fatalf("err = %v, want ConfigError for %s", err, tc.wantField)
			}
			box.assertUntouched(t)
		})
	}
}

func TestInstallRefusesNonEmptyStaging(t *testing.T) {
	t.Parallel()
	f := newFixture(t, releasetest.TarballOptions{Version: "7.0.1"})
	box := newSandbox(t)
	keep := filepath.Join(box.staging, "someone-elses")
	writeFile(t, keep, "x")
	_, err := installer.Install(context.Background(), f.request("7.0.1"), box.staging)
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("err = %v, want 'not empty'", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("existing staging content removed: %v", err)
	}
	if st := f.srv.AllStats(); len(st) != 0 {
		t.Errorf("requests made despite refusing: %v", st)
	}
}

func TestInstallHonoursCancellation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, releasetest.TarballOptions{Version: "7.0.2", PadBytes: 1 << 20})
	f.srv.SetFault(f.art.URLPath, releasetest.Fault{StallAfter: 1000, StallTimes: 1})
	box := newSandbox(t)
	ctx, cancel := context.WithCancel(context.Background())
	req := f.request("7.0.2")
	// The first progress report (Done 0) comes once the response headers
	// are in; the server then stalls, so only cancellation can end Install.
	req.Progress = func(installer.Progress) { cancel() }
	_, err := installer.Install(ctx, req, box.staging)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	box.assertEmptyStaging(t)
}

func writeFile(t *testing.T, p, body string) {
	t.Helper()
	must(t, os.WriteFile(p, []byte(body), 0o644))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
