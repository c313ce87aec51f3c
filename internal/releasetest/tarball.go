package releasetest

import (
	"archive/tar"
	stdgzip "compress/gzip"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
)

// ResourceTypes are the bundled resource types the fixture ships, as a
// real release does (it has more; three keep the layout honest).
var ResourceTypes = []string{"registry-image", "git", "time"}

// fixtureTime is every entry's mtime, so equal options give equal bytes.
var fixtureTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// Entry is an extra tar entry, typically hostile: absolute paths, "..",
// escaping links, devices. Body is written for regular files.
type Entry struct {
	Header tar.Header
	Body   []byte
}

// TarballOptions shape a fixture release.
type TarballOptions struct {
	Version string
	// StandinPath is the binary stored as concourse/bin/concourse. Empty
	// means a tiny /bin/sh script that prints Version: enough for tests
	// that do not need the real stand-in, and no Go build.
	StandinPath string
	// PadBytes of data spread over the resource types' rootfs.tgz files,
	// to give the release a realistic size.
	PadBytes int64
	// PadFrom names a file whose bytes, repeated, make the padding. A Go
	// binary (see GoBinary) compresses like a real release (about 45%), so
	// gunzip costs what it costs on one. Empty: incompressible random bytes.
	PadFrom string
	// Seed varies the random padding (same seed, same bytes).
	Seed uint64
	// Layout is the tree's shape: LayoutMinimal (the zero value) or
	// LayoutReal.
	Layout Layout
	// OmitBinary leaves out concourse/bin/concourse.
	OmitBinary bool
	// Extra entries are appended after the regular layout.
	Extra []Entry
}

// WriteTarball streams a gzip-compressed release with the layout opts
// asks for (see Layout). Memory use does not grow with PadBytes.
func WriteTarball(w io.Writer, opts TarballOptions) error {
	gz, err := newGzipWriter(w, opts)
	if err != nil {
		return err
	}
	pad, err := newPadding(opts)
	if err != nil {
		return err
	}
	defer pad.Close()
	tw := tar.NewWriter(gz)
	if err := writeLayout(tw, opts, pad); err != nil {
		return err
	}
	for _, e := range opts.Extra {
		hdr := e.Header
		body := e.Body
		if hdr.Typeflag != tar.TypeReg {
			body = nil // only regular files carry data
		}
		hdr.Size = int64(len(body))
		if err := tw.WriteHeader(&hdr); err != nil {
			return fmt.Errorf("extra entry %s: %w", hdr.Name, err)
		}
		if _, err := tw.Write(body); err != nil {
			return fmt.Errorf("extra entry %s: %w", hdr.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("close tar: %w", err)
	}
	return gz.Close()
}

// newGzipWriter: random padding will not shrink, so the standard library at
// BestSpeed (fixtures stay byte-identical across versions of this file).
// Compressible padding gets gzip's default level, as `tar czf` gives the
// published tarballs, from klauspost's compressor, several times faster at
// that level.
func newGzipWriter(w io.Writer, opts TarballOptions) (io.WriteCloser, error) {
	if opts.PadFrom == "" {
		return stdgzip.NewWriterLevel(w, stdgzip.BestSpeed)
	}
	return gzip.NewWriterLevel(w, gzip.DefaultCompression)
}

func writeLayout(tw *tar.Writer, opts TarballOptions, pad io.Reader) error {
	if opts.Layout == LayoutReal {
		return writeRealLayout(tw, opts, pad)
	}
	for _, d := range []string{"concourse/", "concourse/bin/", "concourse/resource-types/", "concourse/fly-assets/"} {
		if err := writeDir(tw, d); err != nil {
			return err
		}
	}
	if !opts.OmitBinary {
		if err := writeBinary(tw, opts); err != nil {
			return err
		}
	}
	if err := writeResourceTypes(tw, ResourceTypes, opts.PadBytes, pad); err != nil {
		return err
	}
	return writeFile(tw, "concourse/fly-assets/fly-linux-amd64.tgz", 0o644, 4096, pad)
}

// writeResourceTypes writes each type's directory, metadata and a
// rootfs.tgz holding its share of the padding.
func writeResourceTypes(tw *tar.Writer, types []string, padBytes int64, pad io.Reader) error {
	for i, typ := range types {
		dir := "concourse/resource-types/" + typ + "/"
		if err := writeDir(tw, dir); err != nil {
			return err
		}
		meta := fmt.Sprintf("{\"type\":%q,\"version\":\"1.0.0\",\"privileged\":false}\n", typ)
		if err := writeFile(tw, dir+"resource_metadata.json", 0o644, int64(len(meta)), stringReader(meta)); err != nil {
			return err
		}
		if err := writeFile(tw, dir+"rootfs.tgz", 0o644, padShare(padBytes, len(types), i), pad); err != nil {
			return err
		}
	}
	return nil
}

// padShare splits pad over n resource types, remainder to the first.
func padShare(pad int64, n, i int) int64 {
	share := pad / int64(n)
	if i == 0 {
		share += pad % int64(n)
	}
	return share
}

func writeBinary(tw *tar.Writer, opts TarballOptions) error {
	if opts.StandinPath == "" {
		script := fmt.Sprintf("#!/bin/sh\necho %s\n", opts.Version)
		return writeFile(tw, "concourse/bin/concourse", 0o755, int64(len(script)), stringReader(script))
	}
	f, err := os.Open(opts.StandinPath)
	if err != nil {
		return fmt.Errorf("open stand-in: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat stand-in: %w", err)
	}
	return writeFile(tw, "concourse/bin/concourse", 0o755, fi.Size(), f)
}

func writeDir(tw *tar.Writer, name string) error {
	return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: fixtureTime, Format: tar.FormatPAX})
}

func writeFile(tw *tar.Writer, name string, mode, size int64, r io.Reader) error {
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: size, ModTime: fixtureTime, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if _, err := io.CopyN(tw, r, size); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

func stringReader(s string) io.Reader { return &constReader{s: s} }

type constReader struct{ s string }

func (c *constReader) Read(p []byte) (int, error) {
	if c.s == "" {
		return 0, io.EOF
	}
	n := copy(p, c.s)
	c.s = c.s[n:]
	return n, nil
}

// newPadding is the stream padding is cut from: opts.PadFrom repeated, or
// a fast, seeded, incompressible one (ChaCha8 runs at GB/s; crypto/rand
// would be slower and not reproducible).
func newPadding(opts TarballOptions) (io.ReadCloser, error) {
	if opts.PadFrom != "" {
		return newRepeatReader(opts.PadFrom)
	}
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], opts.Seed)
	return io.NopCloser(rand.NewChaCha8(key)), nil
}

// repeatReader reads a file over and over, without end.
type repeatReader struct{ f *os.File }

func newRepeatReader(path string) (*repeatReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("padding source: %w", err)
	}
	if fi, err := f.Stat(); err != nil || fi.Size() == 0 {
		f.Close()
		return nil, fmt.Errorf("padding source %s: empty or unreadable (%v)", path, err)
	}
	return &repeatReader{f: f}, nil
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n, err := r.f.Read(p)
	if err == io.EOF {
		if _, err := r.f.Seek(0, io.SeekStart); err != nil {
			return n, err
		}
		if n == 0 {
			return r.f.Read(p)
		}
		return n, nil
	}
	return n, err
}

func (r *repeatReader) Close() error { return r.f.Close() }

// GoBinary is a Go binary to pad with (PadFrom): the running test
// binary, whose bytes compress like the real concourse binary's.
func GoBinary(tb testing.TB) string {
	tb.Helper()
	p, err := os.Executable()
	if err != nil {
		tb.Fatalf("find the test binary: %v", err)
	}
	return p
}

// Artifact is a release written to disk with its sidecar.
type Artifact struct {
	Path     string // tarball on disk
	URLPath  string // "/v{V}/concourse-{V}-linux-{arch}.tgz", as Server serves it
	Size     int64
	SHA1     string
	SHA256   string
	Filename string
}

// URLPath is where Server serves the release of version and arch.
func URLPath(version, arch string) string {
	return fmt.Sprintf("/v%s/concourse-%s-linux-%s.tgz", version, version, arch)
}

// WriteRelease writes the tarball under dir at URLPath (so a Server on dir
// serves it) plus its `.sha1` sidecar in the published format.
func WriteRelease(dir, arch string, opts TarballOptions) (Artifact, error) {
	rel := URLPath(opts.Version, arch)
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return Artifact{}, fmt.Errorf("release dir: %w", err)
	}
	f, err := os.Create(p)
	if err != nil {
		return Artifact{}, fmt.Errorf("create release: %w", err)
	}
	h1, h256 := sha1.New(), sha256.New()
	cw := &countWriter{}
	err = WriteTarball(io.MultiWriter(f, h1, h256, cw), opts)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Artifact{}, fmt.Errorf("write release %s: %w", p, err)
	}
	a := Artifact{
		Path: p, URLPath: rel, Size: cw.n, Filename: path.Base(rel),
		SHA1: hex.EncodeToString(h1.Sum(nil)), SHA256: hex.EncodeToString(h256.Sum(nil)),
	}
	sidecar := fmt.Sprintf("%s  %s\n", a.SHA1, a.Filename)
	if err := os.WriteFile(p+".sha1", []byte(sidecar), 0o644); err != nil {
		return Artifact{}, fmt.Errorf("write sidecar: %w", err)
	}
	return a, nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// BenchSizeMB is the synthetic release size benchmarks use: RELEASE_BENCH_MB (`make bench` sets
// 512), 64 when unset.
func BenchSizeMB(tb testing.TB) int64 {
	tb.Helper()
	v := os.Getenv("RELEASE_BENCH_MB")
	if v == "" {
		return 64
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		tb.Fatalf("RELEASE_BENCH_MB=%q: want a positive integer", v)
	}
	return n
}
