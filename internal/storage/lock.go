package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ErrLocked is returned by TryLock when another holder has the lock.
var ErrLocked = errors.New("lock is held by another process")

// Owner describes a lock holder, written next to the lock so that waiters can say who they wait for.
// It is informational only: the kernel lock decides, never this file.
type Owner struct {
	Unit    string    `json:"unit"`
	PID     int       `json:"pid"`
	Host    string    `json:"host"`
	Since   time.Time `json:"since"`
	Purpose string    `json:"purpose"`
}

// String reads like "concourse-ci/0 (pid 123 on host-a, since 12:00:01) downloading 7.14.3".
func (o Owner) String() string {
	who := o.Unit
	if who == "" {
		who = "another process"
	}
	if o.PID == 0 {
		return who // no owner record (yet): nothing more is known
	}
	s := fmt.Sprintf("%s (pid %d on %s, since %s)", who, o.PID, o.Host, o.Since.Local().Format(time.TimeOnly))
	if o.Purpose != "" {
		s += " " + o.Purpose
	}
	return s
}

// OwnerPath is where the owner of the lock at lockPath is recorded: "x.lock" -> "x.owner".
func OwnerPath(lockPath string) string {
	return strings.TrimSuffix(lockPath, ".lock") + ".owner"
}

// ReadOwner returns the recorded owner of the lock at lockPath. The record can be stale (a killed
// holder cannot clear it) or missing (between holders); fs.ErrNotExist means no record.
func ReadOwner(lockPath string) (Owner, error) {
	data, err := os.ReadFile(OwnerPath(lockPath))
	if err != nil {
		return Owner{}, fmt.Errorf("read lock owner: %w", err)
	}
	var o Owner
	if err := json.Unmarshal(data, &o); err != nil {
		return Owner{}, fmt.Errorf("parse lock owner %s: %w", OwnerPath(lockPath), err)
	}
	return o, nil
}

// Held is an acquired exclusive lock. Release it exactly once; further calls do nothing.
type Held struct {
	path     string
	recorded bool // an owner record was written and must be cleared
	once     sync.Once
	file     *os.File
	err      error
}

// Path is the lock file this Held locks.
func (h *Held) Path() string { return h.path }

// Release clears the owner record (while still holding, so it never erases the next holder's record)
// and drops the lock.
func (h *Held) Release() error {
	h.once.Do(func() {
		var rmErr error
		if h.recorded {
			rmErr = os.Remove(OwnerPath(h.path))
		}
		if errors.Is(rmErr, fs.ErrNotExist) {
			rmErr = nil
		}
		unlock := unix.Flock_t{Type: unix.F_UNLCK, Whence: 0}
		unErr := unix.FcntlFlock(h.file.Fd(), unix.F_OFD_SETLK, &unlock)
		closeErr := h.file.Close() // closing the last fd of the description drops the lock anyway
		h.err = errors.Join(rmErr, unErr, closeErr)
		if h.err != nil {
			h.err = fmt.Errorf("release lock %s: %w", h.path, h.err)
		}
	})
	return h.err
}

// TryLock takes the exclusive lock at path without waiting; it returns ErrLocked if it is held.
func TryLock(path string, owner Owner) (*Held, error) {
	f, err := openLockFile(path)
	if err != nil {
		return nil, err
	}
	if err := setLock(f, false); err != nil {
		f.Close()
		if isBusy(err) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return claim(path, f, &owner)
}

// Lock takes the exclusive lock at path, waiting as long as ctx allows. See LockNotify.
func Lock(ctx context.Context, path string, owner Owner) (*Held, error) {
	return LockNotify(ctx, path, owner, nil)
}

// LockNotify takes the exclusive lock at path (an fcntl open-file-description lock: per open file,
// so two goroutines of one process exclude each other too, and the kernel drops it when the holder
// dies, on NFS when the client's lease ends). If the lock is busy it calls onWait (if not nil) once
// with the recorded owner and then sleeps in the kernel until the lock is free: no polling.
//
// Cancellation: Go installs every signal handler with SA_RESTART, and the kernel restarts a
// F_OFD_SETLKW interrupted by such a signal (signal(7)), so a waiting thread cannot be interrupted
// from Go (checked: a thread blocked in F_OFD_SETLKW stays blocked through repeated tgkill SIGURG). Instead each attempt waits on its own freshly opened file in a goroutine that owns it.
// On ctx.Done, Lock returns ctx.Err() at once and abandons that goroutine: when the kernel later
// grants it the lock, it closes the file, which drops the lock immediately. Until the holder lets go,
// the abandoned wait costs one blocked OS thread and a queued request; it never holds the lock
// beyond that instant, and it never touches the owner record.
func LockNotify(ctx context.Context, path string, owner Owner, onWait func(Owner)) (*Held, error) {
	return lock(ctx, path, &owner, onWait)
}

// lock is LockNotify; a nil owner writes no owner record (private locks nobody waits on visibly).
func lock(ctx context.Context, path string, owner *Owner, onWait func(Owner)) (*Held, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for {
		f, err := openLockFile(path)
		if err != nil {
			return nil, err
		}
		err = setLock(f, false)
		if isBusy(err) {
			if onWait != nil {
				o, _ := ReadOwner(path) // best effort: a missing record must not stop the wait
				onWait(o)
			}
			err = waitLock(ctx, f)
			if ctx.Err() != nil && err == ctx.Err() {
				return nil, err // f now belongs to the abandoned waiter
			}
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		// The path may have been replaced while we waited (root swapped, file deleted by hand):
		// a lock on an unlinked inode excludes nobody, so retry on whatever the path is now.
		if same, err := stillAtPath(f, path); err != nil || !same {
			f.Close()
			if err != nil {
				return nil, err
			}
			continue
		}
		return claim(path, f, owner)
	}
}

// waitLock blocks in F_OFD_SETLKW on f in a goroutine so that ctx can end the wait. On cancel the
// goroutine keeps f and closes it once its call returns, releasing a lock granted too late.
func waitLock(ctx context.Context, f *os.File) error {
	result := make(chan error) // unbuffered: a send succeeds only while LockNotify still listens
	abandoned := make(chan struct{})
	go func() {
		err := setLock(f, true)
		select {
		case result <- err:
		case <-abandoned:
			f.Close()
		}
	}()
	select {
	case err := <-result:
		return err
	case <-ctx.Done():
		close(abandoned)
		return ctx.Err()
	}
}

func setLock(f *os.File, wait bool) error {
	cmd := unix.F_OFD_SETLK
	if wait {
		cmd = unix.F_OFD_SETLKW
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: 0, Len: 0} // whole file
	for {
		err := unix.FcntlFlock(f.Fd(), cmd, &lk)
		if err != unix.EINTR {
			return err
		}
	}
}

func isBusy(err error) bool {
	return errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES)
}

func openLockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	return f, nil
}

func stillAtPath(f *os.File, path string) (bool, error) {
	var held, now unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &held); err != nil {
		return false, fmt.Errorf("fstat lock %s: %w", path, err)
	}
	if err := unix.Stat(path, &now); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, fmt.Errorf("stat lock %s: %w", path, err)
	}
	return held.Dev == now.Dev && held.Ino == now.Ino, nil
}

// claim records owner (if not nil) for waiters and wraps the locked file.
func claim(path string, f *os.File, owner *Owner) (*Held, error) {
	if owner == nil {
		return &Held{path: path, file: f}, nil
	}
	data, err := json.Marshal(completeOwner(*owner))
	if err == nil {
		err = replaceFile(OwnerPath(path), data, 0o644, false)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("record owner of %s: %w", path, err)
	}
	return &Held{path: path, file: f, recorded: true}, nil
}

func completeOwner(o Owner) Owner {
	if o.PID == 0 {
		o.PID = os.Getpid()
	}
	if o.Host == "" {
		o.Host, _ = os.Hostname()
	}
	if o.Since.IsZero() {
		o.Since = time.Now().UTC().Truncate(time.Second)
	}
	return o
}
