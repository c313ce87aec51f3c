package engine

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/state"
)

// StatusInfo mirrors the parts of `juju status --format=json` tests need.
type StatusInfo struct {
	Model        ModelStatus              `json:"model"`
	Machines     map[string]MachineStatus `json:"machines"`
	Applications map[string]AppStatus     `json:"applications"`
	Storage      map[string]StorageStatus `json:"storage,omitempty"`
}

type ModelStatus struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Version string `json:"version"`
}

type StatusValue struct {
	Current string `json:"current"`
	Message string `json:"message,omitempty"`
	Since   string `json:"since,omitempty"`
}

type MachineStatus struct {
	JujuStatus  StatusValue `json:"juju-status"`
	DNSName     string      `json:"dns-name"`
	IPAddresses []string    `json:"ip-addresses"`
	InstanceID  string      `json:"instance-id"`
}

type AppStatus struct {
	Charm             string                `json:"charm"`
	CharmRev          int                   `json:"charm-rev"`
	Version           string                `json:"version,omitempty"`
	ApplicationStatus StatusValue           `json:"application-status"`
	Relations         map[string][]string   `json:"relations,omitempty"`
	Units             map[string]UnitStatus `json:"units,omitempty"`
}

type UnitStatus struct {
	WorkloadStatus StatusValue `json:"workload-status"`
	JujuStatus     StatusValue `json:"juju-status"`
	Leader         bool        `json:"leader,omitempty"`
	Machine        string      `json:"machine"`
	OpenPorts      []string    `json:"open-ports,omitempty"`
	PublicAddress  string      `json:"public-address,omitempty"`
}

type StorageStatus struct {
	Kind     string `json:"kind"`
	Owner    string `json:"owner,omitempty"`
	Location string `json:"location"`
	Status   string `json:"status"`
}

// severity orders statuses like Juju's derived application status.
var severity = map[string]int{"error": 6, "blocked": 5, "maintenance": 4, "waiting": 3, "active": 2, "unknown": 1, "terminated": 0}

// Status collects the model's status.
func (e *Engine) Status() (StatusInfo, error) {
	var st StatusInfo
	err := e.store().View(func(m *state.Model) error {
		st = buildStatus(m)
		return nil
	})
	return st, err
}

func buildStatus(m *state.Model) StatusInfo {
	st := StatusInfo{Model: ModelStatus{Name: m.Name, Type: "iaas", Version: JujuVersion},
		Machines: map[string]MachineStatus{}, Applications: map[string]AppStatus{}, Storage: map[string]StorageStatus{}}
	for id, rec := range m.Machines {
		ms := MachineStatus{JujuStatus: StatusValue{Current: "pending"}, DNSName: rec.Address, InstanceID: "pending"}
		if rec.Ready {
			ms.JujuStatus.Current = "started"
			ms.IPAddresses = []string{rec.Address}
			ms.InstanceID = "jujusim-" + rec.Provider + "-" + id
		}
		st.Machines[id] = ms
	}
	for name, app := range m.Applications {
		as := AppStatus{Charm: app.CharmName, CharmRev: app.Revision, Units: map[string]UnitStatus{}, Relations: map[string][]string{}}
		derived := StatusValue{Current: "unknown"}
		for _, unit := range m.AppUnits(name) {
			u := m.Units[unit]
			addr := ""
			if rec := m.Machines[u.Machine]; rec != nil {
				addr = rec.Address
			}
			as.Units[unit] = UnitStatus{WorkloadStatus: StatusValue(u.Workload), JujuStatus: StatusValue(u.Agent),
				Leader: app.Leader == unit, Machine: u.Machine, OpenPorts: u.Ports, PublicAddress: addr}
			if severity[u.Workload.Current] > severity[derived.Current] {
				derived = StatusValue(u.Workload)
			}
			if as.Version == "" && u.WorkloadVersion != "" {
				as.Version = u.WorkloadVersion
			}
		}
		if lead := m.Units[app.Leader]; lead != nil && lead.WorkloadVersion != "" {
			as.Version = lead.WorkloadVersion
		}
		as.ApplicationStatus = derived
		if app.Status != nil {
			as.ApplicationStatus = StatusValue(*app.Status)
		}
		for _, r := range m.Relations {
			local, remote, ok := r.Endpoint(name)
			if ok {
				as.Relations[local.Endpoint] = append(as.Relations[local.Endpoint], remote.App)
			}
		}
		st.Applications[name] = as
	}
	for id, s := range m.Storage {
		status := "attached"
		if s.Owner == "" {
			status = "detached"
		}
		st.Storage[id] = StorageStatus{Kind: s.Kind, Owner: s.Owner, Location: s.Location, Status: status}
	}
	return st
}

// WriteStatusTable prints status like `juju status`.
func WriteStatusTable(w io.Writer, st StatusInfo) error {
	tw := tabwriter.NewWriter(w, 0, 1, 2, ' ', 0)
	fmt.Fprintf(tw, "Model\tController\tCloud/Region\tVersion\n%s\tjujusim\tlocal\t%s\n\n", st.Model.Name, st.Model.Version)
	fmt.Fprintln(tw, "App\tVersion\tStatus\tScale\tCharm\tRev\tMessage")
	for _, name := range sortedKeys(st.Applications) {
		a := st.Applications[name]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\t%s\n", name, a.Version, a.ApplicationStatus.Current, len(a.Units), a.Charm, a.CharmRev, a.ApplicationStatus.Message)
	}
	fmt.Fprintln(tw, "\nUnit\tWorkload\tAgent\tMachine\tAddress\tPorts\tMessage")
	for _, name := range sortedKeys(st.Applications) {
		units := sortedKeys(st.Applications[name].Units)
		state.SortUnits(units)
		for _, unit := range units {
			u := st.Applications[name].Units[unit]
			star := ""
			if u.Leader {
				star = "*"
			}
			fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\t%s\t%s\t%s\n", unit, star, u.WorkloadStatus.Current, u.JujuStatus.Current, u.Machine, u.PublicAddress, strings.Join(u.OpenPorts, ","), u.WorkloadStatus.Message)
		}
	}
	fmt.Fprintln(tw, "\nMachine\tState\tAddress\tInst id")
	ids := sortedKeys(st.Machines)
	sort.Slice(ids, func(i, j int) bool { return len(ids[i]) < len(ids[j]) || len(ids[i]) == len(ids[j]) && ids[i] < ids[j] })
	for _, id := range ids {
		mc := st.Machines[id]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", id, mc.JujuStatus.Current, mc.DNSName, mc.InstanceID)
	}
	return tw.Flush()
}
