package storage

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// IsMountPoint reports whether path is the root of a mount. A differing st_dev from the parent (or
// being "/") settles it; otherwise /proc/self/mountinfo decides, because a bind mount of a directory
// from the same filesystem has the same st_dev as its parent.
func IsMountPoint(path string) (bool, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return false, fmt.Errorf("absolute path of %s: %w", path, err)
	}
	if resolved, err := filepath.EvalSymlinks(abs); err == nil {
		abs = resolved
	}
	var self, parent unix.Stat_t
	if err := unix.Stat(abs, &self); err != nil {
		return false, fmt.Errorf("stat %s: %w", abs, err)
	}
	if err := unix.Stat(filepath.Dir(abs), &parent); err != nil {
		return false, fmt.Errorf("stat parent of %s: %w", abs, err)
	}
	if self.Dev != parent.Dev || self.Ino == parent.Ino {
		return true, nil
	}
	listed, err := inMountinfo("/proc/self/mountinfo", abs)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // no /proc: the st_dev answer is all we can know
	}
	return listed, err
}

// inMountinfo reports whether mountPoint is listed as a mount point (field 5) in a mountinfo file.
func inMountinfo(file, mountPoint string) (bool, error) {
	f, err := os.Open(file)
	if err != nil {
		return false, fmt.Errorf("read mount table: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 5 && unescapeMountinfo(fields[4]) == mountPoint {
			return true, nil
		}
	}
	if err := sc.Err(); err != nil {
		return false, fmt.Errorf("read mount table %s: %w", file, err)
	}
	return false, nil
}

// unescapeMountinfo undoes the kernel's octal escaping of space, tab, newline and backslash.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
