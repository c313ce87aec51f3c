package installer

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// net/http would send the download-url, query and all, as Referer to the redirect target.
func TestRedirectSendsNoReferer(t *testing.T) {
	t.Parallel()
	referer := make(chan string, 1)
	cdn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		referer <- r.Header.Get("Referer")
	}))
	defer cdn.Close()
	origin := httptest.NewServer(http.RedirectHandler(cdn.URL+"/c.tgz?sig=signed", http.StatusFound))
	defer origin.Close()
	resp, _, err := getOnce(context.Background(), origin.Client(), origin.URL+"/c.tgz?token=s3cret", 5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Close()
	if got := <-referer; got != "" {
		t.Errorf("the redirect target got Referer %q", got)
	}
}

// net/http quotes a Location it cannot parse, signed query included, in its error.
func TestUnparsableLocationIsNotQuoted(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "http://bad host/c.tgz?sig=s3cret")
		w.WriteHeader(http.StatusFound)
	}))
	defer srv.Close()
	_, _, err := getOnce(context.Background(), srv.Client(), srv.URL+"/c.tgz", 5*time.Second, nil)
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "Location that does not parse") {
		t.Fatalf("err = %v; want a bad-Location error without the query", err)
	}
}

// Each hop picks its proxy afresh: NO_PROXY exempts the redirect target by its own host name, and
// without it the target goes through the proxy too. The names resolve only through the test's dialer.
func TestProxyIsChosenPerRedirectHop(t *testing.T) {
	t.Parallel()
	cdn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "direct")
	}))
	defer cdn.Close()
	var mu sync.Mutex
	var proxied []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		proxied = append(proxied, r.URL.Host)
		mu.Unlock()
		if r.URL.Host == "origin.test" {
			http.Redirect(w, r, "http://cdn.test/c.tgz?sig=signed", http.StatusFound)
			return
		}
		io.WriteString(w, "proxied")
	}))
	defer proxy.Close()
	for _, tc := range []struct {
		noProxy, body string
		proxied       []string
	}{
		{"cdn.test", "direct", []string{"origin.test"}},
		{"", "proxied", []string{"origin.test", "cdn.test"}},
	} {
		mu.Lock()
		proxied = nil
		mu.Unlock()
		c := newHTTPClient(ProxyConfig{HTTPProxy: proxy.URL, NoProxy: tc.noProxy})
		c.Transport.(*http.Transport).DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if addr == "cdn.test:80" {
				addr = cdn.Listener.Addr().String()
			}
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}
		resp, _, err := getOnce(context.Background(), c, "http://origin.test/c.tgz", 5*time.Second, nil)
		if err != nil {
			t.Fatalf("NO_PROXY=%q: %v", tc.noProxy, err)
		}
		body, _ := io.ReadAll(resp)
		resp.Close()
		mu.Lock()
		got := strings.Join(proxied, ",")
		mu.Unlock()
		if string(body) != tc.body || got != strings.Join(tc.proxied, ",") {
			t.Errorf("NO_PROXY=%q: body %q via proxy for %s; want %q via proxy for %v", tc.noProxy, body, got, tc.body, tc.proxied)
		}
	}
}
