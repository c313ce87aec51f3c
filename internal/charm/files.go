package charm

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/storage"
)

// writeFile replaces path with data when it differs, with mode and, for gid >= 0, that group:
// secrets are 0600 root, or 0640 to the web's group. It says whether the content changed.
func writeFile(path string, data []byte, mode os.FileMode, gid int) (bool, error) {
	old, err := os.ReadFile(path)
	changed := err != nil || !bytes.Equal(old, data)
	if changed {
		if err := storage.WriteFileAtomic(path, data, mode); err != nil {
			return false, fmt.Errorf("write %s: %w", path, err)
		}
	}
	// Mode and owner are enforced on every pass: an operator's chmod must not stay.
	if err := os.Chmod(path, mode); err != nil {
		return changed, fmt.Errorf("chmod %s: %w", path, err)
	}
	if gid >= 0 {
		if err := os.Chown(path, 0, gid); err != nil {
			return changed, fmt.Errorf("chown %s: %w", path, err)
		}
	}
	return changed, nil
}

// privateDir creates dir with mode (and group for gid >= 0), correcting both if it exists.
func privateDir(dir string, mode os.FileMode, gid int) error {
	if err := os.MkdirAll(dir, mode); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		return fmt.Errorf("chmod %s: %w", dir, err)
	}
	if gid >= 0 {
		if err := os.Chown(dir, 0, gid); err != nil {
			return fmt.Errorf("chown %s: %w", dir, err)
		}
	}
	return nil
}

// ensureSystemUser creates a system user and its group (no home, no login) unless it exists, and
// returns its gid. useradd is the distribution's tool for this; nothing secret is on its argv.
func ensureSystemUser(name string) (int, error) {
	if u, err := user.Lookup(name); err == nil {
		return strconv.Atoi(u.Gid)
	}
	out, err := exec.Command("useradd", "--system", "--user-group", "--no-create-home",
		"--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name).CombinedOutput()
	if err != nil {
		return -1, fmt.Errorf("useradd %s: %v: %s", name, err, bytes.TrimSpace(out))
	}
	u, err := user.Lookup(name)
	if err != nil {
		return -1, fmt.Errorf("look up %s after useradd: %w", name, err)
	}
	return strconv.Atoi(u.Gid)
}
