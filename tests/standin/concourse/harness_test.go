package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/ssh"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/releasetest"
)

const (
	standinVersion = "7.99.1"
	waitTimeout    = 30 * time.Second
	adminUser      = "admin"
	adminPassword  = "correct horse battery"
)

// binary builds the stand-in once per test process (releasetest caches it).
func binary(t *testing.T) string {
	t.Helper()
	return releasetest.Standin(t, standinVersion)
}

// keypair is an RSA key written as a PEM file, with its authorized_keys line.
type keypair struct {
	path    string
	pub     ssh.PublicKey
	authKey string
}

func newKey(t *testing.T, dir, name string, pkcs8 bool) keypair {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	block := &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}
	if pkcs8 {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		block = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	}
	path := filepath.Join(dir, name)
	writeFile(t, path, string(pem.EncodeToMemory(block)))
	pub, err := ssh.NewPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return keypair{path: path, pub: pub, authKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " " + name}
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// proc is a running stand-in whose combined output is collected by line.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // from Wait, valid once exited is closed

	mu     sync.Mutex
	buf    []byte
	lines  []string
	notify chan struct{} // closed and replaced on every new line
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		p.lines = append(p.lines, string(p.buf[:i]))
		p.buf = p.buf[i+1:]
		close(p.notify)
		p.notify = make(chan struct{})
	}
	return len(b), nil
}

// start runs the stand-in with exactly env (plus PATH), killing it at cleanup.
func start(t *testing.T, env map[string]string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, exited: make(chan struct{}), notify: make(chan struct{})}
	p.cmd = exec.Command(binary(t), args...)
	p.cmd.Env = []string{"PATH=/usr/bin:/bin"}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("output of %s:\n%s", strings.Join(args, " "), p.output())
		}
	})
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n") + string(p.buf)
}

// waitLine waits for an output line containing want and returns it; it
// fails the test if the process exits or waitTimeout passes first.
func (p *proc) waitLine(want string) string {
	p.t.Helper()
	line, err := p.awaitLine(want)
	if err != nil {
		p.t.Fatalf("waiting for %q: %v", want, err)
	}
	return line
}

func (p *proc) awaitLine(want string) (string, error) {
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	exited := false
	for {
		p.mu.Lock()
		for _, l := range append(p.lines[:len(p.lines):len(p.lines)], string(p.buf)) {
			if strings.Contains(l, want) {
				p.mu.Unlock()
				return l, nil
			}
		}
		notify := p.notify
		p.mu.Unlock()
		if exited { // Wait returned, so every byte of output is in
			return "", fmt.Errorf("process exited (%v)", p.err)
		}
		select {
		case <-notify:
		case <-p.exited:
			exited = true
		case <-deadline.C:
			return "", errors.New("timed out")
		}
	}
}

// wait returns the exit code, failing if the process outlives waitTimeout.
func (p *proc) wait() int {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(waitTimeout):
		p.t.Fatalf("process still running after %s", waitTimeout)
	}
	var exit *exec.ExitError
	if errors.As(p.err, &exit) {
		return exit.ExitCode()
	}
	if p.err != nil {
		p.t.Fatalf("wait: %v", p.err)
	}
	return 0
}

func (p *proc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

// runToExit runs the stand-in to completion and returns code and output.
func runToExit(t *testing.T, env map[string]string, args ...string) (int, string) {
	t.Helper()
	p := start(t, env, args...)
	return p.wait(), p.output()
}

var fieldRE = regexp.MustCompile(`(\w+)=(\S+)`)

// fields parses key=value pairs from a log line.
func fields(line string) map[string]string {
	out := map[string]string{}
	for _, m := range fieldRE.FindAllStringSubmatch(line, -1) {
		out[m[1]] = m[2]
	}
	return out
}

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
		"CONCOURSE_LOG_LEVEL":              "debug",
	}
	return s
}

// startedWorker is a running worker and its healthcheck address.
type startedWorker struct {
	*proc
	health string
}

func startWorker(t *testing.T, s workerSetup) startedWorker {
	t.Helper()
	p := start(t, s.env, "worker")
	return startedWorker{proc: p, health: fields(p.waitLine("worker started"))["healthcheck"]}
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
