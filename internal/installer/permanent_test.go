package installer

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// An untrusted certificate never heals: it must fail at once, not spend the retry budget (with the
// charm's budget, minutes of one hook) on identical handshakes.
func TestUntrustedCertificateIsNotRetried(t *testing.T) {
	t.Parallel()
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	defer srv.Close()
	client := newHTTPClient(ProxyConfig{}) // does not trust the test server's CA
	_, err := getWithRetry(context.Background(), client, srv.URL+"/x.tgz", time.Second, nil, newRetrier(4, time.Millisecond))
	if err == nil {
		t.Fatal("GET through an untrusted certificate succeeded")
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("certificate error retried: %d connections, want 1 (%v)", n, err)
	}
}

func TestBadProxySettingIsNotRetried(t *testing.T) {
	t.Parallel()
	client := newHTTPClient(ProxyConfig{HTTPProxy: "http://%zz"})
	// Loopback targets bypass proxies, so aim at a name that resolves nowhere; the proxy setting
	// is consulted (and refused) before any connection.
	_, retryable, err := getOnce(context.Background(), client, "http://mirror.invalid/x.tgz", time.Second, nil)
	var pe *ProxyError
	if !asProxyError(err, &pe) || retryable {
		t.Fatalf("err = %v (retryable %v), want a ProxyError that is not retried", err, retryable)
	}
}

func asProxyError(err error, target **ProxyError) bool { return errors.As(err, target) }
