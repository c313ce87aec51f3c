package storage

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
)

func BenchmarkTryLockRelease(b *testing.B) {
	path := filepath.Join(b.TempDir(), "install.lock")
	owner := Owner{Unit: "concourse-ci/0", Purpose: "benchmark"}
	for b.Loop() {
		held, err := TryLock(path, owner)
		if err != nil {
			b.Fatal(err)
		}
		if err := held.Release(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLockReleaseUncontended(b *testing.B) {
	path := filepath.Join(b.TempDir(), "install.lock")
	ctx := context.Background()
	for b.Loop() {
		held, err := Lock(ctx, path, Owner{Unit: "concourse-ci/0"})
		if err != nil {
			b.Fatal(err)
		}
		if err := held.Release(); err != nil {
			b.Fatal(err)
		}
	}
}

// The steady state of every hook: the release is there already.
func BenchmarkEnsureReleaseFastPath(b *testing.B) {
	for _, unit := range []string{"", "concourse-ci/0"} {
		name := "no-unit"
		if unit != "" {
			name = "with-unit-hold"
		}
		b.Run(name, func(b *testing.B) {
			r, err := Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			calls := 0
			req := EnsureRequest{Version: "7.14.3", Arch: "amd64", Owner: Owner{Unit: unit}, Fill: fillFiles("7.14.3", 2, &calls)}
			ctx := context.Background()
			for b.Loop() {
				if _, _, _, err := r.EnsureRelease(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
			if calls != 1 {
				b.Fatalf("filled %d times", calls)
			}
		})
	}
}

// A full install of a small tree: lock, staging, fsync, seal, rename, marker.
func BenchmarkEnsureReleaseInstall(b *testing.B) {
	r, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	calls := 0
	i := 0
	for b.Loop() {
		i++
		v := "1.0." + strconv.Itoa(i)
		if _, _, _, err := r.EnsureRelease(context.Background(), EnsureRequest{Version: v, Arch: "amd64", Fill: fillFiles(v, 8, &calls)}); err != nil {
			b.Fatal(err)
		}
	}
}
