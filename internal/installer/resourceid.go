package installer

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// FileStamp identifies one version of a file on one machine without reading it: any write or
// replacement changes the inode, the size or the change time. It is no identity across machines
// (each unit has its own copy of a Juju resource): a digest is, and the stamp only says when a
// digest computed earlier still holds.
type FileStamp struct {
	Dev      uint64 `json:"dev"`
	Ino      uint64 `json:"ino"`
	Size     int64  `json:"size"`
	ModNs    int64  `json:"mtime-ns"`
	ChangeNs int64  `json:"ctime-ns"`
}

// StampFile returns the stamp of the file at path.
func StampFile(path string) (FileStamp, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return FileStamp{}, fmt.Errorf("stat %s: %w", path, err)
	}
	return stampFromStat(&st), nil
}

func stampOf(f *os.File) (FileStamp, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return FileStamp{}, fmt.Errorf("stat %s: %w", f.Name(), err)
	}
	return stampFromStat(&st), nil
}

func stampFromStat(st *unix.Stat_t) FileStamp {
	return FileStamp{Dev: uint64(st.Dev), Ino: st.Ino, Size: st.Size,
		ModNs: st.Mtim.Nano(), ChangeNs: st.Ctim.Nano()}
}

// HashFile returns the sha256 (hex) of the file at path and the stamp of the very file it read. It
// reads the whole file: callers keep the result with the stamp and hash again only when the stamp
// changes.
func HashFile(path string) (FileStamp, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return FileStamp{}, "", fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	before, err := stampOf(f)
	if err != nil {
		return FileStamp{}, "", err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return FileStamp{}, "", fmt.Errorf("read %s: %w", path, err)
	}
	after, err := stampOf(f)
	if err != nil {
		return FileStamp{}, "", err
	}
	if after != before {
		return FileStamp{}, "", fmt.Errorf("hash %s: the file changed while it was read", path)
	}
	return before, hex.EncodeToString(h.Sum(nil)), nil
}
