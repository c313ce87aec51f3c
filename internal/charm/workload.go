package charm

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/concourse"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/release"
)

const (
	// drainBound is drain-timeout's default, for the code paths that have no config at hand.
	drainBound  = 5 * time.Minute
	addrBinding = peerEndpoint // the address units reach each other on
)

// workloadInput is what the reconcile learnt before it turns to the services.
type workloadInput struct {
	cfg     Config
	leader  bool
	dataDir string
	place   placement
	rel     release.Installed
	peers   peerView
	// releaseData goes into this unit's peer bag with its role, in one write.
	releaseData map[string]string
}

// outcome is what the unit runs and what stops it from running the rest, for the status.
type outcome struct {
	roles    roles
	running  roles
	tsaHosts int
	problems []problem
	appNote  string // the leader's word for the application status (a key rotation under way)
	appHalt  string // a halted rollout: the application status is blocked with it
	note     string // said after the unit's active status (the next version ready, waiting its turn)
}

type problem struct {
	state juju.StatusState
	msg   string
}

func (o *outcome) block(msg string)   { o.problems = append(o.problems, problem{juju.Blocked, msg}) }
func (o *outcome) wait(msg string)    { o.problems = append(o.problems, problem{juju.Waiting, msg}) }
func (o *outcome) failing(msg string) { o.problems = append(o.problems, problem{juju.Blocked, msg}) }

// runWorkload decides the unit's roles, gathers keys, addresses and credentials, and makes the
// services match: a role the unit no longer has is stopped and disabled, a role whose inputs
// changed is restarted, a web whose only change is the set of worker keys is reloaded.
func (c *Charm) runWorkload(ctx context.Context, in workloadInput) (outcome, error) {
	var out outcome
	r, wait, err := c.resolveRoles(ctx, in.cfg.Mode, in.leader, in.peers)
	if err != nil {
		return out, err
	}
	if wait != "" {
		out.wait(wait)
		if in.peers.relID == "" {
			return out, nil
		}
		return out, c.setBag(ctx, in.peers.relID, false, in.releaseData)
	}
	out.roles = r
	if in.leader {
		// A secret added in this hook does not exist until the hook commits: sync the next time.
		hadAdmin := in.peers.app[keyAdminSecret] != ""
		if err := c.ensureAppSecrets(ctx, in.peers, in.cfg.AdminUsername); err != nil {
			return out, err
		}
		if hadAdmin {
			if err := c.syncAdminUsername(ctx, in.cfg, in.peers); err != nil {
				return out, err
			}
		}
	}
	tsaRels, err := c.readRelations(ctx, tsaEndpoint)
	if err != nil {
		return out, err
	}
	flightRels, err := c.readRelations(ctx, flightEndpoint)
	if err != nil {
		return out, err
	}
	addr, err := c.address(ctx)
	if err != nil {
		return out, err
	}
	var workerPub string
	if r.worker {
		k, err := c.workerKey(in.dataDir)
		if err != nil {
			return out, err
		}
		workerPub = k.Public
	}
	// The TSA's port travels with its address: workers dial whatever tsa-port their web uses.
	tsaAddr := concourse.HostPort(addr, in.cfg.TSAPort)
	mgr, mgrErr := c.serviceManager(ctx)
	svc := serviceRun{c: c, mgr: mgr, dataDir: in.dataDir, releaseDir: in.rel.Dir, release: in.rel.Marker.SHA256,
		drain: drainPlanFor(in.cfg)}
	if !r.worker && mgrErr == nil {
		// Before publishRole clears this unit's worker key, which every web then drops: the
		// worker retires through the TSAs, which must still let it in. Its own web retires it
		// by name too, should those TSAs be gone already (retirepending.go).
		if r.web {
			if err := c.notePendingRetire(ctx, svc, in.dataDir); err != nil {
				return out, err
			}
		}
		if err := c.removeWorker(ctx, svc); err != nil {
			return out, err
		}
	}
	if in.leader {
		note, err := c.advanceRotation(ctx, in.peers, tsaRels, r)
		if err != nil {
			return out, err
		}
		out.appNote = note
	}
	ownTSA := ""
	if r.web {
		ownTSA = tsaAddr
	}
	targets := collectTSAs(ownTSA, in.peers, flightRels)
	bag := withAcks(in.releaseData, r, targets, in.peers.app) // what this hook applies (rotation.go)
	if err := c.publishRole(ctx, in.leader, in.peers, bag, r, tsaAddr, workerPub, tsaRels, flightRels); err != nil {
		return out, err
	}
	if mgrErr != nil {
		// Nothing will start it by itself: the machine needs systemd, or a Pebble daemon.
		out.block(fmt.Sprintf("cannot run services: %v", mgrErr))
		return out, nil
	}
	if r.web {
		ownWorker := ""
		if r.worker {
			ownWorker = workerPub
		}
		keys := c.collectWorkerKeys(ownWorker, in.peers, tsaRels)
		if err := c.runWeb(ctx, svc, in, addr, c.withPendingRetire(in.dataDir, keys), &out); err != nil {
			return out, err
		}
		if out.running.web {
			if err := c.finishPendingRetire(ctx, svc, in, tsaAddr, keys); err != nil {
				return out, err
			}
		}
	} else if err := svc.remove(ctx, concourse.WebService); err != nil {
		return out, err
	}
	if r.worker {
		out.tsaHosts = len(targets.hosts)
		if err := c.runWorker(ctx, svc, in, targets, len(flightRels) > 0, &out); err != nil {
			return out, err
		}
	}
	// SyncPorts closes what is no longer wanted: a changed port's old number, metrics turned off.
	if err := c.tools.SyncPorts(ctx, webPorts(in.cfg, r)); err != nil {
		return out, fmt.Errorf("ports: %w", err)
	}
	if err := c.publishMetrics(ctx, in.cfg, in.leader, r); err != nil {
		return out, err
	}
	return out, nil
}

// address is this unit's address as the other units reach it.
func (c *Charm) address(ctx context.Context) (string, error) {
	info, err := c.tools.NetworkGet(ctx, addrBinding)
	if err != nil {
		return "", fmt.Errorf("network-get %s: %w", addrBinding, err)
	}
	if a := info.IngressAddress(); a != "" {
		return a, nil
	}
	return "", fmt.Errorf("network-get %s: no address", addrBinding)
}

// runWeb writes the web's keys, credentials and environment and runs it. Until the leader has
// created the application secrets or the database is ready, a running web is left as it is.
func (c *Charm) runWeb(ctx context.Context, svc serviceRun, in workloadInput, addr string, workerKeys []string, out *outcome) error {
	secrets, ok, err := c.readAppSecrets(ctx, in.peers)
	if err != nil {
		return err
	}
	if !ok {
		out.wait("Waiting for the leader to create the Concourse keys")
		return nil
	}
	db, err := c.readDatabase(ctx, in.leader)
	if err != nil {
		return err
	}
	switch {
	case db.blocked != "":
		out.block(db.blocked)
		return nil
	case !db.ready:
		out.wait(db.waiting)
		return nil
	}
	gid, err := c.systemUser(concourse.WebUser)
	if err != nil {
		return err
	}
	dir := filepath.Join(in.dataDir, "web")
	if err := privateDir(dir, 0o750, gid); err != nil {
		return err
	}
	state, err := stateDir(in.dataDir)
	if err != nil {
		return err
	}
	hash, err := adminHash(state, secrets.adminPW)
	if err != nil {
		return err
	}
	files := secretFiles{dir: dir, gid: gid}
	web := concourse.Web{
		ExternalURL: externalURL(in.cfg, addr),
		PeerAddress: addr,
		ClusterName: c.env.AppName(),
		BindPort:    in.cfg.WebPort,
		TSAPort:     in.cfg.TSAPort,
		// admin-username names the user; the secret holds its password (adminuser.go).
		AdminUser:   in.cfg.AdminUsername,
		AdminHash:   hash,
		LogLevel:    in.cfg.LogLevel,
		MetricsPort: metricsPort(in.cfg),
		Extra:       in.cfg.ExtraEnv.Web,
		Postgres: concourse.Postgres{Host: db.creds.Host, Port: db.creds.Port, Database: db.creds.Database,
			User: db.creds.User, Password: db.creds.Password, TLS: db.creds.TLS},
	}
	if web.SessionKeyFile, err = files.put("session_signing_key", secrets.sessionKey.PrivatePEM); err != nil {
		return err
	}
	if web.HostKeyFile, err = files.put("tsa_host_key", secrets.hostKey.PrivatePEM); err != nil {
		return err
	}
	if db.creds.TLS && db.creds.CA != "" {
		if web.Postgres.CAFile, err = files.put("postgresql_ca.pem", db.creds.CA); err != nil {
			return err
		}
	}
	keysFile := filepath.Join(dir, "authorized_worker_keys")
	keysChanged, err := writeFile(keysFile, concourse.AuthorizedKeys(workerKeys), 0o640, gid)
	if err != nil {
		return err
	}
	web.AuthorizedKeys = keysFile
	spec := concourse.WebSpec(in.rel.Dir, filepath.Join(dir, "web.env"), in.cfg.WebPort, in.cfg.TSAPort, metricsPort(in.cfg))
	res, err := svc.run(ctx, spec, web.Env(), files.contents...)
	if err != nil {
		return err
	}
	if res.crashed != "" {
		out.failing(res.crashed)
		return nil
	}
	if keysChanged && !res.restarted {
		// New or departed workers: the TSA re-reads its authorized keys on SIGHUP; no build stops.
		// Sent through the supervisor rather than `systemctl reload`, whose ExecReload needs
		// /bin/kill (procps), which minimal images lack.
		if err := svc.mgr.Signal(ctx, concourse.WebService, syscall.SIGHUP); err != nil {
			return fmt.Errorf("reload %s for new worker keys: %w", concourse.WebService, err)
		}
		n := strings.Count(string(concourse.AuthorizedKeys(workerKeys)), "\n")
		fmt.Fprintf(c.out, "reloaded %s: %s\n", concourse.WebService, plural(n, "worker key", "worker keys"))
	}
	return c.checkRunning(ctx, svc, concourse.WebService, out, func() { out.running.web = true })
}

// runWorker writes the worker's keys and environment and runs it, once it has a TSA to reach.
func (c *Charm) runWorker(ctx context.Context, svc serviceRun, in workloadInput, t tsaTargets, related bool, out *outcome) error {
	if held, err := c.holdWorker(ctx, svc, out); held || err != nil {
		return err // landed or retired by the operator: only the restart action starts it (workerhold.go)
	}
	if len(t.hosts) == 0 || len(t.hostKeys) == 0 {
		if in.cfg.Mode == ModeWorker && !related {
			out.block("needs a TSA: " + flightHint(c.env.AppName()))
		} else {
			out.wait("Waiting for a web unit's TSA address and host key")
		}
		return nil
	}
	dir := filepath.Join(in.dataDir, "worker")
	if err := privateDir(dir, 0o700, -1); err != nil {
		return err
	}
	workDir := filepath.Join(dir, "work")
	if err := privateDir(workDir, 0o700, -1); err != nil {
		return err
	}
	files := secretFiles{dir: dir, gid: -1}
	hostKeys, err := files.put("tsa_host_keys.pub", string(concourse.AuthorizedKeys(t.hostKeys)))
	if err != nil {
		return err
	}
	keyPath := filepath.Join(dir, "worker_key")
	if err := files.include(keyPath); err != nil {
		return err
	}
	w := concourse.Worker{
		Name:          strings.ReplaceAll(c.env.UnitName, "/", "-"),
		WorkDir:       workDir,
		TSAHosts:      t.hosts,
		TSAPublicKey:  hostKeys,
		PrivateKey:    keyPath,
		Tags:          in.cfg.WorkerTags,
		Runtime:       in.cfg.Runtime,
		LogLevel:      in.cfg.LogLevel,
		Baggageclaim:  in.cfg.BaggageclaimDriver,
		Team:          in.cfg.WorkerTeam,
		DNSServers:    in.cfg.DNSServers,
		MaxContainers: in.cfg.MaxContainers,
		Extra:         in.cfg.ExtraEnv.Worker,
	}
	// drain-timeout bounds the worker's stop (TimeoutStopSec); it is left out of the restart hash.
	spec := concourse.WorkerSpec(in.rel.Dir, filepath.Join(dir, "worker.env"), in.cfg.DrainTimeout)
	res, err := svc.run(ctx, spec, w.Env(), files.contents...)
	if err != nil {
		return err
	}
	if res.crashed != "" {
		out.failing(res.crashed)
		return nil
	}
	return c.checkRunning(ctx, svc, concourse.WorkerService, out, func() { out.running.worker = true })
}
