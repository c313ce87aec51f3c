package charm

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
)

// updateStatus handles update-status, which Juju runs on every unit every 5 minutes. Each hook tool
// is an RPC to the unit agent, so a settled unit (the last full reconcile left it active and
// recorded what it saw and did: settled.go) checks only what can change WITHOUT a hook, with no
// hook tool but status-get:
//
//   - config, relation data and membership, leadership, secrets and the unit's addresses cannot:
//     Juju runs config-changed (config, trust or address hash changed), relation-*, leader-elected
//     and secret-changed (also for the peer units of an application that owns a secret) for them,
//     and every such hook reconciles in full after dropping the record (see docs/update-status.md
//     for where Juju's source says so);
//   - the services can (a crash, an operator's systemctl): asked of the supervisor, not of Juju;
//   - the files they read can (an operator's chmod or edit): compared with their stat signatures;
//   - the release can (removed on shared storage): its marker and the root's identity are read;
//   - the shared path can (mounted or unmounted later): probed, creating nothing;
//   - the leader's root can hold releases nobody uses any more (collected by a full reconcile);
//   - the status can (an action or `juju exec` set another): status-get, and status-set only when
//     it differs.
//
// Anything else, or anything that does not match, runs the full reconcile, exactly as every
// update-status did before: a failed download is retried, a waiting or blocked unit looks again.
func (c *Charm) updateStatus(ctx context.Context) error {
	s, why := c.settledCheck(ctx)
	if why != "" {
		c.say("update-status: reconciling in full: %s", why)
		return c.Reconcile(ctx)
	}
	cur, err := c.tools.StatusGet(ctx)
	if err != nil {
		c.say("update-status: reconciling in full: status-get: %v", err)
		return c.Reconcile(ctx)
	}
	want := juju.Status{State: s.Status.State, Message: s.Status.Message}
	if cur != want {
		if err := c.status(ctx, want.State, want.Message); err != nil {
			return err
		}
	}
	c.say("update-status: settled since %s (config %.12s, peers %.12s): nothing to do",
		s.At.Format("2006-01-02T15:04:05Z"), s.Config, s.Peers)
	return nil
}

// settledCheck returns the settled record when the unit still matches it, else why not. It runs no
// hook tool; the checks go from the cheapest to the ones that touch storage.
func (c *Charm) settledCheck(ctx context.Context) (settledState, string) {
	s, err := c.loadSettled()
	switch {
	case err != nil:
		return s, err.Error()
	case s.Format != settledFormat:
		return s, fmt.Sprintf("settled state has format %d, this charm writes %d", s.Format, settledFormat)
	case s.Unit != c.env.UnitName:
		return s, fmt.Sprintf("settled state is %s's", s.Unit)
	case s.Binary == "" || s.Binary != binaryID():
		return s, "the charm binary changed since the last reconcile"
	case s.Status.State != juju.Active:
		return s, "the last reconcile did not end active"
	}
	if now := probeShared(s.SharedPath); now != s.Probe {
		return s, fmt.Sprintf("shared-storage-path %s changed: %s (was %s)", s.SharedPath, now, s.Probe)
	}
	if why := c.releaseStillThere(s); why != "" {
		return s, why
	}
	if now := fileSignatures(serviceDirs(s.DataDir)...); !maps.Equal(now, s.Files) {
		return s, "a file the services read changed"
	}
	mgr, err := c.serviceManager(ctx)
	if err != nil {
		return s, err.Error()
	}
	now, err := serviceStates(ctx, mgr)
	if err != nil {
		return s, err.Error()
	}
	for name, want := range s.Services {
		if got := now[name]; got != want {
			return s, fmt.Sprintf("%s changed: %+v, was %+v", name, got, want)
		}
	}
	return s, ""
}

// releaseStillThere checks the release the unit runs, on the root it chose, and records the unit's
// heartbeat there as every reconcile does (shared-storage-info's last-seen).
func (c *Charm) releaseStillThere(s settledState) string {
	p, err := readPlacement(s.DataDir)
	if err != nil {
		return fmt.Sprintf("release root: %v", err)
	}
	if p.Root != s.Root || p.UUID != s.RootUUID {
		return fmt.Sprintf("release root is %s (%s), was %s (%s)", p.Root, shortID(p.UUID), s.Root, shortID(s.RootUUID))
	}
	_, m, ok, err := p.root.Release(s.Release.Version, s.Release.Arch)
	switch {
	case err != nil:
		return fmt.Sprintf("release %s: %v", s.Release.Version, err)
	case !ok:
		return fmt.Sprintf("release %s is no longer complete on %s", s.Release.Version, p.Root)
	case m.SHA256 != s.Release.SHA256:
		return fmt.Sprintf("release %s on %s is another build (sha256 %.12s, was %.12s)", s.Release.Version, p.Root, m.SHA256, s.Release.SHA256)
	}
	if s.Leader {
		if extra := otherReleases(p.Root, releaseName(*m)); extra != "" {
			return fmt.Sprintf("%s is on %s besides the release in use: the leader collects unused releases", extra, p.Root)
		}
	}
	if err := p.root.Heartbeat(c.env.UnitName); err != nil {
		c.say("heartbeat on %s: %v", p.Root, err)
	}
	return ""
}

// otherReleases names one entry of root's releases directory other than keep ("" when none): a
// release no unit may use any more, or leftovers of an install, for the leader's clean-up.
func otherReleases(root, keep string) string {
	entries, err := os.ReadDir(filepath.Join(root, "releases"))
	if err != nil {
		return "an unreadable releases directory"
	}
	for _, e := range entries {
		if e.Name() != keep {
			return e.Name()
		}
	}
	return ""
}
