package installer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

const userAgent = "concourse-ci-machine-installer"

// newHTTPClient builds the default client: proxies from the Juju settings
// only (not the process environment, which Juju does not set for charms),
// and no transparent decompression, which would make us hash the wrong bytes.
func newHTTPClient(p ProxyConfig) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = p.proxyFunc()
	tr.DisableCompression = true
	return &http.Client{Transport: tr}
}

// stallWatch cancels a request when no byte arrives for a whole timeout, so
// a connection that hangs without closing counts as a cut.
type stallWatch struct {
	timer   *time.Timer
	timeout time.Duration
	stalled atomic.Bool
}

func watchStall(timeout time.Duration, cancel context.CancelFunc) *stallWatch {
	w := &stallWatch{timeout: timeout}
	w.timer = time.AfterFunc(timeout, func() {
		w.stalled.Store(true)
		cancel()
	})
	return w
}

func (w *stallWatch) progress() { w.timer.Reset(w.timeout) }
func (w *stallWatch) stop()     { w.timer.Stop() }

// explain turns the context error of a stalled request into a clear cause.
func (w *stallWatch) explain(err error) error {
	if w.stalled.Load() {
		return fmt.Errorf("no data for %s (stalled): %w", w.timeout, err)
	}
	return err
}

// response is an open GET whose body is guarded by a stall watch.
type response struct {
	*http.Response
	watch  *stallWatch
	cancel context.CancelFunc
}

func (r *response) Read(p []byte) (int, error) {
	n, err := r.Body.Read(p)
	if n > 0 {
		r.watch.progress()
	}
	if err != nil && err != io.EOF {
		err = r.watch.explain(err)
	}
	return n, err
}

func (r *response) Close() error {
	r.watch.stop()
	r.cancel()
	return r.Body.Close()
}

// getOnce issues one GET. retryable reports whether a failure may heal
// (network errors, stalls, 429, 5xx). header adds request headers (Range).
func getOnce(ctx context.Context, c *http.Client, rawURL string, stall time.Duration, header http.Header) (resp *response, retryable bool, err error) {
	reqCtx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, rawURL, nil)
	if err != nil {
		cancel()
		return nil, false, fmt.Errorf("build request for %s: %w", displayURL(rawURL), err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	// Asking for identity ourselves also stops a caller-supplied transport
	// from decompressing transparently.
	req.Header.Set("Accept-Encoding", "identity")
	req.Header.Set("User-Agent", userAgent)
	watch := watchStall(stall, cancel)
	hr, err := guardRedirects(c).Do(req)
	if err != nil {
		watch.stop()
		cancel()
		if ctx.Err() != nil {
			return nil, false, fmt.Errorf("GET %s: %w", displayURL(rawURL), ctx.Err())
		}
		return nil, !permanent(err), fmt.Errorf("GET %s: %w", displayURL(rawURL), watch.explain(redactTransportError(err)))
	}
	r := &response{Response: hr, watch: watch, cancel: cancel}
	if hr.StatusCode != http.StatusOK && hr.StatusCode != http.StatusPartialContent {
		r.Close()
		se := &HTTPStatusError{URL: displayURL(rawURL), Code: hr.StatusCode}
		if by := answeredBy(hr, rawURL); by != rawURL {
			se.Via = displayURL(by)
		}
		return nil, se.retryable(), se
	}
	return r, false, nil
}

// permanent reports transport failures that no retry can heal: a certificate the machine does not
// trust, a proxy setting that does not parse, or a redirect refused by checkRedirect (a
// ConfigError). Retrying them would only hold the hook for minutes before failing with the same
// error.
func permanent(err error) bool {
	var (
		unknownCA   x509.UnknownAuthorityError
		badHost     x509.HostnameError
		invalidCert x509.CertificateInvalidError
		verify      *tls.CertificateVerificationError
		proxy       *ProxyError
		config      *ConfigError
	)
	return errors.As(err, &unknownCA) || errors.As(err, &badHost) || errors.As(err, &invalidCert) ||
		errors.As(err, &verify) || errors.As(err, &proxy) || errors.As(err, &config)
}

// getWithRetry repeats getOnce while failures are retryable and budget lasts.
func getWithRetry(ctx context.Context, c *http.Client, rawURL string, stall time.Duration, header http.Header, retry *retrier) (*response, error) {
	for {
		resp, retryable, err := getOnce(ctx, c, rawURL, stall, header)
		if err == nil {
			return resp, nil
		}
		if !retryable {
			return nil, err
		}
		if werr := retry.wait(ctx, err); werr != nil {
			return nil, werr
		}
	}
}
