package machine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// RootfsEnv names the environment variable that overrides DefaultRootfsDir.
const RootfsEnv = "JUJUSIM_ROOTFS"

// rootfsRecipe is what the cached image is built from. It is written into the completion marker, so
// changing the recipe makes every cache built from an older one count as incomplete and be redone.
const rootfsRecipe = "debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus bookworm"

const rootfsMarker = ".jujusim-rootfs-complete"

// DefaultRootfsDir is where the machine image is cached unless JUJUSIM_ROOTFS says otherwise.
func DefaultRootfsDir() string {
	if dir := os.Getenv(RootfsEnv); dir != "" {
		return dir
	}
	return "/var/cache/concourse-ci-machine/rootfs-bookworm"
}

// RootfsComplete reports whether dir holds a rootfs finished with the current recipe.
func RootfsComplete(dir string) bool {
	got, err := os.ReadFile(filepath.Join(dir, rootfsMarker))
	return err == nil && string(got) == markerContent()
}

func markerContent() string { return rootfsRecipe + "\n" }

// EnsureRootfs makes sure cacheDir holds a complete Debian rootfs to boot machines from, building it
// with debootstrap when it does not. Concurrent callers, in this or other processes, wait on a lock
// file next to cacheDir: exactly one builds, the rest reuse. A half-built tree (a crash mid-build, or
// an older recipe) is removed and redone. The tree is built under a temporary name, the marker is
// written last, then the tree is renamed into place, so cacheDir never holds a partial image.
func EnsureRootfs(ctx context.Context, cacheDir string) error {
	if RootfsComplete(cacheDir) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(cacheDir), 0o755); err != nil {
		return fmt.Errorf("rootfs cache parent: %w", err)
	}
	unlock, err := lockFile(ctx, cacheDir+".lock")
	if err != nil {
		return fmt.Errorf("lock rootfs cache %s: %w", cacheDir, err)
	}
	defer unlock()
	if RootfsComplete(cacheDir) { // built by whoever held the lock before us
		return nil
	}
	return buildRootfs(ctx, cacheDir)
}

func buildRootfs(ctx context.Context, cacheDir string) error {
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return fmt.Errorf("build rootfs: debootstrap not installed (run .ci/machines.sh): %w", err)
	}
	partial := cacheDir + ".partial"
	for _, stale := range []string{partial, cacheDir} {
		// debootstrap mounts /proc and /sys inside its target; a killed run leaves them there,
		// and removing through them must never happen.
		if err := unmountBelow(stale); err != nil {
			return err
		}
		if err := os.RemoveAll(stale); err != nil {
			return fmt.Errorf("remove incomplete rootfs %s: %w", stale, err)
		}
	}
	recipe := strings.Fields(rootfsRecipe)
	out, err := exec.CommandContext(ctx, recipe[0], append(recipe[1:], partial)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("debootstrap into %s: %w\n%s", partial, err, tail(out, 2000))
	}
	if err := trimRootfs(partial); err != nil {
		return err
	}
	if err := writeFileSync(filepath.Join(partial, rootfsMarker), []byte(markerContent()), 0o644); err != nil {
		return fmt.Errorf("write rootfs marker: %w", err)
	}
	if err := os.Rename(partial, cacheDir); err != nil {
		return fmt.Errorf("move rootfs into place: %w", err)
	}
	return nil
}

// trimRootfs removes what debootstrap copies from the build host or leaves behind, so no machine
// inherits the host's identity and the image stays small. Each machine writes its own identity.
// unmountBelow detaches every mount at or under dir, deepest first, and checks none is left.
func unmountBelow(dir string) error {
	mounts, err := mountsBelow(dir)
	if err != nil {
		return err
	}
	for _, m := range slices.Backward(mounts) {
		_ = unix.Unmount(unescapeMount(m), unix.MNT_DETACH)
	}
	if left, err := mountsBelow(dir); err != nil || len(left) > 0 {
		return fmt.Errorf("mounts remain under %s: %v %w", dir, left, err)
	}
	return nil
}

func trimRootfs(root string) error {
	for _, name := range []string{"etc/hostname", "etc/machine-id", "var/lib/dbus/machine-id"} {
		if err := os.Remove(filepath.Join(root, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("trim rootfs: %w", err)
		}
	}
	debs, err := filepath.Glob(filepath.Join(root, "var/cache/apt/archives/*.deb"))
	if err != nil {
		return fmt.Errorf("trim rootfs: %w", err)
	}
	for _, deb := range debs {
		if err := os.Remove(deb); err != nil {
			return fmt.Errorf("trim rootfs: %w", err)
		}
	}
	return nil
}

// lockFile takes an exclusive OFD lock on path, waiting in the kernel (no polling) until it is free
// or ctx ends. The returned func releases it.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	lock := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0}
	done := make(chan error, 1)
	go func() { done <- unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLKW, &lock) }()
	select {
	case err := <-done:
		if err != nil {
			f.Close()
			return nil, err
		}
		return func() { f.Close() }, nil
	case <-ctx.Done():
		// Closing the descriptor does not interrupt the waiting fcntl; the goroutine ends when the
		// lock is granted (and then dropped by the close) or the process exits.
		go func() {
			if <-done == nil {
				f.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

func writeFileSync(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// tail keeps the last n bytes of command output for error messages.
func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
