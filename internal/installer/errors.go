package installer

import (
	"errors"
	"fmt"
)

// ChecksumError reports a tarball whose digest differs from the expected one:
// a corrupt or tampered download, a wrong `checksum` pin, or a wrong sidecar.
type ChecksumError struct {
	Algo     string // "sha1" or "sha256"
	Expected string // hex
	Actual   string // hex
	URL      string // where the tarball came from (a file path for a resource)
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("%s mismatch for %s: expected %s, got %s", e.Algo, e.URL, e.Expected, e.Actual)
}

// UnsafeEntryError reports a tarball entry that the unpacker refuses because
// it could write outside the release directory or create something a
// release has no business shipping (devices, fifos, setuid tricks).
type UnsafeEntryError struct {
	Name   string
	Reason string
}

func (e *UnsafeEntryError) Error() string {
	return fmt.Sprintf("unsafe tarball entry %q: %s", e.Name, e.Reason)
}

// HTTPStatusError reports an HTTP answer other than the one asked for.
type HTTPStatusError struct {
	URL  string
	Code int
	// Via is the redirect target that answered (credentials hidden), "" without a redirect.
	Via string
}

func (e *HTTPStatusError) Error() string {
	if e.Via != "" {
		return fmt.Sprintf("GET %s (redirected to %s): HTTP %d", e.URL, e.Via, e.Code)
	}
	return fmt.Sprintf("GET %s: HTTP %d", e.URL, e.Code)
}

// retryable says whether trying again later can reasonably succeed: server
// overload (429) and server-side failures (5xx). 404 and 403 never heal.
func (e *HTTPStatusError) retryable() bool {
	return e.Code == 429 || e.Code >= 500
}

// DiskFullError reports ENOSPC/EDQUOT while unpacking, so the charm can tell
// the operator to free or grow the disk rather than retry.
type DiskFullError struct {
	Entry string // tarball entry being written
	Dir   string // staging directory
	Err   error
}

func (e *DiskFullError) Error() string {
	return fmt.Sprintf("disk full while unpacking %s into %s: %v", e.Entry, e.Dir, e.Err)
}

func (e *DiskFullError) Unwrap() error { return e.Err }

// VersionMismatchError reports a release whose `concourse --version` is not
// the version that was asked for (wrong tarball behind a URL or resource).
type VersionMismatchError struct {
	Want, Got string
}

func (e *VersionMismatchError) Error() string {
	return fmt.Sprintf("unpacked concourse reports version %q, want %q", e.Got, e.Want)
}

// ConfigError reports a request the operator must fix (a config option or an
// attached resource); Field names the option so status can point at it.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("invalid %s: %s", e.Field, e.Reason)
}

// restartError asks the attempt loop to start the download over from byte 0
// with a clean staging directory: resuming is impossible or unsafe (server
// ignored Range, or the file behind the URL changed).
type restartError struct {
	reason string
}

func (e *restartError) Error() string { return "restarting download: " + e.reason }

func isRestart(err error) bool {
	var r *restartError
	return errors.As(err, &r)
}
