package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// The stand-in keeps two records of what happens to workers, for tests to put in order:
//
//   - each worker appends to eventsFile in its CONCOURSE_WORK_DIR what it did itself: "started",
//     "landing", "landed", "retiring", "retired", "stopped" (with why). A SIGKILL leaves no line:
//     a "started" that follows no "stopped" shows one. The file outlives restarts, not the machine.
//   - each web records in PostgreSQL what its TSA saw (standin_events, GET /api/v1/standin/events):
//     "registered", "landing", "landed", "retiring", "retired", "disconnected" (with the state the
//     worker was left in). It outlives the worker's machine.
const eventsFile = "standin-events.log"

// event is one line of either record.
type event struct {
	Time       time.Time `json:"time"`
	Worker     string    `json:"worker"`
	Event      string    `json:"event"`
	Containers int       `json:"containers"`
	PID        int       `json:"pid,omitempty"`
	Peer       string    `json:"peer,omitempty"`
	Detail     string    `json:"detail,omitempty"`
}

// eventLog appends a worker's events to its work directory.
type eventLog struct {
	path, worker string
	log          *logger
}

func newEventLog(workDir, worker string, log *logger) eventLog {
	return eventLog{path: filepath.Join(workDir, eventsFile), worker: worker, log: log}
}

// record appends one event in a single write (O_APPEND), so concurrent writers never interleave.
func (l eventLog) record(name string, containers int, detail string) {
	line, _ := json.Marshal(event{Time: time.Now().UTC(), Worker: l.worker, Event: name,
		Containers: containers, PID: os.Getpid(), Detail: detail})
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err == nil {
		_, err = f.Write(append(line, '\n'))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		l.log.errorf("record event %s: %v", name, err)
	}
}

const eventsSchema = `
CREATE TABLE IF NOT EXISTS standin_events (
	id bigserial PRIMARY KEY,
	at timestamptz NOT NULL DEFAULT clock_timestamp(),
	worker text NOT NULL,
	event text NOT NULL,
	containers integer NOT NULL DEFAULT 0,
	peer text NOT NULL DEFAULT '',
	detail text NOT NULL DEFAULT ''
)`

// event records what this web's TSA saw; a failure is logged, never fatal to the exchange.
func (s *store) event(ctx context.Context, log *logger, e event) {
	_, err := s.db.ExecContext(ctx, `INSERT INTO standin_events (worker, event, containers, peer, detail)
VALUES ($1, $2, $3, $4, $5)`, e.Worker, e.Event, e.Containers, e.Peer, e.Detail)
	if err != nil {
		log.errorf("record event %s of %s: %v", e.Event, e.Worker, err)
	}
}

// events lists the recorded events, oldest first; worker "" means all workers.
func (s *store) events(ctx context.Context, worker string) ([]event, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT at, worker, event, containers, peer, detail
FROM standin_events WHERE $1 = '' OR worker = $1 ORDER BY id`, worker)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	out := []event{}
	for rows.Next() {
		var e event
		if err := rows.Scan(&e.Time, &e.Worker, &e.Event, &e.Containers, &e.Peer, &e.Detail); err != nil {
			return nil, err
		}
		e.Time = e.Time.UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}
