package storage

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFileAtomic replaces path with data so that a reader (in any process, on any host sharing the
// filesystem) sees either the old content or the complete new content, never a prefix, and the new
// content survives a crash once it returns: temp file in the same directory, write, fsync, rename,
// fsync the directory (a rename is only durable once its directory is).
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return replaceFile(path, data, perm, true)
}

// replaceFile is WriteFileAtomic with optional durability. Informational files (the lock owner) skip
// the fsyncs: a stale or lost copy after a crash is harmless, and they are written on every lock.
func replaceFile(path string, data []byte, perm os.FileMode, durable bool) (err error) {
	dir, name := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, ".tmp-"+name+"-*")
	if err != nil {
		return fmt.Errorf("create temp for %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	// CreateTemp makes 0600; Chmod (not the umask-affected open mode) gives exactly perm.
	if err = tmp.Chmod(perm); err != nil {
		return fmt.Errorf("chmod %s: %w", tmp.Name(), err)
	}
	if durable {
		if err = tmp.Sync(); err != nil {
			return fmt.Errorf("fsync %s: %w", tmp.Name(), err)
		}
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp.Name(), err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename into %s: %w", path, err)
	}
	if durable {
		return syncDir(dir)
	}
	return nil
}

// syncDir makes the entries of dir (creations, renames, removals) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir %s for fsync: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	return nil
}

// sealTree fsyncs every file and directory under root and removes write permission from every file.
// Directories keep their owner's write bit: for the root-owned trees the charm makes, a 0555
// directory would stop nobody (root ignores it, others cannot write a 0755 root directory anyway),
// while for a non-root owner (tests, a developer's machine) it would stop the tree from ever being
// deleted. After it returns, the content is durable and cannot be changed by accident through a
// normal write.
func sealTree(root string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("walk %s: %w", path, err)
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil // a symlink's entry is made durable by fsyncing its directory
		}
		if !d.IsDir() && !d.Type().IsRegular() {
			return nil
		}
		if err := syncPath(path); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		return dropWriteBits(path, d)
	})
}

func syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open %s for fsync: %w", path, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", path, err)
	}
	return nil
}

func dropWriteBits(path string, d fs.DirEntry) error {
	info, err := d.Info()
	if err != nil {
		return fmt.Errorf("stat %s: %w", path, err)
	}
	mode := info.Mode()
	if mode.Perm()&0o222 == 0 {
		return nil
	}
	if err := os.Chmod(path, mode&^0o222&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
		return fmt.Errorf("make %s read-only: %w", path, err)
	}
	return nil
}

// removeTree removes a tree that sealTree made read-only. Directories get their owner write bit back
// first: root ignores it, but a non-root caller cannot unlink entries of a read-only directory.
func removeTree(root string) error {
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			if info, err := d.Info(); err == nil && info.Mode().Perm()&0o200 == 0 {
				_ = os.Chmod(path, info.Mode().Perm()|0o700)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("prepare %s for removal: %w", root, err)
	}
	if err := os.RemoveAll(root); err != nil {
		return fmt.Errorf("remove %s: %w", root, err)
	}
	return nil
}
