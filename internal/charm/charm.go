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
}

// Charm handles one hook or action invocation.
type Charm struct {
	env   juju.Env
	tools *juju.Client
	arch  string
	out   io.Writer
	now   func() time.Time
}

// New returns a Charm for one invocation.
func New(opts Options) *Charm {
	c := &Charm{env: opts.Env, tools: opts.Tools, arch: opts.Arch, out: opts.Out, now: opts.Now}
	if c.arch == "" {
		c.arch = runtime.GOARCH
	}
	if c.out == nil {
		c.out = io.Discard
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// RunHook handles the hook called name. Hooks the charm does not know end quietly: Juju sends
// every event to dispatch, including ones a charm has no use for.
func (c *Charm) RunHook(ctx context.Context, name string) error {
	switch {
	case name == storageName+"-storage-detaching":
		// Juju detaches storage before the unit's relations break and before stop and remove:
		// this is the last hook that still sees the unit's state on it.
		return c.forgetUnit(c.env.StorageLocation)
	case name == "remove":
		return c.forgetUnit("")
	case name == "stop":
		return nil // nothing runs yet that must stop; the release stays for other units
	case c.env.DepartingUnit != "" && c.env.DepartingUnit == c.env.UnitName:
		// This unit is leaving: its storage is already detached (Juju detaches it first), and
		// there is nothing to reconcile towards.
		fmt.Fprintf(c.out, "%s: this unit is departing, nothing to do\n", name)
		return nil
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
	for _, endpoint := range []string{peerEndpoint, "tsa", "flight", "postgresql"} {
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
	switch name {
	case "shared-storage-info":
		return c.sharedStorageInfo(ctx)
	}
	return fmt.Errorf("unknown action %q: this charm version does not implement it", name)
}
