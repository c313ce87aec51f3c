package charm

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/rollout"
)

// healthBound is how long a unit waits, in the hook that switched it, for its services to prove
// the new version: the web answering /api/v1/info with it, the worker registered again.
const healthBound = 2 * time.Minute

// workerHealthPort is the worker's healthcheck listener (Concourse's default; the charm does not
// move it). It answers 200 once the worker is up; the stand-in only once it is registered.
const workerHealthPort = 8888

// HealthCheck proves that the services of a unit run version: web (on webPort) and/or worker.
type HealthCheck func(ctx context.Context, web, worker bool, webPort int, version string) error

// checkHealth polls the unit's own endpoints until they prove version or bound passes.
func checkHealth(ctx context.Context, web, worker bool, webPort int, version string) error {
	ctx, cancel := context.WithTimeout(ctx, healthBound)
	defer cancel()
	client := &http.Client{Timeout: 5 * time.Second}
	var last error
	for {
		last = probeOnce(ctx, client, web, worker, webPort, version)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (after %s)", last, healthBound)
		case <-time.After(time.Second): // polling the unit's own services, not synchronising
		}
	}
}

func probeOnce(ctx context.Context, c *http.Client, web, worker bool, webPort int, version string) error {
	if web {
		var info struct {
			Version string `json:"version"`
		}
		if err := getJSON(ctx, c, fmt.Sprintf("http://127.0.0.1:%d/api/v1/info", webPort), &info); err != nil {
			return fmt.Errorf("web /api/v1/info: %w", err)
		}
		if info.Version != version {
			return fmt.Errorf("web reports version %q, want %s", info.Version, version)
		}
	}
	if worker {
		if err := getJSON(ctx, c, fmt.Sprintf("http://127.0.0.1:%d/", workerHealthPort), nil); err != nil {
			return fmt.Errorf("worker healthcheck: %w", err)
		}
	}
	return nil
}

func getJSON(ctx context.Context, c *http.Client, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		line, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, line)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(body, out)
}

// finishRollout verifies a switch this hook made and publishes the unit's report; a unit that
// is not switching just keeps its report current. It adds what the operator must know to out.
func (c *Charm) finishRollout(ctx context.Context, cfg Config, v upgradeView, peers peerView, dataDir string, out *outcome) error {
	d := v.decision
	rep := report{Plan: v.plan.ID, Running: v.running}
	switch {
	case !d.Switching:
		switch {
		case d.Fetch != "" && v.plan.DBHold:
			out.note = fmt.Sprintf("%s ready, held until the database can take it (juju status %s)", d.Fetch, c.env.AppName())
		case d.Fetch != "":
			out.note = fmt.Sprintf("%s ready, waiting for its upgrade turn", d.Fetch)
		}
	case v.retryBlocked():
		out.block(failedNote(c.env.AppName(), v))
		return nil
	case len(out.problems) > 0 || !(out.running.web || out.running.worker):
		return nil // not running yet (database, keys, a hold): the next hook checks again
	default:
		err := c.health(ctx, out.running.web, out.running.worker, cfg.WebPort, d.Run)
		if err != nil {
			rep.Failed = err.Error()
			rep.Turn = v.plan.TurnSince.Format(time.RFC3339Nano)
			out.block(upgradeFailedMessage(c.env.AppName(), d.Run, rep.Failed))
			fmt.Fprintf(c.out, "upgrade to %s failed its health check: %v\n", d.Run, err)
			c.log(ctx, juju.LevelWarning, fmt.Sprintf("upgrade to Concourse %s failed its health check: %v", d.Run, err))
		} else {
			if err := writeRunningVersion(dataDir, d.Run); err != nil {
				return err
			}
			rep.Running = d.Run
		}
	}
	if peers.relID == "" || rep.encode() == v.own.encode() {
		return nil
	}
	return c.setBag(ctx, peers.relID, false, map[string]string{keyRolloutReport: rep.encode()})
}

func upgradeFailedMessage(app, version, why string) string {
	return fmt.Sprintf("upgrade to %s failed: %s; the rollout is halted: fix it, then juju run %s/leader upgrade-resume (or upgrade-rollback)", version, why, app)
}

// rolloutAppNote is the leader's word on the rollout for the application status ("" when there is
// none under way); halted says the application must show blocked.
func rolloutAppNote(app string, p rollout.Plan, done int, total int) (note string, halted bool) {
	switch {
	case p.Halted != "":
		return fmt.Sprintf("rollout to %s halted: %s; fix it, then juju run %s/leader upgrade-resume (or upgrade-rollback)", p.To, p.Halted, app), true
	case p.Turn != "":
		return fmt.Sprintf("rolling out %s: %d/%d units, turn %s", p.To, done, total, p.Turn), false
	case len(p.Order) > len(p.Done):
		// Units still to move, none holding the turn (a worker application waiting for its webs).
		return fmt.Sprintf("rolling out %s: %d/%d units", p.To, done, total), false
	}
	// No unit needs a turn: a fresh deploy (units still starting) is not a rollout.
	return "", false
}
