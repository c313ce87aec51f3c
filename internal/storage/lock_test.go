package storage

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func holdLockInHelper(t *testing.T, lockPath, unit, purpose string) (*helper, int) {
	t.Helper()
	h := startHelper(t, "hold-lock", []string{"LOCK_PATH=" + lockPath, "UNIT=" + unit, "PURPOSE=" + purpose})
	pidText, ok := strings.CutPrefix(h.line(t), "locked ")
	if !ok {
		t.Fatalf("helper did not lock")
	}
	pid, err := strconv.Atoi(pidText)
	if err != nil {
		t.Fatal(err)
	}
	return h, pid
}

func TestLockRecordsAndClearsOwner(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "install.lock")
	held, err := Lock(context.Background(), path, Owner{Unit: "concourse-ci/0", Purpose: "downloading 7.14.3"})
	if err != nil {
		t.Fatal(err)
	}
	o, err := ReadOwner(path)
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if o.Unit != "concourse-ci/0" || o.PID != os.Getpid() || o.Host != host || o.Since.IsZero() || o.Purpose != "downloading 7.14.3" {
		t.Errorf("owner = %+v", o)
	}
	if !strings.Contains(o.String(), "concourse-ci/0 (pid "+strconv.Itoa(os.Getpid())) {
		t.Errorf("owner string %q", o.String())
	}
	if err := held.Release(); err != nil {
		t.Fatal(err)
	}
	if err := held.Release(); err != nil {
		t.Errorf("second release: %v", err)
	}
	if _, err := ReadOwner(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("owner after release: %v, want not exist", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("lock file must stay: %v", err)
	}
}

// OFD locks belong to an open file, so goroutines of one process exclude each other too.
func TestTryLockExcludesWithinProcess(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "install.lock")
	first, err := TryLock(path, Owner{Unit: "a/0"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := TryLock(path, Owner{Unit: "b/0"}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second TryLock: %v, want ErrLocked", err)
	}
	if o, _ := ReadOwner(path); o.Unit != "a/0" {
		t.Errorf("failed TryLock changed the owner record to %+v", o)
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	second, err := TryLock(path, Owner{Unit: "b/0"})
	if err != nil {
		t.Fatalf("TryLock after release: %v", err)
	}
	second.Release()
}

// The waiter is woken by the kernel when the other process lets go: the release is triggered from
// onWait, so the test proves waiting-then-waking without any timing.
func TestLockWaiterWokenWhenHolderReleases(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "install.lock")
	h, pid := holdLockInHelper(t, path, "concourse-ci/1", "downloading 7.14.3")
	var seen Owner
	held, err := LockNotify(context.Background(), path, Owner{Unit: "concourse-ci/0"}, func(o Owner) {
		seen = o
		h.stdin.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	if seen.PID != pid || seen.Unit != "concourse-ci/1" || seen.Purpose != "downloading 7.14.3" {
		t.Errorf("onWait saw %+v, want helper pid %d", seen, pid)
	}
	if o, err := ReadOwner(path); err != nil || o.PID != os.Getpid() {
		t.Errorf("owner after acquiring = %+v, %v", o, err)
	}
}

func TestLockCancelledWhileOtherProcessHolds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ctx  func(onWait <-chan struct{}) (context.Context, context.CancelFunc)
		want error
	}{
		{"cancel", func(onWait <-chan struct{}) (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			go func() { <-onWait; cancel() }()
			return ctx, cancel
		}, context.Canceled},
		{"timeout", func(<-chan struct{}) (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "install.lock")
			holder, _ := holdLockInHelper(t, path, "concourse-ci/1", "downloading")
			waiting := make(chan struct{})
			ctx, cancel := tt.ctx(waiting)
			defer cancel()
			held, err := LockNotify(ctx, path, Owner{Unit: "concourse-ci/0"}, func(Owner) { close(waiting) })
			if !errors.Is(err, tt.want) || held != nil {
				t.Fatalf("Lock = %v, %v; want %v", held, err, tt.want)
			}
			// The holder lets go; the abandoned wait may get the lock for an instant and must drop
			// it: another process waiting for the lock has to get it.
			holder.stdin.Close()
			if err := holder.wait(); err != nil {
				t.Fatalf("holder: %v", err)
			}
			next := startHelper(t, "lock-wait", []string{"LOCK_PATH=" + path, "LOCK_TIMEOUT=30s"})
			if got := next.line(t); got != "locked" {
				t.Fatalf("next locker said %q", got)
			}
			if err := next.wait(); err != nil {
				t.Fatalf("next locker: %v", err)
			}
			if o, err := ReadOwner(path); err == nil {
				t.Errorf("owner record left behind: %+v", o)
			}
		})
	}
}

func TestLockOfKilledHolderIsFreed(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "install.lock")
	h, pid := holdLockInHelper(t, path, "concourse-ci/2", "unpacking")
	if _, err := TryLock(path, Owner{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("TryLock while held: %v", err)
	}
	h.kill(t)
	if o, err := ReadOwner(path); err != nil || o.PID != pid {
		t.Errorf("stale owner record = %+v, %v; want the dead pid %d", o, err, pid)
	}
	held, err := TryLock(path, Owner{Unit: "concourse-ci/0"})
	if err != nil {
		t.Fatalf("lock of a killed holder not freed: %v", err)
	}
	defer held.Release()
	if o, _ := ReadOwner(path); o.PID != os.Getpid() {
		t.Errorf("owner not rewritten: %+v", o)
	}
}

// A lock file replaced while we waited on the old inode is not a lock: Lock must retry on the new one.
func TestLockRetriesWhenFileReplaced(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "install.lock")
	first, err := TryLock(path, Owner{})
	if err != nil {
		t.Fatal(err)
	}
	var holderOfNew *Held
	held, err := LockNotify(context.Background(), path, Owner{}, func(Owner) {
		// Move the held file away, create a fresh one and hold it too, then free the old one.
		if err := os.Rename(path, path+".old"); err != nil {
			t.Error(err)
		}
		holderOfNew, err = TryLock(path, Owner{})
		if err != nil {
			t.Error(err)
		}
		first.Release()
		holderOfNew.Release()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	if same, err := stillAtPath(held.file, path); err != nil || !same {
		t.Errorf("lock is on a file no longer at %s", path)
	}
}

func TestOwnerString(t *testing.T) {
	t.Parallel()
	since := time.Date(2026, 1, 2, 12, 0, 1, 0, time.Local)
	tests := []struct {
		owner Owner
		want  string
	}{
		{Owner{Unit: "concourse-ci/0", PID: 123, Host: "m1", Since: since, Purpose: "downloading 7.14.3"},
			"concourse-ci/0 (pid 123 on m1, since 12:00:01) downloading 7.14.3"},
		{Owner{PID: 9, Host: "m2", Since: since}, "another process (pid 9 on m2, since 12:00:01)"},
		{Owner{}, "another process"},
	}
	for _, tt := range tests {
		if got := tt.owner.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}
