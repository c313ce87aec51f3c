package machine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Destroy powers the machine off (killing it if it does not stop within the provider's StopTimeout
// or ctx), unmounts its root, gives its address back and removes its directory. Calling it again,
// or on a machine that failed half-way through booting, is safe.
func (m *Machine) Destroy(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.destroyed {
		return nil
	}
	if err := teardown(ctx, &m.rec, m.nspawnDone, m.stopTimeout); err != nil {
		return fmt.Errorf("destroy machine %s: %w", m.rec.ID, err)
	}
	m.destroyed = true
	return nil
}

// Open returns the running machine id recorded under stateDir, for a process other than the one
// that provisioned it (a simulator CLI invoked again). Its Destroy works as the original's would.
func Open(stateDir, id string) (*Machine, error) {
	rec, err := loadRecord(filepath.Join(stateDir, dirName(id)))
	if err != nil {
		return nil, fmt.Errorf("open machine %s: %w", id, err)
	}
	if !rec.Leader.alive() {
		return nil, fmt.Errorf("open machine %s: not running", id)
	}
	return &Machine{rec: rec, stopTimeout: 20 * time.Second}, nil
}

// Cleanup tears down every machine recorded under stateDir: leftovers of a crashed test or
// simulator. Directories without a record (a crash before the first save) are removed if nothing
// is mounted on them.
func Cleanup(ctx context.Context, stateDir string) error {
	entries, err := os.ReadDir(stateDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cleanup %s: %w", stateDir, err)
	}
	var errs []error
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(stateDir, e.Name())
		rec, err := loadRecord(dir)
		if err != nil {
			rec = record{Dir: dir, Mounted: true}
		}
		if err := teardown(ctx, &rec, nil, 10*time.Second); err != nil {
			errs = append(errs, fmt.Errorf("cleanup %s: %w", dir, err))
		}
	}
	return errors.Join(errs...)
}

// teardown undoes a record's pieces in reverse order. Each step checks what is there, so it can
// run on a machine in any state, and again after a failure.
func teardown(ctx context.Context, rec *record, nspawnDone <-chan struct{}, stopTimeout time.Duration) error {
	if err := stopContainer(ctx, rec, nspawnDone, stopTimeout); err != nil {
		return err
	}
	if err := removeCgroups(rec.Cgroups); err != nil {
		return err
	}
	if !ownsDir(rec) {
		// A later machine of the same id took the directory over (Provision cleared this one when
		// it died): its mounts and files are not ours to remove.
		rec.Mounted, rec.IncomingMounted = false, false
	}
	if rec.Mounted {
		if err := unmountRoot(rec.root()); err != nil {
			return err
		}
		rec.Mounted = false
	}
	if rec.IncomingMounted {
		if err := unmountIncoming(rec); err != nil {
			return err
		}
		rec.IncomingMounted = false
	}
	if rec.Name != "" {
		// nspawn removes these itself when it exits in order; after a SIGKILL it cannot.
		_ = os.RemoveAll(filepath.Join("/run/systemd/nspawn/propagate", rec.Name))
		if _, err := os.Stat(filepath.Join("/sys/class/net", "vb-"+rec.Name)); err == nil {
			if err := ipCommand(ctx, "link", "del", "vb-"+rec.Name); err != nil {
				return err
			}
		}
	}
	// Removing a tree with a bind mount left in it would delete the bound host files: refuse.
	if mounts, err := mountsBelow(rec.Dir); ownsDir(rec) && (err != nil || len(mounts) > 0) {
		return fmt.Errorf("not removing %s: mounts remain below it %v: %w", rec.Dir, mounts, err)
	}
	if ownsDir(rec) {
		if err := os.RemoveAll(rec.Dir); err != nil {
			return fmt.Errorf("remove machine dir: %w", err)
		}
	}
	if rec.Address != "" {
		if err := rec.Network.release(ctx, rec.Address, rec.leaseOwner()); err != nil {
			return err
		}
	}
	return nil
}

// ownsDir reports whether rec.Dir still belongs to the machine rec describes: its record there
// names this machine, or there is no record and rec names no machine (Cleanup of a directory a
// crash left before its first record).
func ownsDir(rec *record) bool {
	onDisk, err := loadRecord(rec.Dir)
	if err != nil {
		return rec.Name == ""
	}
	return onDisk.Name == rec.Name
}

// stopContainer asks nspawn for an orderly poweroff (SIGTERM makes it send the container's systemd
// SIGRTMIN+3), waits for it to exit, and kills nspawn and the container's PID 1 if it does not.
// Killing PID 1 of a pid namespace kills everything in it, commands started by Exec included.
func stopContainer(ctx context.Context, rec *record, nspawnDone <-chan struct{}, stopTimeout time.Duration) error {
	nspawnAlive, leaderAlive := rec.Nspawn.alive(), rec.Leader.alive()
	if !nspawnAlive && !leaderAlive {
		return nil
	}
	if nspawnAlive {
		_ = syscall.Kill(rec.Nspawn.PID, syscall.SIGTERM)
		graceCtx, cancel := context.WithTimeout(ctx, stopTimeout)
		exited := waitExit(graceCtx, rec.Nspawn, nspawnDone)
		cancel()
		if exited && !rec.Leader.alive() {
			return nil
		}
	}
	for _, p := range []proc{rec.Leader, rec.Nspawn} {
		if p.alive() {
			_ = syscall.Kill(p.PID, syscall.SIGKILL)
		}
	}
	if !waitExit(ctx, rec.Leader, nil) || !waitExit(ctx, rec.Nspawn, nspawnDone) {
		return fmt.Errorf("machine %s still running after SIGKILL: %w", rec.ID, ctx.Err())
	}
	return nil
}

// waitExit blocks until p has exited or ctx ends, reporting whether it exited. For our own child
// the reaper's done channel says so; for any other process a pidfd becomes readable on exit.
func waitExit(ctx context.Context, p proc, done <-chan struct{}) bool {
	if done != nil {
		select {
		case <-done:
			return true
		case <-ctx.Done():
			return false
		}
	}
	if !p.alive() {
		return true
	}
	fd, err := unix.PidfdOpen(p.PID, 0)
	if err != nil {
		return !p.alive()
	}
	defer unix.Close(fd)
	for p.alive() { // a pid reused between alive() and PidfdOpen fails this check at once
		wait := 500 * time.Millisecond // bounds how late a cancelled ctx is noticed
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			wait = time.Until(deadline)
		}
		if ctx.Err() != nil || wait <= 0 {
			return false
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, int(wait.Milliseconds())+1); err != nil && !errors.Is(err, unix.EINTR) {
			return !p.alive()
		}
	}
	return true
}

// mountsBelow lists this namespace's mount points at or under dir.
func mountsBelow(dir string) ([]string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	var found []string
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) > 4 && within(unescapeMount(fields[4]), dir) {
			found = append(found, fields[4])
		}
	}
	return found, nil
}

// unescapeMount undoes mountinfo's octal escapes (space, tab, newline, backslash).
func unescapeMount(s string) string {
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}

// unmountRoot unmounts the overlay; a lazy detach covers a straggler still holding it open.
func unmountRoot(root string) error {
	err := unix.Unmount(root, 0)
	switch {
	case err == nil, errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
		return nil // EINVAL: not a mount point (never mounted, or already gone)
	case errors.Is(err, unix.EBUSY):
		if err := unix.Unmount(root, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("detach overlay %s: %w", root, err)
		}
		return nil
	default:
		return fmt.Errorf("unmount overlay %s: %w", root, err)
	}
}
