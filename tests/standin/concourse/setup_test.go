package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// webSetup is the files and environment for one web node.
type webSetup struct {
	dir      string
	hostKey  keypair
	authKeys string // path of the authorized keys file
	env      map[string]string
}

func newWebSetup(t *testing.T, db pgDB, authorized ...keypair) webSetup {
	t.Helper()
	dir := t.TempDir()
	s := webSetup{dir: dir, hostKey: newKey(t, dir, "tsa_host_key", false), authKeys: filepath.Join(dir, "authorized_worker_keys")}
	session := newKey(t, dir, "session_signing_key", true)
	var lines []string
	for _, k := range authorized {
		lines = append(lines, k.authKey)
	}
	writeFile(t, s.authKeys, strings.Join(lines, "\n"))
	hash, err := bcrypt.GenerateFromPassword([]byte(adminPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	s.env = map[string]string{
		"CONCOURSE_EXTERNAL_URL":         "http://ci.example.test:8080",
		"CONCOURSE_SESSION_SIGNING_KEY":  session.path,
		"CONCOURSE_TSA_HOST_KEY":         s.hostKey.path,
		"CONCOURSE_TSA_AUTHORIZED_KEYS":  s.authKeys,
		"CONCOURSE_POSTGRES_HOST":        db.host,
		"CONCOURSE_POSTGRES_PORT":        strconv.Itoa(db.port),
		"CONCOURSE_POSTGRES_USER":        db.user,
		"CONCOURSE_POSTGRES_PASSWORD":    db.password,
		"CONCOURSE_POSTGRES_DATABASE":    db.database,
		"CONCOURSE_ADD_LOCAL_USER":       adminUser + ":" + string(hash),
		"CONCOURSE_MAIN_TEAM_LOCAL_USER": adminUser,
		"CONCOURSE_BIND_IP":              "127.0.0.1",
		"CONCOURSE_BIND_PORT":            "0",
		"CONCOURSE_TSA_BIND_IP":          "127.0.0.1",
		"CONCOURSE_TSA_BIND_PORT":        "0",
		"CONCOURSE_PEER_ADDRESS":         "127.0.0.2",
		"CONCOURSE_CLUSTER_NAME":         "standin-test",
		"CONCOURSE_LOG_LEVEL":            "debug",
	}
	return s
}

// web is a started web node.
type web struct {
	*proc
	api, tsa string // host:port
}

func startWeb(t *testing.T, s webSetup) web {
	t.Helper()
	p := start(t, s.env, "web")
	f := fields(p.waitLine("web started"))
	return web{proc: p, api: f["http"], tsa: f["tsa"]}
}

// get fetches an API path with basic auth (empty user: none) into v.
func (w web) get(path, user, password string, v any) int {
	w.t.Helper()
	req, err := http.NewRequest("GET", "http://"+w.api+path, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK && v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			w.t.Fatalf("GET %s: %v in %s", path, err, body)
		}
	}
	return resp.StatusCode
}

func (w web) workers() []workerRow {
	w.t.Helper()
	var out []workerRow
	if code := w.get("/api/v1/workers", adminUser, adminPassword, &out); code != http.StatusOK {
		w.t.Fatalf("GET /api/v1/workers: %d", code)
	}
	return out
}

// waitWorkers polls /api/v1/workers until ok accepts the list.
func (w web) waitWorkers(what string, ok func([]workerRow) bool) []workerRow {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ws := w.workers()
		if ok(ws) {
			return ws
		}
		select {
		case <-ctx.Done():
			w.t.Fatalf("workers never %s; last: %+v", what, ws)
		case <-tick.C:
		}
	}
}

func findWorker(ws []workerRow, name string) (workerRow, bool) {
	for _, w := range ws {
		if w.Name == name {
			return w, true
		}
	}
	return workerRow{}, false
}

// workerSetup is the files and environment for one worker.
type workerSetup struct {
	key keypair
	env map[string]string
}

// newWorkerSetup trusts the given TSA host keys and connects to tsaHosts.
func newWorkerSetup(t *testing.T, name string, hostKeys []keypair, tsaHosts ...string) workerSetup {
	t.Helper()
	dir := t.TempDir()
	s := workerSetup{key: newKey(t, dir, "worker_key", false)}
	var lines []string
	for _, k := range hostKeys {
		lines = append(lines, k.authKey)
	}
	pubPath := filepath.Join(dir, "tsa_host_key.pub")
	writeFile(t, pubPath, strings.Join(lines, "\n")+"\n")
	s.env = map[string]string{
		"CONCOURSE_WORK_DIR":               filepath.Join(dir, "work", "nested"),
		"CONCOURSE_TSA_HOST":               strings.Join(tsaHosts, ","),
		"CONCOURSE_TSA_PUBLIC_KEY":         pubPath,
		"CONCOURSE_TSA_WORKER_PRIVATE_KEY": s.key.path,
		"CONCOURSE_NAME":                   name,
		"CONCOURSE_TAG":                    "fast,linux",
		"CONCOURSE_RUNTIME":                "containerd",
		"CONCOURSE_BAGGAGECLAIM_DRIVER":    "overlay",
		"CONCOURSE_HEALTHCHECK_BIND_IP":    "127.0.0.1",
		"CONCOURSE_HEALTHCHECK_BIND_PORT":  "0",
		"CONCOURSE_BIND_PORT":              "0", // Garden: tests run side by side
		"CONCOURSE_LOG_LEVEL":              "debug",
	}
	return s
}

// startedWorker is a running worker and its healthcheck and Garden addresses.
type startedWorker struct {
	*proc
	health, garden string
}

func startWorker(t *testing.T, s workerSetup) startedWorker {
	t.Helper()
	p := start(t, s.env, "worker")
	f := fields(p.waitLine("worker started"))
	return startedWorker{proc: p, health: f["healthcheck"], garden: f["garden"]}
}

func (w startedWorker) healthCode() int {
	w.t.Helper()
	resp, err := http.Get("http://" + w.health + "/")
	if err != nil {
		w.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func without(env map[string]string, drop string) map[string]string {
	return with(env, drop, "")
}

// with copies env with key set to value ("" removes it).
func with(env map[string]string, key, value string) map[string]string {
	out := map[string]string{}
	for k, v := range env {
		out[k] = v
	}
	if value == "" {
		delete(out, key)
	} else {
		out[key] = value
	}
	return out
}

// eventually polls cond until it holds or waitTimeout passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting until %s", what)
		case <-tick.C:
		}
	}
}
