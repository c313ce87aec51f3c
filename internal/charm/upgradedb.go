package charm

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/concourse"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/rollout"
)

// keyWebFloor (peer application bag) is the highest version a web of the application has run or
// been handed the turn to. Concourse's web migrates the database up when it starts, and an older
// web neither knows nor undoes those migrations (atc/db/migration: Up only ever moves to the
// binary's own latest migration), so no rollout goes below it unless the two versions have the
// same migrations or an operator migrated the database down. It never decreases.
const keyWebFloor = "rollout-web-highest"

// dbVersionBound bounds one `concourse migrate --supported-db-version`: it lists the migrations
// built into the binary and opens no connection (sql.Open is lazy), so it returns at once.
const dbVersionBound = 30 * time.Second

// raiseFloor is floor raised to every version a web reports running and to the plan's target when
// a web holds the turn: that web may have started it, and migrated, before any health check.
func raiseFloor(floor string, members []rollout.Member, p rollout.Plan) string {
	up := func(v string) {
		if v != "" && (floor == "" || rollout.Compare(v, floor) > 0) {
			floor = v
		}
	}
	for _, m := range members {
		if !m.Web {
			continue
		}
		up(m.Running)
		if m.Unit == p.Turn {
			up(p.To)
		}
	}
	return floor
}

// migrations is what the charm learnt about the database migrations of two versions.
type migrations struct {
	older, newer string // versions
	olderDB      int64  // the older version's latest migration (N); 0 when unknown
	newerDB      int64
	unknown      string // why they could not be compared; "" when both are known
}

func (m migrations) same() bool { return m.unknown == "" && m.olderDB == m.newerDB }

// compareMigrations asks both versions' binaries on this unit's release root for the latest
// migration they know (`concourse migrate --supported-db-version`). A release that is not on
// the root, or a binary that fails, leaves them unknown, which counts as different.
func (c *Charm) compareMigrations(ctx context.Context, dataDir, older, newer string) migrations {
	m := migrations{older: older, newer: newer}
	var errs []string
	for _, side := range []struct {
		version string
		out     *int64
	}{{older, &m.olderDB}, {newer, &m.newerDB}} {
		n, err := c.supportedDBVersion(ctx, dataDir, side.version)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		*side.out = n
	}
	m.unknown = strings.Join(errs, "; ")
	return m
}

// supportedDBVersion runs version's binary from this unit's release root.
func (c *Charm) supportedDBVersion(ctx context.Context, dataDir, version string) (int64, error) {
	p, err := readPlacement(dataDir)
	if err != nil {
		return 0, fmt.Errorf("%s: no release root yet: %w", version, err)
	}
	dir, _, ok, err := p.root.Release(version, c.arch)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", version, err)
	}
	if !ok {
		return 0, fmt.Errorf("release %s is not on %s", version, p.Root)
	}
	ctx, cancel := context.WithTimeout(ctx, dbVersionBound)
	defer cancel()
	// No CONCOURSE_* of the hook's own (CONCOURSE_VERSION makes the real binary panic).
	out, err := c.runConcourse(ctx, concourse.Binary(dir), []string{"migrate", "--supported-db-version"}, nil)
	if err != nil {
		return 0, fmt.Errorf("%s: concourse migrate --supported-db-version: %w: %s", version, err, lastLine(out))
	}
	n, err := strconv.ParseInt(lastLine(out), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s: concourse migrate --supported-db-version printed %q, not a migration version", version, lastLine(out))
	}
	return n, nil
}

func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// downgradeRoute tells an operator how to take the database down to older's migrations and
// what to run then (next), or how to stay (stay).
func downgradeRoute(m migrations, next, stay string) string {
	n := "<N>"
	why := "the charm cannot tell whether their database migrations differ (" + m.unknown + ")"
	if m.unknown == "" {
		n = strconv.FormatInt(m.olderDB, 10)
		why = fmt.Sprintf("their database migrations differ (%s knows up to %d, %s up to %d)", m.older, m.olderDB, m.newer, m.newerDB)
	}
	route := fmt.Sprintf("%s; to go down, with the %s binary run `concourse migrate --migrate-db-to-version=%s` (the web's CONCOURSE_POSTGRES_* settings)", why, m.newer, n)
	if m.unknown != "" {
		route += fmt.Sprintf(", N being what `concourse migrate --supported-db-version` of %s prints", m.older)
	}
	return route + ", then " + next + "; to stay, " + stay
}

// dbHoldMessage is the leader's status while a downgrade waits on the database.
func dbHoldMessage(app string, p rollout.Plan, floor string, m migrations) string {
	return fmt.Sprintf("rollout to %s held: %s is older than %s, which a web unit has run, and %s",
		p.To, p.To, floor, downgradeRoute(m, "juju run "+app+"/leader upgrade-resume", "juju config "+app+" version="+floor))
}
