package releasetest

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// A redirecting server answers 302 to another loopback host with a signed query; the target serves
// a token SignedUses times, then refuses it with 403 as a CDN refuses an expired signed URL.
func TestServerRedirectsWithSignedTokens(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	art, err := WriteRelease(dir, "amd64", TarballOptions{Version: "7.2.0", PadBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	cdn := StartServerWith(t, dir, ServerOptions{OtherHost: true})
	origin := StartServer(t, t.TempDir())
	origin.SetRedirect(Redirect{To: cdn.URL, Signer: cdn.Handler, SignedUses: 1})
	noFollow := *origin.Client()
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	get := func(c *http.Client, url string) (int, string) {
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, resp.Header.Get("Location")
	}
	code, loc := get(&noFollow, origin.URL+art.URLPath)
	toks := cdn.Tokens()
	if code != http.StatusFound || len(toks) != 1 || loc != cdn.URL+art.URLPath+"?sig="+toks[0] {
		t.Fatalf("origin answered %d to %q (tokens %v), want 302 to the cdn with a signed query", code, loc, toks)
	}
	if !strings.HasPrefix(cdn.URL, "http://127.0.0.2:") {
		t.Errorf("cdn at %s, want another loopback host", cdn.URL)
	}
	for i, want := range []int{http.StatusOK, http.StatusForbidden} {
		if code, _ := get(cdn.Client(), loc); code != want {
			t.Errorf("use %d of a one-use token: HTTP %d, want %d", i+1, code, want)
		}
	}
	if code, _ := get(cdn.Client(), cdn.URL+art.URLPath); code != http.StatusForbidden {
		t.Errorf("unsigned request to the cdn: HTTP %d, want 403", code)
	}
	if code, _ := get(origin.Client(), origin.URL+art.URLPath); code != http.StatusOK {
		t.Errorf("followed redirect: HTTP %d, want 200 with a fresh token", code)
	}
	if st := origin.Stats(art.URLPath); st.Requests != 2 || st.Redirected != 2 {
		t.Errorf("origin stats %+v, want 2 requests, both redirected", st)
	}
	if st := cdn.Stats(art.URLPath); st.Requests != 4 || st.Expired != 2 || st.Full != 4 {
		t.Errorf("cdn stats %+v, want 4 requests, 2 refused", st)
	}
}
