package main

import (
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// configOnlyDB is enough for tests that must fail before connecting.
var configOnlyDB = pgDB{host: "127.0.0.1", port: 1, user: "concourse", password: "db-secret-never-logged", database: "concourse"}

func TestWebRefusesEachMissingRequiredVariable(t *testing.T) {
	t.Parallel()
	s := newWebSetup(t, configOnlyDB)
	for _, name := range []string{
		"CONCOURSE_EXTERNAL_URL", "CONCOURSE_SESSION_SIGNING_KEY", "CONCOURSE_TSA_HOST_KEY",
		"CONCOURSE_TSA_AUTHORIZED_KEYS", "CONCOURSE_POSTGRES_HOST", "CONCOURSE_POSTGRES_USER",
		"CONCOURSE_POSTGRES_PASSWORD", "CONCOURSE_POSTGRES_DATABASE", "CONCOURSE_ADD_LOCAL_USER",
		"CONCOURSE_MAIN_TEAM_LOCAL_USER",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			code, out := runToExit(t, without(s.env, name), "web")
			if code != 1 || !strings.Contains(out, name+": must be set") {
				t.Errorf("exit %d, output %q: want 1 naming %s", code, out, name)
			}
		})
	}
}

func TestWebRefusesBadValues(t *testing.T) {
	t.Parallel()
	s := newWebSetup(t, configOnlyDB)
	garbage := filepath.Join(s.dir, "garbage.pem")
	writeFile(t, garbage, "-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n-----END RSA PRIVATE KEY-----\n")
	badAuth := filepath.Join(s.dir, "bad_authorized_keys")
	writeFile(t, badAuth, s.hostKey.authKey+"\nssh-rsa not-base64!!\n")
	cases := []struct {
		name, key, value string
		want             []string
	}{
		{"plain admin password", "CONCOURSE_ADD_LOCAL_USER", "admin:hunter2",
			[]string{"CONCOURSE_ADD_LOCAL_USER", `"admin"`, "not a bcrypt hash"}},
		{"malformed session key", "CONCOURSE_SESSION_SIGNING_KEY", garbage,
			[]string{"CONCOURSE_SESSION_SIGNING_KEY", garbage}},
		{"missing host key file", "CONCOURSE_TSA_HOST_KEY", filepath.Join(s.dir, "nope"),
			[]string{"CONCOURSE_TSA_HOST_KEY", filepath.Join(s.dir, "nope")}},
		{"host key is a public key", "CONCOURSE_TSA_HOST_KEY", s.authKeys,
			[]string{"CONCOURSE_TSA_HOST_KEY", s.authKeys}},
		{"malformed authorized keys", "CONCOURSE_TSA_AUTHORIZED_KEYS", badAuth,
			[]string{"CONCOURSE_TSA_AUTHORIZED_KEYS", badAuth, "line 2"}},
		{"main team user unknown", "CONCOURSE_MAIN_TEAM_LOCAL_USER", "root",
			[]string{"CONCOURSE_MAIN_TEAM_LOCAL_USER", `"root"`}},
		{"relative external url", "CONCOURSE_EXTERNAL_URL", "ci.example.test",
			[]string{"CONCOURSE_EXTERNAL_URL"}},
		{"bad log level", "CONCOURSE_LOG_LEVEL", "loud", []string{"CONCOURSE_LOG_LEVEL"}},
		{"bad port", "CONCOURSE_BIND_PORT", "80x", []string{"CONCOURSE_BIND_PORT"}},
		{"bad sslmode", "CONCOURSE_POSTGRES_SSLMODE", "sometimes", []string{"CONCOURSE_POSTGRES_SSLMODE"}},
		{"prometheus ip without port", "CONCOURSE_PROMETHEUS_BIND_IP", "127.0.0.1",
			[]string{"CONCOURSE_PROMETHEUS_BIND_PORT"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out := runToExit(t, with(s.env, tc.key, tc.value), "web")
			if code != 1 {
				t.Errorf("exit %d, want 1; output %q", code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output %q does not name %s", out, w)
				}
			}
			if strings.Contains(out, "hunter2") || strings.Contains(out, configOnlyDB.password) {
				t.Errorf("output leaks a password: %q", out)
			}
		})
	}
}

func TestConcourseVersionVariableRefused(t *testing.T) {
	t.Parallel()
	s := newWebSetup(t, configOnlyDB)
	for _, args := range [][]string{{"web"}, {"--version"}} {
		code, out := runToExit(t, with(s.env, "CONCOURSE_VERSION", "7.11.2"), args...)
		if code != 2 || !strings.Contains(out, "CONCOURSE_VERSION must not be set") {
			t.Errorf("%v: exit %d, output %q; want 2 refusing CONCOURSE_VERSION", args, code, out)
		}
	}
	code, out := runToExit(t, nil, "--version")
	if code != 0 || out != standinVersion {
		t.Errorf("--version: exit %d, output %q", code, out)
	}
}

func TestWebWrongDatabasePassword(t *testing.T) {
	t.Parallel()
	db := pgDatabase(t)
	wrong := "wrong-" + db.password
	code, out := runToExit(t, with(newWebSetup(t, db).env, "CONCOURSE_POSTGRES_PASSWORD", wrong), "web")
	if code != 1 {
		t.Fatalf("exit %d, want 1; output %q", code, out)
	}
	for _, w := range []string{"cannot connect to postgres", "127.0.0.1:" + strconv.Itoa(db.port) + "/" + db.database, `"` + db.user + `"`} {
		if !strings.Contains(out, w) {
			t.Errorf("output %q lacks %q", out, w)
		}
	}
	if strings.Contains(out, wrong) || strings.Contains(out, db.password) {
		t.Errorf("output leaks the password: %q", out)
	}
}

// The database may come up after web: it waits, then starts.
func TestWebWaitsForDatabase(t *testing.T) {
	t.Parallel()
	db := pgDatabase(t)
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	late := db
	late.port = port
	p := start(t, newWebSetup(t, late).env, "web")
	p.waitLine("waiting for postgres")
	// Now "bring the database up": a proxy on the port web is retrying.
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go proxy(ln, "127.0.0.1:"+strconv.Itoa(db.port))
	p.waitLine("web started")
}

func proxy(ln net.Listener, target string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			u, err := net.Dial("tcp", target)
			if err != nil {
				return
			}
			defer u.Close()
			go io.Copy(u, c)
			io.Copy(c, u)
		}()
	}
}

func TestWebAPI(t *testing.T) {
	t.Parallel()
	db := pgDatabase(t)
	s := newWebSetup(t, db)
	s.env["CONCOURSE_PROMETHEUS_BIND_IP"] = "127.0.0.1"
	s.env["CONCOURSE_PROMETHEUS_BIND_PORT"] = "0"
	s.env["CONCOURSE_SOMETHING_NEW"] = "x"
	w := startWeb(t, s)
	w.waitLine("ignoring unknown variable CONCOURSE_SOMETHING_NEW")

	var info map[string]string
	if code := w.get("/api/v1/info", "", "", &info); code != http.StatusOK {
		t.Fatalf("info: %d", code)
	}
	want := map[string]string{"version": standinVersion, "worker_version": "2.5",
		"external_url": "http://ci.example.test:8080", "cluster_name": "standin-test"}
	for k, v := range want {
		if info[k] != v {
			t.Errorf("info[%s] = %q, want %q", k, info[k], v)
		}
	}
	for _, c := range []struct{ user, pass string }{{"", ""}, {adminUser, "wrong"}, {"nobody", adminPassword}} {
		for _, path := range []string{"/api/v1/workers", "/api/v1/standin/db"} {
			if code := w.get(path, c.user, c.pass, nil); code != http.StatusUnauthorized {
				t.Errorf("GET %s as %q/%q: %d, want 401", path, c.user, c.pass, code)
			}
		}
	}
	if ws := w.workers(); len(ws) != 0 {
		t.Errorf("workers = %+v, want none", ws)
	}
	var who map[string]string
	if code := w.get("/api/v1/standin/db", adminUser, adminPassword, &who); code != http.StatusOK {
		t.Fatalf("standin/db: %d", code)
	}
	if who["user"] != db.user || who["database"] != db.database {
		t.Errorf("standin/db = %v, want user %s database %s", who, db.user, db.database)
	}
	var n int
	if err := db.query(t, "SELECT count(*) FROM standin_workers", nil, &n); err != nil {
		t.Errorf("web did not create its table: %v", err)
	}

	prom := fields(w.waitLine("web started"))["prometheus"]
	resp, err := http.Get("http://" + prom + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "concourse_standin_up 1") {
		t.Errorf("/metrics: %d %q", resp.StatusCode, body)
	}
	if out := w.output(); strings.Contains(out, adminPassword) || strings.Contains(out, db.password) {
		t.Errorf("web logged a password:\n%s", out)
	}
}
