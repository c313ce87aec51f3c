package installer

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestDisplayURLHidesCredentials(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"https://mirror.example/v1/c.tgz":                         "https://mirror.example/v1/c.tgz",
		"https://user:s3cret@mirror.example/c.tgz":                "https://mirror.example/c.tgz",
		"https://bucket.s3.example/c.tgz?X-Amz-Signature=s3cret":  "https://bucket.s3.example/c.tgz?(query hidden)",
		"https://mirror.example/v{version}/c-{arch}.tgz?t=s3cret": "https://mirror.example/v%7Bversion%7D/c-%7Barch%7D.tgz?(query hidden)",
	} {
		if got := displayURL(raw); got != want {
			t.Errorf("displayURL(%q) = %q, want %q", raw, got, want)
		}
	}
}

// A failed download must not put a token from download-url into the error the operator reads in
// `juju status` (nor into logs or the marker on shared storage).
func TestErrorsDoNotLeakURLCredentials(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	req := Request{Version: "1.0.0", Arch: "amd64",
		URLTemplate: strings.Replace(srv.URL, "http://", "http://user:s3cret@", 1) + "/v{version}/c.tgz?token=s3cret"}
	_, err := Install(context.Background(), req, t.TempDir())
	if err == nil {
		t.Fatal("Install succeeded against a 404 server")
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error leaks a credential: %v", err)
	}
	// A transport error (nothing listens) goes through net/http's *url.Error, which keeps queries.
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	req.URLTemplate = closed.URL + "/v{version}/c.tgz?token=s3cret"
	if _, err := Install(context.Background(), req, t.TempDir()); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("transport error %v: want an error without the token", err)
	}
}
