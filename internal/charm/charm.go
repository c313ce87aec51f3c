// Package charm is the charm's logic: it turns the hook environment, config, relations and
// leadership into changes on the machine. Every hook but actions and the removal hooks runs the same
// idempotent reconcile, so hooks may come twice, in any order, or be killed halfway.
package charm

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/service"
)

// Names fixed by metadata.yaml.
const (
	peerEndpoint    = "cluster"
	storageName     = "concourse-data"
	releaseResource = "concourse-release"
	// defaultDataDir is concourse-data's location in metadata.yaml, used when no storage instance
	// is attached yet (storage-list empty), so the unit still has one well-known home.
	defaultDataDir = "/var/lib/concourse-data"
)

// Options configures a Charm. Only Env and Tools are required.
type Options struct {
	Env   juju.Env
	Tools *juju.Client
	// Arch of the release to install; default runtime.GOARCH.
	Arch string
	// Out receives human-readable lines (stdout goes to debug-log in hooks).
	Out io.Writer
	// Now is the clock, for tests; default time.Now.
	Now func() time.Time
	// Services connects to the service supervisor; default: systemd if it is PID 1, else Pebble.
	Services func(ctx context.Context) (service.Manager, error)
	// KeyBits is the size of generated RSA keys; default concourse.KeyBits (tests use less).
	KeyBits int
	// SystemUser creates (if needed) the web's system user and returns its gid; default useradd.
	SystemUser func(name string) (gid int, err error)
	// RunConcourse runs the release's concourse binary with exactly env (retire-worker by name);
	// default: exec.
	RunConcourse func(ctx context.Context, bin string, args, env []string) ([]byte, error)
	// Health proves a unit's services run a version after an upgrade; default checkHealth (HTTP to
	// the unit's own web and worker).
	Health HealthCheck
}

// Charm handles one hook or action invocation.
type Charm struct {
	env   juju.Env
	tools *juju.Client
	arch  string
	out   io.Writer
	now   func() time.Time

	connectServices func(ctx context.Context) (service.Manager, error)
	services        service.Manager // connected on first use, closed by Close
	keyBits         int
	systemUser      func(name string) (int, error)
	runConcourse    func(ctx context.Context, bin string, args, env []string) ([]byte, error)
	drainTimeout    time.Duration // tests: bound of an action's land or retire; 0: drain-timeout
	health          HealthCheck
}

// New returns a Charm for one invocation.
func New(opts Options) *Charm {
	c := &Charm{env: opts.Env, tools: opts.Tools, arch: opts.Arch, out: opts.Out, now: opts.Now,
		connectServices: opts.Services, keyBits: opts.KeyBits, systemUser: opts.SystemUser, runConcourse: opts.RunConcourse}
	if c.systemUser == nil {
		c.systemUser = ensureSystemUser
	}
	if c.runConcourse == nil {
		c.runConcourse = execConcourse
	}
	if c.health = opts.Health; c.health == nil {
		c.health = checkHealth
	}
	if c.arch == "" {
		c.arch = runtime.GOARCH
	}
	if c.out == nil {
		c.out = io.Discard
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.connectServices == nil {
		c.connectServices = c.detectServices
	}
	return c
}

// serviceManager connects to the supervisor once per invocation.
func (c *Charm) serviceManager(ctx context.Context) (service.Manager, error) {
	if c.services != nil {
		return c.services, nil
	}
	m, err := c.connectServices(ctx)
	if err != nil {
		return nil, fmt.Errorf("service supervisor: %w", err)
	}
	c.services = m
	return m, nil
}

// Close releases the connection to the supervisor, if one was made.
func (c *Charm) Close() error {
	if c.services == nil {
		return nil
	}
	err := c.services.Close()
	c.services = nil
	return err
}

// say writes one line of progress to the hook's output (debug-log).
func (c *Charm) say(format string, args ...any) {
	fmt.Fprintf(c.out, format+"\n", args...)
}

// RunHook handles the hook called name. Hooks the charm does not know end quietly: Juju sends
// every event to dispatch, including ones a charm has no use for.
func (c *Charm) RunHook(ctx context.Context, name string) error {
	switch {
	case name == storageName+"-storage-detaching":
		// Juju detaches storage before the unit's relations break and before stop and remove:
		// this is the last hook that still sees the unit's state on it. The worker's volumes
		// live there, so the worker retires now, while the webs still authorize its key.
		if err := c.retireForGood(ctx); err != nil {
			return err
		}
		return c.forgetUnit(c.env.StorageLocation)
	case name == "remove":
		return c.forgetUnit("")
	case name == "stop":
		// The unit is being removed: its services stop; the release stays for other units.
		return c.stopServices(ctx)
	case c.env.DepartingUnit != "" && c.env.DepartingUnit == c.env.UnitName:
		// This unit is leaving. Its own departed hooks run before it leaves the relations'
		// scope, so before the webs drop its key: retire the worker now. Later hooks of a dying
		// unit (relation-broken) have no way to tell; the marker tells them.
		fmt.Fprintf(c.out, "%s: this unit is departing\n", name)
		if err := c.markDying(); err != nil {
			return err
		}
		return c.retireForGood(ctx)
	case c.dying():
		fmt.Fprintf(c.out, "%s: this unit is being removed, nothing to reconcile\n", name)
		return nil
	case name == "update-status":
		// Every 5 minutes on every unit: a settled unit checks only what can change without a
		// hook (updatestatus.go).
		return c.updateStatus(ctx)
	case name == "secret-remove":
		return c.removeObsoleteRevision(ctx)
	case c.isKnownHook(name):
		return c.Reconcile(ctx)
	}
	fmt.Fprintf(c.out, "hook %q is not handled by this charm\n", name)
	return nil
}

// isKnownHook says whether name is a hook Juju can emit for this charm's metadata.
func (c *Charm) isKnownHook(name string) bool {
	switch name {
	case "install", "start", "config-changed", "upgrade-charm", "update-status", "leader-elected",
		"leader-settings-changed", "post-series-upgrade", "secret-changed", "secret-rotate",
		"secret-expired", "secret-remove", storageName + "-storage-attached":
		return true
	}
	for _, endpoint := range []string{peerEndpoint, "tsa", "flight", "postgresql", metricsEndpoint} {
		for _, suffix := range []string{"created", "joined", "changed", "departed", "broken"} {
			if name == endpoint+"-relation-"+suffix {
				return true
			}
		}
	}
	return false
}

// RunAction runs the action called name; its error is what the operator reads from action-fail.
func (c *Charm) RunAction(ctx context.Context, name string) error {
	// An action may change what the unit runs without a hook: the next update-status reconciles.
	if err := c.unsettle(); err != nil {
		return err
	}
	switch name {
	case "shared-storage-info":
		return c.sharedStorageInfo(ctx)
	case "get-admin-password":
		return c.getAdminPassword(ctx)
	case "set-admin-password":
		return c.setAdminPassword(ctx)
	case "land-worker":
		return c.stopWorkerAction(ctx, landAction)
	case "retire-worker":
		return c.stopWorkerAction(ctx, retireAction)
	case "restart":
		return c.restartAction(ctx)
	case "rotate-keys":
		return c.rotateKeysAction(ctx)
	case "upgrade-status":
		return c.upgradeStatusAction(ctx)
	case "upgrade-resume":
		return c.upgradeResumeAction(ctx)
	case "upgrade-rollback":
		return c.upgradeRollbackAction(ctx)
	}
	return fmt.Errorf("unknown action %q: this charm version does not implement it", name)
}
