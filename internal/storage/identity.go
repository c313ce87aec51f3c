package storage

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// IdentityFile is the name, inside a root, of the file holding the root's random UUID.
const IdentityFile = ".concourse-shared-id"

// Identity names one shared root: the UUID written once into it, plus the device and inode of the
// root directory as this host sees it. Units compare UUIDs to know whether they share storage; the
// device:inode pair catches a directory swapped in under the same path or a mount that went away.
type Identity struct {
	UUID string `json:"uuid"`
	Dev  uint64 `json:"dev"`
	Ino  uint64 `json:"ino"`
	// Mounted records that the root was a mount point; Revalidate then insists it still is.
	Mounted bool `json:"mounted"`
}

func (id Identity) String() string {
	return fmt.Sprintf("%s (dev %d:%d ino %d)", id.UUID, unix.Major(id.Dev), unix.Minor(id.Dev), id.Ino)
}

// Errors returned by Revalidate and ReadIdentity; test with errors.Is.
var (
	// ErrIdentityChanged: the root now holds a different UUID: it is other storage.
	ErrIdentityChanged = errors.New("shared storage identity changed")
	// ErrDeviceChanged: same UUID but another device:inode. Either the same storage remounted (NFS
	// device numbers change across reboots) or a copy of it; markers were not checked by us on it.
	ErrDeviceChanged = errors.New("shared storage device or inode changed")
	// ErrNotMounted: the root was a mount point and is not one any more (unmounted underneath us).
	ErrNotMounted = errors.New("shared storage is not mounted")
	// ErrNoIdentity: the root has no identity file (never opened, or the wrong directory).
	ErrNoIdentity = errors.New("shared storage has no identity file")
)

// ReadIdentity reads the identity of the root at path without creating anything.
func ReadIdentity(path string) (Identity, error) {
	id, err := readIdentityFile(path)
	if err != nil {
		return Identity{}, err
	}
	id.Mounted, err = IsMountPoint(path)
	if err != nil {
		return Identity{}, err
	}
	return id, nil
}

// readIdentityFile is ReadIdentity without the mount check, which reads the whole mount table.
func readIdentityFile(path string) (Identity, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return Identity{}, fmt.Errorf("stat storage root %s: %w", path, err)
	}
	data, err := os.ReadFile(filepath.Join(path, IdentityFile))
	if errors.Is(err, fs.ErrNotExist) {
		return Identity{}, fmt.Errorf("%w: %s", ErrNoIdentity, path)
	}
	if err != nil {
		return Identity{}, fmt.Errorf("read identity of %s: %w", path, err)
	}
	uuid := strings.TrimSpace(string(data))
	if !validUUID(uuid) {
		return Identity{}, fmt.Errorf("identity file in %s holds %q, not a UUID", path, uuid)
	}
	return Identity{UUID: uuid, Dev: st.Dev, Ino: st.Ino}, nil
}

// createIdentity writes a fresh UUID into root unless one exists, and reports the one that wins.
// The UUID is written and fsynced under a temporary name, then hard-linked into place: link fails
// with EEXIST if another unit got there first, so exactly one UUID is ever published and no reader
// can see a half-written file (O_CREAT|O_EXCL followed by a write could be read in between).
func createIdentity(root string) error {
	idPath := filepath.Join(root, IdentityFile)
	if _, err := os.Stat(idPath); err == nil {
		return nil
	}
	uuid, err := newUUID()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(root, ".tmp-id-*")
	if err != nil {
		return fmt.Errorf("create identity temp in %s: %w", root, err)
	}
	defer os.Remove(tmp.Name())
	if err := writeAndClose(tmp, []byte(uuid+"\n")); err != nil {
		return err
	}
	if err := publishNoReplace(tmp.Name(), idPath); err != nil {
		return err
	}
	return syncDir(root)
}

func writeAndClose(f *os.File, data []byte) error {
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Chmod(0o644)
	}
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("write %s: %w", f.Name(), werr)
	}
	return nil
}

// publishNoReplace makes src visible as dst unless dst exists (then it is not an error: the other
// writer won). link(2) works on NFS; renameat2(RENAME_NOREPLACE) covers filesystems without links.
func publishNoReplace(src, dst string) error {
	err := os.Link(src, dst)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return nil
	}
	rerr := unix.Renameat2(unix.AT_FDCWD, src, unix.AT_FDCWD, dst, unix.RENAME_NOREPLACE)
	if rerr == nil || errors.Is(rerr, unix.EEXIST) {
		return nil
	}
	return fmt.Errorf("publish %s: link: %v; rename: %w", dst, err, rerr)
}

func newUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random uuid: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}

func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdef", c) {
				return false
			}
		}
	}
	return true
}

// checkIdentity compares what is at path now with expected, most specific problem first.
func checkIdentity(path string, expected Identity) error {
	if expected.Mounted {
		mounted, err := IsMountPoint(path)
		if err != nil {
			return err
		}
		if !mounted {
			return fmt.Errorf("%w: %s is no longer a mount point", ErrNotMounted, path)
		}
	}
	got, err := readIdentityFile(path) // the mount state was checked above if it matters
	if err != nil {
		if errors.Is(err, ErrNoIdentity) || errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: expected %s: %w", ErrIdentityChanged, expected.UUID, err)
		}
		return err
	}
	if got.UUID != expected.UUID {
		return fmt.Errorf("%w: %s holds %s, expected %s", ErrIdentityChanged, path, got.UUID, expected.UUID)
	}
	if got.Dev != expected.Dev || got.Ino != expected.Ino {
		return fmt.Errorf("%w: %s is now %s, expected %s", ErrDeviceChanged, path, got, expected)
	}
	return nil
}
