package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
)

// builds are the worker's fake builds. Each keeps the worker busy for a fixed time, as a real
// build's containers do, so that landing and retiring wait for it (tests start one over HTTP on
// the healthcheck port). While the worker drains no new build starts.
type builds struct {
	mu       sync.Mutex
	next     int
	running  map[string]*time.Timer // container handle -> the timer that ends it
	draining bool
	changed  chan struct{} // closed and replaced whenever a build ends
}

func newBuilds() *builds {
	return &builds{running: map[string]*time.Timer{}, changed: make(chan struct{})}
}

var errDraining = fmt.Errorf("the worker is landing or retiring: no new build")

// start runs a build for d and returns its container handle.
func (b *builds) start(d time.Duration) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.draining {
		return "", errDraining
	}
	b.next++
	handle := fmt.Sprintf("build-%d", b.next)
	b.running[handle] = time.AfterFunc(d, func() { b.end(handle) })
	return handle, nil
}

func (b *builds) end(handle string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.running[handle]; !ok {
		return
	}
	delete(b.running, handle)
	close(b.changed)
	b.changed = make(chan struct{})
}

// handles lists the running builds' containers, sorted.
func (b *builds) handles() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := []string{}
	for h := range b.running {
		out = append(out, h)
	}
	slices.Sort(out)
	return out
}

// drain refuses new builds from now on and returns how many still run.
func (b *builds) drain() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.draining = true
	return len(b.running)
}

// wait returns once no build runs, or with ctx's error.
func (b *builds) wait(ctx context.Context) error {
	for {
		b.mu.Lock()
		n, changed := len(b.running), b.changed
		b.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

// abort ends every build at once (the worker is stopped hard) and returns how many there were.
func (b *builds) abort() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(b.running)
	for h, t := range b.running {
		t.Stop()
		delete(b.running, h)
	}
	return n
}

// serveStart is POST /standin/builds?duration=30s on the healthcheck port: 201 with the handle,
// 409 while draining, 400 for a bad duration.
func (b *builds) serveStart(log *logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.FormValue("duration"))
		if err != nil || d <= 0 {
			http.Error(w, "duration: want a positive Go duration such as 30s", http.StatusBadRequest)
			return
		}
		handle, err := b.start(d)
		if err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		log.infof("build %s started for %s", handle, d)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]string{"handle": handle, "ends_at": time.Now().Add(d).UTC().Format(time.RFC3339Nano)})
	}
}

// serveList is Garden's GET /containers (its JSON shape), which the charm reads on the worker's
// machine to say how many containers a drain still waits for.
func (b *builds) serveList(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, struct{ Handles []string }{b.handles()})
}
