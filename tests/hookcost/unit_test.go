package hookcost

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/concourse"
)

// model mirrors faketool's Model: what the unit's hook tools answer.
type model struct {
	Unit      string                                  `json:"unit"`
	Leader    bool                                    `json:"leader"`
	Config    map[string]any                          `json:"config"`
	Relations map[string][]string                     `json:"relations"`
	Remote    map[string]string                       `json:"remote"`
	Members   map[string][]string                     `json:"members"`
	Bags      map[string]map[string]map[string]string `json:"bags"`
	Storage   map[string]string                       `json:"storage"`
	Address   string                                  `json:"address"`
	Secrets   map[string]map[string]string            `json:"secrets"`
	Status    map[string]string                       `json:"status"`
	Ports     []string                                `json:"ports"`
}

// scenario is one measured unit: unit number `unit` of an application of `units` workers
// (mode=worker, related over flight to a one-unit web application), so that the benchmark needs
// neither PostgreSQL nor a system user on the machine it runs on.
type scenario struct {
	name  string
	units int
	unit  int
}

// unitDir is one unit's charm directory, storage and model.
type unitDir struct {
	name     string // workers/<n>
	charmDir string
	dataDir  string
	model    string // faketool's model file
	log      string // faketool's call log
	env      []string
}

const (
	app       = "workers"
	flightRel = "flight:3"
	peerRel   = "cluster:0"
)

func (e *hookEnv) newUnit(b *testing.B, sc scenario) *unitDir {
	b.Helper()
	dir := b.TempDir()
	u := &unitDir{name: fmt.Sprintf("%s/%d", app, sc.unit), charmDir: filepath.Join(dir, "charm"),
		dataDir: filepath.Join(dir, "concourse-data"), model: filepath.Join(dir, "model.json"), log: filepath.Join(dir, "calls.log")}
	must(b, os.Mkdir(u.charmDir, 0o755))
	must(b, os.Mkdir(u.dataDir, 0o755))
	// A hard link: the charm directory holds dispatch as Juju unpacks it, and the binary is the same.
	must(b, os.Link(e.charmBin, filepath.Join(u.charmDir, "dispatch")))
	for _, f := range []string{"metadata.yaml", "config.yaml", "actions.yaml"} {
		data, err := os.ReadFile(filepath.Join(e.module, f))
		must(b, err)
		must(b, os.WriteFile(filepath.Join(u.charmDir, f), data, 0o644))
	}
	cfg := configDefaults(b, filepath.Join(e.module, "config.yaml"))
	cfg["mode"], cfg["version"], cfg["download-url"] = "worker", benchVersion, e.srv.URLTemplate()
	hostKey, err := concourse.GenerateKey(2048)
	must(b, err)
	m := model{
		Unit: u.name, Leader: sc.unit == 0, Config: cfg,
		Relations: map[string][]string{"cluster": {peerRel}, "flight": {flightRel}},
		Remote:    map[string]string{peerRel: app, flightRel: "web"},
		Members:   map[string][]string{flightRel: {"web/0"}},
		Bags: map[string]map[string]map[string]string{
			peerRel:   {app: {}},
			flightRel: {"web": {"tsa-public-key": hostKey.Public}, "web/0": {"tsa-address": "10.0.0.1:2222"}},
		},
		Storage: map[string]string{"concourse-data/0": u.dataDir},
		Address: fmt.Sprintf("10.0.1.%d", sc.unit+10),
	}
	for i := range sc.units {
		if i == sc.unit {
			continue
		}
		peer := fmt.Sprintf("%s/%d", app, i)
		m.Members[peerRel] = append(m.Members[peerRel], peer)
		m.Bags[peerRel][peer] = map[string]string{"role": "worker", "release": benchVersion + "-" + runtime.GOARCH, "release-location": "local",
			"worker-key": "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC" + strings.Repeat("x", 360) + " " + peer}
	}
	data, err := json.Marshal(m)
	must(b, err)
	must(b, os.WriteFile(u.model, data, 0o600))
	u.env = []string{
		"PATH=" + e.toolsDir + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"JUJU_UNIT_NAME=" + u.name, "JUJU_CHARM_DIR=" + u.charmDir, "CHARM_DIR=" + u.charmDir,
		"JUJU_MODEL_NAME=bench", "JUJU_MODEL_UUID=00000000-0000-4000-8000-000000000000", "JUJU_MACHINE_ID=0",
		"JUJU_VERSION=3.6.4", "JUJU_CONTEXT_ID=" + u.name + "-bench", "JUJU_AVAILABILITY_ZONE=",
		"PEBBLE=" + e.pebble.home, "HOOKCOST_MODEL=" + u.model, "HOOKCOST_LOG=" + u.log,
	}
	return u
}

// hook runs the charm for one hook, as Juju does: dispatch in the charm directory.
func (u *unitDir) hook(b *testing.B, name string) run {
	b.Helper()
	env := append([]string{"JUJU_DISPATCH_PATH=hooks/" + name, "JUJU_HOOK_NAME=" + name}, u.env...)
	return runProcess(b, u.charmDir, u.log, env, []string{filepath.Join(u.charmDir, "dispatch")})
}

// peak runs the hook once more and returns its peak RSS in KiB (see peakRSS).
func (u *unitDir) peak(b *testing.B, name string) int64 {
	b.Helper()
	env := append([]string{"JUJU_DISPATCH_PATH=hooks/" + name, "JUJU_HOOK_NAME=" + name}, u.env...)
	return peakRSS(b, u.charmDir, u.log, env, []string{filepath.Join(u.charmDir, "dispatch")})
}

// status is the unit's workload status in the model, as "state: message".
func (u *unitDir) status(b *testing.B) string {
	b.Helper()
	data, err := os.ReadFile(u.model)
	must(b, err)
	var m model
	must(b, json.Unmarshal(data, &m))
	state, msg, _ := strings.Cut(m.Status["unit"], "\x00")
	return state + ": " + msg
}

// unsettle removes the settled record, so that the next update-status reconciles in full as
// every update-status did before the fast path.
func (u *unitDir) unsettle(b *testing.B) {
	b.Helper()
	must(b, os.Remove(filepath.Join(u.dataDir, "state", "settled.json")))
}

// configDefaults is what `config-get --all` prints for an application nobody configured.
func configDefaults(b *testing.B, path string) map[string]any {
	b.Helper()
	data, err := os.ReadFile(path)
	must(b, err)
	var doc struct {
		Options map[string]struct {
			Default any `yaml:"default"`
		} `yaml:"options"`
	}
	must(b, yaml.Unmarshal(data, &doc))
	cfg := map[string]any{}
	for name, opt := range doc.Options {
		cfg[name] = opt.Default
	}
	return cfg
}
