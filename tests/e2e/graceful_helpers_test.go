package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// standinEvent is one line of the stand-in's records: the worker's own standin-events.log
// (started, landing, landed, retiring, retired, stopped) or what a web's TSA saw
// (/api/v1/standin/events: registered, landing, landed, retiring, retired, disconnected).
type standinEvent struct {
	Time       time.Time `json:"time"`
	Worker     string    `json:"worker"`
	Event      string    `json:"event"`
	Containers int       `json:"containers"`
	Detail     string    `json:"detail"`
}

// workerEventsFile is where the charm points the worker's CONCOURSE_WORK_DIR.
const workerEventsFile = "/var/lib/concourse-data/worker/work/standin-events.log"

// startBuild holds a fake build of d on unit's worker (the stand-in's healthcheck port): landing
// and retiring wait for it. The build ends no earlier than the time returned plus d.
func (m *model) startBuild(unit string, d time.Duration) time.Time {
	m.t.Helper()
	u := fmt.Sprintf("http://%s:8888/standin/builds", m.address(unit))
	c := http.Client{Timeout: 5 * time.Second}
	before := time.Now()
	resp, err := c.PostForm(u, url.Values{"duration": {d.String()}})
	if err != nil {
		m.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		m.t.Fatalf("start a build on %s: %s", unit, resp.Status)
	}
	return before
}

// workerEvents reads the worker's own event log on unit's machine.
func (m *model) workerEvents(unit string) []standinEvent {
	m.t.Helper()
	out := m.juju("exec", "--unit", unit, "--", "cat", workerEventsFile)
	var events []standinEvent
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var e standinEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			m.t.Fatalf("%s event %q: %v", unit, line, err)
		}
		events = append(events, e)
	}
	return events
}

// webEvents is what the web on webUnit recorded about worker.
func (m *model) webEvents(webUnit, worker string) []standinEvent {
	m.t.Helper()
	user, pw := m.adminPassword(webUnit)
	var events []standinEvent
	if err := m.api(webUnit, "/api/v1/standin/events?worker="+url.QueryEscape(worker), user, pw, &events); err != nil {
		m.t.Fatal(err)
	}
	return events
}

// workers is the web's /api/v1/workers, whatever the states.
func (m *model) workers(webUnit string) []worker {
	m.t.Helper()
	user, pw := m.adminPassword(webUnit)
	var ws []worker
	if err := m.api(webUnit, "/api/v1/workers", user, pw, &ws); err != nil {
		m.t.Fatal(err)
	}
	return ws
}

// unitLog is the unit's log in the model: hook output and juju-log lines. It outlives the unit.
func (m *model) unitLog(unit string) string {
	m.t.Helper()
	b, err := os.ReadFile(filepath.Join(m.dir, "logs", "unit-"+strings.ReplaceAll(unit, "/", "-")+".log"))
	if err != nil {
		m.t.Fatal(err)
	}
	return string(b)
}

// find returns the first event named name at or after index from, and its index (-1: none).
func find(events []standinEvent, from int, name string) (standinEvent, int) {
	for i := max(from, 0); i < len(events); i++ {
		if events[i].Event == name {
			return events[i], i
		}
	}
	return standinEvent{}, -1
}

func eventNames(events []standinEvent) string {
	var names []string
	for _, e := range events {
		n := e.Event
		if e.Detail != "" {
			n += "(" + e.Detail + ")"
		}
		names = append(names, n)
	}
	return strings.Join(names, " ")
}
