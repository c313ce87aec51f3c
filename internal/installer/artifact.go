package installer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"syscall"
)

// Kinds of source an artifact comes from.
const (
	KindURL      = "url"
	KindResource = "resource"
)

// Causes of an ArtifactError: what about the content was refused.
const (
	CauseChecksum = "checksum"     // digest differs from the pin or the sidecar
	CauseUnsafe   = "unsafe-entry" // an entry that could escape the tree or has no place in a release
	CauseVersion  = "version"      // `concourse --version` is another version
	CauseArchive  = "archive"      // not gzip, corrupt, or no concourse/bin/concourse
)

// Artifact names the tarball a Request would read, in a form that may be stored and shown: never a
// credential. Two Requests with equal Artifacts read the same source under the same pin.
type Artifact struct {
	Kind    string // KindURL or KindResource
	Display string // the URL without userinfo and query, or the resource path
	// URLSHA256 is the sha256 (hex) of the full expanded URL, credentials included: a new token or
	// password makes another artifact, without the record ever holding it.
	URLSHA256 string
	// ResourcePath is the attached file (KindResource).
	ResourcePath string
	// Checksum is the sha256 pin in force (lower-case hex), "" without one.
	Checksum string
}

// Identify returns the artifact req would read, or the ConfigError Install would return.
func (req Request) Identify() (Artifact, error) {
	req = req.withDefaults()
	src, err := req.origin()
	if err != nil {
		return Artifact{}, err
	}
	return src.artifact(req.SHA256), nil
}

func (o origin) artifact(pin string) Artifact {
	if o.resource != "" {
		return Artifact{Kind: KindResource, Display: o.resource, ResourcePath: o.resource, Checksum: pin}
	}
	sum := sha256.Sum256([]byte(o.url))
	return Artifact{Kind: KindURL, Display: displayURL(o.url), URLSHA256: hex.EncodeToString(sum[:]), Checksum: pin}
}

// Validators are what an HTTP server says identifies the version of a file it serves. They change
// when the file behind the URL is replaced.
type Validators struct {
	ETag         string
	LastModified string
	// ContentLength is the full size announced, -1 when none was.
	ContentLength int64
}

func validatorsOf(h http.Header, length int64) Validators {
	return Validators{ETag: h.Get("ETag"), LastModified: h.Get("Last-Modified"), ContentLength: length}
}

// ArtifactError is a refusal of an artifact's content, read to its end: no retry of the same bytes
// can heal it, so a caller may remember it (internal/release does, on the storage root) instead of
// downloading the same bytes again. Transfer failures, a full disk or a cancelled context never
// become one.
type ArtifactError struct {
	Artifact
	// Validators the server sent with the bytes that were read (KindURL).
	Validators Validators
	// Stamp identifies the resource file that was read (KindResource).
	Stamp FileStamp
	// Size, SHA1 and SHA256 (hex) of the bytes that were read.
	Size         int64
	SHA1, SHA256 string
	// Expected is the digest they were checked against, "<algo>:<hex>", "" when none was.
	Expected string
	Cause    string // CauseChecksum, CauseUnsafe, CauseVersion or CauseArchive
	Err      error  // the typed error: *ChecksumError, *UnsafeEntryError, *VersionMismatchError, ...
}

func (e *ArtifactError) Error() string { return e.Err.Error() }
func (e *ArtifactError) Unwrap() error { return e.Err }

// readArtifact is what attempt knows about the source it opened, before any byte is read.
type readArtifact struct {
	art        Artifact
	validators Validators
	stamp      FileStamp
}

// describeOpened captures the identity of the source attempt just opened: the first response's
// headers (before a resume replaces it) or the resource file's stamp (from the open descriptor, so a
// file replaced meanwhile is not mistaken for the one read).
func describeOpened(src origin, pin string, body io.Reader) readArtifact {
	ra := readArtifact{art: src.artifact(pin), validators: Validators{ContentLength: -1}}
	switch b := body.(type) {
	case *resumableBody:
		if b.resp != nil {
			ra.validators = validatorsOf(b.resp.Header, b.total)
		}
	case *os.File:
		if st, err := stampOf(b); err == nil {
			ra.stamp = st
		}
	}
	return ra
}

// refuse turns a content failure of a fully read artifact into an *ArtifactError; any other error
// (and nil) passes unchanged. unpacked says err came from unpacking: then everything but a failure of
// this machine (a write, a full disk) is the archive's fault.
func (ra readArtifact) refuse(ctx context.Context, res Result, want expectation, err error, unpacked bool) error {
	if err == nil || ctx.Err() != nil {
		return err
	}
	cause := contentCause(err, unpacked)
	if cause == "" {
		return err
	}
	ae := &ArtifactError{Artifact: ra.art, Validators: ra.validators, Stamp: ra.stamp,
		Size: res.Size, SHA1: res.SHA1, SHA256: res.SHA256, Cause: cause, Err: err}
	if want.algo != "" {
		ae.Expected = want.algo + ":" + want.sum
	}
	return ae
}

func contentCause(err error, unpacked bool) string {
	var (
		sum     *ChecksumError
		unsafe  *UnsafeEntryError
		version *VersionMismatchError
	)
	switch {
	case errors.As(err, &sum):
		return CauseChecksum
	case errors.As(err, &unsafe):
		return CauseUnsafe
	case errors.As(err, &version):
		return CauseVersion
	case unpacked && !localFailure(err):
		return CauseArchive
	}
	return ""
}

// localFailure reports an unpack error that comes from this machine, not from the archive: every
// write goes through the os package, whose errors carry the path or the errno. Those may heal (disk
// freed, I/O error gone), so they are never remembered.
func localFailure(err error) bool {
	var (
		full    *DiskFullError
		pathErr *os.PathError
		linkErr *os.LinkError
		sysErr  *os.SyscallError
		errno   syscall.Errno
	)
	return errors.As(err, &full) || errors.As(err, &pathErr) || errors.As(err, &linkErr) ||
		errors.As(err, &sysErr) || errors.As(err, &errno) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
