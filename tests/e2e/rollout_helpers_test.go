package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Versions of the rollout tests: what the units run first, then the targets.
const (
	v2 = "7.14.4"
	v3 = "7.15.0"
)

// rolloutModel is a concourse model whose units share one directory, with several versions served.
type rolloutModel struct {
	*concourseModel
	shared string // the host directory every machine sees at /srv/concourse-shared
}

// newRolloutModel serves versions (the first is deployed) and deploys concourse-ci with n units
// in mode auto on shared storage, related to postgresql, with extra deploy arguments.
func newRolloutModel(t *testing.T, n int, versions []string, extra ...string) *rolloutModel {
	t.Helper()
	cm := newConcourseModel(t)
	if !slices.Equal(versions, []string{version}) {
		cm.srv = serveRelease(t, versions...) // newConcourseModel serves only version
	}
	m := &rolloutModel{concourseModel: cm, shared: filepath.Join(t.TempDir(), "shared")}
	m.deploy("concourse-ci", n, append(sharedDirArgs(m.shared), extra...)...)
	m.juju("wait")
	return m
}

// window is a span during which a unit did not serve: a web from "web stopping" to the next
// "web started" (its journal), a worker from "landing" (it takes no new build) to its next
// "started" (its own record).
type window struct {
	unit     string
	from, to time.Time
	// drained: a worker's span from landing to landed (its builds finishing), within from..to.
	drained time.Duration
}

func (w window) String() string {
	return fmt.Sprintf("%s down %s..%s (%s)", w.unit, w.from.Format("15:04:05.000"), w.to.Format("15:04:05.000"),
		w.to.Sub(w.from).Round(time.Millisecond))
}

// restart is the window less its drain: the unit's own stop and start.
func (w window) restart() time.Duration { return w.to.Sub(w.from) - w.drained }

// timeline is what the stand-in recorded on every unit during a rollout.
type timeline struct {
	windows []window // by start
	// problems: a worker restarted without landing first, a build aborted, a window left open.
	problems []string
	// aborted counts builds the stand-in ended without their finishing (SIGTERM); killed counts
	// workers that started again with no stop recorded (SIGKILL: what ran there was lost).
	aborted, killed int
}

// lost is the builds known lost plus the workers killed outright (each may have run some).
func (tl timeline) lost() int { return tl.aborted + tl.killed }

// rolloutTimeline reads, on web and each worker, what happened since since.
func (m *model) rolloutTimeline(since time.Time, web string, workers []string) timeline {
	m.t.Helper()
	var tl timeline
	ws, problems := m.webWindows(web, since)
	tl.windows = append(tl.windows, ws...)
	tl.problems = append(tl.problems, problems...)
	for _, u := range workers {
		ws, aborted, killed, problems := m.workerWindows(u, since)
		tl.windows = append(tl.windows, ws...)
		tl.aborted += aborted
		tl.killed += killed
		tl.problems = append(tl.problems, problems...)
	}
	slices.SortFunc(tl.windows, func(a, b window) int { return a.from.Compare(b.from) })
	return tl
}

// maxDown is the most units down at one instant.
func (tl timeline) maxDown() int {
	most := 0
	for _, w := range tl.windows {
		n := 0
		for _, o := range tl.windows {
			if !o.from.After(w.from) && o.to.After(w.from) {
				n++
			}
		}
		most = max(most, n)
	}
	return most
}

// order is the units in the order they went down.
func (tl timeline) order() []string {
	var units []string
	for _, w := range tl.windows {
		units = append(units, w.unit)
	}
	return units
}

func (tl timeline) String() string {
	var lines []string
	for _, w := range tl.windows {
		lines = append(lines, "  "+w.String())
	}
	return strings.Join(lines, "\n")
}

// webWindows reads the web's journal: each "web stopping" to the next "web started".
func (m *model) webWindows(unit string, since time.Time) ([]window, []string) {
	m.t.Helper()
	out := m.juju("exec", "--unit", unit, "--", "journalctl", "--unit", "concourse-web", "--output", "json", "--no-pager")
	var windows []window
	var problems []string
	var open *window
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e struct {
			Message any    `json:"MESSAGE"`
			Micros  string `json:"__REALTIME_TIMESTAMP"`
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		msg, _ := e.Message.(string)
		us, err := strconv.ParseInt(e.Micros, 10, 64)
		at := time.UnixMicro(us)
		if err != nil || at.Before(since) {
			continue
		}
		switch {
		case strings.HasPrefix(msg, "info: web stopping") && open == nil:
			open = &window{unit: unit, from: at}
		case strings.HasPrefix(msg, "info: web started") && open != nil:
			open.to = at
			windows = append(windows, *open)
			open = nil
		}
	}
	if open != nil {
		problems = append(problems, fmt.Sprintf("%s: web stopped at %s and never started again", unit, open.from.Format(time.TimeOnly)))
	}
	return windows, problems
}

// workerWindows reads the worker's own records: each "landing" to the next "started", checking
// it landed (builds drained) before it stopped; a "started" with no landing before it since the
// last one is a restart without landing. aborted counts builds the worker ended unfinished,
// killed the starts that followed no stop.
func (m *model) workerWindows(unit string, since time.Time) (ws []window, aborted, killed int, problems []string) {
	m.t.Helper()
	var open *window
	var landing, landed time.Time
	for _, e := range m.workerEvents(unit) {
		if e.Time.Before(since) {
			continue
		}
		switch e.Event {
		case "landing":
			open, landing, landed = &window{unit: unit, from: e.Time}, e.Time, time.Time{}
		case "landed":
			landed = e.Time
		case "stopped":
			if e.Containers > 0 {
				aborted += e.Containers
				problems = append(problems, fmt.Sprintf("%s: stopped with %d build(s) aborted (%s)", unit, e.Containers, e.Detail))
			}
			if open == nil {
				problems = append(problems, fmt.Sprintf("%s: stopped at %s without landing (%s)", unit, e.Time.Format(time.TimeOnly), e.Detail))
				open = &window{unit: unit, from: e.Time}
			} else if landed.IsZero() {
				problems = append(problems, fmt.Sprintf("%s: stopped at %s before it landed (%s)", unit, e.Time.Format(time.TimeOnly), e.Detail))
			}
		case "started":
			if open == nil {
				// A SIGKILL leaves no line: a start that follows no stop.
				killed++
				problems = append(problems, fmt.Sprintf("%s: started at %s with no stop recorded before (killed?)", unit, e.Time.Format(time.TimeOnly)))
				continue
			}
			open.to = e.Time
			if !landed.IsZero() {
				open.drained = landed.Sub(landing)
			}
			ws = append(ws, *open)
			open = nil
		}
	}
	if open != nil {
		problems = append(problems, fmt.Sprintf("%s: down since %s, never started again", unit, open.from.Format(time.TimeOnly)))
	}
	return ws, aborted, killed, problems
}

// rolloutPlan is the leader's plan as published in the peer application bag.
type rolloutPlan struct {
	ID     int      `json:"id"`
	From   string   `json:"from"`
	To     string   `json:"to"`
	Order  []string `json:"order"`
	Done   []string `json:"done"`
	Turn   string   `json:"turn"`
	Halted string   `json:"halted"`
}

func (m *model) rolloutPlan() rolloutPlan {
	m.t.Helper()
	var p rolloutPlan
	raw := peerRelation(m.t, m.modelState()).AppData["concourse-ci"]["rollout"]
	if raw == "" {
		return p // the leader has not planned yet
	}
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		m.t.Fatalf("rollout plan %q: %v", raw, err)
	}
	return p
}

// info is the web's /api/v1/info version, read from the host.
func (m *model) infoVersion(web string) string {
	m.t.Helper()
	var info struct {
		Version string `json:"version"`
	}
	if err := m.api(web, "/api/v1/info", "", "", &info); err != nil {
		m.t.Fatalf("/api/v1/info on %s: %v", web, err)
	}
	return info.Version
}

// workerVersions is what the web lists: each worker's state and the version of the binary it
// registered with.
func (m *model) workerVersions(web string) map[string]string {
	m.t.Helper()
	user, pw := m.adminPassword(web)
	var ws []struct {
		Name    string `json:"name"`
		State   string `json:"state"`
		Version string `json:"standin_binary_version"`
	}
	if err := m.api(web, "/api/v1/workers", user, pw, &ws); err != nil {
		m.t.Fatal(err)
	}
	out := map[string]string{}
	for _, w := range ws {
		out[w.Name] = w.State + " " + w.Version
	}
	return out
}
