// Package state is the simulated Juju model: one JSON document (state.json)
// in the model directory, read and written under an exclusive lock on
// state.lock so that the hook tools of several units, the CLI and the driving
// loop can all change it at the same time.
package state

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Model is the whole simulated model.
type Model struct {
	Name         string                      `json:"name"`
	UUID         string                      `json:"uuid"`
	Seq          map[string]int              `json:"seq"`
	Applications map[string]*Application     `json:"applications"`
	Units        map[string]*Unit            `json:"units"`
	Machines     map[string]*Machine         `json:"machines"`
	Relations    map[int]*Relation           `json:"relations"`
	Storage      map[string]*StorageInstance `json:"storage"`
	Secrets      map[string]*Secret          `json:"secrets"`
	Contexts     map[string]*HookContext     `json:"contexts"`
	Actions      map[string]*Action          `json:"actions"`
}

// Application is a deployed application.
type Application struct {
	Name      string `json:"name"`
	CharmName string `json:"charm-name"`
	// CharmDir is the unpacked charm on the host, inside the model dir.
	CharmDir string `json:"charm-dir"`
	Revision int    `json:"revision"`
	// Config holds every option: user-set values over defaults. Values are
	// JSON types (string, float64/int64, bool) or nil for an unset option.
	Config   map[string]any `json:"config"`
	UserSet  []string       `json:"user-set,omitempty"`
	Leader   string         `json:"leader,omitempty"`
	Status   *Status        `json:"status,omitempty"` // set by the leader only
	Binds    []Bind         `json:"binds,omitempty"`  // --shared-dir binds for every machine
	Provider string         `json:"provider"`
	// StorageSize is the per-store size directive from deploy --storage, in MiB.
	StorageSize map[string]uint64 `json:"storage-size,omitempty"`
	StorageCnt  map[string]int    `json:"storage-count,omitempty"`
	Resources   map[string]string `json:"resources,omitempty"` // name -> host file
	// ConfigTypes maps option name to its config.yaml type, so tools print
	// ints as ints after a JSON round trip.
	ConfigTypes    map[string]string `json:"config-types"`
	LeaderSettings map[string]string `json:"leader-settings,omitempty"`
	// Stores is the charm's storage metadata, for storage-add.
	Stores map[string]StoreMeta `json:"stores,omitempty"`
	// PeerEndpoints lists the charm's peer endpoints (relations made at deploy).
	Endpoints map[string]Endpoint `json:"endpoints"`
}

// Endpoint is a charm relation endpoint.
type Endpoint struct {
	Name      string `json:"name"`
	Role      string `json:"role"` // provider, requirer, peer
	Interface string `json:"interface"`
	Limit     int    `json:"limit,omitempty"`
}

// StoreMeta is one storage declaration of a charm.
type StoreMeta struct {
	Type        string `json:"type"`
	Location    string `json:"location,omitempty"`
	CountMin    int    `json:"count-min"`
	CountMax    int    `json:"count-max"` // -1: no limit
	MinimumSize uint64 `json:"minimum-size,omitempty"`
}

// Bind mirrors jujusim.Bind without importing it.
type Bind struct {
	HostPath string `json:"host-path"`
	Path     string `json:"path"`
}

// Status is a workload or agent status.
type Status struct {
	Current string `json:"current"`
	Message string `json:"message"`
	Since   string `json:"since,omitempty"`
}

// Unit is one unit of an application.
type Unit struct {
	Name            string   `json:"name"`
	App             string   `json:"application"`
	Machine         string   `json:"machine"`
	Workload        Status   `json:"workload"`
	Agent           Status   `json:"agent"`
	WorkloadVersion string   `json:"workload-version,omitempty"`
	Ports           []string `json:"ports,omitempty"` // "8080/tcp", "1000-2000/udp", "icmp"
	Queue           []Hook   `json:"queue,omitempty"`
	// FollowUp is the hook Juju's operation state holds as Queued: it runs
	// next, before anything in Queue (start after the first config-changed,
	// config-changed after upgrade-charm, an interrupted hook).
	FollowUp *Hook `json:"follow-up,omitempty"`
	// Running is the context of the hook or action now running, if any.
	Running string     `json:"running,omitempty"`
	Error   *HookError `json:"error,omitempty"`
	// Dying is set by remove-unit; Lost by kill-agent.
	Dying       bool              `json:"dying,omitempty"`
	DestroyStor bool              `json:"destroy-storage,omitempty"`
	Lost        bool              `json:"lost,omitempty"`
	Installed   bool              `json:"installed,omitempty"`
	CharmRev    int               `json:"charm-rev"` // revision copied onto the machine
	Started     bool              `json:"started,omitempty"`
	State       map[string]string `json:"state,omitempty"` // state-get/state-set
}

// Hook is one queued hook or action.
type Hook struct {
	Kind       string `json:"kind"` // hook name without endpoint/storage prefix, e.g. "relation-joined", or "action"
	Name       string `json:"name"` // the full hook name ("db-relation-joined") or action name
	RelationID int    `json:"relation-id"`
	RemoteUnit string `json:"remote-unit,omitempty"`
	RemoteApp  string `json:"remote-app,omitempty"`
	Departing  string `json:"departing-unit,omitempty"`
	StorageID  string `json:"storage-id,omitempty"`
	ActionID   string `json:"action-id,omitempty"`
	SecretID   string `json:"secret-id,omitempty"`
}

// HookError is the error state of a unit whose hook failed.
type HookError struct {
	Hook      Hook   `json:"hook"`
	Retries   int    `json:"retries"`
	NextRetry int64  `json:"next-retry"` // unix nanoseconds
	Saved     Status `json:"saved"`      // workload status to restore once resolved
}

// Machine is a provisioned machine.
type Machine struct {
	ID       string `json:"id"`
	Address  string `json:"address"`
	Provider string `json:"provider"`
	Binds    []Bind `json:"binds,omitempty"`
	Ready    bool   `json:"ready"` // provisioned and the charm copied in
}

// Relation is an established relation between two endpoints (or one peer
// endpoint).
type Relation struct {
	ID        int                 `json:"id"`
	Endpoints []RelEndpoint       `json:"endpoints"`
	UnitData  map[string]Bag      `json:"unit-data"` // unit -> bag
	AppData   map[string]Bag      `json:"app-data"`  // app -> bag
	Joined    map[string][]string `json:"joined"`    // local unit -> remote units it has seen join
	// Entered lists the units in scope: those that started relation-created.
	Entered []string `json:"entered,omitempty"`
	Dying   bool     `json:"dying,omitempty"`
	// Broken lists the units that have run relation-broken.
	Broken []string `json:"broken,omitempty"`
}

// RelEndpoint is one side of a relation.
type RelEndpoint struct {
	App      string `json:"app"`
	Endpoint string `json:"endpoint"`
	Role     string `json:"role"`
}

// Bag is a relation data bag.
type Bag map[string]string

// StorageInstance is a Juju storage instance such as "concourse-data/0".
type StorageInstance struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Kind     string `json:"kind"`            // filesystem or block
	Owner    string `json:"owner,omitempty"` // unit name; empty once detached
	Location string `json:"location"`        // nominal path on the machine
	HostDir  string `json:"host-dir"`        // backing directory in the model dir
	Path     string `json:"path"`            // where hooks see it (storage-get location)
	SizeMiB  uint64 `json:"size-mib"`
	// Attached is set once the owner's storage-attached hook ran: Juju runs
	// storage-detaching only for storage the charm was told about.
	Attached bool `json:"attached,omitempty"`
}

// Secret is a Juju secret.
type Secret struct {
	ID          string              `json:"id"`
	Label       string              `json:"label,omitempty"`
	Owner       string              `json:"owner"` // application or unit name
	Description string              `json:"description,omitempty"`
	Revisions   []map[string]string `json:"revisions"`
	Grants      map[string][]string `json:"grants,omitempty"` // relation id -> apps/units
	// Tracked is the revision each consumer unit sees (secret-get without --refresh).
	Tracked map[string]int `json:"tracked,omitempty"`
	// ConsumerLabels are labels consumers gave the secret.
	ConsumerLabels map[string]string `json:"consumer-labels,omitempty"`
}

// Action is one action invocation.
type Action struct {
	ID      string         `json:"id"`
	Unit    string         `json:"unit"`
	Name    string         `json:"name"`
	Params  map[string]any `json:"params"`
	Status  string         `json:"status"` // pending, running, completed, failed
	Message string         `json:"message,omitempty"`
	Results map[string]any `json:"results,omitempty"`
	Log     []string       `json:"log,omitempty"`
	Output  string         `json:"output,omitempty"`
	Code    int            `json:"return-code"`
}

// NewModel returns an empty model.
func NewModel(name, uuid string) *Model {
	m := &Model{Name: name, UUID: uuid}
	m.init()
	return m
}

func (m *Model) init() {
	if m.Seq == nil {
		m.Seq = map[string]int{}
	}
	if m.Applications == nil {
		m.Applications = map[string]*Application{}
	}
	if m.Units == nil {
		m.Units = map[string]*Unit{}
	}
	if m.Machines == nil {
		m.Machines = map[string]*Machine{}
	}
	if m.Relations == nil {
		m.Relations = map[int]*Relation{}
	}
	if m.Storage == nil {
		m.Storage = map[string]*StorageInstance{}
	}
	if m.Secrets == nil {
		m.Secrets = map[string]*Secret{}
	}
	if m.Contexts == nil {
		m.Contexts = map[string]*HookContext{}
	}
	if m.Actions == nil {
		m.Actions = map[string]*Action{}
	}
}

// Next returns the next value of a model sequence, starting at 0 like Juju's.
func (m *Model) Next(name string) int {
	n := m.Seq[name]
	m.Seq[name] = n + 1
	return n
}

// AppUnits returns the names of an application's units in numeric order.
func (m *Model) AppUnits(app string) []string {
	var out []string
	for name, u := range m.Units {
		if u.App == app {
			out = append(out, name)
		}
	}
	SortUnits(out)
	return out
}

// SortUnits sorts unit names by application, then unit number.
func SortUnits(names []string) {
	sort.Slice(names, func(i, j int) bool {
		ai, ni := SplitUnit(names[i])
		aj, nj := SplitUnit(names[j])
		if ai != aj {
			return ai < aj
		}
		return ni < nj
	})
}

// SplitUnit splits "app/3" into "app" and 3.
func SplitUnit(unit string) (string, int) {
	app, num, ok := strings.Cut(unit, "/")
	if !ok {
		return unit, -1
	}
	n, err := strconv.Atoi(num)
	if err != nil {
		return app, -1
	}
	return app, n
}

// UnitTag returns Juju's tag form of a unit name: "unit-app-3".
func UnitTag(unit string) string {
	return "unit-" + strings.ReplaceAll(unit, "/", "-")
}

// Endpoint returns the relation endpoint of app, and the other side (for a
// peer relation both are the same endpoint).
func (r *Relation) Endpoint(app string) (local, remote RelEndpoint, ok bool) {
	for i, ep := range r.Endpoints {
		if ep.App == app {
			if len(r.Endpoints) == 1 {
				return ep, ep, true
			}
			return ep, r.Endpoints[1-i], true
		}
	}
	return RelEndpoint{}, RelEndpoint{}, false
}

// IsPeer reports whether r is a peer relation.
func (r *Relation) IsPeer() bool { return len(r.Endpoints) == 1 }

// Key returns "endpoint:id" as seen from app.
func (r *Relation) Key(app string) string {
	local, _, _ := r.Endpoint(app)
	return fmt.Sprintf("%s:%d", local.Endpoint, r.ID)
}

// RemoteUnits returns the units on the other side of r from unit's point of
// view (for a peer relation: the other units of the same application).
func (m *Model) RemoteUnits(r *Relation, unit string) []string {
	app, _ := SplitUnit(unit)
	_, remote, ok := r.Endpoint(app)
	if !ok {
		return nil
	}
	var out []string
	for _, name := range m.AppUnits(remote.App) {
		if name != unit {
			out = append(out, name)
		}
	}
	return out
}

// HasString reports whether list contains s.
func HasString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// RemoveString returns list without s.
func RemoveString(list []string, s string) []string {
	out := list[:0:0]
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// LogPath is the per-unit debug log inside the model directory.
func LogPath(modelDir, unit string) string {
	return modelDir + "/logs/" + UnitTag(unit) + ".log"
}
