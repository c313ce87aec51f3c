package main

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/ssh"
)

// webConfig is everything `concourse web` reads from the environment.
type webConfig struct {
	externalURL, clusterName, peer, logLevel string
	bindIP, tsaBindIP, promIP                string
	bindPort, tsaBindPort, promPort          int
	prometheus                               bool
	sessionKey                               *rsa.PrivateKey
	hostKey                                  ssh.Signer
	authKeysPath                             string
	authKeys                                 []ssh.PublicKey
	pg                                       pgConfig
	users                                    map[string][]byte // user -> bcrypt hash
	mainTeam                                 map[string]bool
}

func parseWebEnv(environ []string) (webConfig, *envReader) {
	e := newEnvReader(environ)
	var c webConfig
	c.logLevel = e.logLevel()
	c.externalURL = e.externalURL("CONCOURSE_EXTERNAL_URL")
	c.sessionKey = e.rsaKey("CONCOURSE_SESSION_SIGNING_KEY")
	if k := e.rsaKey("CONCOURSE_TSA_HOST_KEY"); k != nil {
		signer, err := ssh.NewSignerFromKey(k)
		if err != nil {
			e.failf("CONCOURSE_TSA_HOST_KEY", "%v", err)
		}
		c.hostKey = signer
	}
	c.authKeysPath, _ = e.lookup("CONCOURSE_TSA_AUTHORIZED_KEYS")
	c.authKeys = e.authorizedKeys("CONCOURSE_TSA_AUTHORIZED_KEYS", true)
	c.pg = pgConfig{
		host:     e.required("CONCOURSE_POSTGRES_HOST"),
		user:     e.required("CONCOURSE_POSTGRES_USER"),
		password: e.required("CONCOURSE_POSTGRES_PASSWORD"),
		database: e.required("CONCOURSE_POSTGRES_DATABASE"),
		port:     e.port("CONCOURSE_POSTGRES_PORT", 5432),
		sslmode: e.oneOf("CONCOURSE_POSTGRES_SSLMODE", "disable",
			"disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
	}
	if ca, ok := e.lookup("CONCOURSE_POSTGRES_CA_CERT"); ok {
		if _, err := os.Stat(ca); err != nil {
			e.failf("CONCOURSE_POSTGRES_CA_CERT", "%v", err)
		}
		c.pg.caCert = ca
	}
	c.users = e.localUsers("CONCOURSE_ADD_LOCAL_USER")
	c.mainTeam = map[string]bool{}
	if e.required("CONCOURSE_MAIN_TEAM_LOCAL_USER") != "" {
		for _, u := range e.list("CONCOURSE_MAIN_TEAM_LOCAL_USER") {
			if _, ok := c.users[u]; !ok {
				e.failf("CONCOURSE_MAIN_TEAM_LOCAL_USER", "user %q is not in CONCOURSE_ADD_LOCAL_USER", u)
			}
			c.mainTeam[u] = true
		}
	}
	c.bindIP = e.ip("CONCOURSE_BIND_IP", "0.0.0.0")
	c.bindPort = e.port("CONCOURSE_BIND_PORT", 8080)
	c.tsaBindIP = e.ip("CONCOURSE_TSA_BIND_IP", "0.0.0.0")
	c.tsaBindPort = e.port("CONCOURSE_TSA_BIND_PORT", 2222)
	c.clusterName = e.optional("CONCOURSE_CLUSTER_NAME", "")
	c.peer = e.optional("CONCOURSE_PEER_ADDRESS", "")
	if c.peer == "" {
		if c.peer = firstNonLoopbackIP(); c.peer == "" {
			e.failf("CONCOURSE_PEER_ADDRESS", "not set and no non-loopback IP address found")
		}
	}
	_, ipSet := e.lookup("CONCOURSE_PROMETHEUS_BIND_IP")
	_, portSet := e.lookup("CONCOURSE_PROMETHEUS_BIND_PORT")
	if ipSet || portSet {
		c.prometheus = true
		c.promIP = e.ip("CONCOURSE_PROMETHEUS_BIND_IP", "")
		c.promPort = e.port("CONCOURSE_PROMETHEUS_BIND_PORT", -1)
		if c.promPort < 0 {
			e.failf("CONCOURSE_PROMETHEUS_BIND_PORT", "must be set with CONCOURSE_PROMETHEUS_BIND_IP")
		}
	}
	return c, e
}

func firstNonLoopbackIP() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	var v6 string
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok || n.IP.IsLoopback() || n.IP.IsLinkLocalUnicast() {
			continue
		}
		if n.IP.To4() != nil {
			return n.IP.String()
		}
		if v6 == "" {
			v6 = n.IP.String()
		}
	}
	return v6
}

func runWeb(ctx context.Context, environ []string, sigs <-chan os.Signal, stdout, stderr io.Writer) int {
	c, e := parseWebEnv(environ)
	if err := e.err(); err != nil {
		return configError(stderr, "web", err)
	}
	log := newLogger(stdout, c.logLevel)
	for _, k := range e.unknown() {
		log.debugf("ignoring unknown variable %s", k)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	st, err := openStore(ctx, c.pg, log)
	if err != nil {
		fmt.Fprintf(stderr, "stand-in web: %v\n", err)
		return 1
	}
	defer st.db.Close()
	if err := st.dropPeer(ctx, c.peer, log); err != nil {
		fmt.Fprintf(stderr, "stand-in web: postgres at %s: %v\n", c.pg.where(), err)
		return 1
	}

	listen := func(name, ip string, port int) (net.Listener, error) {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return ln, nil
	}
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			if ln != nil {
				ln.Close()
			}
		}
	}()
	var errs []error
	for _, l := range []struct {
		name, ip string
		port     int
		on       bool
	}{
		{"CONCOURSE_BIND_PORT", c.bindIP, c.bindPort, true},
		{"CONCOURSE_TSA_BIND_PORT", c.tsaBindIP, c.tsaBindPort, true},
		{"CONCOURSE_PROMETHEUS_BIND_PORT", c.promIP, c.promPort, c.prometheus},
	} {
		if !l.on {
			lns = append(lns, nil)
			continue
		}
		ln, err := listen(l.name, l.ip, l.port)
		errs = append(errs, err)
		lns = append(lns, ln)
	}
	if err := errors.Join(errs...); err != nil {
		return configError(stderr, "web", err)
	}
	httpLn, tsaLn, promLn := lns[0], lns[1], lns[2]

	tsa := newTSAServer(log, st, c.peer, c.authKeysPath, c.authKeys, c.hostKey)
	go tsa.serve(ctx, tsaLn)
	api := &http.Server{Handler: newAPI(c, st, log), ReadHeaderTimeout: 10 * time.Second}
	go api.Serve(httpLn)
	defer api.Close()
	started := fmt.Sprintf("web started: http=%s tsa=%s peer=%s external_url=%s cluster=%q authorized_keys=%d",
		httpLn.Addr(), tsaLn.Addr(), c.peer, c.externalURL, c.clusterName, len(c.authKeys))
	if promLn != nil {
		prom := &http.Server{Handler: metricsHandler(st), ReadHeaderTimeout: 10 * time.Second}
		go prom.Serve(promLn)
		defer prom.Close()
		started += fmt.Sprintf(" prometheus=%s", promLn.Addr())
	}
	log.infof("%s", started)

	for {
		select {
		case <-ctx.Done():
			return stopWeb(st, c.peer, log)
		case sig := <-sigs:
			switch sig {
			case syscall.SIGHUP:
				tsa.reload()
			case syscall.SIGTERM, syscall.SIGINT:
				log.infof("web stopping on %v", sig)
				cancel()
				return stopWeb(st, c.peer, log)
			}
		}
	}
}

// stopWeb detaches this web from every worker before exiting.
func stopWeb(st *store, peer string, log *logger) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := st.dropPeer(ctx, peer, log); err != nil {
		log.errorf("web: detach workers from %s: %v", peer, err)
	}
	log.infof("web stopped")
	return 0
}

// newAPI serves the few ATC endpoints tests look at.
func newAPI(c webConfig, st *store, log *logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/info", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]string{
			"version": version, "worker_version": workerVersion,
			"external_url": c.externalURL, "cluster_name": c.clusterName,
		})
	})
	mux.HandleFunc("GET /api/v1/workers", authed(c, log, func(w http.ResponseWriter, r *http.Request) {
		workers, err := st.workers(r.Context())
		if err != nil {
			log.errorf("api: list workers: %v", err)
			http.Error(w, "database error", http.StatusInternalServerError)
			return
		}
		writeJSON(w, workers)
	}))
	mux.HandleFunc("GET /api/v1/standin/events", authed(c, log, func(w http.ResponseWriter, r *http.Request) {
		events, err := st.events(r.Context(), r.URL.Query().Get("worker"))
		if err != nil {
			log.errorf("api: %v", err)
			http.Error(w, "database error", http.StatusInternalServerError)
			return
		}
		writeJSON(w, events)
	}))
	mux.HandleFunc("GET /api/v1/standin/db", authed(c, log, func(w http.ResponseWriter, r *http.Request) {
		user, db, err := st.whoami(r.Context())
		if err != nil {
			log.errorf("api: whoami: %v", err)
			http.Error(w, "database error", http.StatusInternalServerError)
			return
		}
		writeJSON(w, map[string]string{"user": user, "database": db})
	}))
	return mux
}

// authed requires HTTP basic auth as a main-team local user whose password
// matches its bcrypt hash: 401 otherwise, 403 for a user outside the team.
func authed(c webConfig, log *logger, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		hash, known := c.users[user]
		if !ok || !known || bcrypt.CompareHashAndPassword(hash, []byte(pass)) != nil {
			if ok {
				log.infof("api: bad credentials for user %q", user)
			}
			w.Header().Set("WWW-Authenticate", `Basic realm="concourse"`)
			http.Error(w, "not authorized", http.StatusUnauthorized)
			return
		}
		if !c.mainTeam[user] {
			http.Error(w, "not in the main team", http.StatusForbidden)
			return
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func metricsHandler(st *store) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		workers, err := st.workers(r.Context())
		if err != nil {
			http.Error(w, "database error", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "# TYPE concourse_standin_up gauge\nconcourse_standin_up 1\n")
		fmt.Fprintf(w, "# TYPE concourse_workers_registered gauge\nconcourse_workers_registered %d\n", len(workers))
	})
	return mux
}
