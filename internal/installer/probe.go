package installer

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Probe asks the server behind req's download URL which version of the tarball it serves now,
// without downloading it, so a caller can tell whether an artifact it refused before has changed:
// a HEAD, following redirects through the same client, proxies and redirect policy as the download.
// A server that refuses HEAD (a URL presigned for GET only answers 403, some answer 405) is asked
// for the first byte instead. There is no retry: a probe that fails says nothing, and the caller
// falls back to a normal install, which has its own retries and error reporting.
func Probe(ctx context.Context, req Request) (Validators, error) {
	req = req.withDefaults()
	src, err := req.origin()
	if err != nil {
		return Validators{}, err
	}
	if src.resource != "" {
		return Validators{}, fmt.Errorf("probe: %s is a resource, not a URL", src.resource)
	}
	ctx, cancel := context.WithTimeout(ctx, req.StallTimeout)
	defer cancel()
	c := req.client()
	v, status, err := probeHead(ctx, c, src.url)
	if err != nil || status == http.StatusOK {
		return v, err
	}
	return probeFirstByte(ctx, c, src.url, req.StallTimeout)
}

// ProbeSidecar fetches the published sha1 of req's download URL (`<url>.sha1`), once.
func ProbeSidecar(ctx context.Context, req Request) (string, error) {
	req = req.withDefaults()
	src, err := req.origin()
	if err != nil {
		return "", err
	}
	if src.resource != "" {
		return "", fmt.Errorf("probe sidecar: %s is a resource, not a URL", src.resource)
	}
	return fetchSidecarSHA1(ctx, req.client(), src.url, req.StallTimeout, newRetrier(0, req.Backoff))
}

// client is the HTTP client Install uses for req.
func (req Request) client() *http.Client {
	if req.HTTPClient != nil {
		return req.HTTPClient
	}
	return newHTTPClient(req.Proxy)
}

// probeHead returns the validators of a 200 answer to HEAD, else the status for the caller to try
// another way.
func probeHead(ctx context.Context, c *http.Client, rawURL string) (Validators, int, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodHead, rawURL, nil)
	if err != nil {
		return Validators{}, 0, fmt.Errorf("build HEAD for %s: %w", displayURL(rawURL), err)
	}
	hr.Header.Set("Accept-Encoding", "identity")
	hr.Header.Set("User-Agent", userAgent)
	resp, err := guardRedirects(c).Do(hr)
	if err != nil {
		return Validators{}, 0, fmt.Errorf("HEAD %s: %w", displayURL(rawURL), redactTransportError(err))
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Validators{}, resp.StatusCode, nil
	}
	return validatorsOf(resp.Header, resp.ContentLength), resp.StatusCode, nil
}

// probeFirstByte asks for byte 0 only; the full size then comes from Content-Range. A server that
// ignores Range answers 200 with the whole file: the body is closed unread.
func probeFirstByte(ctx context.Context, c *http.Client, rawURL string, stall time.Duration) (Validators, error) {
	h := http.Header{}
	h.Set("Range", "bytes=0-0")
	resp, _, err := getOnce(ctx, c, rawURL, stall, h)
	if err != nil {
		return Validators{}, fmt.Errorf("probe %s: %w", displayURL(rawURL), err)
	}
	defer resp.Close()
	length := resp.ContentLength
	if resp.StatusCode == http.StatusPartialContent {
		_, total, err := parseContentRange(resp.Header.Get("Content-Range"))
		if err != nil {
			return Validators{}, fmt.Errorf("probe %s: Content-Range %q: %w", displayURL(rawURL), resp.Header.Get("Content-Range"), err)
		}
		length = total
	}
	return validatorsOf(resp.Header, length), nil
}
