package charm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/rollout"
)

// Keys of the rolling upgrade (internal/rollout) in the peer relation.
const (
	keyRollout       = "rollout"        // application bag: the leader's rollout.Plan, JSON
	keyRolloutReport = "rollout-report" // unit bags: the unit's report on it, JSON
)

// turnBoundExtra is how long a turn may take beyond the worker's drain bound (download, restart,
// health) before the leader halts the rollout.
const turnBoundExtra = 10 * time.Minute

// report is a unit's rollout.Report as published, with the turn it answers.
type report struct {
	Plan    int    `json:"plan"`
	Running string `json:"running,omitempty"`
	Failed  string `json:"failed,omitempty"`
	// Turn is the plan's TurnSince the report answers: a Resume hands out the turn afresh, and a
	// unit that failed tries again only then.
	Turn string `json:"turn,omitempty"`
}

func readReport(bag map[string]string) report {
	var r report
	_ = json.Unmarshal([]byte(bag[keyRolloutReport]), &r) // absent or damaged: no report yet
	return r
}

func (r report) encode() string {
	data, _ := json.Marshal(r)
	return string(data)
}

func readPlan(app map[string]string) rollout.Plan {
	var p rollout.Plan
	_ = json.Unmarshal([]byte(app[keyRollout]), &p) // absent: the zero plan; the leader writes one
	return p
}

func encodePlan(p rollout.Plan) string {
	data, _ := json.Marshal(p)
	return string(data)
}

// upgradeView is the rollout as this hook sees it.
type upgradeView struct {
	plan     rollout.Plan
	decision rollout.Decision
	running  string        // the version this unit last ran healthy ("" none)
	own      report        // this unit's published report
	guards   rolloutGuards // the leader's: the database's floor, the related webs (upgradeinput.go)
}

// planRollout reads the plan, lets the leader step it (writing it when it changed) and decides
// this unit's part.
func (c *Charm) planRollout(ctx context.Context, cfg Config, leader bool, peers peerView, dataDir string) (upgradeView, error) {
	running, err := readRunningVersion(dataDir)
	if err != nil {
		return upgradeView{}, err
	}
	ownBag, err := c.ownPeerBag(ctx, peers)
	if err != nil {
		return upgradeView{}, err
	}
	own := readReport(ownBag)
	web := peers.app[keyWebUnit] == c.env.UnitName || strings.Contains(ownBag[keyRole], "web")
	plan := readPlan(peers.app)
	var guards rolloutGuards
	if leader && peers.relID != "" {
		members := c.rolloutMembers(peers, web, running, own)
		in, g, err := c.rolloutInput(ctx, cfg, plan, peers, members, dataDir)
		if err != nil {
			return upgradeView{}, err
		}
		next := rollout.Step(plan, in)
		g.floor = raiseFloor(g.floor, members, next) // a web handed the turn now may migrate
		guards = g
		if encodePlan(next) != peers.app[keyRollout] || g.floor != peers.app[keyWebFloor] {
			data := map[string]string{keyRollout: encodePlan(next), keyWebFloor: g.floor}
			if err := c.tools.RelationSet(ctx, peers.relID, true, data); err != nil {
				return upgradeView{}, fmt.Errorf("publish the rollout plan: %w", err)
			}
			peers.app[keyRollout], peers.app[keyWebFloor] = data[keyRollout], data[keyWebFloor]
			c.say("rollout plan %d: %s -> %s, turn %q, done %v, halted %q, web floor %s", next.ID, next.From, next.To, next.Turn, next.Done, next.Halted, g.floor)
		}
		plan = next
	}
	if plan.To == "" && peers.relID == "" {
		plan.To = cfg.Version // no peer relation yet: nothing to coordinate with
	}
	v := upgradeView{plan: plan, decision: rollout.Decide(plan, c.env.UnitName, running, cfg.Version), running: running, own: own, guards: guards}
	return v.fallBack(web), nil
}

// rolloutMembers are this unit and its peers, with their roles and reports.
func (c *Charm) rolloutMembers(peers peerView, web bool, running string, own report) []rollout.Member {
	self := own.rollout()
	self.Running = running
	ms := []rollout.Member{{Unit: c.env.UnitName, Web: web, Report: self}}
	for _, u := range peers.members {
		bag := peers.units[u]
		ms = append(ms, rollout.Member{Unit: u, Web: strings.Contains(bag[keyRole], "web"), Report: readReport(bag).rollout()})
	}
	return ms
}

func (r report) rollout() rollout.Report {
	turn, _ := time.Parse(time.RFC3339Nano, r.Turn) // absent: the zero time, which answers no turn
	return rollout.Report{Plan: r.Plan, Running: r.Running, Failed: r.Failed, Turn: turn}
}

// ownPeerBag is this unit's own bag in the peer relation (not part of the peer view).
func (c *Charm) ownPeerBag(ctx context.Context, peers peerView) (map[string]string, error) {
	if peers.relID == "" {
		return map[string]string{}, nil
	}
	bag, err := c.tools.RelationGet(ctx, peers.relID, c.env.UnitName, false)
	if err != nil {
		return nil, fmt.Errorf("read own peer data: %w", err)
	}
	return bag, nil
}

// retryBlocked says whether this unit already failed the turn it holds: it waits for an operator
// (upgrade-resume hands the turn out afresh) instead of failing again every hook.
func (v upgradeView) retryBlocked() bool {
	return v.decision.Switching && v.own.Failed != "" && v.own.Plan == v.plan.ID &&
		v.own.Turn == v.plan.TurnSince.Format(time.RFC3339Nano) && v.plan.Turn != ""
}

// runningVersionFile remembers, in the unit's private state dir, the version its services last
// ran healthy: what the unit keeps running until it holds the turn.
const runningVersionFile = "running-version"

func readRunningVersion(dataDir string) (string, error) {
	data, err := os.ReadFile(filepath.Join(dataDir, "state", runningVersionFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read running version: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}

func writeRunningVersion(dataDir, version string) error {
	dir, err := stateDir(dataDir)
	if err != nil {
		return err
	}
	return writePrivateFile(filepath.Join(dir, runningVersionFile), []byte(version+"\n"))
}

// writePrivateFile replaces path atomically with a root-only file.
func writePrivateFile(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	return nil
}

// quiet says no rollout involves this unit now: nothing to fetch, switch or hand out.
func (v upgradeView) quiet() bool {
	return !v.decision.Switching && v.decision.Fetch == "" && v.plan.Turn == "" && v.plan.Halted == ""
}

// noteRollout puts the leader's view of the rollout into the application status.
func (c *Charm) noteRollout(v upgradeView, peers peerView, out *outcome) {
	done, total := 0, 1+len(peers.members)
	if v.decision.Run == v.plan.To && !v.decision.Switching || v.decision.Switching && len(out.problems) == 0 {
		done++
	}
	for _, u := range peers.members {
		if readReport(peers.units[u]).Running == v.plan.To {
			done++
		}
	}
	note, halted := rolloutAppNote(c.env.AppName(), v.plan, done, total)
	if guarded, hold := v.guards.note(c.env.AppName(), v.plan, done, total); hold {
		out.block(guarded) // the leader is where upgrade-resume runs
		note = guarded
	} else if guarded != "" {
		note = guarded
	}
	switch {
	case halted:
		out.appHalt = note
	case note != "" && out.appNote != "":
		out.appNote += "; " + note
	case note != "":
		out.appNote = note
	}
}
