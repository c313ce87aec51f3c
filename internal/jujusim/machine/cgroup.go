package machine

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Why machines get cgroups of their own: with --keep-unit and no host systemd to ask for a scope,
// nspawn puts the container in "payload" under the cgroup it was started in. Two machines started
// from one process would then share one cgroup tree, and each container's systemd would create,
// kill and remove the other's units (a "systemctl stop" of a service in one machine killing the
// same-named service in the other; units failing with status 219/CGROUP at boot). So nspawn starts
// in a fresh cgroup per machine, in every hierarchy systemd uses: the unified (v2) one and, on
// hybrid hosts, the v1 name=systemd one.

// machineCgroups creates one cgroup per systemd hierarchy, as children of this process's own.
func machineCgroups(name string) ([]string, error) {
	parents, err := systemdCgroupDirs()
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, parent := range parents {
		dir := filepath.Join(parent, "jujusim-"+name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return dirs, fmt.Errorf("create machine cgroup: %w", err)
		}
		dirs = append(dirs, dir)
	}
	return dirs, nil
}

// systemdCgroupDirs finds where this process's cgroup is in each hierarchy systemd uses.
func systemdCgroupDirs() ([]string, error) {
	mounts, err := cgroupMounts()
	if err != nil {
		return nil, err
	}
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("own cgroup: %w", err)
	}
	var dirs []string
	for _, line := range strings.Split(strings.TrimSpace(string(own)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		key := parts[1] // "" for the unified hierarchy, "name=systemd" for systemd's v1 one
		if mount, ok := mounts[key]; ok {
			dirs = append(dirs, filepath.Join(mount, parts[2]))
		}
	}
	if len(dirs) == 0 {
		return nil, errors.New("no cgroup2 or name=systemd hierarchy mounted")
	}
	return dirs, nil
}

// cgroupMounts maps "" to the cgroup2 mount point and "name=systemd" to the v1 one, when mounted.
func cgroupMounts() (map[string]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	mounts := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		pre, post, ok := strings.Cut(s.Text(), " - ")
		if !ok {
			continue
		}
		fields, tail := strings.Fields(pre), strings.Fields(post)
		if len(fields) < 5 || len(tail) < 3 {
			continue
		}
		switch {
		case tail[0] == "cgroup2":
			mounts[""] = fields[4]
		case tail[0] == "cgroup" && slices.Contains(strings.Split(tail[2], ","), "name=systemd"):
			mounts["name=systemd"] = fields[4]
		}
	}
	return mounts, s.Err()
}

// removeCgroups removes machine cgroups and everything the container's systemd made below them,
// deepest first. A cgroup directory can be removed once no live process is in it.
func removeCgroups(dirs []string) error {
	var errs []error
	for _, dir := range dirs {
		var tree []string
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				tree = append(tree, path)
			}
			return nil
		})
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("walk cgroup %s: %w", dir, err))
			continue
		}
		for _, path := range slices.Backward(tree) {
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("remove cgroup: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}
