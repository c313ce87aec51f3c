package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// GC removes every release that no unit refers to (UnitRef.Releases) and that is not named in keep
// (release names as made by ReleaseName), plus leftover staging, trash and unmarked directories.
// It runs under the install lock, so it never races an install.
//
// It never removes a referenced release, even one referenced while it runs. EnsureRelease records
// its hold BEFORE reading the marker; GC deletes the marker BEFORE re-reading the references. So
// either the reader saw the marker first, and GC's second read sees the hold and puts the marker
// back, or the reader finds no marker and takes the slow path, which waits for this lock. A removal
// renames the tree to trash before deleting it, so a crash never leaves a half-deleted tree under a
// release name (and, the marker being gone first, never one that looks complete).
func (r *Root) GC(ctx context.Context, owner Owner, keep ...string) (removed []string, err error) {
	if owner.Purpose == "" {
		owner.Purpose = "removing unused releases"
	}
	if err := r.Revalidate(r.id); err != nil {
		return nil, err
	}
	held, err := Lock(ctx, r.InstallLockPath(), owner)
	if err != nil {
		return nil, fmt.Errorf("gc: %w", err)
	}
	defer func() { err = errors.Join(err, held.Release()) }()
	if err := r.clearDebris(); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(r.releasesPath())
	if err != nil {
		return nil, fmt.Errorf("list releases: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		done, err := r.collect(e.Name(), keep)
		if err != nil {
			return removed, err
		}
		if done {
			removed = append(removed, e.Name())
		}
	}
	return removed, nil
}

// collect removes one release unless it is referenced, reporting whether it did.
func (r *Root) collect(name string, keep []string) (bool, error) {
	if referenced, err := r.isReferenced(name, keep); err != nil || referenced {
		return false, err
	}
	dir := filepath.Join(r.releasesPath(), name)
	// The top directory is sealed read-only once complete; deleting the marker needs it writable.
	if err := os.Chmod(dir, 0o755); err != nil {
		return false, fmt.Errorf("unseal %s: %w", dir, err)
	}
	marker, hadMarker, err := readMarker(dir)
	if err != nil {
		return false, err
	}
	if err := os.Remove(filepath.Join(dir, MarkerFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("remove marker of %s: %w", name, err)
	}
	if err := syncDir(dir); err != nil {
		return false, err
	}
	r.step("gc-marker-removed:" + name)
	referenced, err := r.isReferenced(name, keep)
	if err == nil && referenced && hadMarker {
		return false, writeMarker(dir, marker) // held while we were deciding: the tree is intact
	}
	if err != nil {
		return false, errors.Join(err, restoreMarker(dir, marker, hadMarker))
	}
	return true, r.removeIfPresent(dir)
}

func restoreMarker(dir string, m Marker, had bool) error {
	if !had {
		return nil
	}
	return writeMarker(dir, m)
}

func (r *Root) isReferenced(name string, keep []string) (bool, error) {
	for _, k := range keep {
		if k == name {
			return true, nil
		}
	}
	refs, err := r.UnitRefs()
	if err != nil {
		return false, err
	}
	for _, ref := range refs {
		for _, n := range ref.Releases() {
			if n == name {
				return true, nil
			}
		}
	}
	return false, nil
}
