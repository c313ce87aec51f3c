package e2e

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/state"
)

// Where the charm keeps each secret on a unit's machine (its concourse-data storage).
const (
	dataDir        = "/var/lib/concourse-data"
	sessionKeyFile = dataDir + "/web/session_signing_key"
	tsaHostKeyFile = dataDir + "/web/tsa_host_key"
	webEnvFile     = dataDir + "/web/web.env"
	workerKeyFile  = dataDir + "/worker/worker_key"
	adminHashFile  = dataDir + "/state/admin.bcrypt"
)

// secretValue is one generated secret: what to search for and the only files on the machines
// (the unit given, or any unit when unit is "") allowed to hold it.
type secretValue struct {
	kind    string
	needles []string
	unit    string
	files   []string
}

// TestSecretsStayInTheirFiles: after a 3-unit deploy with PostgreSQL and shared storage, every
// secret the deployment generated (session signing key, TSA host key, admin password, database
// password, each unit's worker key) is found only in the files meant for it, with their modes,
// and nowhere else: not on shared storage, not in any relation bag, hook output or juju-log
// line, status message or action output, nor in any other file on any unit's machine.
func TestSecretsStayInTheirFiles(t *testing.T) {
	t.Parallel()
	m := newConcourseModel(t)
	shared := filepath.Join(t.TempDir(), "shared")
	m.deploy("concourse-ci", 3, sharedDirArgs(shared)...)
	m.juju("wait")
	units := []string{"concourse-ci/0", "concourse-ci/1", "concourse-ci/2"}
	web := "concourse-ci/0" // the first leader
	// The services run with these secrets: the web logs in to PostgreSQL, the workers register.
	m.registered(web, []string{workerName(units[1]), workerName(units[2])})
	for _, u := range units {
		m.juju("run", u, "shared-storage-info", "verbose=true") // action output to search too
	}
	adminUser, adminPW := m.adminPassword(web)

	st := m.modelState()
	peer := peerRelation(t, st)
	keys := latestSecret(t, st, peer.AppData["concourse-ci"]["keys-secret"])
	admin := latestSecret(t, st, peer.AppData["concourse-ci"]["admin-secret"])
	if admin["username"] != adminUser || admin["password"] != adminPW {
		t.Errorf("get-admin-password printed user %q and a password other than the admin secret's (user %q)", adminUser, admin["username"])
	}
	pgRel := relationBetween(t, st, "concourse-ci", "postgresql")
	db := latestSecret(t, st, pgRel.AppData["postgresql"]["secret-user"])
	for what, v := range map[string]string{"session signing key": keys["session-signing-key"], "TSA host key": keys["tsa-host-key"],
		"admin password": adminPW, "database password": db["password"]} {
		if len(v) < 16 {
			t.Fatalf("%s %q: too short to search for", what, v)
		}
	}

	secrets := []secretValue{
		{kind: "session signing key", needles: pemNeedles(t, keys["session-signing-key"]), unit: web, files: []string{sessionKeyFile}},
		{kind: "TSA host key", needles: pemNeedles(t, keys["tsa-host-key"]), unit: web, files: []string{tsaHostKeyFile}},
		{kind: "admin password", needles: []string{adminPW}}, // only its hash reaches the machines
		{kind: "database password", needles: []string{db["password"]}, unit: web, files: []string{webEnvFile}},
	}
	workerKeys := 0
	for _, u := range units {
		// The web unit may hold one too: alone for its first hooks, it ran web+worker.
		out, err := m.cmd("exec", "--unit", u, "--", "cat", workerKeyFile)
		if err != nil {
			if u != web {
				t.Fatalf("worker %s has no %s: %v\n%s", u, workerKeyFile, err, out)
			}
			continue
		}
		workerKeys++
		secrets = append(secrets, secretValue{kind: "worker key of " + u, needles: pemNeedles(t, out), unit: u, files: []string{workerKeyFile}})
	}
	t.Logf("searching for %d secrets (%d worker keys)", len(secrets), workerKeys)

	// Each secret's own files: present, holding it, with the modes the charm promises.
	for _, s := range secrets {
		for _, f := range s.files {
			if !slices.Contains(m.grepFiles(s.unit, s.needles, f), f) {
				t.Errorf("%s: %s does not hold the %s", s.unit, f, s.kind)
			}
			want := "600 root root"
			if strings.HasPrefix(f, dataDir+"/web/") && f != webEnvFile {
				want = "640 root concourse"
			}
			if got := m.stat(s.unit, f); got != want {
				t.Errorf("%s: %s is %q, want %q", s.unit, f, got, want)
			}
		}
	}
	hash := m.juju("exec", "--unit", web, "--", "cat", adminHashFile)
	if !strings.HasPrefix(hash, "$2") || bcrypt.CompareHashAndPassword([]byte(hash), []byte(adminPW)) != nil {
		t.Errorf("%s holds %q, want a bcrypt hash of the admin password", adminHashFile, hash)
	}
	if got := m.stat(web, adminHashFile); got != "600 root root" {
		t.Errorf("%s is %q, want 600 root root", adminHashFile, got)
	}

	st = m.modelState() // with the actions just run
	for _, s := range secrets {
		found := func(where string, text string) {
			for _, n := range s.needles {
				if strings.Contains(text, n) {
					t.Errorf("the %s is in %s", s.kind, where)
					return
				}
			}
		}
		// Shared storage, as the host sees it.
		walkFiles(t, shared, func(path string, data []byte) { found("shared storage file "+path, string(data)) })
		// Every bag of every relation.
		for _, r := range st.Relations {
			for app, bag := range r.AppData {
				for k, v := range bag {
					found(fmt.Sprintf("relation %d, %s's application bag, key %s", r.ID, app, k), v)
				}
			}
			for unit, bag := range r.UnitData {
				for k, v := range bag {
					found(fmt.Sprintf("relation %d, %s's unit bag, key %s", r.ID, unit, k), v)
				}
			}
		}
		// Statuses, as `juju status` shows them.
		found("juju status", m.juju("status", "--format=json"))
		found("juju status (tabular)", m.juju("status"))
		// Every action's results, output and log. get-admin-password prints the admin password:
		// that is what it is for.
		for _, a := range st.Actions {
			b, _ := json.Marshal(a)
			if a.Name == "get-admin-password" && s.kind == "admin password" {
				b, _ = json.Marshal(state.Action{Log: a.Log, Message: a.Message})
			}
			found(fmt.Sprintf("the output of action %s %s on %s", a.ID, a.Name, a.Unit), string(b))
		}
		// The model directory on the host: hook output and juju-log lines (logs/), charms,
		// resources, tools. Excluded: state.json, the simulator's controller store, which holds
		// the secrets as Juju's controller does; and storage/, the units' concourse-data, which
		// each machine mounts and is searched there, by its path on the machine.
		walkFiles(t, m.dir, func(path string, data []byte) {
			rel, _ := filepath.Rel(m.dir, path)
			if rel == "state.json" || strings.HasPrefix(rel, "storage"+string(filepath.Separator)) {
				return
			}
			found("model dir file "+rel, string(data))
		})
	}
	if logs, _ := filepath.Glob(filepath.Join(m.dir, "logs", "*.log")); len(logs) < len(units) {
		t.Errorf("hook logs %v, want one per unit at least", logs)
	}

	// The machine search finds what it must: a canary in a file and one in the journal.
	canary := fmt.Sprintf("e2e-canary-%d", os.Getpid())
	m.juju("exec", "--unit", web, "--", "sh", "-c", `printf '%s\n' "$1" >/var/tmp/e2e-canary && logger -t e2e "$1" && journalctl --flush`, "sh", canary)
	hits := m.searchMachine(web, []string{canary})
	if !slices.Contains(hits, "/var/tmp/e2e-canary") || !slices.ContainsFunc(hits, func(p string) bool { return strings.Contains(p, "/journal/") }) {
		t.Errorf("a canary in a file and in the journal on %s: search found %v, want both", web, hits)
	}
	m.juju("exec", "--unit", web, "--", "rm", "/var/tmp/e2e-canary")

	// Every regular file on every unit's machine (searchMachine says what is left out).
	for _, u := range units {
		var all []string
		for _, s := range secrets {
			all = append(all, s.needles...)
		}
		files := m.searchMachine(u, all)
		t.Logf("%s: %d files hold a secret: %v", u, len(files), files)
		for _, s := range secrets {
			for _, f := range m.grepFiles(u, s.needles, files...) {
				if (s.unit == "" || s.unit == u) && slices.Contains(s.files, f) {
					continue
				}
				t.Errorf("%s: the %s is in %s", u, s.kind, f)
			}
		}
	}
}

// peerRelation is concourse-ci's peer relation.
func peerRelation(t *testing.T, st *state.Model) *state.Relation {
	t.Helper()
	for _, r := range st.Relations {
		if len(r.Endpoints) == 1 && r.Endpoints[0].App == "concourse-ci" && r.Endpoints[0].Role == "peer" {
			return r
		}
	}
	t.Fatal("no concourse-ci peer relation")
	return nil
}

// pemNeedles are two distinctive chunks of an RSA private key's PEM: full base64 lines that
// encode only private material (the private exponent and the CRT values after it), never the
// modulus or public exponent that the public key (published in relation data and authorized keys
// files) shares. Base64 lines survive JSON or shell escaping of the newlines around them.
func pemNeedles(t *testing.T, privatePEM string) []string {
	t.Helper()
	block, _ := pem.Decode([]byte(privatePEM))
	if block == nil {
		t.Fatalf("not a PEM key: %.40q", privatePEM)
	}
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	start := bytes.Index(block.Bytes, key.D.Bytes()) // where the private part begins in the DER
	if start < 0 {
		t.Fatal("private exponent not found in the key's DER")
	}
	var lines []string
	for _, l := range strings.Split(string(pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: block.Bytes})), "\n") {
		if len(l) == 64 {
			lines = append(lines, l)
		}
	}
	first := (start + 47) / 48 // the first line (48 bytes each) wholly inside the private part
	if first >= len(lines)-1 {
		t.Fatalf("key too short: %d full lines, private part from line %d", len(lines), first)
	}
	return []string{lines[first], lines[len(lines)-1]}
}

// searchMachine lists the regular files on unit's machine that contain any needle: all of its
// filesystem (root, storage, the shared mount, the journal, persistent or in /run) but /proc and
// /sys (the search's own command line is in /proc), /dev, and the model directory, which the
// simulator bind-mounts into every machine for its hook tools (the host side; see the test).
// The needles reach sh, xargs and grep as arguments only (nsenter: no journal, no history).
func (m *concourseModel) searchMachine(unit string, needles []string) []string {
	m.t.Helper()
	script := `model=$1; shift; find / \( -path /proc -o -path /sys -o -path /dev -o -path "$model" \) -prune -o -type f -print0 |
		xargs -0 -r grep -lsF "$@" --`
	args := []string{"exec", "--unit", unit, "--", "sh", "-c", script, "sh", m.dir}
	for _, n := range needles {
		args = append(args, "-e", n)
	}
	out, _ := m.cmd(args...) // grep exits 1 where a batch matched nothing: read the list
	return m.paths(unit, out)
}

// grepFiles lists which of files on unit's machine contain any needle.
func (m *concourseModel) grepFiles(unit string, needles []string, files ...string) []string {
	m.t.Helper()
	if len(files) == 0 {
		return nil
	}
	args := []string{"exec", "--unit", unit, "--", "grep", "-lsF"}
	for _, n := range needles {
		args = append(args, "-e", n)
	}
	out, _ := m.cmd(append(append(args, "--"), files...)...)
	return m.paths(unit, out)
}

// paths parses grep -l output: absolute paths, one a line; anything else means the search failed.
func (m *concourseModel) paths(unit, out string) []string {
	m.t.Helper()
	var paths []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		if !strings.HasPrefix(l, "/") {
			m.t.Fatalf("search on %s failed:\n%s", unit, out)
		}
		paths = append(paths, l)
	}
	return paths
}

// stat is `stat -c '%a %U %G'` of path on unit's machine.
func (m *concourseModel) stat(unit, path string) string {
	m.t.Helper()
	out, err := m.cmd("exec", "--unit", unit, "--", "stat", "-c", "%a %U %G", path)
	if err != nil {
		return "missing: " + strings.TrimSpace(out)
	}
	return strings.TrimSpace(out)
}

// walkFiles calls fn with every regular file under root and its contents.
func walkFiles(t *testing.T, root string, fn func(path string, data []byte)) {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			paths = append(paths, path)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	sort.Strings(paths)
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("read %s: %v", p, err)
		}
		fn(p, data)
	}
}
