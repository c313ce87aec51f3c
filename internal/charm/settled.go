package charm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/concourse"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/release"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/service"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/storage"
)

// The settled record: what the last full reconcile saw and produced, when it left the unit active.
// update-status trusts it instead of reconciling again (updatestatus.go). It lives in the unit's
// own state directory (0700, never on shared storage) and holds no secret: inputs are sha256
// hashes, outputs are paths, identities, service invocation ids and the status message.
//
// Every reconcile removes it before it starts and writes it only once it ended active, so a hook
// that failed (even one later skipped with `juju resolved --no-retry`) leaves none, and every action
// removes it too: an action may change what runs without a hook.
const (
	settledFile   = "settled.json"
	settledFormat = 1
	// dataDirPointer, in the charm directory, names the data directory holding the record, so that
	// update-status finds it without storage-list and storage-get (two hook tools).
	dataDirPointer = ".data-dir"
)

type settledState struct {
	Format  int       `json:"format"`
	Binary  string    `json:"binary"` // the charm binary that wrote it (size and times)
	Unit    string    `json:"unit"`
	DataDir string    `json:"data-dir"`
	At      time.Time `json:"at"`

	// Seen: sha256 of config-get's answer and of the peer relation as read. Nothing compares them
	// in update-status (Juju delivers their changes as hooks, which drop the record); they say in
	// debug-log which inputs the record was derived from.
	Config string `json:"config"`
	Peers  string `json:"peers"`
	Leader bool   `json:"leader"`

	// Produced, and checked by update-status without any hook tool.
	Root         string                    `json:"root"`
	RootUUID     string                    `json:"root-uuid"`
	SharedPath   string                    `json:"shared-path,omitempty"`
	RequireMount bool                      `json:"require-mount,omitempty"`
	Probe        string                    `json:"probe,omitempty"` // probeShared of SharedPath
	Release      settledRelease            `json:"release"`
	Services     map[string]settledService `json:"services"`
	Files        map[string]string         `json:"files"` // fileSignature of each file the services read
	Status       settledStatus             `json:"status"`
}

type settledRelease struct {
	Version string `json:"version"`
	Arch    string `json:"arch"`
	SHA256  string `json:"sha256"`
}

type settledService struct {
	Installed    bool   `json:"installed"`
	Enabled      bool   `json:"enabled"`
	Active       bool   `json:"active"`
	InvocationID string `json:"invocation-id,omitempty"`
}

type settledStatus struct {
	State   juju.StatusState `json:"state"`
	Message string           `json:"message"`
}

// settledInput is what Reconcile hands over once the unit is active.
type settledInput struct {
	raw     map[string]any
	cfg     Config
	leader  bool
	peers   peerView
	dataDir string
	place   placement
	rel     release.Installed
	status  juju.Status
}

// recordSettled writes the settled record. A failure costs only speed (the next update-status
// reconciles in full), so it is said in the log and not returned.
func (c *Charm) recordSettled(ctx context.Context, in settledInput) {
	if err := c.writeSettled(ctx, in); err != nil {
		c.say("not remembering this settled state (update-status will reconcile in full): %v", err)
	}
}

func (c *Charm) writeSettled(ctx context.Context, in settledInput) error {
	if c.env.CharmDir == "" {
		return errors.New("no charm directory to point at the data directory")
	}
	mgr, err := c.serviceManager(ctx)
	if err != nil {
		return err
	}
	services, err := serviceStates(ctx, mgr)
	if err != nil {
		return err
	}
	s := settledState{
		Format: settledFormat, Binary: binaryID(), Unit: c.env.UnitName, DataDir: in.dataDir, At: c.now().UTC(),
		Config: hashJSON(in.raw), Leader: in.leader,
		Peers: hashJSON(struct {
			ID      string                       `json:"id"`
			App     map[string]string            `json:"app"`
			Members []string                     `json:"members"`
			Units   map[string]map[string]string `json:"units"`
		}{in.peers.relID, in.peers.app, in.peers.members, in.peers.units}),
		Root: in.place.Root, RootUUID: in.place.UUID,
		SharedPath: in.cfg.SharedStoragePath, RequireMount: in.cfg.SharedStorageRequireMount,
		Probe:    probeShared(in.cfg.SharedStoragePath),
		Release:  settledRelease{Version: in.rel.Marker.Version, Arch: in.rel.Marker.Arch, SHA256: in.rel.Marker.SHA256},
		Services: services,
		Files:    fileSignatures(serviceDirs(in.dataDir)...),
		Status:   settledStatus{State: in.status.State, Message: in.status.Message},
	}
	if s.Binary == "" {
		return errors.New("cannot identify the charm binary")
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode settled state: %w", err)
	}
	state, err := stateDir(in.dataDir)
	if err != nil {
		return err
	}
	if err := storage.WriteFileAtomic(filepath.Join(state, settledFile), data, 0o600); err != nil {
		return fmt.Errorf("write settled state: %w", err)
	}
	pointer := filepath.Join(c.env.CharmDir, dataDirPointer)
	if old, _ := os.ReadFile(pointer); string(old) != in.dataDir {
		if err := storage.WriteFileAtomic(pointer, []byte(in.dataDir), 0o600); err != nil {
			return fmt.Errorf("remember the data directory: %w", err)
		}
	}
	return nil
}

// pointedDataDir is the data directory the last settled reconcile used, "" when none is known.
func (c *Charm) pointedDataDir() string {
	if c.env.CharmDir == "" {
		return ""
	}
	data, err := os.ReadFile(filepath.Join(c.env.CharmDir, dataDirPointer))
	if err != nil {
		return ""
	}
	return string(data)
}

// unsettle drops the settled record: whatever runs next may change what it describes.
func (c *Charm) unsettle() error {
	dir := c.pointedDataDir()
	if dir == "" {
		return nil
	}
	// Not stateDir: nothing may be created on a data directory whose storage may be gone.
	err := os.Remove(filepath.Join(dir, "state", settledFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("forget the settled state: %w", err)
	}
	return nil
}

// loadSettled reads the record the pointer leads to.
func (c *Charm) loadSettled() (settledState, error) {
	var s settledState
	dir := c.pointedDataDir()
	if dir == "" {
		return s, errors.New("no settled state recorded")
	}
	data, err := os.ReadFile(filepath.Join(dir, "state", settledFile))
	if errors.Is(err, fs.ErrNotExist) {
		return s, errors.New("no settled state recorded")
	}
	if err != nil {
		return s, fmt.Errorf("read settled state: %w", err)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("parse settled state: %w", err)
	}
	if s.DataDir != dir {
		return s, fmt.Errorf("settled state names data directory %s, the pointer %s", s.DataDir, dir)
	}
	return s, nil
}

// serviceStates is what the supervisor says of each service the charm may run.
func serviceStates(ctx context.Context, mgr service.Manager) (map[string]settledService, error) {
	out := map[string]settledService{}
	for _, name := range []string{concourse.WebService, concourse.WorkerService} {
		st, err := mgr.State(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("state of %s: %w", name, err)
		}
		out[name] = settledService{Installed: st.Installed, Enabled: st.Enabled, Active: st.Active, InvocationID: st.InvocationID}
	}
	return out, nil
}

// serviceDirs hold the files the services read (keys, environment): the worker's work/ below it,
// its volumes, is a directory and so not looked at.
func serviceDirs(dataDir string) []string {
	return []string{filepath.Join(dataDir, "web"), filepath.Join(dataDir, "worker")}
}

// fileSignatures stats every regular file directly in dirs. A signature changes when the file is
// written, replaced, chmod'ed or chown'ed: then the full reconcile runs and puts it right.
func fileSignatures(dirs ...string) map[string]string {
	sigs := map[string]string{}
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue // absent: a directory appearing later shows as new files
		}
		for _, e := range entries {
			if e.Type().IsRegular() {
				path := filepath.Join(dir, e.Name())
				sigs[path] = fileSignature(path)
			}
		}
	}
	return sigs
}

func fileSignature(path string) string {
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		return "missing"
	}
	return fmt.Sprintf("ino %d mode %o owner %d:%d size %d mtime %d.%09d ctime %d.%09d",
		st.Ino, st.Mode, st.Uid, st.Gid, st.Size, st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec)
}

// probeShared describes what is at the shared path, creating nothing. A unit that fell back to its
// own copy (the path absent, not mounted, another filesystem than the leader's) sees here that it
// changed, which no hook announces, and reconciles in full as it did on every update-status.
func probeShared(path string) string {
	if path == "" {
		return ""
	}
	id, err := storage.ReadIdentity(path)
	if err != nil {
		return "unusable: " + err.Error()
	}
	return fmt.Sprintf("uuid %s dev %d ino %d mounted %t", id.UUID, id.Dev, id.Ino, id.Mounted)
}

// binaryID names the running charm binary by size and times: a refreshed charm is another binary,
// and a record written by another binary is not trusted (its format or meaning may differ).
func binaryID() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	var st syscall.Stat_t
	if err := syscall.Stat(exe, &st); err != nil {
		return ""
	}
	return fmt.Sprintf("%s size %d ino %d mtime %d.%09d", exe, st.Size, st.Ino, st.Mtim.Sec, st.Mtim.Nsec)
}

// hashJSON is the sha256 of v's JSON encoding (map keys sorted): a fingerprint, never the values.
func hashJSON(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		return "unencodable: " + err.Error()
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
