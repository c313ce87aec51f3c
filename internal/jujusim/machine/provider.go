// Package machine gives the Juju simulator real machines: each one a systemd-nspawn container with
// systemd as PID 1, booted from a cached Debian rootfs through its own overlay, in its own network
// namespace with an address on a host bridge, as Juju's local LXD cloud would give. Machines share
// nothing but the model dir, the hook tools binary and the bind mounts a Spec asks for.
//
// The package does not import the simulator core; the core adapts these types to its interface.
package machine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Bind is a host path made visible inside a machine, like an LXD disk device.
type Bind struct {
	HostPath string
	Path     string // inside the machine; defaults to HostPath
	ReadOnly bool
}

// Spec says what machine to provision.
type Spec struct {
	ID          string // Juju machine id ("0", "0/lxd/1"); unique within one StateDir
	ModelDir    string // bound read-write at the same path inside
	ToolsBinary string // bound read-only at the same path inside
	Binds       []Bind
	Hostname    string // defaults to "juju-<id>"
}

// Cmd is a command to run inside a machine. Env is the whole environment (nothing is inherited);
// Dir defaults to "/".
type Cmd struct {
	Argv  []string
	Env   []string
	Dir   string
	Stdin []byte
}

// Options configures a Provider. Zero values take the defaults named on each field.
type Options struct {
	StateDir    string        // required: one directory per machine (overlay, log, record) lives here
	RootfsDir   string        // complete rootfs from EnsureRootfs; default DefaultRootfsDir()
	Network     Network       // default DefaultNetwork()
	BootTimeout time.Duration // default 90s: from start until systemd reports the boot finished
	StopTimeout time.Duration // default 20s: graceful poweroff before the container is killed
}

// Provider provisions machines. It is safe for concurrent use.
type Provider struct {
	opts Options
}

// NewProvider checks opts and fills defaults. It does not build the rootfs: call EnsureRootfs first.
func NewProvider(opts Options) (*Provider, error) {
	if opts.StateDir == "" {
		return nil, errors.New("machine provider: StateDir is required")
	}
	if opts.RootfsDir == "" {
		opts.RootfsDir = DefaultRootfsDir()
	}
	if !RootfsComplete(opts.RootfsDir) {
		return nil, fmt.Errorf("machine provider: no complete rootfs at %s (run EnsureRootfs or .ci/machines.sh)", opts.RootfsDir)
	}
	if opts.Network == (Network{}) {
		opts.Network = DefaultNetwork()
	}
	if opts.BootTimeout == 0 {
		opts.BootTimeout = 90 * time.Second
	}
	if opts.StopTimeout == 0 {
		opts.StopTimeout = 20 * time.Second
	}
	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("machine provider state dir: %w", err)
	}
	return &Provider{opts: opts}, nil
}

// HostAddress is the host's address on the machines' bridge: bind host-side servers that machines
// must reach (a loopback release server, say) to it.
func (p *Provider) HostAddress() string { return p.opts.Network.HostIP() }

// Provision boots a new machine and returns once its systemd has finished booting and its address
// is configured. On failure everything it set up is torn down again.
func (p *Provider) Provision(ctx context.Context, spec Spec) (*Machine, error) {
	if err := validateSpec(spec); err != nil {
		return nil, err
	}
	if err := p.checkStateDirPrivate(spec); err != nil {
		return nil, err
	}
	dir := filepath.Join(p.opts.StateDir, dirName(spec.ID))
	if err := clearDeadMachine(ctx, dir); err != nil {
		return nil, fmt.Errorf("provision machine %s: %w", spec.ID, err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("provision machine %s: %w", spec.ID, err)
	}
	m := &Machine{rec: record{ID: spec.ID, Dir: dir, Network: p.opts.Network}, stopTimeout: p.opts.StopTimeout}
	if err := m.boot(ctx, p.opts, spec); err != nil {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.opts.StopTimeout+10*time.Second)
		defer cancel()
		if derr := m.Destroy(stopCtx); derr != nil {
			err = errors.Join(err, fmt.Errorf("tear down after failed boot: %w", derr))
		}
		return nil, fmt.Errorf("provision machine %s: %w", spec.ID, err)
	}
	return m, nil
}

// clearDeadMachine tears down what a machine of the same id left behind when it is no longer
// running (a crash, a host reboot), so the id can be provisioned afresh. A running one is an error:
// Open returns it.
func clearDeadMachine(ctx context.Context, dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	rec, err := loadRecord(dir)
	if err == nil && rec.Leader.alive() {
		return fmt.Errorf("already running (use Open)")
	}
	if err != nil {
		rec = record{Dir: dir, Mounted: true}
	}
	if err := teardown(ctx, &rec, nil, 10*time.Second); err != nil {
		return fmt.Errorf("clear dead machine: %w", err)
	}
	return nil
}

// checkStateDirPrivate refuses a StateDir inside a directory every machine sees: binds are
// recursive, so each machine would see the others' roots (keys included) and hold copies of their
// overlay mounts, which then outlive Destroy.
func (p *Provider) checkStateDirPrivate(spec Spec) error {
	shared := []string{spec.ModelDir}
	for _, b := range spec.Binds {
		shared = append(shared, b.HostPath)
	}
	for _, dir := range shared {
		if dir != "" && within(p.opts.StateDir, dir) {
			return fmt.Errorf("machine %s: StateDir %s is inside %s, which machines share; put it outside", spec.ID, p.opts.StateDir, dir)
		}
	}
	return nil
}

// within reports whether path is dir or below it, comparing cleaned absolute paths.
func within(path, dir string) bool {
	path, errP := filepath.Abs(path)
	dir, errD := filepath.Abs(dir)
	if errP != nil || errD != nil {
		return false
	}
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// idPattern accepts Juju machine ids; no '-', so dirName cannot map two ids to one directory.
var idPattern = regexp.MustCompile(`^[a-z0-9]+(/[a-z0-9]+)*$`)

func validateSpec(spec Spec) error {
	if !idPattern.MatchString(spec.ID) {
		return fmt.Errorf("machine id %q: want a Juju machine id such as 0 or 0/lxd/1", spec.ID)
	}
	for _, path := range []string{spec.ModelDir, spec.ToolsBinary} {
		if path != "" && !filepath.IsAbs(path) {
			return fmt.Errorf("machine %s: %q is not an absolute path", spec.ID, path)
		}
	}
	for _, b := range spec.Binds {
		if !filepath.IsAbs(b.HostPath) || (b.Path != "" && !filepath.IsAbs(b.Path)) {
			return fmt.Errorf("machine %s: bind %q:%q needs absolute paths", spec.ID, b.HostPath, b.Path)
		}
	}
	return nil
}

// dirName turns a machine id into one path element: "0/lxd/1" -> "0-lxd-1".
func dirName(id string) string {
	out := []byte(id)
	for i, c := range out {
		if c == '/' {
			out[i] = '-'
		}
	}
	return string(out)
}
