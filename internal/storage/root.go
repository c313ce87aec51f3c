package storage

import (
	"fmt"
	"os"
	"path/filepath"
)

// Names inside a root.
const (
	locksDir    = "locks"
	releasesDir = "releases"
	unitsDir    = "units"
	installLock = "install.lock"
)

// Root is one storage root: shared between units, or unit-local when there is no shared path. The
// protocol is the same either way; the caller decides whether a mount point is required.
type Root struct {
	path string
	id   Identity
	// testHook, if set, is called at named points of EnsureRelease and GC so that tests can place
	// a crash or a concurrent change exactly there. Production code never sets it.
	testHook func(point string)
}

func (r *Root) step(point string) {
	if r.testHook != nil {
		r.testHook(point)
	}
}

// Open prepares the root at path, which must exist (it is never created, so an absent mount is not
// papered over by a fresh local directory): it creates the layout directories if missing and reads
// the root's identity, creating it the first time.
func Open(path string) (*Root, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("absolute path of %s: %w", path, err)
	}
	info, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("open storage root: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("open storage root: %s is not a directory", abs)
	}
	for _, dir := range []string{locksDir, releasesDir, unitsDir} {
		if err := ensureDir(filepath.Join(abs, dir), 0o755); err != nil {
			return nil, err
		}
	}
	if err := createIdentity(abs); err != nil {
		return nil, err
	}
	id, err := ReadIdentity(abs)
	if err != nil {
		return nil, err
	}
	return &Root{path: abs, id: id}, nil
}

// Path is the root's absolute path.
func (r *Root) Path() string { return r.path }

// Identity is the identity read when the root was opened.
func (r *Root) Identity() Identity { return r.id }

// Revalidate checks that the root still is the storage described by expected (typically saved by
// the unit the last time it used the root). Errors: ErrNotMounted, ErrIdentityChanged,
// ErrDeviceChanged. Every marker read through this Root is preceded by Revalidate(r.Identity()).
func (r *Root) Revalidate(expected Identity) error {
	return checkIdentity(r.path, expected)
}

// InstallLockPath is the lock that serialises installs and garbage collection.
func (r *Root) InstallLockPath() string {
	return filepath.Join(r.path, locksDir, installLock)
}

// ensureDir creates dir if missing and sets exactly mode (Mkdir's mode is filtered by the umask).
func ensureDir(dir string, mode os.FileMode) error {
	err := os.Mkdir(dir, mode)
	if err != nil && !os.IsExist(err) {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	info, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("stat %s: %w", dir, err)
	}
	if !info.IsDir() {
		return fmt.Errorf("%s exists and is not a directory", dir)
	}
	if info.Mode().Perm() != mode {
		if err := os.Chmod(dir, mode); err != nil {
			return fmt.Errorf("chmod %s: %w", dir, err)
		}
	}
	return nil
}
