package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// markerFile is written into CONCOURSE_WORK_DIR to prove the worker used it.
const markerFile = "standin-worker"

const maxBackoff = 3 * time.Second

// workerConfig is everything `concourse worker` reads from the environment.
type workerConfig struct {
	workDir, name, runtime, driver, team, logLevel string
	tags, tsaHosts, dnsServers                     []string
	tsaKeys                                        []ssh.PublicKey
	signer                                         ssh.Signer
	ephemeral                                      bool
	maxContainers                                  int
	healthIP, gardenIP                             string
	healthPort, gardenPort                         int
	unhealthyFile                                  string // the test fault switch (fault.go)
}

func parseWorkerEnv(environ []string) (workerConfig, *envReader) {
	e := newEnvReader(environ)
	var c workerConfig
	c.logLevel = e.logLevel()
	c.workDir = e.required("CONCOURSE_WORK_DIR")
	if e.required("CONCOURSE_TSA_HOST") != "" {
		c.tsaHosts = e.list("CONCOURSE_TSA_HOST")
		for _, h := range c.tsaHosts {
			_, port, err := net.SplitHostPort(h)
			if _, perr := strconv.Atoi(port); err != nil || perr != nil {
				e.failf("CONCOURSE_TSA_HOST", "%q is not host:port", h)
			}
		}
		if len(c.tsaHosts) == 0 {
			e.failf("CONCOURSE_TSA_HOST", "lists no hosts")
		}
	}
	c.tsaKeys = e.authorizedKeys("CONCOURSE_TSA_PUBLIC_KEY", false)
	if k := e.rsaKey("CONCOURSE_TSA_WORKER_PRIVATE_KEY"); k != nil {
		signer, err := ssh.NewSignerFromKey(k)
		if err != nil {
			e.failf("CONCOURSE_TSA_WORKER_PRIVATE_KEY", "%v", err)
		}
		c.signer = signer
	}
	host, _ := os.Hostname()
	c.name = e.optional("CONCOURSE_NAME", host)
	if c.name == "" {
		e.failf("CONCOURSE_NAME", "not set and the hostname is unknown")
	}
	c.runtime = e.oneOf("CONCOURSE_RUNTIME", "containerd", "containerd", "guardian", "houdini")
	c.driver = e.oneOf("CONCOURSE_BAGGAGECLAIM_DRIVER", "detect", "detect", "naive", "overlay", "btrfs")
	c.tags = e.list("CONCOURSE_TAG")
	c.team = e.optional("CONCOURSE_TEAM", "")
	c.ephemeral = e.boolean("CONCOURSE_EPHEMERAL")
	c.dnsServers = e.list("CONCOURSE_CONTAINERD_DNS_SERVER")
	for _, d := range c.dnsServers {
		if net.ParseIP(d) == nil {
			e.failf("CONCOURSE_CONTAINERD_DNS_SERVER", "%q is not an IP address", d)
		}
	}
	if v, ok := e.lookup("CONCOURSE_CONTAINERD_MAX_CONTAINERS"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			e.failf("CONCOURSE_CONTAINERD_MAX_CONTAINERS", "%q is not a non-negative integer", v)
		}
		c.maxContainers = n
	}
	c.healthIP = e.ip("CONCOURSE_HEALTHCHECK_BIND_IP", "0.0.0.0")
	c.healthPort = e.port("CONCOURSE_HEALTHCHECK_BIND_PORT", 8888)
	// The Garden server's address, as the real worker's --bind-ip/--bind-port.
	c.gardenIP = e.ip("CONCOURSE_BIND_IP", "127.0.0.1")
	c.gardenPort = e.port("CONCOURSE_BIND_PORT", 7777)
	c.unhealthyFile = unhealthyFile(environ)
	return c, e
}

// worker holds the live SSH connection to each TSA it is registered with, its fake builds and
// its event log.
type worker struct {
	cfg     workerConfig
	log     *logger
	builds  *builds
	events  eventLog
	mu      sync.Mutex
	clients map[string]*ssh.Client
}

func runWorker(ctx context.Context, environ []string, sigs <-chan os.Signal, stdout, stderr io.Writer) int {
	c, e := parseWorkerEnv(environ)
	if err := e.err(); err != nil {
		return configError(stderr, "worker", err)
	}
	log := newLogger(stdout, c.logLevel)
	for _, k := range e.unknown() {
		log.debugf("ignoring unknown variable %s", k)
	}
	if err := writeMarker(c); err != nil {
		return configError(stderr, "worker", fmt.Errorf("CONCOURSE_WORK_DIR: %v", err))
	}
	w := &worker{cfg: c, log: log, builds: newBuilds(), events: newEventLog(c.workDir, c.name, log), clients: map[string]*ssh.Client{}}
	ln, err := net.Listen("tcp", net.JoinHostPort(c.healthIP, strconv.Itoa(c.healthPort)))
	if err != nil {
		return configError(stderr, "worker", fmt.Errorf("CONCOURSE_HEALTHCHECK_BIND_PORT: %v", err))
	}
	gardenLn, err := net.Listen("tcp", net.JoinHostPort(c.gardenIP, strconv.Itoa(c.gardenPort)))
	if err != nil {
		ln.Close()
		return configError(stderr, "worker", fmt.Errorf("CONCOURSE_BIND_PORT: %v", err))
	}
	healthMux := http.NewServeMux()
	healthMux.HandleFunc("/", w.health)
	healthMux.HandleFunc("POST /standin/builds", w.builds.serveStart(log))
	health := &http.Server{Handler: healthMux, ReadHeaderTimeout: 10 * time.Second}
	go health.Serve(ln)
	defer health.Close()
	gardenMux := http.NewServeMux()
	gardenMux.HandleFunc("GET /containers", w.builds.serveList)
	garden := &http.Server{Handler: gardenMux, ReadHeaderTimeout: 10 * time.Second}
	go garden.Serve(gardenLn)
	defer garden.Close()

	connCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	reconnect, stopReconnect := context.WithCancel(connCtx)
	defer stopReconnect()
	for _, h := range c.tsaHosts {
		go w.maintain(connCtx, reconnect, h)
	}
	w.events.record("started", 0, "")
	log.infof("worker started: name=%s runtime=%s tsa=%s healthcheck=%s garden=%s", c.name, c.runtime, strings.Join(c.tsaHosts, ","), ln.Addr(), gardenLn.Addr())

	for {
		select {
		case <-ctx.Done():
			w.events.record("stopped", w.builds.abort(), "context ended")
			return 0
		case sig := <-sigs:
			switch sig {
			case syscall.SIGUSR1, syscall.SIGUSR2:
				stopReconnect()
				return w.drain(ctx, sig, sigs)
			case syscall.SIGTERM, syscall.SIGINT:
				n := w.builds.abort()
				log.infof("stopping on %v without telling the TSA (%d containers aborted)", sig, n)
				w.events.record("stopped", n, fmt.Sprintf("%v without telling the TSA", sig))
				return 0
			}
		}
	}
}

// drain lands (SIGUSR1) or retires (SIGUSR2) the worker: it tells every TSA, waits for its builds
// to end, tells them again that it is done, and exits. SIGTERM or SIGINT cuts the wait short (the
// builds are aborted); the webs then settle the worker when its sessions end (tsa.go).
func (w *worker) drain(ctx context.Context, sig os.Signal, sigs <-chan os.Signal) int {
	command, verb, done := "land-worker", "landing", "landed"
	if sig == syscall.SIGUSR2 {
		command, verb, done = "retire-worker", "retiring", "retired"
	}
	n := w.builds.drain()
	w.log.infof("%s: %d containers still running", verb, n)
	w.events.record(verb, n, "")
	if ok := w.each(ctx, command, n); ok == 0 {
		w.log.errorf("%s failed: not registered with any TSA", verb)
		w.events.record("stopped", w.builds.abort(), verb+" failed: not registered with any TSA")
		return 1
	}
	if n > 0 {
		drained := make(chan struct{})
		waitCtx, stopWaiting := context.WithCancel(ctx)
		defer stopWaiting()
		go func() {
			if w.builds.wait(waitCtx) == nil {
				close(drained)
			}
		}()
	wait:
		for {
			select {
			case <-drained:
				break wait
			case <-ctx.Done():
				w.events.record("stopped", w.builds.abort(), "context ended while "+verb)
				return 0
			case s := <-sigs:
				if s == syscall.SIGTERM || s == syscall.SIGINT {
					aborted := w.builds.abort()
					w.log.infof("stopping on %v while %s: %d containers aborted", s, verb, aborted)
					w.events.record("stopped", aborted, fmt.Sprintf("%v while %s", s, verb))
					return 0
				}
				w.log.infof("already %s: ignoring %v", verb, s)
			}
		}
		if ok := w.each(ctx, command, 0); ok == 0 {
			// The webs settle a draining worker whose sessions end (tsa.go).
			w.log.errorf("%s: no TSA left to report the end of the drain to", verb)
		}
	}
	w.log.infof("%s done", verb)
	w.events.record(done, 0, "")
	w.events.record("stopped", 0, verb+" done")
	return 0
}

func writeMarker(c workerConfig) error {
	if err := os.MkdirAll(c.workDir, 0o755); err != nil {
		return err
	}
	body := fmt.Sprintf("name=%s\nversion=%s\nruntime=%s\n", c.name, version, c.runtime)
	return os.WriteFile(filepath.Join(c.workDir, markerFile), []byte(body), 0o644)
}

func (w *worker) health(rw http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(rw, r)
		return
	}
	if on, why := faulted(w.cfg.unhealthyFile); on {
		http.Error(rw, "fault injected ("+w.cfg.unhealthyFile+"): "+why, http.StatusServiceUnavailable)
		return
	}
	w.mu.Lock()
	n := len(w.clients)
	w.mu.Unlock()
	if n == 0 {
		http.Error(rw, "not registered with any TSA", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintf(rw, "registered with %d TSA(s)\n", n)
}

// maintain keeps the worker registered through host, reconnecting with
// capped backoff until reconnect is cancelled.
func (w *worker) maintain(ctx, reconnect context.Context, host string) {
	backoff := 250 * time.Millisecond
	for {
		registered, err := w.session(ctx, host)
		if reconnect.Err() != nil {
			return
		}
		if registered {
			backoff = 250 * time.Millisecond
		}
		w.log.infof("tsa %s: %v; retrying in %s", host, err, backoff)
		select {
		case <-reconnect.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func (w *worker) hostKeyCallback(hostname string, remote net.Addr, key ssh.PublicKey) error {
	if hasKey(w.cfg.tsaKeys, key) {
		return nil
	}
	return fmt.Errorf("host key %s is not in CONCOURSE_TSA_PUBLIC_KEY", ssh.FingerprintSHA256(key))
}

// session connects, registers and heartbeats until the connection ends.
func (w *worker) session(ctx context.Context, host string) (registered bool, err error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return false, err
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	sc, chans, reqs, err := ssh.NewClientConn(conn, host, &ssh.ClientConfig{
		User:            w.cfg.name,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(w.cfg.signer)},
		HostKeyCallback: w.hostKeyCallback,
	})
	if err != nil {
		conn.Close()
		return false, err
	}
	client := ssh.NewClient(sc, chans, reqs)
	defer client.Close()
	stop := context.AfterFunc(ctx, func() { client.Close() })
	defer stop()

	sess, err := client.NewSession()
	if err != nil {
		return false, err
	}
	stdin, err := sess.StdinPipe()
	if err != nil {
		return false, err
	}
	stdout, err := sess.StdoutPipe()
	if err != nil {
		return false, err
	}
	var errOut bytes.Buffer
	sess.Stderr = &errOut
	if err := sess.Start("register-worker"); err != nil {
		return false, err
	}
	reg, _ := json.Marshal(registration{
		Name: w.cfg.name, Team: w.cfg.team, Tags: w.cfg.tags, Platform: runtime.GOOS,
		Version: workerVersion, BinaryVersion: version, Runtime: w.cfg.runtime,
		BaggageclaimDriver: w.cfg.driver,
	})
	if _, err := fmt.Fprintf(stdin, "%s\n", reg); err != nil {
		return false, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "registered" {
		sess.Wait()
		return false, fmt.Errorf("register refused: %v %s", err, strings.TrimSpace(errOut.String()))
	}
	conn.SetDeadline(time.Time{})
	w.setClient(host, client)
	defer w.setClient(host, nil)
	w.log.infof("registered with %s", host)

	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	tick := time.NewTicker(heartbeatInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case err := <-done:
			return true, fmt.Errorf("session ended: %v", err)
		case <-tick.C:
			conn.SetWriteDeadline(time.Now().Add(heartbeatTimeout))
			_, err := io.WriteString(stdin, "heartbeat\n")
			conn.SetWriteDeadline(time.Time{})
			if err != nil {
				return true, fmt.Errorf("heartbeat: %w", err)
			}
		}
	}
}

func (w *worker) setClient(host string, c *ssh.Client) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c == nil {
		delete(w.clients, host)
	} else {
		w.clients[host] = c
	}
}

// each runs command (land-worker or retire-worker) through every TSA the
// worker is registered with, saying how many containers still run, and
// returns how many accepted it.
func (w *worker) each(ctx context.Context, command string, containers int) int {
	w.mu.Lock()
	clients := map[string]*ssh.Client{}
	for h, c := range w.clients {
		clients[h] = c
	}
	w.mu.Unlock()
	ok := 0
	for host, c := range clients {
		if ctx.Err() != nil {
			break
		}
		sess, err := c.NewSession()
		if err != nil {
			w.log.errorf("%s via %s: %v", command, host, err)
			continue
		}
		ref, _ := json.Marshal(workerRef{Name: w.cfg.name, Containers: containers})
		sess.Stdin = bytes.NewReader(append(ref, '\n'))
		var errOut bytes.Buffer
		sess.Stderr = &errOut
		out, err := sess.Output(command)
		sess.Close()
		if err != nil {
			w.log.errorf("%s via %s: %v %s", command, host, err, strings.TrimSpace(errOut.String()))
			continue
		}
		w.log.infof("%s via %s: %s", command, host, strings.TrimSpace(string(out)))
		ok++
	}
	return ok
}
