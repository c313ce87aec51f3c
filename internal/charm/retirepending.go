package charm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/concourse"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
)

// A unit that stops running a worker but keeps running (it became the web unit in mode auto, or
// its mode changed to web) retires that worker with SIGUSR2, through the TSAs the worker is
// registered with. When those webs went first (the web unit it replaces was removed), the signal
// reaches no TSA, and the database keeps the worker as stalled: the new web would list it for
// ever. So the unit remembers the worker, keeps its key authorized in its own web meanwhile,
// and once that web runs retires the worker by name through it (`concourse retire-worker`, as an
// operator would). Retiring a worker that did retire is harmless; the record goes either way,
// and with it the key.

// pendingRetireFile, in the unit's state directory, names the worker still to retire by name.
const pendingRetireFile = "retire-pending.json"

type pendingRetire struct {
	Name      string `json:"name"`
	PublicKey string `json:"public-key"` // authorized_keys line of the worker's key
}

const (
	// retireByNameWait bounds the tries while the web's TSA starts listening.
	retireByNameWait = 30 * time.Second
	retireByNameTry  = 10 * time.Second
)

func pendingRetirePath(dataDir string) string {
	return filepath.Join(dataDir, "state", pendingRetireFile)
}

// notePendingRetire records this unit's worker before it is retired, if it has one: its name
// and public key (the private key stays where it is, in the worker's directory).
func (c *Charm) notePendingRetire(ctx context.Context, svc serviceRun, dataDir string) error {
	st, err := svc.mgr.State(ctx, concourse.WorkerService)
	if err != nil {
		return fmt.Errorf("state of %s: %w", concourse.WorkerService, err)
	}
	if !st.Installed {
		return nil
	}
	data, err := os.ReadFile(filepath.Join(dataDir, "worker", "worker_key"))
	if err != nil {
		c.say("no worker key to retire %s by name with: %v", concourse.WorkerService, err)
		return nil
	}
	key, err := concourse.KeyFromPEM(string(data))
	if err != nil {
		c.say("worker key unreadable, cannot retire the worker by name: %v", err)
		return nil
	}
	rec, _ := json.Marshal(pendingRetire{Name: workerNameOf(c.env.UnitName), PublicKey: key.Public})
	if _, err := stateDir(dataDir); err != nil {
		return err
	}
	if _, err := writeFile(pendingRetirePath(dataDir), rec, 0o600, -1); err != nil {
		return fmt.Errorf("remember the worker to retire: %w", err)
	}
	return nil
}

// readPendingRetire returns the worker still to retire by name, if any. A damaged record is
// dropped: at worst a worker stays listed as stalled, which `fly prune-worker` clears.
func (c *Charm) readPendingRetire(dataDir string) (pendingRetire, bool) {
	data, err := os.ReadFile(pendingRetirePath(dataDir))
	if errors.Is(err, fs.ErrNotExist) {
		return pendingRetire{}, false
	}
	var p pendingRetire
	if err == nil {
		err = json.Unmarshal(data, &p)
	}
	if err == nil && (p.Name == "" || p.PublicKey == "") {
		err = errors.New("incomplete")
	}
	if err != nil {
		c.say("dropping the record of a worker to retire: %v", err)
		_ = os.Remove(pendingRetirePath(dataDir))
		return pendingRetire{}, false
	}
	return p, true
}

// finishPendingRetire retires the recorded worker through this unit's running web, then forgets
// it and drops its key from the web (a SIGHUP). keys is what the web authorizes besides it.
func (c *Charm) finishPendingRetire(ctx context.Context, svc serviceRun, in workloadInput, tsaAddr string, keys []string) error {
	p, ok := c.readPendingRetire(in.dataDir)
	if !ok {
		return nil
	}
	hostKeys := trustedHostKeys(in.peers.app) // several while the host key rotates
	if len(hostKeys) == 0 {
		return nil // no host key yet: the web does not run either
	}
	pub := filepath.Join(in.dataDir, "state", "retire-tsa-host-keys.pub")
	if _, err := writeFile(pub, concourse.AuthorizedKeys(hostKeys), 0o600, -1); err != nil {
		return err
	}
	env := []string{
		"CONCOURSE_TSA_HOST=" + tsaAddr,
		"CONCOURSE_TSA_PUBLIC_KEY=" + pub,
		"CONCOURSE_TSA_WORKER_PRIVATE_KEY=" + filepath.Join(in.dataDir, "worker", "worker_key"),
	}
	bin := concourse.Binary(in.rel.Dir)
	err := retryUntil(ctx, retireByNameWait, func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, retireByNameTry)
		defer cancel()
		out, err := c.runConcourse(ctx, bin, []string{"retire-worker", "--name", p.Name}, env)
		if err != nil {
			return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
		}
		return nil
	})
	if err != nil {
		c.log(ctx, juju.LevelWarning, fmt.Sprintf("could not retire worker %s through this unit's web (%v): the web may list it as stalled until `fly prune-worker -w %s`", p.Name, err, p.Name))
	} else {
		c.log(ctx, juju.LevelInfo, fmt.Sprintf("retired worker %s by name through this unit's web", p.Name))
	}
	if err := os.Remove(pendingRetirePath(in.dataDir)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("forget the retired worker: %w", err)
	}
	return c.writeWorkerKeys(ctx, svc, in.dataDir, keys)
}

// withPendingRetire adds the key of a worker still to retire by name to the web's keys.
func (c *Charm) withPendingRetire(dataDir string, keys []string) []string {
	if p, ok := c.readPendingRetire(dataDir); ok {
		return append(keys, p.PublicKey)
	}
	return keys
}

// writeWorkerKeys rewrites the web's authorized worker keys and reloads it when they changed.
func (c *Charm) writeWorkerKeys(ctx context.Context, svc serviceRun, dataDir string, keys []string) error {
	gid, err := c.systemUser(concourse.WebUser)
	if err != nil {
		return err
	}
	changed, err := writeFile(filepath.Join(dataDir, "web", "authorized_worker_keys"), concourse.AuthorizedKeys(keys), 0o640, gid)
	if err != nil || !changed {
		return err
	}
	if err := svc.mgr.Signal(ctx, concourse.WebService, syscall.SIGHUP); err != nil {
		return fmt.Errorf("reload %s for the retired worker's key: %w", concourse.WebService, err)
	}
	c.say("reloaded %s: the retired worker's key is gone", concourse.WebService)
	return nil
}

// retryUntil calls try until it succeeds or bound passes (the last error), backing off from
// half a second: the web's TSA listens a moment after its start.
func retryUntil(ctx context.Context, bound time.Duration, try func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	wait := 500 * time.Millisecond
	for {
		err := try(ctx)
		if err == nil {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// execConcourse runs the release's binary with exactly env (and a PATH): no variable of the
// hook's own environment leaks in, CONCOURSE_VERSION least of all.
func execConcourse(ctx context.Context, bin string, args, env []string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, env...)
	return cmd.CombinedOutput()
}

func workerNameOf(unit string) string { return strings.ReplaceAll(unit, "/", "-") }
