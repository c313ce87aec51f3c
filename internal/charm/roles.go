package charm

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Peer application bag key: in mode auto, the unit chosen to run web. Chosen once, by the leader
// of that moment, and moved only when that unit leaves: a mere leadership change must never move
// web (the Python charm's surprise).
const keyWebUnit = "web-unit"

// roles is what a unit runs.
type roles struct{ web, worker bool }

func (r roles) String() string {
	switch {
	case r.web && r.worker:
		return "web+worker"
	case r.web:
		return "web"
	case r.worker:
		return "worker"
	}
	return "nothing"
}

// peerView is the peer relation as this hook sees it.
type peerView struct {
	relID   string
	app     map[string]string            // peer application bag
	members []string                     // the other units in scope, sorted by number
	units   map[string]map[string]string // their unit bags
}

// readPeers reads the peer relation: the application bag, the other units and their bags.
func (c *Charm) readPeers(ctx context.Context, relID string) (peerView, error) {
	v := peerView{relID: relID, app: map[string]string{}, units: map[string]map[string]string{}}
	if relID == "" {
		return v, nil
	}
	var err error
	if v.app, err = c.tools.RelationGet(ctx, relID, c.env.AppName(), true); err != nil {
		return v, fmt.Errorf("read peer application data: %w", err)
	}
	if v.members, err = c.tools.RelationList(ctx, relID); err != nil {
		return v, fmt.Errorf("list peers: %w", err)
	}
	sortUnits(v.members)
	for _, u := range v.members {
		bag, err := c.tools.RelationGet(ctx, relID, u, false)
		if err != nil {
			return v, fmt.Errorf("read peer data of %s: %w", u, err)
		}
		v.units[u] = bag
	}
	return v, nil
}

// resolveRoles decides what this unit runs. In mode auto the leader records the web unit when
// there is none or when it left the relation; everyone else reads it. wait is set while this unit
// cannot know yet (no peer relation, or the leader has not chosen).
func (c *Charm) resolveRoles(ctx context.Context, mode Mode, leader bool, peers peerView) (r roles, wait string, err error) {
	switch mode {
	case ModeAll:
		return roles{web: true, worker: true}, "", nil
	case ModeWeb:
		return roles{web: true}, "", nil
	case ModeWorker:
		return roles{worker: true}, "", nil
	}
	if peers.relID == "" {
		return roles{}, "Waiting for the peer relation to choose the web unit", nil
	}
	web := peers.app[keyWebUnit]
	if leader && (web == "" || (web != c.env.UnitName && !slices.Contains(peers.members, web))) {
		if web != "" {
			fmt.Fprintf(c.out, "web unit %s left: %s runs web now\n", web, c.env.UnitName)
		}
		web = c.env.UnitName
		if err := c.tools.RelationSet(ctx, peers.relID, true, map[string]string{keyWebUnit: web}); err != nil {
			return roles{}, "", fmt.Errorf("record the web unit: %w", err)
		}
		peers.app[keyWebUnit] = web
	}
	switch {
	case web == "":
		return roles{}, "Waiting for the leader to choose the web unit", nil
	case web != c.env.UnitName:
		return roles{worker: true}, "", nil
	case len(peers.members) == 0:
		return roles{web: true, worker: true}, "", nil // alone: a single deploy is a working CI
	}
	return roles{web: true}, "", nil
}

// sortUnits orders unit names by application, then unit number (app/10 after app/9).
func sortUnits(units []string) {
	slices.SortFunc(units, func(a, b string) int {
		appA, nA := splitUnit(a)
		appB, nB := splitUnit(b)
		if c := strings.Compare(appA, appB); c != 0 {
			return c
		}
		return nA - nB
	})
}

func splitUnit(u string) (string, int) {
	app, num, _ := strings.Cut(u, "/")
	n, _ := strconv.Atoi(num)
	return app, n
}
