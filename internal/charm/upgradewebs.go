package charm

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// keyConcourseVersion (tsa and flight unit bags) is the version a web unit runs healthy: what a
// related worker application's leader waits for before its workers move (webs go first, even
// in another application).
const keyConcourseVersion = "concourse-version"

// publishWebVersion tells related worker applications which version this unit's web runs
// ("" when it runs none).
func (c *Charm) publishWebVersion(ctx context.Context, web bool, running string) error {
	ids, err := c.tools.RelationIDs(ctx, tsaEndpoint)
	if err != nil {
		return fmt.Errorf("%s relations: %w", tsaEndpoint, err)
	}
	if !web {
		running = ""
	}
	for _, id := range ids {
		if err := c.setBag(ctx, id, false, map[string]string{keyConcourseVersion: running}); err != nil {
			return err
		}
	}
	return nil
}

// relatedWebs is what a worker application knows of the webs it registers with.
type relatedWebs struct {
	known bool   // some web publishes its version (a web application running this charm)
	at    string // the version every related web runs; "" while they differ or one has none yet
	seen  string // the versions seen, for the status
}

// readRelatedWebs reads the webs' versions from the flight relations' unit bags. A web
// application whose charm publishes no version at all is not waited for: waiting would stall the
// workers for good.
func readRelatedWebs(flight []relationUnits) relatedWebs {
	var w relatedWebs
	versions := map[string]bool{}
	missing := false
	for _, r := range flight {
		for _, bag := range r.units {
			v := bag[keyConcourseVersion]
			if v == "" {
				missing = true
				continue
			}
			w.known = true
			versions[v] = true
		}
	}
	seen := slices.Sorted(maps.Keys(versions))
	w.seen = strings.Join(seen, ", ")
	if len(seen) == 1 && !missing {
		w.at = seen[0]
	}
	return w
}
