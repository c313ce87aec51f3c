package release

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/installer"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/storage"
)

// RejectedError reports that the artifact req reads was refused for its content, by this call or
// by an earlier one on the same root (another unit, an earlier hook): Record says what and why. A
// caller shows Record.Reason, so every unit sharing the root reports the same message.
type RejectedError struct {
	Record storage.Rejection
	// Err is the installer's error when this call read the artifact itself; nil when a record
	// matched and nothing was downloaded.
	Err error
}

func (e *RejectedError) Error() string {
	if e.Err != nil {
		return e.Err.Error()
	}
	return fmt.Sprintf("%s (refused by %s at %s; not downloaded again)", e.Record.Reason, e.Record.Unit,
		e.Record.RejectedAt.UTC().Format(time.RFC3339))
}

func (e *RejectedError) Unwrap() error { return e.Err }

// verdict is what a record says about the artifact a request would read now.
type verdict int

const (
	applies verdict = iota // the same artifact under the same checks: refuse without downloading
	changed                // the config, the resource or the file behind the URL changed: try again
	unknown                // cannot tell (the server did not answer the probe): try again, keep the record
)

// rejections applies the root's rejection record to one Ensure call: checked before the install
// lock (the cheap path of an idle hook) and again under it (units that waited while another one
// downloaded and refused the artifact must not download it again).
type rejections struct {
	root *storage.Root
	unit string
	req  installer.Request
	opts Options
	// judged is the record this call already found not to apply, and why, so that the check under
	// the lock does not probe again for the same record.
	judged  *storage.Rejection
	verdict verdict
}

// check returns a *RejectedError when the root holds a record that applies to the request. Under
// the install lock (locked), a record that no longer applies is removed.
func (rj *rejections) check(ctx context.Context, locked bool) error {
	rec, ok, err := rj.root.Rejection(rj.req.Version, rj.req.Arch)
	if err != nil || !ok {
		return err
	}
	v := rj.verdict
	if rj.judged == nil || !sameRecord(*rj.judged, rec) {
		var why string
		if v, why = rj.judge(ctx, rec); v == applies {
			return &RejectedError{Record: rec}
		}
		rj.judged, rj.verdict = &rec, v
		rj.logf("the refusal of %s from %s by %s no longer stands (%s): trying again", rec.Name(), rec.Source, rec.Unit, why)
	}
	if locked && v == changed {
		if err := rj.root.ClearRejection(rec.Version, rec.Arch); err != nil {
			return fmt.Errorf("clear stale rejection record: %w", err)
		}
	}
	return nil
}

func sameRecord(a, b storage.Rejection) bool {
	return a.RejectedAt.Equal(b.RejectedAt) && a.Unit == b.Unit && a.SHA256 == b.SHA256 && a.Reason == b.Reason
}

// judge compares a record with what the request would read now, cheapest first: config fields,
// then the resource's size and digest, or the server's validators (one HEAD) and, for a refused
// sidecar sha1, the sidecar (a few bytes).
func (rj *rejections) judge(ctx context.Context, rec storage.Rejection) (verdict, string) {
	art, err := rj.req.Identify()
	if err != nil {
		return changed, err.Error() // the install reports the config error itself
	}
	switch {
	case rec.SourceKind != art.Kind:
		return changed, fmt.Sprintf("the source is now a %s, it was a %s", art.Kind, rec.SourceKind)
	case rec.Checksum != art.Checksum:
		return changed, "checksum changed"
	case art.Kind == installer.KindResource:
		return rj.judgeResource(rec, art)
	}
	return rj.judgeURL(ctx, rec, art)
}

func (rj *rejections) judgeURL(ctx context.Context, rec storage.Rejection, art installer.Artifact) (verdict, string) {
	if rec.URLSHA256 != art.URLSHA256 {
		return changed, "download-url changed"
	}
	if rec.ETag == "" && rec.LastModified == "" {
		// Without a validator a replaced file of the same size would look unchanged forever.
		return unknown, "the server sent no ETag or Last-Modified to tell whether the file changed"
	}
	now, err := installer.Probe(ctx, rj.req)
	if err != nil {
		return unknown, fmt.Sprintf("cannot ask the server whether the file changed: %v", err)
	}
	switch {
	case now.ETag != rec.ETag:
		return changed, fmt.Sprintf("ETag %s, was %s", quoteOrNone(now.ETag), quoteOrNone(rec.ETag))
	case now.LastModified != rec.LastModified:
		return changed, fmt.Sprintf("Last-Modified %s, was %s", quoteOrNone(now.LastModified), quoteOrNone(rec.LastModified))
	case now.ContentLength >= 0 && rec.ContentLength >= 0 && now.ContentLength != rec.ContentLength:
		return changed, fmt.Sprintf("%d bytes, was %d", now.ContentLength, rec.ContentLength)
	}
	// A wrong sidecar is fixed by publishing a new one, with the tarball untouched.
	if want, ok := strings.CutPrefix(rec.Expected, "sha1:"); ok && rec.Cause == installer.CauseChecksum {
		sum, err := installer.ProbeSidecar(ctx, rj.req)
		if err != nil {
			return unknown, fmt.Sprintf("cannot read the published sha1: %v", err)
		}
		if sum != want {
			return changed, "the published sha1 changed"
		}
	}
	return applies, ""
}

func (rj *rejections) judgeResource(rec storage.Rejection, art installer.Artifact) (verdict, string) {
	stamp, err := installer.StampFile(art.ResourcePath)
	if err != nil {
		return unknown, err.Error()
	}
	if stamp.Size != rec.Size {
		return changed, fmt.Sprintf("the resource has %d bytes, the refused one %d", stamp.Size, rec.Size)
	}
	sum, err := resourceDigest(rj.root, rj.unit, art.ResourcePath, stamp)
	if err != nil {
		return unknown, err.Error()
	}
	if sum != rec.SHA256 {
		return changed, "the resource is another file"
	}
	return applies, ""
}

func quoteOrNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// refuse records the installer's refusal of the artifact and returns it as a *RejectedError; any
// other error passes unchanged. A record that cannot be written is logged: this unit still reports
// the refusal, and the others will only download once more.
func (rj *rejections) refuse(err error) error {
	var ae *installer.ArtifactError
	if !errors.As(err, &ae) {
		return err
	}
	reason := err.Error()
	if rj.opts.Explain != nil {
		reason = rj.opts.Explain(err)
	}
	rec := storage.Rejection{
		Version: rj.req.Version, Arch: rj.req.Arch,
		SourceKind: ae.Kind, Source: ae.Display, URLSHA256: ae.URLSHA256, Checksum: ae.Checksum, Expected: ae.Expected,
		ETag: ae.Validators.ETag, LastModified: ae.Validators.LastModified, ContentLength: ae.Validators.ContentLength,
		Size: ae.Size, SHA256: ae.SHA256, Cause: ae.Cause, Reason: reason, Unit: rj.unit, RejectedAt: time.Now().UTC(),
	}
	if ae.Kind != installer.KindURL {
		rec.ContentLength = -1
	}
	if werr := rj.root.RecordRejection(rec); werr != nil {
		rj.logf("cannot remember the refusal of %s: %v", rec.Name(), werr)
	}
	if ae.Kind == installer.KindResource {
		// This unit read the file already: it need not hash it again to match the record.
		rememberResourceDigest(rj.root, rj.unit, ae.ResourcePath, ae.Stamp, ae.SHA256)
	}
	return &RejectedError{Record: rec, Err: err}
}

// installed removes the record of a release that has just installed: whatever was refused, it is
// not what was installed.
func (rj *rejections) installed() {
	if err := rj.root.ClearRejection(rj.req.Version, rj.req.Arch); err != nil {
		rj.logf("%v", err)
	}
}

func (rj *rejections) logf(format string, args ...any) {
	if rj.opts.Log != nil {
		rj.opts.Log(fmt.Sprintf(format, args...))
	}
}
