package charm

import (
	"errors"
	"fmt"
	"io/fs"
)

// forgetUnit drops this unit's reference on its release root, so that the leader may remove
// releases no remaining unit uses. The release itself stays: other units may run it. dataDir is
// the unit's concourse-data location; empty means its default location. Nothing is created: in the
// remove hook the storage may already be gone, and then there is nothing left to forget here.
//
// A unit that disappears without running these hooks keeps its reference, and with it the release
// it used: the safe side (disk, never a release pulled from under a running unit).
func (c *Charm) forgetUnit(dataDir string) error {
	if dataDir == "" {
		dataDir = defaultDataDir
	}
	p, err := readPlacement(dataDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		fmt.Fprintf(c.out, "release root unusable, nothing to forget: %v\n", err)
		return nil
	}
	if err := p.root.ForgetUnit(c.env.UnitName); err != nil {
		return fmt.Errorf("forget unit on %s: %w", p.Root, err)
	}
	fmt.Fprintf(c.out, "%s no longer refers to any release on %s\n", c.env.UnitName, p.Root)
	return nil
}
