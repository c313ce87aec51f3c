package machine

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// record is everything needed to find and tear down a machine's pieces, kept in its directory and
// rewritten after each step of the boot, so Cleanup can undo a machine whose process crashed.
type record struct {
	ID      string
	Dir     string
	Name    string // nspawn machine name; host veth is "vb-<Name>"
	Address string
	Network Network
	Mounted bool     // overlay mounted at Dir/root
	Cgroups []string // the machine's own cgroups, one per systemd hierarchy
	// IncomingMounted: Dir/incoming is a shared mount for AddBind (see bind.go)
	IncomingMounted bool
	Nspawn          proc
	Leader          proc // the container's PID 1 (systemd), seen from the host
}

// proc names one process, guarded against pid reuse by its start time (clock ticks since boot).
type proc struct {
	PID   int
	Start uint64
}

const recordFile = "machine.json"

// leaseOwner names this machine in its address lease: the directory alone is not unique, as a
// dead machine's id may be provisioned again in the same directory.
func (r *record) leaseOwner() string { return r.Dir + "\n" + r.Name }

// leaseStale reports whether the machine a lease names is gone: no record in its directory, or a
// record of another machine.
func leaseStale(owner string) bool {
	dir, name, _ := strings.Cut(owner, "\n")
	rec, err := loadRecord(dir)
	return err != nil || rec.Name != name
}

func (r *record) root() string { return filepath.Join(r.Dir, "root") }

func (r *record) save() error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode machine record: %w", err)
	}
	tmp := filepath.Join(r.Dir, recordFile+".tmp")
	if err := writeFileSync(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write machine record: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(r.Dir, recordFile)); err != nil {
		return fmt.Errorf("write machine record: %w", err)
	}
	return nil
}

func loadRecord(dir string) (record, error) {
	var r record
	data, err := os.ReadFile(filepath.Join(dir, recordFile))
	if err != nil {
		return r, fmt.Errorf("read machine record: %w", err)
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("decode machine record %s: %w", dir, err)
	}
	// The record may come from a directory that was moved; trust where we found it.
	r.Dir = dir
	return r, nil
}

// lookupProc returns the process as it is now: PID and start time.
func lookupProc(pid int) (proc, error) {
	start, state, err := procStat(pid)
	if err != nil {
		return proc{}, err
	}
	if state == "Z" {
		return proc{}, fmt.Errorf("process %d has exited", pid)
	}
	return proc{PID: pid, Start: start}, nil
}

// alive reports whether p still runs and is the same process (not a reused pid). Zombies count as
// exited.
func (p proc) alive() bool {
	if p.PID <= 0 {
		return false
	}
	start, state, err := procStat(p.PID)
	return err == nil && start == p.Start && state != "Z"
}

// procStat reads state and start time from /proc/<pid>/stat. The command name in parentheses may
// hold spaces, so fields are counted from the last ')'.
func procStat(pid int) (start uint64, state string, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, "", err
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, "", errors.New("malformed /proc stat")
	}
	fields := strings.Fields(s[i+1:])
	// fields[0] is field 3 (state); starttime is field 22.
	if len(fields) < 20 {
		return 0, "", errors.New("short /proc stat")
	}
	start, err = strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, "", fmt.Errorf("parse start time of %d: %w", pid, err)
	}
	return start, fields[0], nil
}
