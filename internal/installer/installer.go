// Package installer fetches a Concourse release (from an attached Juju
// resource or a download URL), verifies it and unpacks it into an empty
// staging directory in one streaming pass with bounded memory.
//
// It knows nothing about shared storage: the caller (internal/storage) owns
// locking, staging directories, markers and the final rename. Install is
// the "fill this directory" step.
package installer

import (
	"bufio"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Defaults for the zero values of Request's tuning fields.
const (
	DefaultStallTimeout   = 60 * time.Second
	DefaultBackoff        = time.Second
	DefaultVersionTimeout = 30 * time.Second
)

// Source labels in Result.Source besides a URL.
const (
	SourceResource = "resource"
	// SourceResourceUnpinned marks a resource installed without a checksum
	// pin. Juju fingerprints resources (sha384) when they are uploaded, so
	// the file is what the operator attached; the label keeps the fact that
	// we verified nothing ourselves visible in status and markers.
	SourceResourceUnpinned = "resource (unpinned)"
)

// Request describes the release to install and how to get it.
type Request struct {
	Version string // e.g. "7.14.3", must equal `concourse --version`
	Arch    string // "amd64", "arm64"
	// URLTemplate is the download-url option: must contain {version}; {arch}
	// is expanded too. http and https only.
	URLTemplate string
	// ResourcePath is the file resource-get printed for "concourse-release";
	// empty, missing or zero bytes (a placeholder) means "not attached".
	ResourcePath string
	// SHA256 is the optional `checksum` pin (hex). Without it a URL download
	// is checked against the published `<url>.sha1` sidecar.
	SHA256 string
	Proxy  ProxyConfig
	// Progress, if set, is called about every 1% (at least every MiB).
	Progress func(Progress)
	// Retries is the budget of retryable failures (network errors, 5xx/429,
	// cuts, stalls, restarts) for the whole Install; 0 means none.
	Retries int
	// Backoff is the first wait before a retry, doubled each time.
	Backoff time.Duration
	// StallTimeout: a connection delivering nothing this long counts as cut.
	StallTimeout time.Duration
	// VersionTimeout bounds `concourse --version`.
	VersionTimeout time.Duration
	// HTTPClient replaces the default client (whose proxies come from Proxy).
	HTTPClient *http.Client
}

// Result describes the installed tarball.
type Result struct {
	Version, Arch string
	Source        string // the URL, SourceResource or SourceResourceUnpinned
	Size          int64  // bytes of the tarball
	SHA1, SHA256  string // hex digests of the tarball
}

// origin is where the tarball comes from.
type origin struct {
	resource string // file path, or "" for a URL download
	url      string
}

// label names the origin in errors, statuses and the marker: credentials never show.
func (o origin) label() string {
	if o.resource != "" {
		return o.resource
	}
	return displayURL(o.url)
}

// expectation is the digest the tarball must have; algo "" means none
// (an unpinned resource).
type expectation struct {
	algo, sum string
}

// Install fills the empty stagingDir with the verified, unpacked release
// (stagingDir/concourse/...). On error stagingDir is left empty: nothing
// unverified survives, and nothing outside stagingDir is ever written.
func Install(ctx context.Context, req Request, stagingDir string) (Result, error) {
	req = req.withDefaults()
	src, err := req.origin()
	if err != nil {
		return Result{}, err
	}
	if err := checkEmptyDir(stagingDir); err != nil {
		return Result{}, err
	}
	res, err := install(ctx, req, src, stagingDir)
	if err != nil {
		if cerr := clearDir(stagingDir); cerr != nil {
			err = errors.Join(err, cerr)
		}
		return Result{}, err
	}
	return res, nil
}

func (req Request) withDefaults() Request {
	if req.Retries < 0 {
		req.Retries = 0
	}
	if req.Backoff <= 0 {
		req.Backoff = DefaultBackoff
	}
	if req.StallTimeout <= 0 {
		req.StallTimeout = DefaultStallTimeout
	}
	if req.VersionTimeout <= 0 {
		req.VersionTimeout = DefaultVersionTimeout
	}
	req.SHA256 = strings.ToLower(strings.TrimSpace(req.SHA256))
	return req
}

func install(ctx context.Context, req Request, src origin, stagingDir string) (Result, error) {
	retry := newRetrier(req.Retries, req.Backoff)
	client := req.HTTPClient
	if client == nil {
		client = newHTTPClient(req.Proxy)
	}
	want, err := req.expectation(ctx, src, client, retry)
	if err != nil {
		return Result{}, err
	}
	for {
		res, err := attempt(ctx, req, src, client, retry, want, stagingDir)
		if !isRestart(err) {
			return res, err
		}
		// Every restart follows a cut that already spent a retry and
		// waited, so this loop is bounded by the budget.
		if err := clearDir(stagingDir); err != nil {
			return Result{}, err
		}
	}
}

// expectation decides the digest to check: the pin, else the sidecar for a
// URL, else nothing for a resource.
func (req Request) expectation(ctx context.Context, src origin, c *http.Client, retry *retrier) (expectation, error) {
	switch {
	case req.SHA256 != "":
		return expectation{algo: "sha256", sum: req.SHA256}, nil
	case src.resource != "":
		return expectation{}, nil
	}
	sum, err := fetchSidecarSHA1(ctx, c, src.url, req.StallTimeout, retry)
	if err != nil {
		return expectation{}, err
	}
	return expectation{algo: "sha1", sum: sum}, nil
}

// attempt runs one pass from byte 0: read, hash, unpack, verify.
func attempt(ctx context.Context, req Request, src origin, c *http.Client, retry *retrier, want expectation, stagingDir string) (Result, error) {
	// readCtx ends reading when this attempt ends, whatever its outcome.
	readCtx, cancelRead := context.WithCancel(ctx)
	defer cancelRead()
	body, total, phase, err := open(readCtx, req, src, c, retry)
	if err != nil {
		return Result{}, err
	}
	opened := describeOpened(src, req.SHA256, body)

	// Reading, progress and both digests run ahead on their own goroutine;
	// this one inflates and writes files.
	h1, h256 := sha1.New(), sha256.New()
	rec := &errRecorder{r: newProgressReader(body, total, phase, req.Progress)}
	counted := &countingReader{r: rec}
	ahead := startReadAhead(io.TeeReader(counted, io.MultiWriter(h1, h256)))
	defer ahead.stop(cancelRead, body)
	buffered := bufio.NewReaderSize(ahead, copyBufSize)

	unpackErr := unpackTarball(ctx, buffered, stagingDir)
	if err := transferFailure(ctx, rec, unpackErr); err != nil {
		return Result{}, err
	}
	// Read to the end so the digests cover the whole file, on failure too:
	// "checksum mismatch" explains a broken archive better than its first
	// bad entry.
	if _, err := io.Copy(io.Discard, buffered); err != nil {
		return Result{}, errors.Join(fmt.Errorf("read %s: %w", src.label(), err), unpackErr)
	}
	res := Result{
		Version: req.Version, Arch: req.Arch, Source: src.resultLabel(want),
		Size: counted.n, SHA1: hex.EncodeToString(h1.Sum(nil)), SHA256: hex.EncodeToString(h256.Sum(nil)),
	}
	// From here the whole artifact has been read: a refusal is about its content (see refuse).
	if err := want.check(res, src.label()); err != nil {
		if unpackErr != nil {
			err = fmt.Errorf("%w (the archive also failed to unpack: %v)", err, unpackErr)
		}
		return Result{}, opened.refuse(ctx, res, want, err, false)
	}
	if unpackErr != nil {
		return Result{}, opened.refuse(ctx, res, want, fmt.Errorf("unpack %s: %w", src.label(), unpackErr), true)
	}
	return res, opened.refuse(ctx, res, want, finish(ctx, req, stagingDir, total), false)
}

// finish runs the unpacked binary (only now that its digest is verified)
// and flushes the staging filesystem.
func finish(ctx context.Context, req Request, stagingDir string, total int64) error {
	report(req.Progress, total, PhaseVerify)
	bin := filepath.Join(stagingDir, filepath.FromSlash(binaryPath))
	if err := checkVersion(ctx, bin, req.Version, req.VersionTimeout); err != nil {
		return err
	}
	report(req.Progress, total, PhaseSync)
	return syncFS(stagingDir)
}

func report(fn func(Progress), total int64, phase string) {
	if fn != nil {
		fn(Progress{Done: total, Total: total, Phase: phase})
	}
}

// transferFailure returns the error that ends this attempt before the
// digest can be judged: the source failed (cut beyond budget, restart
// needed), ctx ended, or the disk is full.
func transferFailure(ctx context.Context, rec *errRecorder, unpackErr error) error {
	if err := rec.recorded(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var full *DiskFullError
	if errors.As(unpackErr, &full) {
		return unpackErr
	}
	return nil
}

func (o origin) resultLabel(want expectation) string {
	switch {
	case o.resource == "":
		return displayURL(o.url)
	case want.algo == "":
		return SourceResourceUnpinned
	default:
		return SourceResource
	}
}

func (want expectation) check(res Result, from string) error {
	got := map[string]string{"sha1": res.SHA1, "sha256": res.SHA256}[want.algo]
	if want.algo != "" && got != want.sum {
		return &ChecksumError{Algo: want.algo, Expected: want.sum, Actual: got, URL: from}
	}
	return nil
}

// open starts reading the tarball and reports its size (-1 if unknown).
func open(ctx context.Context, req Request, src origin, c *http.Client, retry *retrier) (io.ReadCloser, int64, string, error) {
	if src.resource != "" {
		f, err := os.Open(src.resource)
		if err != nil {
			return nil, 0, "", fmt.Errorf("open resource: %w", err)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, 0, "", fmt.Errorf("stat resource: %w", err)
		}
		return f, fi.Size(), PhaseResource, nil
	}
	body, err := openResumable(ctx, c, src.url, req.StallTimeout, retry)
	if err != nil {
		return nil, 0, "", err
	}
	return body, body.Size(), PhaseDownload, nil
}

// errRecorder remembers the first real error of the source, so a failure
// surfacing through gzip or tar can be traced back to the transfer. The
// read-ahead goroutine records; the installing one asks.
type errRecorder struct {
	r   io.Reader
	mu  sync.Mutex
	err error
}

func (e *errRecorder) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.mu.Lock()
		if e.err == nil {
			e.err = err
		}
		e.mu.Unlock()
	}
	return n, err
}

func (e *errRecorder) recorded() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// syncFS flushes the filesystem holding dir once: far cheaper than an
// fsync per file on a tree of hundreds of files.
func syncFS(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s for sync: %w", dir, err)
	}
	defer unix.Close(fd)
	if err := unix.Syncfs(fd); err != nil {
		return fmt.Errorf("sync filesystem of %s: %w", dir, err)
	}
	return nil
}

func checkEmptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("staging directory: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("staging directory %s is not empty", dir)
	}
	return nil
}

// clearDir empties dir without following symlinks out of it.
func clearDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("clear staging directory: %w", err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("clear staging directory: %w", err)
		}
	}
	return nil
}
