package installer

import (
	"fmt"
	"net/http"
)

// maxRedirects is net/http's own limit. A release URL needs one hop (GitHub answers 302 to its
// asset CDN); ten leaves room for a mirror in front of it.
const maxRedirects = 10

// guardRedirects returns a copy of c that follows redirects under our policy (see checkRedirect),
// then under c's own CheckRedirect if it has one. Each hop still goes through c's transport, so
// proxies and NO_PROXY are decided per host, the redirect target's included.
func guardRedirects(c *http.Client) *http.Client {
	guarded := *c
	next := c.CheckRedirect
	guarded.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if err := checkRedirect(req, via); err != nil {
			return err
		}
		// net/http sends the previous URL as Referer: the download-url, query and all, would
		// reach the CDN host.
		req.Header.Del("Referer")
		if next != nil {
			return next(req, via)
		}
		return nil
	}
	return &guarded
}

// checkRedirect refuses a hop that would lose TLS, revisit a URL or exceed maxRedirects. Each is a
// ConfigError on download-url: retrying cannot help, the operator has to point elsewhere. The URLs
// go through displayURL because a redirect target's query is usually a signed credential.
func checkRedirect(req *http.Request, via []*http.Request) error {
	start, from := via[0].URL.String(), via[len(via)-1].URL
	switch {
	case from.Scheme == "https" && req.URL.Scheme != "https":
		return &ConfigError{Field: FieldURL, Reason: fmt.Sprintf("%s redirects from https to %s (%s): refused, the download would lose TLS",
			displayURL(start), req.URL.Scheme, displayURL(req.URL.String()))}
	case visited(via, req.URL.String()):
		return &ConfigError{Field: FieldURL, Reason: fmt.Sprintf("%s: redirect loop back to %s after %d redirect(s)",
			displayURL(start), displayURL(req.URL.String()), len(via))}
	case len(via) >= maxRedirects:
		return &ConfigError{Field: FieldURL, Reason: fmt.Sprintf("%s: more than %d redirects (the last to %s)",
			displayURL(start), maxRedirects, displayURL(req.URL.String()))}
	}
	return nil
}

func visited(via []*http.Request, target string) bool {
	for _, r := range via {
		if r.URL.String() == target {
			return true
		}
	}
	return false
}

// answeredBy is the URL that gave the final answer of a request: requested
// itself unless a redirect was followed (net/http then sets the last
// request's Response to the redirect that created it).
func answeredBy(resp *http.Response, requested string) string {
	if resp.Request == nil || resp.Request.Response == nil {
		return requested
	}
	return resp.Request.URL.String()
}
