package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// MarkerFile is written into a release directory last; a release without it is not complete.
const MarkerFile = ".complete"

// Prefixes of transient directories under releases/. Only the install-lock holder creates them, so
// whoever next takes the lock may remove any it finds: their creator is gone or finished.
const (
	stagingPrefix = ".staging-"
	trashPrefix   = ".trash-"
)

// Marker records what a complete release is and where it came from.
type Marker struct {
	Version     string    `json:"version"`
	Arch        string    `json:"arch"`
	SHA256      string    `json:"sha256,omitempty"`
	SHA1        string    `json:"sha1,omitempty"`
	Size        int64     `json:"size,omitempty"`
	Source      string    `json:"source,omitempty"`
	CompletedAt time.Time `json:"completed-at"`
	Unit        string    `json:"unit,omitempty"`
}

// ReleaseName is the directory name of a release: "<version>-<arch>". Versions may contain '-'
// (7.14.3-rc1), so arches may not, which keeps the name unambiguous.
func ReleaseName(version, arch string) (string, error) {
	if err := checkNamePart("version", version); err != nil {
		return "", err
	}
	if err := checkNamePart("arch", arch); err != nil {
		return "", err
	}
	if strings.Contains(arch, "-") {
		return "", fmt.Errorf("invalid arch %q: must not contain '-'", arch)
	}
	return version + "-" + arch, nil
}

func checkNamePart(what, s string) error {
	if s == "" || s[0] == '.' || s[0] == '-' || strings.Contains(s, "..") || len(s) > 128 {
		return fmt.Errorf("invalid %s %q", what, s)
	}
	for _, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._+-", c)
		if !ok {
			return fmt.Errorf("invalid %s %q: character %q", what, s, c)
		}
	}
	return nil
}

func (r *Root) releasesPath() string { return filepath.Join(r.path, releasesDir) }

// Release returns the directory and marker of a complete release. ok is false (with a nil error)
// when the release is absent or incomplete: no marker, an unreadable marker, or a marker for another
// version or arch. The root's identity is revalidated first, so a marker on swapped or unmounted
// storage is never trusted.
func (r *Root) Release(version, arch string) (dir string, marker *Marker, ok bool, err error) {
	name, err := ReleaseName(version, arch)
	if err != nil {
		return "", nil, false, err
	}
	if err := r.Revalidate(r.id); err != nil {
		return "", nil, false, err
	}
	dir = filepath.Join(r.releasesPath(), name)
	m, ok, err := readMarker(dir)
	if err != nil || !ok || m.Version != version || m.Arch != arch {
		return "", nil, false, err
	}
	return dir, &m, true, nil
}

func readMarker(dir string) (Marker, bool, error) {
	data, err := os.ReadFile(filepath.Join(dir, MarkerFile))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrInvalid) || errors.Is(err, unix.ENOTDIR) {
		return Marker{}, false, nil // ENOTDIR: a stray file under the release's name is "absent"
	}
	if err != nil {
		return Marker{}, false, fmt.Errorf("read marker in %s: %w", dir, err)
	}
	var m Marker
	if json.Unmarshal(data, &m) != nil {
		return Marker{}, false, nil // a damaged marker means "not complete": it gets reinstalled
	}
	return m, true, nil
}

// EnsureRequest asks for one release to be present.
type EnsureRequest struct {
	Version, Arch string
	// Owner is recorded while installing. If Owner.Unit is set, the release is also held for that
	// unit (see SetUnitRef) before the marker is checked, so a concurrent GC cannot remove it between
	// EnsureRelease returning and the unit switching to it.
	Owner Owner
	// Fill puts the release's files into stagingDir (an empty directory) and returns what it
	// installed. Version, Arch, Unit and CompletedAt are filled in by EnsureRelease.
	Fill func(ctx context.Context, stagingDir string) (Marker, error)
	// OnWait, if set, is called once with the recorded holder when the install lock is busy.
	OnWait func(Owner)
}

// EnsureRelease makes the release present exactly once across every process sharing the root and
// returns its directory and marker; installedByUs reports whether this call ran Fill.
//
// Steps: marker check (no lock: the common case costs a stat and a small read); else the install
// lock (the kernel wakes us; OnWait says whom we wait for), marker check again, removal of every
// .staging-* and .trash-* (the lock was free, so their creators are gone), Fill into a new staging
// dir, fsync and seal the tree read-only, rename into place (clearing an unmarked directory in the
// way), and the marker written atomically last. A crash at any point leaves either no marker or a
// marker on a complete, durable tree. A Fill error removes staging and leaves other releases alone.
// Once Fill has succeeded the install is finished even if ctx ends, as the work is already done.
func (r *Root) EnsureRelease(ctx context.Context, req EnsureRequest) (dir string, marker Marker, installedByUs bool, err error) {
	name, err := ReleaseName(req.Version, req.Arch)
	if err != nil {
		return "", Marker{}, false, err
	}
	if req.Fill == nil {
		return "", Marker{}, false, fmt.Errorf("ensure release %s: no Fill function", name)
	}
	if req.Owner.Unit != "" {
		if err := r.holdRelease(req.Owner.Unit, name); err != nil {
			return "", Marker{}, false, err
		}
	}
	if dir, m, ok, err := r.Release(req.Version, req.Arch); err != nil || ok {
		return dir, deref(m), false, err
	}
	owner := req.Owner
	if owner.Purpose == "" {
		owner.Purpose = "installing Concourse " + name
	}
	held, err := LockNotify(ctx, r.InstallLockPath(), owner, req.OnWait)
	if err != nil {
		return "", Marker{}, false, fmt.Errorf("ensure release %s: %w", name, err)
	}
	defer func() {
		if rerr := held.Release(); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}()
	r.step("locked")
	if dir, m, ok, err := r.Release(req.Version, req.Arch); err != nil || ok {
		return dir, deref(m), false, err
	}
	marker, err = r.install(ctx, name, &req, owner.Unit)
	if err != nil {
		return "", Marker{}, false, fmt.Errorf("ensure release %s: %w", name, err)
	}
	return filepath.Join(r.releasesPath(), name), marker, true, nil
}

func deref(m *Marker) Marker {
	if m == nil {
		return Marker{}
	}
	return *m
}

// install runs with the install lock held and the release known to be incomplete.
func (r *Root) install(ctx context.Context, name string, req *EnsureRequest, unit string) (Marker, error) {
	if err := r.clearDebris(); err != nil {
		return Marker{}, err
	}
	r.step("cleared")
	staging, err := os.MkdirTemp(r.releasesPath(), stagingPrefix)
	if err != nil {
		return Marker{}, fmt.Errorf("create staging dir: %w", err)
	}
	marker, err := r.fillStaging(ctx, staging, req)
	if err != nil {
		return Marker{}, errors.Join(err, removeTree(staging))
	}
	marker.Unit = unit
	final := filepath.Join(r.releasesPath(), name)
	if err := r.removeIfPresent(final); err != nil {
		return Marker{}, errors.Join(err, removeTree(staging))
	}
	if err := os.Rename(staging, final); err != nil {
		return Marker{}, errors.Join(fmt.Errorf("move release into place: %w", err), removeTree(staging))
	}
	if err := syncDir(r.releasesPath()); err != nil {
		return Marker{}, err
	}
	r.step("renamed")
	marker.CompletedAt = time.Now().UTC()
	if err := writeMarker(final, marker); err != nil {
		return Marker{}, err
	}
	r.step("marked")
	return marker, nil
}

// fillStaging runs Fill and makes its result durable and read-only.
func (r *Root) fillStaging(ctx context.Context, staging string, req *EnsureRequest) (Marker, error) {
	marker, err := req.Fill(ctx, staging)
	if err != nil {
		return Marker{}, fmt.Errorf("fill: %w", err)
	}
	if (marker.Version != "" && marker.Version != req.Version) || (marker.Arch != "" && marker.Arch != req.Arch) {
		return Marker{}, fmt.Errorf("fill produced %s/%s, asked for %s/%s", marker.Version, marker.Arch, req.Version, req.Arch)
	}
	marker.Version, marker.Arch = req.Version, req.Arch
	r.step("filled")
	// A marker that Fill copied in would make the tree look complete before we say so.
	if err := os.Remove(filepath.Join(staging, MarkerFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Marker{}, fmt.Errorf("remove stray marker: %w", err)
	}
	// MkdirTemp made staging 0700; the release must be readable by unprivileged users (the web
	// runs as its own user) from the moment it is in place, and durably so: sealTree fsyncs it.
	if err := os.Chmod(staging, 0o755); err != nil {
		return Marker{}, fmt.Errorf("open up staging: %w", err)
	}
	if err := sealTree(staging); err != nil {
		return Marker{}, err
	}
	r.step("sealed")
	return marker, nil
}

// writeMarker writes the marker durably (read-only, like every file of a complete release).
func writeMarker(dir string, m Marker) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode marker: %w", err)
	}
	return WriteFileAtomic(filepath.Join(dir, MarkerFile), append(data, '\n'), 0o444)
}

// clearDebris removes staging and trash directories. Only call it holding the install lock.
func (r *Root) clearDebris() error {
	entries, err := os.ReadDir(r.releasesPath())
	if err != nil {
		return fmt.Errorf("list releases: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), stagingPrefix) || strings.HasPrefix(e.Name(), trashPrefix) {
			if err := removeTree(filepath.Join(r.releasesPath(), e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// removeIfPresent moves an (incomplete) directory out of the way and deletes it. Moving it first
// means a crash half-way through deletion leaves trash, not a half-deleted tree under a real name.
func (r *Root) removeIfPresent(dir string) error {
	info, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err == nil && !info.IsDir() {
		// A stray file or symlink under a release name (never one of ours): unlink it, or the
		// version could never be installed.
		if err := os.Remove(dir); err != nil {
			return fmt.Errorf("remove %s: %w", dir, err)
		}
		return syncDir(r.releasesPath())
	}
	trash, err := os.MkdirTemp(r.releasesPath(), trashPrefix)
	if err != nil {
		return fmt.Errorf("create trash dir: %w", err)
	}
	// rename(2) replaces the empty trash directory; os.Rename refuses any directory target.
	if err := unix.Rename(dir, trash); err != nil {
		return fmt.Errorf("move %s to trash: %w", dir, err)
	}
	if err := syncDir(r.releasesPath()); err != nil {
		return err
	}
	return removeTree(trash)
}
