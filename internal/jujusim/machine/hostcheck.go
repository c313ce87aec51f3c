package machine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// HostSupport reports why this host cannot run machines, or nil if it can: root, the tools, an
// overlay mount, and bridge + veth links in a network namespace. It only probes the host's
// prerequisites, none of this package's boot code, so a bug in booting still fails loudly where
// the host is able; tests use it to skip (saying why) on hosts that are not.
func HostSupport(ctx context.Context) error {
	if os.Geteuid() != 0 {
		return errors.New("not root: machines mount overlays, create links and run systemd-nspawn")
	}
	for _, tool := range []string{"systemd-nspawn", "nsenter", "ip", "unshare"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not installed: run .ci/machines.sh", tool)
		}
	}
	if err := probeOverlay(); err != nil {
		return fmt.Errorf("overlay mounts do not work here: %w", err)
	}
	probe := exec.CommandContext(ctx, "unshare", "--net", "sh", "-c",
		"ip link add jjprobe0 type bridge && ip link add jjprobe1 type veth peer name jjprobe2")
	if out, err := probe.CombinedOutput(); err != nil {
		return fmt.Errorf("bridge and veth links in a network namespace do not work here: %v: %s", err, out)
	}
	return nil
}

func probeOverlay() error {
	dir, err := os.MkdirTemp("", "jujusim-overlay-probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", filepath.Join(dir, "lower"), filepath.Join(dir, "upper"), filepath.Join(dir, "work"))
	merged := filepath.Join(dir, "merged")
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		return err
	}
	return unix.Unmount(merged, unix.MNT_DETACH)
}
