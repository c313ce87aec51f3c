package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Files inside units/<unit>/. Nothing here may be secret: every unit can read every unit's dir.
const (
	refFile       = "ref.json"
	refLock       = "ref.lock"
	heartbeatFile = "heartbeat.json"
)

// UnitRef is what one unit records about the releases it needs.
type UnitRef struct {
	Unit string `json:"unit"`
	// Version and Arch name the release the unit runs (empty before its first install).
	Version string `json:"version,omitempty"`
	Arch    string `json:"arch,omitempty"`
	// Holds are further releases the unit ensured and may switch to (a rolling upgrade fetches the
	// next version while the old one runs). SetUnitRef clears them.
	Holds     []string  `json:"holds,omitempty"`
	UpdatedAt time.Time `json:"updated-at"`
	// Heartbeat is the last time the unit called Heartbeat (zero if never).
	Heartbeat time.Time `json:"-"`
}

// Releases lists every release name the unit refers to; GC keeps all of them.
func (u UnitRef) Releases() []string {
	names := slices.Clone(u.Holds)
	if name, err := ReleaseName(u.Version, u.Arch); err == nil && !slices.Contains(names, name) {
		names = append(names, name)
	}
	return names
}

type heartbeat struct {
	Unit string    `json:"unit"`
	PID  int       `json:"pid"`
	Host string    `json:"host"`
	Time time.Time `json:"time"`
}

// UnitDir returns units/<app>-<n>, created with mode 0700. unit is a Juju unit name ("app/0").
func (r *Root) UnitDir(unit string) (string, error) {
	if err := checkUnitName(unit); err != nil {
		return "", err
	}
	dir := filepath.Join(r.path, unitsDir, strings.ReplaceAll(unit, "/", "-"))
	if err := ensureDir(dir, 0o700); err != nil {
		return "", err
	}
	return dir, nil
}

// checkUnitName accepts Juju unit names: an application name, '/', a number. Anything else could
// escape units/ or collide after '/' is replaced.
func checkUnitName(unit string) error {
	app, num, ok := strings.Cut(unit, "/")
	valid := ok && app != "" && num != "" && app[0] >= 'a' && app[0] <= 'z'
	for _, c := range app {
		valid = valid && (c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-')
	}
	for _, c := range num {
		valid = valid && c >= '0' && c <= '9'
	}
	if !valid {
		return fmt.Errorf("invalid unit name %q", unit)
	}
	return nil
}

// SetUnitRef records that unit now runs version/arch and drops its other holds.
func (r *Root) SetUnitRef(unit, version, arch string) error {
	if _, err := ReleaseName(version, arch); err != nil {
		return err
	}
	return r.updateUnitRef(unit, func(ref *UnitRef) bool {
		ref.Version, ref.Arch, ref.Holds = version, arch, nil
		return true
	})
}

// holdRelease adds name to the unit's holds. It writes (and fsyncs) only when the hold is new, so
// the EnsureRelease fast path stays a read in the steady state.
func (r *Root) holdRelease(unit, name string) error {
	if err := checkUnitName(unit); err != nil {
		return err
	}
	// Lock-free check first (the file is only ever replaced whole): the common case is "held".
	ref, err := readUnitRef(filepath.Join(r.path, unitsDir, strings.ReplaceAll(unit, "/", "-")))
	if err == nil && slices.Contains(ref.Releases(), name) {
		return nil
	}
	return r.updateUnitRef(unit, func(ref *UnitRef) bool {
		if slices.Contains(ref.Releases(), name) {
			return false
		}
		ref.Holds = append(ref.Holds, name)
		return true
	})
}

// ForgetUnit removes a departed unit's directory so that its references stop pinning releases.
func (r *Root) ForgetUnit(unit string) error {
	dir, err := r.UnitDir(unit)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("forget unit %s: %w", unit, err)
	}
	return nil
}

// updateUnitRef is a read-modify-write of the unit's ref file under a per-unit lock; change reports
// whether it modified the ref.
func (r *Root) updateUnitRef(unit string, change func(*UnitRef) bool) error {
	dir, err := r.UnitDir(unit)
	if err != nil {
		return err
	}
	// Held for a few file operations only, so it waits without a deadline and records no owner.
	held, err := lock(context.Background(), filepath.Join(dir, refLock), nil, nil)
	if err != nil {
		return err
	}
	defer held.Release()
	ref, err := readUnitRef(dir)
	if err != nil {
		return err
	}
	ref.Unit = unit
	if !change(&ref) {
		return nil
	}
	ref.UpdatedAt = time.Now().UTC()
	data, err := json.MarshalIndent(ref, "", "  ")
	if err != nil {
		return fmt.Errorf("encode refs of %s: %w", unit, err)
	}
	return WriteFileAtomic(filepath.Join(dir, refFile), append(data, '\n'), 0o600)
}

func readUnitRef(dir string) (UnitRef, error) {
	var ref UnitRef
	data, err := os.ReadFile(filepath.Join(dir, refFile))
	if errors.Is(err, fs.ErrNotExist) {
		return ref, nil
	}
	if err != nil {
		return ref, fmt.Errorf("read unit refs: %w", err)
	}
	if err := json.Unmarshal(data, &ref); err != nil {
		return ref, fmt.Errorf("parse %s: %w", filepath.Join(dir, refFile), err)
	}
	return ref, nil
}

// Heartbeat records that unit is alive now. Atomic but not fsynced: it is informational (a beat
// lost in a crash only makes the unit look older), and it is written on every hook, update-status
// included, where two fsyncs would be most of what a settled unit's hook costs on a real disk.
func (r *Root) Heartbeat(unit string) error {
	dir, err := r.UnitDir(unit)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	data, err := json.Marshal(heartbeat{Unit: unit, PID: os.Getpid(), Host: host, Time: time.Now().UTC()})
	if err != nil {
		return fmt.Errorf("encode heartbeat: %w", err)
	}
	return replaceFile(filepath.Join(dir, heartbeatFile), data, 0o600, false)
}

// UnitRefs reads every unit's record, keyed by unit name. A unit that never set a ref but beats
// appears with only Heartbeat set. An unreadable record is an error: GC must not guess.
func (r *Root) UnitRefs() (map[string]UnitRef, error) {
	entries, err := os.ReadDir(filepath.Join(r.path, unitsDir))
	if err != nil {
		return nil, fmt.Errorf("list units: %w", err)
	}
	refs := make(map[string]UnitRef, len(entries))
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(r.path, unitsDir, e.Name())
		ref, err := readUnitRef(dir)
		if err != nil {
			return nil, err
		}
		hb, err := readHeartbeat(dir)
		if err != nil {
			return nil, err
		}
		if ref.Unit == "" {
			ref.Unit = hb.Unit
		}
		if ref.Unit == "" {
			continue // a directory created by UnitDir and nothing else: refers to nothing
		}
		ref.Heartbeat = hb.Time
		refs[ref.Unit] = ref
	}
	return refs, nil
}

func readHeartbeat(dir string) (heartbeat, error) {
	var hb heartbeat
	data, err := os.ReadFile(filepath.Join(dir, heartbeatFile))
	if errors.Is(err, fs.ErrNotExist) {
		return hb, nil
	}
	if err != nil {
		return hb, fmt.Errorf("read heartbeat: %w", err)
	}
	if err := json.Unmarshal(data, &hb); err != nil {
		return hb, fmt.Errorf("parse %s: %w", filepath.Join(dir, heartbeatFile), err)
	}
	return hb, nil
}
