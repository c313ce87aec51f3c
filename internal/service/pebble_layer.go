package service

import (
	"fmt"
	"reflect"
	"strings"
	"syscall"

	"github.com/canonical/x-go/strutil/shlex"
	"golang.org/x/sys/unix"
	"gopkg.in/yaml.v3"
)

// pebbleService is the part of a Pebble service definition this package writes. It is declared
// here because Pebble's own plan types are internal to its module.
type pebbleService struct {
	Override    string            `yaml:"override,omitempty"`
	Summary     string            `yaml:"summary,omitempty"`
	Description string            `yaml:"description,omitempty"`
	Command     string            `yaml:"command,omitempty"`
	Startup     string            `yaml:"startup,omitempty"`
	Environment map[string]string `yaml:"environment,omitempty"`
	User        string            `yaml:"user,omitempty"`
	Group       string            `yaml:"group,omitempty"`
	WorkingDir  string            `yaml:"working-dir,omitempty"`
	OnSuccess   string            `yaml:"on-success,omitempty"`
	OnFailure   string            `yaml:"on-failure,omitempty"`
	KillDelay   string            `yaml:"kill-delay,omitempty"`
}

type pebbleLayer struct {
	Summary  string                   `yaml:"summary,omitempty"`
	Services map[string]pebbleService `yaml:"services"`
}

// reloadPrefix marks the line of a service's description that records its ReloadSignal. Reload
// gets only a name, and each hook is a new process, so the signal must live in the plan itself.
const reloadPrefix = "reload-signal: "

// renderPebbleService is the Pebble counterpart of RenderUnit. startup is carried over from the
// current plan by the caller, since it belongs to Enable/Disable, not to the Spec.
func renderPebbleService(spec Spec, env map[string]string, startup string) pebbleService {
	svc := pebbleService{
		Override:    "replace",
		Summary:     spec.Description,
		Command:     shlex.Join(spec.Exec),
		Startup:     startup,
		Environment: env,
		User:        spec.User,
		Group:       spec.Group,
		WorkingDir:  spec.WorkingDir,
		// systemd's Restart=on-failure never restarts a clean exit; Pebble's default would.
		OnSuccess: "ignore",
		OnFailure: "ignore",
	}
	if spec.RestartOnFailure {
		svc.OnFailure = "restart"
	}
	if spec.TimeoutStop > 0 {
		svc.KillDelay = spec.TimeoutStop.String()
	}
	if spec.ReloadSignal != 0 {
		svc.Description = reloadPrefix + unix.SignalName(spec.ReloadSignal)
	}
	return svc
}

// sameService compares a rendered service with the plan's, ignoring override: the plan reports
// the combined result, whatever the layers said.
func sameService(a, b pebbleService) bool {
	a.Override, b.Override = "", ""
	if len(a.Environment) == 0 && len(b.Environment) == 0 {
		a.Environment, b.Environment = nil, nil
	}
	return reflect.DeepEqual(a, b)
}

func (s pebbleService) reloadSignal() (syscall.Signal, bool) {
	for line := range strings.SplitSeq(s.Description, "\n") {
		if name, ok := strings.CutPrefix(line, reloadPrefix); ok {
			sig := unix.SignalNum(name)
			return sig, sig != 0
		}
	}
	return 0, false
}

func marshalLayer(name string, svc pebbleService) ([]byte, error) {
	layer := pebbleLayer{
		Summary:  "charm service " + name,
		Services: map[string]pebbleService{name: svc},
	}
	data, err := yaml.Marshal(layer)
	if err != nil {
		return nil, fmt.Errorf("layer for %s: %w", name, err)
	}
	return data, nil
}
