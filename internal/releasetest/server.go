package releasetest

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// URLTemplate is the download-url template matching URLPath.
const URLTemplate = "/v{version}/concourse-{version}-linux-{arch}.tgz"

// StatsPath answers GET with the per-path request counts as JSON.
const StatsPath = "/_stats"

// Fault is what the handler does wrong for one path. Counted faults apply
// to the next N requests of that path, then the path serves normally.
type Fault struct {
	// FailStatus is answered to the next FailTimes requests.
	FailStatus int
	FailTimes  int
	// The next CutTimes responses close the connection after CutAfter
	// body bytes.
	CutAfter int64
	CutTimes int
	// The next StallTimes responses stop after StallAfter body bytes and
	// hold the connection open until the client gives up.
	StallAfter int64
	StallTimes int
	// WrongSHA1 (for a .sha1 path) serves a well-formed digest of other data.
	WrongSHA1 bool
	// NoRange ignores Range and If-Range: always 200 with the whole file.
	NoRange bool
	// ChangeETag gives every response a new ETag, as if the file were
	// replaced between requests (If-Range then never matches).
	ChangeETag bool
}

// Redirect makes a Handler answer every path with a redirect to the same path
// under To, as GitHub's release URLs answer 302 to a CDN host with a
// short-lived signed query string.
type Redirect struct {
	To     string // base URL, e.g. another Server's URL
	Status int    // 302 when zero
	// Signer, when set, gets a fresh token for each redirect, appended as
	// "?sig=<token>", and from then on refuses requests without a valid one
	// with 403, as a CDN refuses an expired signed URL. A token is good for
	// SignedUses requests, or for any number when SignedUses is zero.
	Signer     *Handler
	SignedUses int
}

// PathStats counts the requests one path received.
type PathStats struct {
	Requests   int      `json:"requests"`
	Full       int      `json:"full"`   // without a Range header
	Ranged     int      `json:"ranged"` // with a Range header
	Ranges     []string `json:"ranges,omitempty"`
	Heads      int      `json:"heads,omitempty"`      // HEAD probes; Full and Ranged count GETs only
	Redirected int      `json:"redirected,omitempty"` // answered with a redirect
	Expired    int      `json:"expired,omitempty"`    // refused: token missing or used up
}

// Handler serves files under a directory with Range/If-Range/ETag support,
// per-path fault injection and request counting.
type Handler struct {
	dir    string
	done   chan struct{}
	closer sync.Once

	mu       sync.Mutex
	faults   map[string]*Fault
	stats    map[string]*PathStats
	serial   int       // makes ChangeETag values unique
	redirect *Redirect // answer every path with a redirect
	signed   bool      // requests need a token minted for a redirect to us
	tokens   map[string]int
	minted   []string
}

// NewHandler serves dir. Call Close to release stalled requests.
func NewHandler(dir string) *Handler {
	return &Handler{dir: dir, done: make(chan struct{}), faults: map[string]*Fault{}, stats: map[string]*PathStats{},
		tokens: map[string]int{}}
}

// SetRedirect makes every path (faults still apply first) answer with r.
func (h *Handler) SetRedirect(r Redirect) {
	if r.Status == 0 {
		r.Status = http.StatusFound
	}
	if r.Signer != nil {
		r.Signer.mu.Lock()
		r.Signer.signed = true
		r.Signer.mu.Unlock()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.redirect = &r
}

// Tokens returns every token minted for redirects to this Handler, so a test
// can check none of them leaks into errors or logs.
func (h *Handler) Tokens() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.minted...)
}

// mint issues a token good for uses requests (0: unlimited).
func (h *Handler) mint(uses int) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	tok := "signed" + hex.EncodeToString(b)
	if uses <= 0 {
		uses = -1
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tokens[tok] = uses
	h.minted = append(h.minted, tok)
	return tok
}

// spend uses up one use of tok; false when tok is unknown or used up. The
// caller holds h.mu.
func (h *Handler) spend(tok string) bool {
	left, ok := h.tokens[tok]
	if !ok || left == 0 {
		return false
	}
	if left > 0 {
		h.tokens[tok] = left - 1
	}
	return true
}

// SetFault replaces the fault for urlPath ("/v1.2.3/....tgz").
func (h *Handler) SetFault(urlPath string, f Fault) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.faults[urlPath] = &f
}

// GETs is how many GET requests the path received: downloads, resumes and their failures, not
// HEAD probes.
func (s PathStats) GETs() int { return s.Requests - s.Heads }

// Stats returns the counts for urlPath.
func (h *Handler) Stats(urlPath string) PathStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s := h.stats[urlPath]; s != nil {
		c := *s
		c.Ranges = append([]string(nil), s.Ranges...)
		return c
	}
	return PathStats{}
}

// AllStats returns the counts of every path requested so far.
func (h *Handler) AllStats() map[string]PathStats {
	h.mu.Lock()
	keys := make([]string, 0, len(h.stats))
	for k := range h.stats {
		keys = append(keys, k)
	}
	h.mu.Unlock()
	out := make(map[string]PathStats, len(keys))
	for _, k := range keys {
		out[k] = h.Stats(k)
	}
	return out
}

// Close releases requests held by a stall fault.
func (h *Handler) Close() { h.closer.Do(func() { close(h.done) }) }

// plan is what one request will suffer, decided under the lock.
type plan struct {
	failStatus      int
	cutAt, stallAt  int64 // -1: none
	wrongSHA1       bool
	noRange, change bool
	serial          int
	redirect        *Redirect
	expired         bool
}

func (h *Handler) record(r *http.Request, p string) plan {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.stats[p]
	if s == nil {
		s = &PathStats{}
		h.stats[p] = s
	}
	s.Requests++
	switch rg := r.Header.Get("Range"); {
	case r.Method == http.MethodHead:
		s.Heads++
	case rg != "":
		s.Ranged++
		s.Ranges = append(s.Ranges, rg)
	default:
		s.Full++
	}
	h.serial++
	pl := plan{cutAt: -1, stallAt: -1, serial: h.serial, redirect: h.redirect}
	if h.redirect == nil && h.signed && !h.spend(r.URL.Query().Get("sig")) {
		s.Expired++
		pl.expired = true
		return pl
	}
	f := h.faults[p]
	if f == nil {
		return pl
	}
	pl.wrongSHA1, pl.noRange, pl.change = f.WrongSHA1, f.NoRange, f.ChangeETag
	switch {
	case f.FailTimes > 0:
		f.FailTimes--
		pl.failStatus = f.FailStatus
	case f.CutTimes > 0:
		f.CutTimes--
		pl.cutAt = f.CutAfter
	case f.StallTimes > 0:
		f.StallTimes--
		pl.stallAt = f.StallAfter
	}
	return pl
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := path.Clean("/" + r.URL.Path)
	if p == StatsPath {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(h.AllStats())
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	pl := h.record(r, p)
	switch {
	case pl.failStatus != 0:
		http.Error(w, "injected failure", pl.failStatus)
	case pl.expired:
		http.Error(w, "signature missing or expired", http.StatusForbidden)
	case pl.redirect != nil:
		h.serveRedirect(w, r, p, pl.redirect)
	default:
		h.serveFile(w, r, p, pl)
	}
}

func (h *Handler) serveRedirect(w http.ResponseWriter, r *http.Request, p string, rd *Redirect) {
	target := strings.TrimSuffix(rd.To, "/") + p
	if rd.Signer != nil {
		target += "?sig=" + rd.Signer.mint(rd.SignedUses)
	}
	h.mu.Lock()
	h.stats[p].Redirected++
	h.mu.Unlock()
	http.Redirect(w, r, target, rd.Status)
}

func (h *Handler) serveFile(w http.ResponseWriter, r *http.Request, p string, pl plan) {
	f, err := os.Open(filepath.Join(h.dir, filepath.FromSlash(p)))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	etag := fmt.Sprintf("\"%x-%x\"", fi.Size(), fi.ModTime().UnixNano())
	if pl.change {
		etag = fmt.Sprintf("\"%x-%x-%d\"", fi.Size(), fi.ModTime().UnixNano(), pl.serial)
	}
	w.Header().Set("ETag", etag)
	if pl.noRange {
		r.Header.Del("Range")
		r.Header.Del("If-Range")
	}
	out := h.faultyWriter(w, r, pl)
	if pl.wrongSHA1 && strings.HasSuffix(p, ".sha1") {
		sum := sha1.Sum([]byte("not the release " + p))
		body := fmt.Sprintf("%s  %s\n", hex.EncodeToString(sum[:]), strings.TrimSuffix(path.Base(p), ".sha1"))
		http.ServeContent(out, r, path.Base(p), fi.ModTime(), bytes.NewReader([]byte(body)))
		return
	}
	http.ServeContent(out, r, path.Base(p), fi.ModTime(), f)
}

func (h *Handler) faultyWriter(w http.ResponseWriter, r *http.Request, pl plan) http.ResponseWriter {
	switch {
	case pl.cutAt >= 0:
		return &limitWriter{ResponseWriter: w, left: pl.cutAt, atLimit: func() {}}
	case pl.stallAt >= 0:
		return &limitWriter{ResponseWriter: w, left: pl.stallAt, atLimit: func() {
			select {
			case <-r.Context().Done():
			case <-h.done:
			}
		}}
	}
	return w
}

// limitWriter passes left body bytes, flushes them, runs atLimit, then
// aborts the connection (the client sees a cut mid-body).
type limitWriter struct {
	http.ResponseWriter
	left    int64
	atLimit func()
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if int64(len(p)) < l.left {
		n, err := l.ResponseWriter.Write(p)
		l.left -= int64(n)
		return n, err
	}
	n, err := l.ResponseWriter.Write(p[:l.left])
	l.left -= int64(n)
	if err != nil {
		return n, err
	}
	if fl, ok := l.ResponseWriter.(http.Flusher); ok {
		fl.Flush()
	}
	l.atLimit()
	// net/http closes the connection without logging for this panic.
	panic(http.ErrAbortHandler)
}

// Server is a loopback HTTP server running a Handler.
type Server struct {
	*Handler
	URL string
	srv *httptest.Server
}

// StartServer serves dir on 127.0.0.1 until the test ends.
func StartServer(tb testing.TB, dir string) *Server {
	tb.Helper()
	return StartServerWith(tb, dir, ServerOptions{})
}

// ServerOptions choose how StartServerWith listens.
type ServerOptions struct {
	// TLS serves https with httptest's certificate, which Client trusts.
	TLS bool
	// OtherHost listens on 127.0.0.2 (Linux routes all of 127/8 to
	// loopback), so a redirect to this server changes host, not only port.
	OtherHost bool
}

// StartServerWith serves dir as opts say until the test ends.
func StartServerWith(tb testing.TB, dir string, opts ServerOptions) *Server {
	tb.Helper()
	h := NewHandler(dir)
	srv := httptest.NewUnstartedServer(h)
	if opts.OtherHost {
		l, err := net.Listen("tcp", "127.0.0.2:0")
		if err != nil {
			tb.Fatalf("listen on another loopback address: %v", err)
		}
		srv.Listener.Close()
		srv.Listener = l
	}
	if opts.TLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	s := &Server{Handler: h, URL: srv.URL, srv: srv}
	tb.Cleanup(s.Close)
	return s
}

// URLTemplate is the download-url for releases written by WriteRelease.
func (s *Server) URLTemplate() string { return s.URL + URLTemplate }

// Client returns a client for this server.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Close releases stalled requests and stops the server.
func (s *Server) Close() {
	s.Handler.Close()
	s.srv.Close()
}
