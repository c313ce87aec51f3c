// Package release makes one Concourse release present on a storage root: the shared-storage
// protocol of internal/storage (exactly once, crash-safe) with the verified streaming install of
// internal/installer as its fill step. The charm and the benchmarks both go through Ensure, so
// what is measured is what runs.
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

// Ensure makes req's release present on root, downloading it only if no process sharing the root
// has. The release is held for unit (GC keeps it) but not recorded as the one the unit runs: the
// caller does that with root.SetUnitRef once it has switched, so that fetching the next version
// never unpins the one still running. onWait, if set, is told who holds the install lock when this
// call has to wait for another unit's download.
func Ensure(ctx context.Context, root *storage.Root, unit string, req installer.Request, onWait func(storage.Owner)) (Installed, error) {
	host, _ := os.Hostname()
	owner := storage.Owner{Unit: unit, PID: os.Getpid(), Host: host, Purpose: "downloading " + req.Version}
	dir, marker, byUs, err := root.EnsureRelease(ctx, storage.EnsureRequest{
		Version: req.Version,
		Arch:    req.Arch,
		Owner:   owner,
		Fill: func(ctx context.Context, staging string) (storage.Marker, error) {
			res, err := installer.Install(ctx, req, staging)
			return storage.Marker{SHA256: res.SHA256, SHA1: res.SHA1, Size: res.Size, Source: res.Source}, err
		},
		OnWait: onWait,
	})
	if err != nil {
		return Installed{}, err
	}
	return Installed{Dir: dir, Marker: marker, ByUs: byUs}, nil
}
