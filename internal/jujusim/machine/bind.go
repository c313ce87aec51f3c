package machine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Binds added to a running machine travel through an "incoming" directory, the way machinectl bind
// does it with nspawn's own propagation directory (which needs a host systemd): on the host,
// <machine>/incoming is a shared mount bound into the container at incomingPath, where it is a
// slave. A mount made under it on the host appears inside; the machine's own mount(8) then moves it
// to where it belongs, and the host's copy is dropped.

const incomingPath = "/run/jujusim-incoming"

func (r *record) incoming() string { return filepath.Join(r.Dir, "incoming") }

// mountIncoming makes <machine>/incoming a shared mount point before nspawn starts.
func (m *Machine) mountIncoming() error {
	dir := m.rec.incoming()
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("incoming dir: %w", err)
	}
	m.rec.IncomingMounted = true // saved before mounting, so a crash in between still unmounts
	if err := m.rec.save(); err != nil {
		return err
	}
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind incoming dir: %w", err)
	}
	if err := unix.Mount("", dir, "", unix.MS_SHARED, ""); err != nil {
		return fmt.Errorf("share incoming dir: %w", err)
	}
	return nil
}

// enslaveIncoming makes the machine's incoming mount a slave: host mounts still arrive, but
// nothing mounted inside goes back to the host, and mount(8) may move mounts out of it (a mount
// under a shared one cannot be moved).
func (m *Machine) enslaveIncoming(ctx context.Context) error {
	argv := []string{"mount", "--make-slave", incomingPath}
	out, code, err := m.Exec(ctx, Cmd{Argv: argv, Env: []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}})
	if err != nil || code != 0 {
		return fmt.Errorf("make %s a slave mount: exit %d, %w: %s", incomingPath, code, err, out)
	}
	return nil
}

// AddBind makes b.HostPath visible at b.Path inside the running machine, as Juju attaching a
// filesystem would (storage-add). b.Path is created if missing.
func (m *Machine) AddBind(ctx context.Context, b Bind) error {
	if b.Path == "" {
		b.Path = b.HostPath
	}
	if !filepath.IsAbs(b.HostPath) || !filepath.IsAbs(b.Path) {
		return fmt.Errorf("bind %q:%q into machine %s: paths must be absolute", b.HostPath, b.Path, m.rec.ID)
	}
	info, err := os.Stat(b.HostPath)
	if err != nil {
		return fmt.Errorf("bind into machine %s: %w", m.rec.ID, err)
	}
	name := randomHex(6)
	stage := filepath.Join(m.rec.incoming(), name)
	if err := stageMount(b.HostPath, stage, info.IsDir()); err != nil {
		return fmt.Errorf("bind %s into machine %s: %w", b.HostPath, m.rec.ID, err)
	}
	// The moved mount inside is independent of the host's staging copy, which goes in any case.
	defer func() {
		_ = unix.Unmount(stage, unix.MNT_DETACH)
		_ = os.Remove(stage)
	}()
	create := `mkdir -p "$2"`
	if !info.IsDir() {
		create = `mkdir -p "$(dirname "$2")" && { [ -e "$2" ] || : > "$2"; }`
	}
	script := create + ` && mount --move "$1" "$2"`
	if b.ReadOnly {
		// Here, not on the host: a remount changes one mount and does not propagate.
		script += ` && mount -o remount,bind,ro "$2"`
	}
	argv := []string{"sh", "-c", script, "sh", filepath.Join(incomingPath, name), b.Path}
	out, code, err := m.Exec(ctx, Cmd{Argv: argv, Env: []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}})
	if err != nil {
		return fmt.Errorf("bind %s into machine %s: %w", b.HostPath, m.rec.ID, err)
	}
	if code != 0 {
		return fmt.Errorf("bind %s into machine %s at %s: exit %d: %s", b.HostPath, m.rec.ID, b.Path, code, out)
	}
	return nil
}

func stageMount(hostPath, stage string, isDir bool) error {
	if isDir {
		if err := os.Mkdir(stage, 0o700); err != nil {
			return err
		}
	} else if err := os.WriteFile(stage, nil, 0o600); err != nil {
		return err
	}
	if err := unix.Mount(hostPath, stage, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		_ = os.Remove(stage)
		return fmt.Errorf("stage mount: %w", err)
	}
	return nil
}

// unmountIncoming drops the incoming mount and anything a failed AddBind left under it.
func unmountIncoming(rec *record) error {
	err := unix.Unmount(rec.incoming(), unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount incoming dir: %w", err)
	}
	return nil
}
