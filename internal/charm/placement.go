package charm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/release"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/storage"
)

// Peer relation keys. App bag (leader): the identity of the shared filesystem every unit must see.
// Unit bags: what each unit sees and runs, for the leader and for operators (`juju show-unit`).
const (
	keySharedID      = "shared-storage-id"
	keySharedProblem = "shared-storage-problem"
	keySharedDevIno  = "shared-storage-dev-ino"
	keyRelease       = "release"
	keyReleaseHome   = "release-location"
)

// placement says where this unit's releases live.
type placement struct {
	Root       string `json:"root"`
	Shared     bool   `json:"shared"`
	SharedPath string `json:"shared-path,omitempty"`
	// UUID is the root's identity, checked before the root is opened again outside a reconcile.
	UUID string `json:"uuid"`
	// Note says why the unit uses its own copy although a shared path is configured.
	Note string `json:"note,omitempty"`

	root *storage.Root
	// wait, when set, means: do not install yet (status waiting with this message).
	wait string
}

func (p placement) describe() string {
	switch {
	case p.Shared:
		return "shared storage " + p.Root
	case p.Note != "":
		return "local: " + p.Note
	}
	return "local"
}

type placementInput struct {
	leader    bool
	peerRelID string
	peerApp   map[string]string // the peer application bag, as this hook read it
	dataDir   string
}

// placeReleases picks the shared root when it is usable and is the filesystem the leader sees,
// else the unit's own root, and remembers the choice for actions and the remove hook.
func (c *Charm) placeReleases(ctx context.Context, cfg Config, in placementInput) (placement, error) {
	p, err := c.choosePlacement(ctx, cfg, in)
	if err != nil || p.wait != "" {
		return p, err
	}
	state, err := stateDir(in.dataDir)
	if err != nil {
		return p, err
	}
	data, _ := json.Marshal(p)
	if err := storage.WriteFileAtomic(filepath.Join(state, "placement.json"), data, 0o600); err != nil {
		return p, fmt.Errorf("remember placement: %w", err)
	}
	return p, nil
}

func (c *Charm) choosePlacement(ctx context.Context, cfg Config, in placementInput) (placement, error) {
	if cfg.SharedStoragePath == "" {
		return localPlacement(in.dataDir, "", "")
	}
	leaderView := sharedView{id: in.peerApp[keySharedID], problem: in.peerApp[keySharedProblem]}
	root, reason := openShared(cfg)
	if in.leader {
		// The leader says what it sees, so that the others neither trust another filesystem nor
		// wait for an identity that will never come.
		view := sharedView{id: "", problem: reason}
		if root != nil {
			view.id = root.Identity().UUID
		}
		if err := c.publishSharedView(ctx, in.peerRelID, in.peerApp, leaderView, view); err != nil {
			return placement{}, err
		}
	}
	if reason != "" {
		return c.fallBack(in.dataDir, cfg, reason)
	}
	id := root.Identity()
	switch {
	case in.leader:
	case leaderView.problem != "":
		return c.fallBack(in.dataDir, cfg, "the leader cannot use it either: "+leaderView.problem)
	case leaderView.id == "":
		return placement{wait: "Waiting for the leader to publish the identity of " + cfg.SharedStoragePath}, nil
	case leaderView.id != id.UUID:
		return c.fallBack(in.dataDir, cfg, fmt.Sprintf("%s is filesystem %s, the leader's is %s",
			cfg.SharedStoragePath, shortID(id.UUID), shortID(leaderView.id)))
	}
	if err := c.revalidateRemembered(in.dataDir, id); err != nil {
		return placement{}, err
	}
	return placement{Root: root.Path(), UUID: id.UUID, Shared: true, SharedPath: cfg.SharedStoragePath, root: root}, nil
}

// fallBack places the releases on the unit's own root and says why in the log and the status.
func (c *Charm) fallBack(dataDir string, cfg Config, reason string) (placement, error) {
	fmt.Fprintf(c.out, "not using shared storage: %s\n", reason)
	return localPlacement(dataDir, cfg.SharedStoragePath, reason)
}

// sharedView is what the leader published about the shared path: the identity it sees there, or
// why it cannot use it.
type sharedView struct{ id, problem string }

// publishSharedView writes the leader's view when it changed (an empty value deletes the key),
// and into app, the peer application bag this hook read, so later steps see it.
func (c *Charm) publishSharedView(ctx context.Context, relID string, app map[string]string, old, view sharedView) error {
	if relID == "" || old == view {
		return nil
	}
	data := map[string]string{keySharedID: view.id, keySharedProblem: view.problem}
	if err := c.tools.RelationSet(ctx, relID, true, data); err != nil {
		return fmt.Errorf("publish shared storage identity: %w", err)
	}
	for k, v := range data {
		app[k] = v
	}
	return nil
}

// openShared opens the shared root, or says in words why it cannot be used.
func openShared(cfg Config) (*storage.Root, string) {
	path := cfg.SharedStoragePath
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Sprintf("shared-storage-path %s does not exist", path)
	case err != nil:
		return nil, fmt.Sprintf("shared-storage-path %s: %v", path, err)
	case !info.IsDir():
		return nil, fmt.Sprintf("shared-storage-path %s is not a directory", path)
	}
	if cfg.SharedStorageRequireMount {
		mounted, err := storage.IsMountPoint(path)
		if err != nil {
			return nil, fmt.Sprintf("shared-storage-path %s: %v", path, err)
		}
		if !mounted {
			return nil, fmt.Sprintf("shared-storage-path %s is not a mount point", path)
		}
	}
	root, err := storage.Open(path)
	if err != nil {
		return nil, fmt.Sprintf("shared-storage-path %s: %v", path, err)
	}
	return root, ""
}

// localPlacement is the unit's own root under its concourse-data storage.
func localPlacement(dataDir, sharedPath, note string) (placement, error) {
	dir := filepath.Join(dataDir, "releases-local")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return placement{}, fmt.Errorf("local release root: %w", err)
	}
	root, err := storage.Open(dir)
	if err != nil {
		return placement{}, fmt.Errorf("local release root: %w", err)
	}
	return placement{Root: root.Path(), UUID: root.Identity().UUID, SharedPath: sharedPath, Note: note, root: root}, nil
}

// revalidateRemembered compares the shared root with the identity this unit saw last time. The
// same UUID on another device:inode is the same storage remounted (NFS device numbers change on
// reboot) or a copy: its UUID still matches the leader's, which was just checked, so it is
// accepted, said in the log, and remembered anew.
func (c *Charm) revalidateRemembered(dataDir string, id storage.Identity) error {
	state, err := stateDir(dataDir)
	if err != nil {
		return err
	}
	path := filepath.Join(state, "shared-identity.json")
	var last storage.Identity
	if data, err := os.ReadFile(path); err == nil && json.Unmarshal(data, &last) == nil {
		if last == id {
			return nil
		}
		fmt.Fprintf(c.out, "shared storage identity was %s, is now %s: re-validated against the leader's\n", last, id)
	}
	data, _ := json.Marshal(id)
	if err := storage.WriteFileAtomic(path, data, 0o600); err != nil {
		return fmt.Errorf("remember shared storage identity: %w", err)
	}
	return nil
}

// readPlacement returns what the last reconcile chose, with its root opened, for actions and
// removal. The root's identity is checked BEFORE opening it (which creates missing layout): an
// unmounted shared path must not get a fresh identity file written into the directory beneath.
func readPlacement(dataDir string) (placement, error) {
	var p placement
	data, err := os.ReadFile(filepath.Join(dataDir, "state", "placement.json"))
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return p, fmt.Errorf("parse placement: %w", err)
	}
	id, err := storage.ReadIdentity(p.Root)
	if err != nil {
		return p, fmt.Errorf("release root %s: %w", p.Root, err)
	}
	if id.UUID != p.UUID {
		return p, fmt.Errorf("release root %s is now filesystem %s, was %s: %w", p.Root, shortID(id.UUID), shortID(p.UUID), storage.ErrIdentityChanged)
	}
	p.root, err = storage.Open(p.Root)
	return p, err
}

// releaseData is what this unit tells its peers about its release: which one, and on which root.
func releaseData(p placement, rel release.Installed) map[string]string {
	id := p.root.Identity()
	data := map[string]string{
		keyRelease:      rel.Marker.Version + "-" + rel.Marker.Arch,
		keyReleaseHome:  "local",
		keySharedID:     "",
		keySharedDevIno: "",
	}
	if p.Shared {
		data[keyReleaseHome] = "shared"
		data[keySharedID] = id.UUID
		data[keySharedDevIno] = strconv.FormatUint(id.Dev, 10) + ":" + strconv.FormatUint(id.Ino, 10)
	}
	return data
}

// setBag writes only the keys whose values differ from this unit's bag on relID (with app, this
// application's bag: leader only), so that a reconcile that changes nothing does not wake every
// unit on the other side with relation-changed.
func (c *Charm) setBag(ctx context.Context, relID string, app bool, want map[string]string) error {
	owner := c.env.UnitName
	if app {
		owner = c.env.AppName()
	}
	have, err := c.tools.RelationGet(ctx, relID, owner, app)
	if err != nil {
		return fmt.Errorf("read own data on %s: %w", relID, err)
	}
	diff := map[string]string{}
	for k, v := range want {
		if have[k] != v {
			diff[k] = v
		}
	}
	if len(diff) == 0 {
		return nil
	}
	if err := c.tools.RelationSet(ctx, relID, app, diff); err != nil {
		return fmt.Errorf("write own data on %s: %w", relID, err)
	}
	return nil
}

func shortID(uuid string) string {
	if len(uuid) > 8 {
		return uuid[:8]
	}
	return uuid
}
