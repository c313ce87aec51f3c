package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startBuild starts a fake build of d on the worker and returns the HTTP status.
func (w startedWorker) startBuild(d time.Duration) int {
	w.t.Helper()
	resp, err := http.PostForm("http://"+w.health+"/standin/builds", url.Values{"duration": {d.String()}})
	if err != nil {
		w.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// containers is what the worker's Garden server lists.
func (w startedWorker) containers() []string {
	w.t.Helper()
	resp, err := http.Get("http://" + w.garden + "/containers")
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct{ Handles []string }
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		w.t.Fatal(err)
	}
	return list.Handles
}

// workerEvents reads the worker's own event log.
func workerEvents(t *testing.T, s workerSetup) []event {
	t.Helper()
	f, err := os.Open(filepath.Join(s.env["CONCOURSE_WORK_DIR"], eventsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []event
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("event line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

func names(events []event) string {
	var out []string
	for _, e := range events {
		out = append(out, e.Event)
	}
	return strings.Join(out, ",")
}

// A landing or retiring worker keeps running while a build does, refuses new builds, tells the
// web it is landing/retiring with its container count, and exits once the build is over; both
// the worker's and the web's records show it in order.
func TestDrainWaitsForBuilds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		sig                  syscall.Signal
		draining, done, left string // left: the web's state afterwards, "" for gone
	}{
		{syscall.SIGUSR1, "landing", "landed", "landed"},
		{syscall.SIGUSR2, "retiring", "retired", ""},
	} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			t.Parallel()
			db := pgDatabase(t)
			ws := newWebSetup(t, db)
			s := newWorkerSetup(t, "busy", []keypair{ws.hostKey})
			writeFile(t, ws.authKeys, s.key.authKey)
			w := startWeb(t, ws)
			s.env["CONCOURSE_TSA_HOST"] = w.tsa
			wk := startWorker(t, s)
			w.waitWorkers("registered", func(r []workerRow) bool { return len(r) == 1 && r[0].State == "running" })

			const build = 1500 * time.Millisecond
			if code := wk.startBuild(build); code != http.StatusCreated {
				t.Fatalf("start build: %d", code)
			}
			started := time.Now()
			if got := wk.containers(); len(got) != 1 {
				t.Fatalf("garden lists %v, want one container", got)
			}
			wk.signal(tc.sig)
			wk.waitLine(tc.draining + ": 1 containers still running")
			w.waitWorkers(tc.draining, func(r []workerRow) bool { return len(r) == 1 && r[0].State == tc.draining })
			if code := wk.startBuild(time.Second); code != http.StatusConflict {
				t.Errorf("a build started while %s: %d, want 409", tc.draining, code)
			}
			if code := wk.wait(); code != 0 {
				t.Errorf("exit %d, want 0", code)
			}
			if took := time.Since(started); took < build {
				t.Errorf("worker exited %s after the build started, before it ended (%s)", took, build)
			}
			w.waitWorkers(tc.done, func(r []workerRow) bool {
				if tc.left == "" {
					return len(r) == 0
				}
				return len(r) == 1 && r[0].State == tc.left
			})

			own := workerEvents(t, s)
			if got, want := names(own), "started,"+tc.draining+","+tc.done+",stopped"; got != want {
				t.Errorf("worker events %s, want %s", got, want)
			} else if own[1].Containers != 1 || own[2].Time.Sub(own[1].Time) < build/2 {
				t.Errorf("worker events %+v: want %s with 1 container, %s once it ended", own, tc.draining, tc.done)
			}
			var seen []event
			if code := w.get("/api/v1/standin/events?worker=busy", adminUser, adminPassword, &seen); code != http.StatusOK {
				t.Fatalf("GET events: %d", code)
			}
			if got := names(seen); !strings.HasPrefix(got, "registered,"+tc.draining+","+tc.done) {
				t.Errorf("web events %s, want registered,%s,%s first", got, tc.draining, tc.done)
			}
		})
	}
}

// SIGTERM cuts a retire short: the build is aborted, the worker says so and exits, and the web,
// which knew it was retiring, drops it instead of leaving it stalled.
func TestTermDuringRetire(t *testing.T) {
	t.Parallel()
	db := pgDatabase(t)
	ws := newWebSetup(t, db)
	s := newWorkerSetup(t, "cut", []keypair{ws.hostKey})
	writeFile(t, ws.authKeys, s.key.authKey)
	w := startWeb(t, ws)
	s.env["CONCOURSE_TSA_HOST"] = w.tsa
	wk := startWorker(t, s)
	w.waitWorkers("registered", func(r []workerRow) bool { return len(r) == 1 })
	if code := wk.startBuild(time.Hour); code != http.StatusCreated {
		t.Fatalf("start build: %d", code)
	}
	wk.signal(syscall.SIGUSR2)
	w.waitWorkers("retiring", func(r []workerRow) bool { return len(r) == 1 && r[0].State == "retiring" })
	wk.signal(syscall.SIGTERM)
	wk.waitLine("stopping on terminated while retiring: 1 containers aborted")
	if code := wk.wait(); code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
	w.waitWorkers("gone", func(r []workerRow) bool { return len(r) == 0 })
	own := workerEvents(t, s)
	if got := names(own); got != "started,retiring,stopped" || own[2].Containers != 1 || !strings.Contains(own[2].Detail, "while retiring") {
		t.Errorf("worker events %+v", own)
	}
}

// `retire-worker --name` through a TSA that authorizes the worker's key removes a worker that
// cannot retire itself (here: stalled, its process gone); a wrong host key or an unknown TSA
// fails with exit 1 naming the host.
func TestRetireWorkerByName(t *testing.T) {
	t.Parallel()
	db := pgDatabase(t)
	ws := newWebSetup(t, db)
	s := newWorkerSetup(t, "lost", []keypair{ws.hostKey})
	writeFile(t, ws.authKeys, s.key.authKey)
	w := startWeb(t, ws)
	s.env["CONCOURSE_TSA_HOST"] = w.tsa
	wk := startWorker(t, s)
	w.waitWorkers("registered", func(r []workerRow) bool { return len(r) == 1 })
	wk.signal(syscall.SIGTERM)
	wk.wait()
	w.waitWorkers("stalled", func(r []workerRow) bool { return len(r) == 1 && r[0].State == "stalled" })

	env := map[string]string{
		"CONCOURSE_TSA_HOST":               "127.0.0.1:1," + w.tsa, // the first refuses: the next is tried
		"CONCOURSE_TSA_PUBLIC_KEY":         s.env["CONCOURSE_TSA_PUBLIC_KEY"],
		"CONCOURSE_TSA_WORKER_PRIVATE_KEY": s.env["CONCOURSE_TSA_WORKER_PRIVATE_KEY"],
	}
	if code, out := runToExit(t, env, "retire-worker", "--name", "lost"); code != 0 || !strings.Contains(out, "lost retired via "+w.tsa) {
		t.Fatalf("retire-worker: exit %d, %q", code, out)
	}
	w.waitWorkers("gone", func(r []workerRow) bool { return len(r) == 0 })

	other := newKey(t, t.TempDir(), "other_host_key", false)
	pub := filepath.Join(t.TempDir(), "other.pub")
	writeFile(t, pub, other.authKey+"\n")
	env["CONCOURSE_TSA_HOST"], env["CONCOURSE_TSA_PUBLIC_KEY"] = w.tsa, pub
	if code, out := runToExit(t, env, "retire-worker", "--name", "lost"); code != 1 || !strings.Contains(out, w.tsa) || !strings.Contains(out, "host key") {
		t.Errorf("retire-worker with a wrong host key: exit %d, %q", code, out)
	}
	if code, out := runToExit(t, env, "retire-worker"); code != 2 || !strings.Contains(out, "--name") {
		t.Errorf("retire-worker without --name: exit %d, %q", code, out)
	}
}
