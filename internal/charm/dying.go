package charm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// dyingMarker, in the charm directory (on the machine's own disk, where Juju keeps the charm; the
// unit's storage may already be gone), records that this unit is being removed.
const dyingMarker = ".unit-dying"

func (c *Charm) markDying() error {
	if c.env.CharmDir == "" {
		return nil
	}
	if err := os.WriteFile(filepath.Join(c.env.CharmDir, dyingMarker), []byte(c.env.UnitName+"\n"), 0o600); err != nil {
		return fmt.Errorf("remember that this unit is being removed: %w", err)
	}
	return nil
}

func (c *Charm) dying() bool {
	if c.env.CharmDir == "" {
		return false
	}
	_, err := os.Stat(filepath.Join(c.env.CharmDir, dyingMarker))
	return !errors.Is(err, fs.ErrNotExist)
}

// retireForGood retires this unit's worker, if one runs: the unit or its storage is going away.
func (c *Charm) retireForGood(ctx context.Context) error {
	mgr, err := c.serviceManager(ctx)
	if err != nil {
		fmt.Fprintf(c.out, "no service supervisor, nothing to retire: %v\n", err)
		return nil
	}
	return c.removeWorker(ctx, serviceRun{c: c, mgr: mgr, dataDir: defaultDataDir, drain: c.configuredDrainPlan(ctx)})
}
