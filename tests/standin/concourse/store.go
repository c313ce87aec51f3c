package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"
)

// pgConfig is the CONCOURSE_POSTGRES_* settings.
type pgConfig struct {
	host, user, password, database, sslmode, caCert string
	port                                            int
}

// where names the target for messages; it never includes the password.
func (c pgConfig) where() string {
	return fmt.Sprintf("%s:%d/%s as user %q", c.host, c.port, c.database, c.user)
}

func (c pgConfig) dsn() string {
	q := func(v string) string {
		return "'" + strings.ReplaceAll(strings.ReplaceAll(v, `\`, `\\`), `'`, `\'`) + "'"
	}
	parts := []string{
		"host=" + q(c.host), "port=" + strconv.Itoa(c.port), "user=" + q(c.user),
		"password=" + q(c.password), "dbname=" + q(c.database), "sslmode=" + q(c.sslmode),
		"connect_timeout=5", "application_name=standin-web",
	}
	if c.caCert != "" {
		parts = append(parts, "sslrootcert="+q(c.caCert))
	}
	return strings.Join(parts, " ")
}

// store keeps workers in PostgreSQL, so every web sharing the database sees
// the same workers.
type store struct {
	db *sql.DB
}

// connectRetry is how long web waits for the database to come up.
const connectRetry = 30 * time.Second

// openStore connects with exactly cfg's credentials, retrying transient
// failures (nothing listening yet, server starting) for up to connectRetry.
// Authentication or missing-database errors fail at once: waiting won't help.
func openStore(ctx context.Context, cfg pgConfig, log *logger) (*store, error) {
	// Only the CONCOURSE_POSTGRES_* settings count: drop libpq's PG* defaults.
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "PG") {
			os.Unsetenv(k)
		}
	}
	fail := func(err error) error {
		msg := err.Error()
		if cfg.password != "" {
			msg = strings.ReplaceAll(msg, cfg.password, "<redacted>")
		}
		return fmt.Errorf("cannot connect to postgres at %s: %s", cfg.where(), msg)
	}
	conn, err := pq.NewConnector(cfg.dsn())
	if err != nil {
		return nil, fail(err)
	}
	db := sql.OpenDB(conn)
	ctx, cancel := context.WithTimeout(ctx, connectRetry)
	defer cancel()
	for attempt := 1; ; attempt++ {
		err = db.PingContext(ctx)
		if err == nil {
			break
		}
		var pqErr *pq.Error
		if errors.As(err, &pqErr) && pqErr.Code != "57P03" { // 57P03: cannot_connect_now
			db.Close()
			return nil, fail(err)
		}
		if attempt == 1 {
			log.infof("waiting for postgres at %s: %v", cfg.where(), err)
		}
		select {
		case <-ctx.Done():
			db.Close()
			return nil, fail(fmt.Errorf("gave up after %s: %w", connectRetry, err))
		case <-time.After(500 * time.Millisecond):
		}
	}
	s := &store{db: db}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres at %s: create tables: %w", cfg.where(), err)
	}
	return s, nil
}

const schema = `
CREATE TABLE IF NOT EXISTS standin_workers (
	name text PRIMARY KEY,
	team text NOT NULL DEFAULT '',
	tags text[] NOT NULL DEFAULT '{}',
	platform text NOT NULL DEFAULT '',
	state text NOT NULL CHECK (state IN ('running','landing','landed','retiring','stalled')),
	version text NOT NULL DEFAULT '',
	binary_version text NOT NULL DEFAULT '',
	runtime text NOT NULL DEFAULT '',
	baggageclaim_driver text NOT NULL DEFAULT '',
	tsa_peer text NOT NULL DEFAULT '',
	tsa_peers text[] NOT NULL DEFAULT '{}',
	connected_at timestamptz NOT NULL DEFAULT now(),
	last_seen timestamptz NOT NULL DEFAULT now()
)`

// migrate creates the tables; an advisory lock keeps webs starting together
// from racing on CREATE TABLE.
func (s *store) migrate(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7226001)`); err != nil {
		return err
	}
	for _, ddl := range []string{schema, eventsSchema} {
		if _, err := tx.ExecContext(ctx, ddl); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// upsert records a registration through peer: state running.
func (s *store) upsert(ctx context.Context, r registration, peer string) error {
	_, err := s.db.ExecContext(ctx, `
INSERT INTO standin_workers (name, team, tags, platform, state, version, binary_version,
	runtime, baggageclaim_driver, tsa_peer, tsa_peers)
VALUES ($1, $2, $3, $4, 'running', $5, $6, $7, $8, $9, ARRAY[$9::text])
ON CONFLICT (name) DO UPDATE SET team = EXCLUDED.team, tags = EXCLUDED.tags,
	platform = EXCLUDED.platform, state = 'running', version = EXCLUDED.version,
	binary_version = EXCLUDED.binary_version, runtime = EXCLUDED.runtime,
	baggageclaim_driver = EXCLUDED.baggageclaim_driver, tsa_peer = EXCLUDED.tsa_peer,
	tsa_peers = CASE WHEN $9::text = ANY(standin_workers.tsa_peers) THEN standin_workers.tsa_peers
		ELSE standin_workers.tsa_peers || $9::text END,
	connected_at = now(), last_seen = now()`,
		r.Name, r.Team, pq.Array(nonNil(r.Tags)), r.Platform, r.Version, r.BinaryVersion,
		r.Runtime, r.BaggageclaimDriver, peer)
	return err
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (s *store) heartbeat(ctx context.Context, name string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE standin_workers SET last_seen = now() WHERE name = $1`, name)
	return err
}

// detach drops peer from the worker's connections. A worker left with none is, as Concourse's
// worker lifecycle has it: stalled when it was running; landed when it was landing; gone when it
// was retiring (the builds of a worker nobody hears from are lost, and a retiring worker without
// running builds is deleted). It returns the resulting state ("" if no row is left).
func (s *store) detach(ctx context.Context, name, peer string) (string, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	var state string
	var peers []string
	err = tx.QueryRowContext(ctx, `SELECT state, tsa_peers FROM standin_workers WHERE name = $1 FOR UPDATE`,
		name).Scan(&state, pq.Array(&peers))
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	peers = slices.DeleteFunc(peers, func(p string) bool { return p == peer })
	if len(peers) == 0 {
		state = orphaned(state)
	}
	if state == "" {
		_, err = tx.ExecContext(ctx, `DELETE FROM standin_workers WHERE name = $1`, name)
	} else {
		_, err = tx.ExecContext(ctx, `UPDATE standin_workers SET tsa_peers = $2, state = $3 WHERE name = $1`,
			name, pq.Array(nonNil(peers)), state)
	}
	if err != nil {
		return "", err
	}
	return state, tx.Commit()
}

// stateOrGone names a state for events; "" is a deleted worker.
func stateOrGone(state string) string {
	if state == "" {
		return "gone"
	}
	return state
}

// orphaned is the state of a worker no web hears from any more ("" for deleted).
func orphaned(state string) string {
	switch state {
	case "running":
		return "stalled"
	case "landing":
		return "landed"
	case "retiring":
		return ""
	}
	return state
}

// dropPeer detaches peer from every worker: a web that starts or stops has no sessions left.
// Each detach is recorded as a "disconnected" event.
func (s *store) dropPeer(ctx context.Context, peer string, log *logger) error {
	rows, err := s.db.QueryContext(ctx, `SELECT name FROM standin_workers WHERE $1 = ANY(tsa_peers)`, peer)
	if err != nil {
		return err
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return err
		}
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, n := range names {
		state, err := s.detach(ctx, n, peer)
		if err != nil {
			return fmt.Errorf("detach %s: %w", n, err)
		}
		s.event(ctx, log, event{Worker: n, Event: "disconnected", Peer: peer, Detail: stateOrGone(state) + " (web " + peer + " stopped)"})
	}
	return nil
}

var errNoWorker = errors.New("no such worker")

// setState moves a worker to state: landing, landed or retiring.
func (s *store) setState(ctx context.Context, name, state string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE standin_workers SET state = $2 WHERE name = $1`, name, state)
	return noRow(res, err)
}

func (s *store) retire(ctx context.Context, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM standin_workers WHERE name = $1`, name)
	return noRow(res, err)
}

func noRow(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return errNoWorker
	}
	return nil
}

// workerRow is one worker as /api/v1/workers shows it.
type workerRow struct {
	Name               string    `json:"name"`
	State              string    `json:"state"`
	Team               string    `json:"team"`
	Tags               []string  `json:"tags"`
	Platform           string    `json:"platform"`
	Version            string    `json:"version"`
	BinaryVersion      string    `json:"standin_binary_version"`
	Runtime            string    `json:"runtime"`
	BaggageclaimDriver string    `json:"baggageclaim_driver"`
	TSAPeer            string    `json:"tsa_peer"`
	TSAPeers           []string  `json:"tsa_peers"`
	ConnectedAt        time.Time `json:"connected_at"`
	LastSeen           time.Time `json:"last_seen"`
}

func (s *store) workers(ctx context.Context) ([]workerRow, error) {
	rows, err := s.db.QueryContext(ctx, `
SELECT name, state, team, tags, platform, version, binary_version, runtime,
	baggageclaim_driver, tsa_peer, tsa_peers, connected_at, last_seen
FROM standin_workers ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []workerRow{}
	for rows.Next() {
		var w workerRow
		if err := rows.Scan(&w.Name, &w.State, &w.Team, pq.Array(&w.Tags), &w.Platform, &w.Version,
			&w.BinaryVersion, &w.Runtime, &w.BaggageclaimDriver, &w.TSAPeer, pq.Array(&w.TSAPeers),
			&w.ConnectedAt, &w.LastSeen); err != nil {
			return nil, err
		}
		w.Tags, w.TSAPeers = nonNil(w.Tags), nonNil(w.TSAPeers)
		out = append(out, w)
	}
	return out, rows.Err()
}

// whoami reports the live connection's user and database.
func (s *store) whoami(ctx context.Context) (user, database string, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT current_user, current_database()`).Scan(&user, &database)
	return user, database, err
}
