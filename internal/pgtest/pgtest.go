// Package pgtest starts a real, throw-away PostgreSQL cluster for a test: initdb into a fresh
// directory, password (scram-sha-256) authentication for every TCP connection, a superuser with a
// random password, and `pg_ctl -w` to wait for it (no sleeps). The cluster is stopped and removed
// in t.Cleanup. Tests are skipped, with the reason, when no server binaries are installed
// (apt-get install postgresql: /usr/lib/postgresql/<v>/bin) or when run as root without a
// `postgres` system user (the server refuses to run as root, so as root it runs as `postgres`).
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/machine"

	_ "github.com/lib/pq" // database/sql driver "postgres"
)

// BinDirEnv overrides where initdb, pg_ctl and postgres are looked for.
const BinDirEnv = "PGTEST_BINDIR"

// Options say where the cluster listens and who may connect.
type Options struct {
	// Host is the address clients are told to use (Cluster.Host); default 127.0.0.1.
	Host string
	// Listen is the server's listen_addresses; default Host. Use "0.0.0.0" for an address that
	// may come and go while the cluster runs (ForProvider explains why).
	Listen []string
	// Allow are the client networks pg_hba.conf admits over TCP (scram-sha-256); default the
	// Host's /32 and 127.0.0.1/32.
	Allow []string
	// SuperUser is the superuser initdb creates; default "operator" (the operator's own
	// superuser name, postgresql-operator src/constants.py USER).
	SuperUser string
	// Timeout bounds start and stop (pg_ctl -t); default 60s.
	Timeout time.Duration
}

// ForProvider returns the Options that make the cluster reachable from units of a jujusim model
// using provider "local" (units are host processes: 127.0.0.1) or "nspawn" (units are machines on
// the simulator's bridge: the bridge's host address, machine.DefaultNetwork().HostIP()). For
// nspawn the server listens on 0.0.0.0, because the bridge and its address only exist while some
// machine is up (the first machine creates them, the last one removes them) and bind() needs the
// address to exist; pg_hba admits only loopback and the bridge subnet.
func ForProvider(provider string) Options {
	if provider != "nspawn" {
		return Options{Host: "127.0.0.1"}
	}
	n := machine.DefaultNetwork()
	return Options{Host: n.HostIP(), Listen: []string{"0.0.0.0"}, Allow: []string{"127.0.0.1/32", n.Subnet}}
}

// Cluster is a running server.
type Cluster struct {
	Host string // for clients: what a provider writes into `endpoints`
	Port int
	// LocalHost is the address this test process connects to: Host when the server listens on
	// it, else 127.0.0.1 (a wildcard listener: Host may not exist on this host yet).
	LocalHost     string
	SuperUser     string
	SuperPassword string
	Version       string // server_version, e.g. "15.14 (Debian 15.14-0+deb12u1)"
	DataDir       string

	bin     string
	dir     string
	cred    *syscall.Credential
	timeout time.Duration
	stopped bool
}

// Start creates and starts a cluster, stopped and removed when t ends.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	bin, err := BinDir()
	if err != nil {
		t.Skip("pgtest: ", err)
	}
	cred, err := serverCredential()
	if err != nil {
		t.Skip("pgtest: ", err)
	}
	c, err := start(t.Context(), bin, cred, opts)
	if c != nil {
		t.Cleanup(func() {
			if err := c.Stop(); err != nil {
				t.Errorf("pgtest: %v", err)
			}
		})
	}
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return c
}

// BinDir finds the server binaries: $PGTEST_BINDIR, else the newest
// /usr/lib/postgresql/<major>/bin holding initdb, else the directory of initdb on PATH.
func BinDir() (string, error) {
	if d := os.Getenv(BinDirEnv); d != "" {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err != nil {
			return "", fmt.Errorf("%s=%s: %w", BinDirEnv, d, err)
		}
		return d, nil
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(found, func(i, j int) bool { return majorOf(found[i]) > majorOf(found[j]) })
	if len(found) > 0 {
		return filepath.Dir(found[0]), nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no PostgreSQL server binaries (no /usr/lib/postgresql/*/bin/initdb, no initdb on PATH): apt-get install postgresql")
}

func majorOf(initdb string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return n
}

// serverCredential is who runs the server: this user, or `postgres` when this is root.
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root and no postgres system user to run the server as: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("postgres user ids: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func randomPassword() (string, error) {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("password: %w", err)
	}
	for i, x := range b {
		b[i] = alphabet[int(x)%len(alphabet)]
	}
	return string(b), nil
}

// freePort asks the kernel for a port on host.
func freePort(host string) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("pick a port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func start(ctx context.Context, bin string, cred *syscall.Credential, opts Options) (*Cluster, error) {
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if len(opts.Listen) == 0 {
		opts.Listen = []string{opts.Host}
	}
	if len(opts.Allow) == 0 {
		opts.Allow = []string{"127.0.0.1/32", opts.Host + "/32"}
	}
	if opts.SuperUser == "" {
		opts.SuperUser = "operator"
	}
	if opts.Timeout == 0 {
		opts.Timeout = time.Minute
	}
	// Not t.TempDir: its 0700 directories keep the postgres user out.
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Host: opts.Host, LocalHost: localHost(opts), SuperUser: opts.SuperUser, DataDir: filepath.Join(dir, "data"),
		bin: bin, dir: dir, cred: cred, timeout: opts.Timeout, stopped: true}
	if err := os.Chmod(dir, 0o755); err != nil {
		return c, err
	}
	if c.SuperPassword, err = randomPassword(); err != nil {
		return c, err
	}
	listenProbe := opts.Listen[0]
	if listenProbe == "*" {
		listenProbe = "0.0.0.0"
	}
	if c.Port, err = freePort(listenProbe); err != nil {
		return c, err
	}
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(c.SuperPassword+"\n"), 0o600); err != nil {
		return c, err
	}
	if cred != nil {
		if err := os.Chown(pwfile, int(cred.Uid), int(cred.Gid)); err != nil {
			return c, err
		}
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return c, err
		}
	}
	if err := c.pg(ctx, "initdb", "-D", c.DataDir, "-U", c.SuperUser, "--pwfile", pwfile,
		"--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"); err != nil {
		return c, err
	}
	_ = os.Remove(pwfile)
	conf := fmt.Sprintf("\n# pgtest\nlisten_addresses = '%s'\nport = %d\nunix_socket_directories = '%s'\npassword_encryption = 'scram-sha-256'\nfsync = off\n",
		strings.Join(opts.Listen, ","), c.Port, dir)
	if err := appendFile(filepath.Join(c.DataDir, "postgresql.conf"), conf); err != nil {
		return c, err
	}
	var hba strings.Builder
	hba.WriteString("\n# pgtest: password authentication from the test's client networks\n")
	for _, cidr := range opts.Allow {
		fmt.Fprintf(&hba, "host all all %s scram-sha-256\n", cidr)
	}
	if err := appendFile(filepath.Join(c.DataDir, "pg_hba.conf"), hba.String()); err != nil {
		return c, err
	}
	logFile := filepath.Join(dir, "server.log")
	c.stopped = false
	if err := c.pg(ctx, "pg_ctl", "-D", c.DataDir, "-l", logFile, "-w", "-t", strconv.Itoa(int(opts.Timeout.Seconds())), "start"); err != nil {
		log, _ := os.ReadFile(logFile)
		return c, fmt.Errorf("%w\nserver log:\n%s", err, log)
	}
	db, err := c.Open("postgres")
	if err != nil {
		return c, err
	}
	defer db.Close()
	if err := db.QueryRowContext(ctx, "SHOW server_version").Scan(&c.Version); err != nil {
		return c, fmt.Errorf("connect as %s to %s: %w", c.SuperUser, c.LocalAddr(), err)
	}
	return c, nil
}

func localHost(opts Options) string {
	for _, l := range opts.Listen {
		if l == opts.Host {
			return opts.Host
		}
	}
	return "127.0.0.1"
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// pg runs one of the server's programs as the server's user.
func (c *Cluster) pg(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir
	cmd.Env = []string{"PATH=" + c.bin + ":/usr/bin:/bin", "LC_ALL=C.UTF-8"}
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// Addr is "host:port" for clients, as a provider writes it into `endpoints`.
func (c *Cluster) Addr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }

// LocalAddr is "host:port" for this test process.
func (c *Cluster) LocalAddr() string { return net.JoinHostPort(c.LocalHost, strconv.Itoa(c.Port)) }

// URL returns a lib/pq connection URL, for this test process, for user on database (it contains
// the password).
func (c *Cluster) URL(user, password, database string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(user, password), Host: c.LocalAddr(),
		Path: "/" + database, RawQuery: "sslmode=disable&connect_timeout=10"}
	return u.String()
}

// Open connects as the superuser to database.
func (c *Cluster) Open(database string) (*sql.DB, error) {
	return sql.Open("postgres", c.URL(c.SuperUser, c.SuperPassword, database))
}

// Stop stops the server (pg_ctl -m fast -w) and removes its files; it is idempotent and also run
// by t.Cleanup.
func (c *Cluster) Stop() error {
	if c.dir == "" {
		return nil
	}
	var err error
	if _, serr := os.Stat(filepath.Join(c.DataDir, "postmaster.pid")); errors.Is(serr, os.ErrNotExist) {
		c.stopped = true
	}
	if !c.stopped {
		// The test's context is already cancelled in cleanups: use our own bound.
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout+10*time.Second)
		defer cancel()
		err = c.pg(ctx, "pg_ctl", "-D", c.DataDir, "-m", "fast", "-w", "-t", strconv.Itoa(int(c.timeout.Seconds())), "stop")
		c.stopped = err == nil
	}
	if c.stopped {
		if rerr := os.RemoveAll(c.dir); rerr != nil {
			err = errors.Join(err, rerr)
		}
		c.dir = ""
	}
	return err
}
