package installer_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/installer"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/releasetest"
)

// TestInstallDiskFull unpacks 8 MiB into a 4 MiB tmpfs staging directory.
func TestInstallDiskFull(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	f := newFixture(t, releasetest.TarballOptions{Version: "7.3.0", PadBytes: 8 << 20})
	box := newSandbox(t)
	if err := unix.Mount("tmpfs", box.staging, "tmpfs", 0, "size=4m"); err != nil {
		t.Skipf("cannot mount tmpfs here: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(box.staging, 0); err != nil {
			t.Errorf("unmount %s: %v", box.staging, err)
		}
	})

	_, err := installer.Install(context.Background(), f.request("7.3.0"), box.staging)
	var full *installer.DiskFullError
	if !errors.As(err, &full) {
		t.Fatalf("err = %v, want DiskFullError", err)
	}
	if asType[*installer.ArtifactError](err) {
		t.Errorf("a full disk is blamed on the artifact (it would be remembered as rejected): %v", err)
	}
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "disk full while unpacking concourse/resource-types/") ||
		!strings.Contains(err.Error(), box.staging) {
		t.Errorf("error %q does not say which entry filled which directory", err)
	}
	box.assertEmptyStaging(t)
	box.assertUntouched(t)
}
