package service

import (
	"fmt"
	"os"
	"syscall"
)

// checkPrivateDir fails unless dir is owned by this process's user and closed to everyone
// else (no group or other permission bits).
func checkPrivateDir(dir string) error {
	info, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("check %s: %w", dir, err)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s is mode %04o, want 0700", dir, perm)
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%s is owned by uid %d, want %d", dir, st.Uid, os.Geteuid())
	}
	return nil
}
