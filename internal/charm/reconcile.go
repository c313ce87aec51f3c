package charm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
)

// Reconcile brings the unit to the state its config, relations and leadership ask for:
// config -> storage placement -> release installed -> unit reference and peer data -> status.
// A problem the operator must fix ends in `blocked` with a nil error (Juju keeps the hook's
// effects); an unexpected one returns an error so that Juju retries the hook.
func (c *Charm) Reconcile(ctx context.Context) error {
	// Whatever this reconcile changes, the settled record must not outlive it (settled.go).
	if err := c.unsettle(); err != nil {
		return err
	}
	raw, err := c.tools.ConfigGet(ctx)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	cfg, err := ParseConfig(raw)
	if err != nil {
		// Nothing else runs with a bad config: what runs now keeps running.
		return c.status(ctx, juju.Blocked, err.Error())
	}
	leader, err := c.tools.IsLeader(ctx)
	if err != nil {
		return fmt.Errorf("leadership: %w", err)
	}
	peers, err := c.peerRelation(ctx)
	if err != nil {
		return err
	}
	view, err := c.readPeers(ctx, peers)
	if err != nil {
		return err
	}
	dataDir, err := c.dataDir(ctx)
	if err != nil {
		return err
	}
	// The version this unit runs now: the configured one, reached one unit at a time (upgrade.go).
	up, err := c.planRollout(ctx, cfg, leader, view, dataDir)
	if err != nil {
		return err
	}
	runCfg := cfg
	runCfg.Version = up.decision.Run
	previous, _ := readPlacement(dataDir) // where the last reconcile put the release, if anywhere
	place, err := c.placeReleases(ctx, cfg, placementInput{leader: leader, peerRelID: peers, peerApp: view.app, dataDir: dataDir})
	if err != nil {
		return err
	}
	if place.wait != "" {
		return c.status(ctx, juju.Waiting, place.wait)
	}
	rel, err := c.ensureRelease(ctx, runCfg, place)
	var blocked *blockedError
	if errors.As(err, &blocked) {
		return c.status(ctx, juju.Blocked, blocked.Error())
	}
	if err != nil {
		return err
	}
	// The next version is fetched while this one keeps running (once for all units on shared
	// storage); a refused one blocks the unit without touching what runs.
	fetchProblem, err := c.prefetchRelease(ctx, cfg, place, up.decision.Fetch)
	if err != nil {
		return err
	}
	// Last seen, for operators spotting units that vanished without their removal hooks
	// (shared-storage-info verbose=true): they still pin their release.
	if err := place.root.Heartbeat(c.env.UnitName); err != nil {
		fmt.Fprintf(c.out, "heartbeat on %s: %v\n", place.Root, err)
	}
	if previous.root != nil && previous.Root != place.Root {
		c.leaveRoot(ctx, previous)
	}
	if leader {
		c.collectGarbage(ctx, place, rel)
	}
	out, err := c.runWorkload(ctx, workloadInput{cfg: runCfg, leader: leader, dataDir: dataDir, place: place, rel: rel, peers: view,
		releaseData: releaseData(place, rel)})
	if err != nil {
		return err
	}
	if fetchProblem != "" {
		out.block(fetchProblem)
	}
	if err := c.finishRollout(ctx, runCfg, up, view, dataDir, &out); err != nil {
		return err
	}
	if up, err = c.afterOwnTurn(ctx, cfg, leader, view, dataDir, up); err != nil {
		return err
	}
	// After the health check: a related worker application moves once its webs say so.
	if healthy, err := readRunningVersion(dataDir); err != nil {
		return err
	} else if err := c.publishWebVersion(ctx, out.roles.web, healthy); err != nil {
		return err
	}
	if out.running.web || out.running.worker {
		if err := c.tools.ApplicationVersionSet(ctx, runCfg.Version); err != nil {
			return fmt.Errorf("set application version: %w", err)
		}
	}
	if leader {
		c.noteRollout(up, view, &out)
		c.appStatus(ctx, cfg, view, out)
	}
	st, msg := out.unitStatus(runCfg.Version, place.describe())
	if err := c.status(ctx, st, msg); err != nil {
		return err
	}
	// A unit with a rollout under way is not settled: its turn, or the leader's bound on turns,
	// needs the full reconcile of every hook, update-status included.
	if st == juju.Active && up.quiet() {
		c.recordSettled(ctx, settledInput{raw: raw, cfg: cfg, leader: leader, peers: view, dataDir: dataDir,
			place: place, rel: rel, status: juju.Status{State: st, Message: msg}})
	}
	return nil
}

func (c *Charm) status(ctx context.Context, state juju.StatusState, msg string) error {
	fmt.Fprintf(c.out, "status %s: %s\n", state, msg)
	if err := c.tools.StatusSet(ctx, juju.Status{State: state, Message: msg}); err != nil {
		return fmt.Errorf("set status: %w", err)
	}
	return nil
}

// peerRelation returns the id of the peer relation, or "" before Juju has created it.
func (c *Charm) peerRelation(ctx context.Context) (string, error) {
	ids, err := c.tools.RelationIDs(ctx, peerEndpoint)
	if err != nil {
		return "", fmt.Errorf("peer relation: %w", err)
	}
	if len(ids) == 0 {
		return "", nil
	}
	return ids[0], nil
}

// dataDir is where this unit's concourse-data storage is mounted (created if Juju has not attached
// one yet, so the unit always has a private home).
func (c *Charm) dataDir(ctx context.Context) (string, error) {
	ids, err := c.tools.StorageList(ctx, storageName)
	if err != nil {
		return "", fmt.Errorf("list storage: %w", err)
	}
	dir := defaultDataDir
	if len(ids) > 0 {
		info, err := c.tools.StorageGet(ctx, ids[0])
		if err != nil {
			return "", fmt.Errorf("storage %s: %w", ids[0], err)
		}
		dir = info.Location
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("data directory: %w", err)
	}
	return dir, nil
}

// stateDir holds what this unit remembers between hooks (never on shared storage): mode 0700.
func stateDir(dataDir string) (string, error) {
	dir := filepath.Join(dataDir, "state")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("state directory: %w", err)
	}
	return dir, os.Chmod(dir, 0o700)
}
