// Package release makes one Concourse release present on a storage root: the shared-storage
// protocol of internal/storage (exactly once, crash-safe) with the verified streaming install of
// internal/installer as its fill step. The charm and the benchmarks both go through Ensure, so
// what is measured is what runs.
//
// An artifact refused for its content (see installer.ArtifactError) is remembered on the root, so
// that no unit sharing it downloads the same bytes again to refuse them again: see RejectedError.
package release

import (
	"context"
	"os"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/installer"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/storage"
)

// Installed is a complete release on a root.
type Installed struct {
	Dir    string
	Marker storage.Marker
	// ByUs is true when this call downloaded and unpacked it; false when another unit (or an
	// earlier hook) had.
	ByUs bool
}

// Options are what a caller may add to an Ensure.
type Options struct {
	// OnWait, if set, is told who holds the install lock when this call has to wait for another
	// unit's download.
	OnWait func(storage.Owner)
	// OnFetch, if set, is called when this call is about to fetch the release: it holds the
	// install lock and no rejection record stopped it.
	OnFetch func()
	// Explain, if set, turns the installer's refusal of an artifact into the operator-facing
	// message kept in the rejection record, which every unit sharing the root then reports. By
	// default the error's own text is kept.
	Explain func(error) string
	// Log, if set, receives one line when a rejection record stops applying or cannot be written.
	Log func(string)
}

// Ensure is EnsureWith with only an OnWait.
func Ensure(ctx context.Context, root *storage.Root, unit string, req installer.Request, onWait func(storage.Owner)) (Installed, error) {
	return EnsureWith(ctx, root, unit, req, Options{OnWait: onWait})
}

// EnsureWith makes req's release present on root, downloading it only if no process sharing the
// root has. The release is held for unit (GC keeps it) but not recorded as the one the unit runs:
// the caller does that with root.SetUnitRef once it has switched, so that fetching the next version
// never unpins the one still running.
//
// When the root remembers that the artifact req reads was refused for its content, and neither the
// config, nor the resource, nor the file behind the URL (its validators) changed since, it returns
// that *RejectedError without downloading: checked before the install lock, so an idle hook costs a
// HEAD, and again under it, so units that waited while another one downloaded do not download too.
func EnsureWith(ctx context.Context, root *storage.Root, unit string, req installer.Request, opts Options) (Installed, error) {
	rj := &rejections{root: root, unit: unit, req: req, opts: opts}
	if _, _, present, err := root.Release(req.Version, req.Arch); err == nil && !present {
		if err := rj.check(ctx, false); err != nil {
			return Installed{}, err
		}
	}
	host, _ := os.Hostname()
	owner := storage.Owner{Unit: unit, PID: os.Getpid(), Host: host, Purpose: "downloading " + req.Version}
	dir, marker, byUs, err := root.EnsureRelease(ctx, storage.EnsureRequest{
		Version: req.Version,
		Arch:    req.Arch,
		Owner:   owner,
		Fill: func(ctx context.Context, staging string) (storage.Marker, error) {
			if err := rj.check(ctx, true); err != nil {
				return storage.Marker{}, err
			}
			if opts.OnFetch != nil {
				opts.OnFetch()
			}
			res, err := installer.Install(ctx, req, staging)
			if err != nil {
				return storage.Marker{}, rj.refuse(err)
			}
			rj.installed()
			return storage.Marker{SHA256: res.SHA256, SHA1: res.SHA1, Size: res.Size, Source: res.Source}, nil
		},
		OnWait: opts.OnWait,
	})
	if err != nil {
		return Installed{}, err
	}
	return Installed{Dir: dir, Marker: marker, ByUs: byUs}, nil
}
