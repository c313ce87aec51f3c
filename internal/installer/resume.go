package installer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// resumableBody reads one URL from start to end, reconnecting with
// `Range: bytes=N-` after a cut so the reader above it (hashers, gzip, tar)
// sees one uninterrupted stream. Resuming is only trusted when the server
// proves, through If-Range, that the file is the one we started on; anything
// else becomes a restartError and the caller starts over cleanly.
//
// A URL that redirects (GitHub's release URLs answer 302 to a CDN host with a
// short-lived signed query) is resumed at the redirect target first, and
// through url again only when that target no longer answers.
type resumableBody struct {
	ctx    context.Context
	client *http.Client
	url    string // as configured; never changes
	final  string // the URL that answered after redirects: resumes go there first
	stall  time.Duration
	retry  *retrier

	resp      *response
	offset    int64  // bytes handed to the reader so far
	total     int64  // full size, -1 when the server did not say
	validator string // strong ETag or Last-Modified of the first answer (the final host's)
	cut       error  // why the last connection ended early, nil if none
}

// openResumable performs the first GET (retrying while the budget lasts).
func openResumable(ctx context.Context, c *http.Client, rawURL string, stall time.Duration, retry *retrier) (*resumableBody, error) {
	b := &resumableBody{ctx: ctx, client: c, url: rawURL, stall: stall, retry: retry, total: -1}
	resp, err := getWithRetry(ctx, c, rawURL, stall, nil, retry)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Close()
		return nil, fmt.Errorf("GET %s: unexpected HTTP %d to a plain request", displayURL(rawURL), resp.StatusCode)
	}
	b.resp = resp
	b.final = answeredBy(resp.Response, rawURL)
	b.total = resp.ContentLength
	b.validator = validatorOf(resp.Header)
	return b, nil
}

// Size is the full length announced by the server, or -1.
func (b *resumableBody) Size() int64 { return b.total }

func (b *resumableBody) Read(p []byte) (int, error) {
	for {
		if b.resp == nil {
			if err := b.reconnect(); err != nil {
				return 0, err
			}
		}
		n, err := b.resp.Read(p)
		b.offset += int64(n)
		if err == nil {
			return n, nil
		}
		if err == io.EOF && (b.total < 0 || b.offset == b.total) {
			return n, io.EOF
		}
		if b.ctx.Err() != nil {
			return n, b.ctx.Err()
		}
		if err == io.EOF {
			err = fmt.Errorf("connection closed at byte %d of %d", b.offset, b.total)
		}
		b.cut = err
		b.resp.Close()
		b.resp = nil
		if n > 0 {
			// Hand over what arrived; the next Read reconnects.
			return n, nil
		}
	}
}

// reconnect resumes after a cut, or asks for a restart when it cannot.
func (b *resumableBody) reconnect() error {
	cause := fmt.Errorf("download of %s cut: %w", displayURL(b.url), b.cut)
	if err := b.retry.wait(b.ctx, cause); err != nil {
		return err
	}
	if b.validator == "" {
		return &restartError{reason: fmt.Sprintf("%v; server gave no ETag/Last-Modified to resume safely", cause)}
	}
	h := http.Header{}
	h.Set("Range", fmt.Sprintf("bytes=%d-", b.offset))
	h.Set("If-Range", b.validator)
	resp, err := b.getRange(h)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusPartialContent {
		resp.Close()
		return &restartError{reason: fmt.Sprintf("resume of %s at byte %d answered HTTP %d, not 206 (no Range support, or the file changed)", displayURL(b.url), b.offset, resp.StatusCode)}
	}
	// A cache or CDN may ignore If-Range and answer 206 from a newer file: if the part says which
	// file it comes from, it must be the one we started with, or the stream would be a splice.
	if v := validatorOf(resp.Header); v != "" && v != b.validator {
		resp.Close()
		return &restartError{reason: fmt.Sprintf("resume of %s at byte %d came from another version of the file (%s, started with %s)", displayURL(b.url), b.offset, v, b.validator)}
	}
	start, total, err := parseContentRange(resp.Header.Get("Content-Range"))
	if err != nil || start != b.offset || (b.total >= 0 && total != b.total) {
		resp.Close()
		return &restartError{reason: fmt.Sprintf("resume of %s at byte %d got Content-Range %q", displayURL(b.url), b.offset, resp.Header.Get("Content-Range"))}
	}
	b.resp = resp
	return nil
}

// getRange asks for the rest of the file where it came from: the final URL,
// which saves the origin a request and a redirect. A signed URL expires within
// minutes, and its host then answers 403 (S3, Azure) or 404/410: any lasting
// 4xx sends the request through the configured URL again, which redirects to
// a fresh one. The same Range and If-Range ride along (net/http keeps them
// across redirects), so the checks in reconnect hold whichever way it went.
func (b *resumableBody) getRange(h http.Header) (*response, error) {
	if b.final != b.url {
		resp, err := getWithRetry(b.ctx, b.client, b.final, b.stall, h, b.retry)
		var status *HTTPStatusError
		if err == nil || !errors.As(err, &status) || status.retryable() {
			return resp, err
		}
	}
	resp, err := getWithRetry(b.ctx, b.client, b.url, b.stall, h, b.retry)
	if err != nil {
		return nil, err
	}
	b.final = answeredBy(resp.Response, b.url)
	return resp, nil
}

func (b *resumableBody) Close() error {
	if b.resp == nil {
		return nil
	}
	err := b.resp.Close()
	b.resp = nil
	return err
}

// validatorOf picks what If-Range may carry: a strong ETag (weak ones never
// match in If-Range) or else Last-Modified.
func validatorOf(h http.Header) string {
	if etag := h.Get("ETag"); etag != "" && !strings.HasPrefix(etag, "W/") {
		return etag
	}
	return h.Get("Last-Modified")
}

// parseContentRange parses "bytes start-end/total" (total may be "*": -1).
func parseContentRange(v string) (start, total int64, err error) {
	rest, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return 0, 0, errors.New("not a byte range")
	}
	span, size, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, errors.New("missing total")
	}
	first, _, ok := strings.Cut(span, "-")
	if !ok {
		return 0, 0, errors.New("malformed span")
	}
	if start, err = strconv.ParseInt(first, 10, 64); err != nil {
		return 0, 0, fmt.Errorf("range start: %w", err)
	}
	if size == "*" {
		return start, -1, nil
	}
	if total, err = strconv.ParseInt(size, 10, 64); err != nil {
		return 0, 0, fmt.Errorf("range total: %w", err)
	}
	return start, total, nil
}
