package charm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/concourse"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/storage"
)

// An operator hold: land-worker or retire-worker stopped this unit's worker on purpose, and no
// hook may start it again behind the operator's back (a config change, a new release, a
// rotated key: the reconcile leaves a held worker stopped and says so in the status). Only the
// `restart` action (role worker or all) lifts it; so does the unit ceasing to run a worker (the
// hold goes with the service). It lives in the unit's own state directory, never on shared storage.
type workerHold struct {
	Action string    `json:"action"` // land-worker or retire-worker
	At     time.Time `json:"at"`
}

// holdPath is <data>/state/<service>.hold, beside the service's hash, so that removing the service
// removes its hold too (serviceRun.remove).
func holdPath(dataDir string) string {
	return filepath.Join(dataDir, "state", concourse.WorkerService+".hold")
}

// readWorkerHold reports the hold on this unit's worker, if any. A damaged file still holds: the
// operator asked for the worker to stay stopped, and only `restart` says otherwise.
func readWorkerHold(dataDir string) (workerHold, bool, error) {
	data, err := os.ReadFile(holdPath(dataDir))
	if errors.Is(err, fs.ErrNotExist) {
		return workerHold{}, false, nil
	}
	if err != nil {
		return workerHold{}, false, fmt.Errorf("read the worker hold: %w", err)
	}
	var h workerHold
	if json.Unmarshal(data, &h) != nil || h.Action == "" {
		h = workerHold{Action: "an operator"}
	}
	return h, true, nil
}

func writeWorkerHold(dataDir string, h workerHold) error {
	if _, err := stateDir(dataDir); err != nil {
		return err
	}
	data, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("encode the worker hold: %w", err)
	}
	if err := storage.WriteFileAtomic(holdPath(dataDir), data, 0o600); err != nil {
		return fmt.Errorf("record the worker hold: %w", err)
	}
	return nil
}

// clearWorkerHold lifts the hold; had says whether there was one.
func clearWorkerHold(dataDir string) (had bool, err error) {
	err = os.Remove(holdPath(dataDir))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("lift the worker hold: %w", err)
	}
	return true, nil
}

// message is the unit status while the hold lasts: what stopped the worker and how to bring it back.
func (h workerHold) message(unit string) string {
	verb := "landed"
	if h.Action == "retire-worker" {
		verb = "retired"
	}
	return fmt.Sprintf("worker %s by %s; juju run %s restart role=worker starts it again", verb, h.Action, unit)
}

// holdWorker is the reconcile's side of the hold: when one is recorded the worker is neither
// started nor restarted, and the status says why (maintenance: a pause the operator chose, as the
// OpenStack charms report `pause`). What the worker would run is forgotten, so that `restart`
// starts it afresh with the configuration of that moment instead of mistaking it for a crash.
func (c *Charm) holdWorker(ctx context.Context, svc serviceRun, out *outcome) (bool, error) {
	h, held, err := readWorkerHold(svc.dataDir)
	if err != nil || !held {
		return false, err
	}
	if err := forgetServiceHash(svc.dataDir, concourse.WorkerService); err != nil {
		return true, err
	}
	st, err := svc.mgr.State(ctx, concourse.WorkerService)
	if err != nil {
		return true, fmt.Errorf("state of %s: %w", concourse.WorkerService, err)
	}
	out.hold(h.message(c.env.UnitName))
	if st.Active {
		// Started by hand (systemctl): the charm neither stops nor restarts it while held.
		out.running.worker = true
	}
	return true, nil
}

// forgetServiceHash drops what the reconcile remembers a service runs, so its next start by the
// reconcile is a plain start.
func forgetServiceHash(dataDir, name string) error {
	err := os.Remove(filepath.Join(dataDir, "state", name+".hash"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("forget what %s runs: %w", name, err)
	}
	return nil
}

// hold reports an operator hold (maintenance, after blocked and waiting).
func (o *outcome) hold(msg string) { o.problems = append(o.problems, problem{juju.Maintenance, msg}) }
