package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"github.com/lib/pq"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/releasetest"
)

// pgBin holds the PostgreSQL server binaries Debian's postgresql-15 installs.
const pgBin = "/usr/lib/postgresql/15/bin"

// pgCluster is one throwaway PostgreSQL server on 127.0.0.1, started once per
// test binary; every test gets its own role and database in it (pgDatabase).
type pgCluster struct {
	dir  string // owned by the server's user; holds data/, the socket, the log
	port int
	cred *syscall.Credential // nil when not root
}

// pgDB is one role and its database, password-authenticated over TCP.
type pgDB struct {
	host     string
	port     int
	user     string
	password string
	database string
}

// sharedPG is the lazily started cluster; TestMain stops it.
var sharedPG struct {
	once sync.Once
	c    *pgCluster
	err  error
	skip string
}

func TestMain(m *testing.M) {
	code := releasetest.RunTests(m)
	if sharedPG.c != nil {
		sharedPG.c.stop()
	}
	os.Exit(code)
}

// pgDatabase returns a fresh role and database on the shared cluster, or
// skips the test when no PostgreSQL server is installed.
func pgDatabase(t *testing.T) pgDB {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a PostgreSQL server; skipped in -short")
	}
	sharedPG.once.Do(func() { sharedPG.c, sharedPG.skip, sharedPG.err = startPGCluster() })
	if sharedPG.skip != "" {
		t.Skip(sharedPG.skip)
	}
	if sharedPG.err != nil {
		t.Fatalf("start postgres: %v", sharedPG.err)
	}
	c := sharedPG.c
	name := "t_" + randHex(t, 6)
	d := pgDB{host: "127.0.0.1", port: c.port, user: name, password: "pw-" + randHex(t, 12), database: name}
	admin := c.admin(t)
	defer admin.Close()
	for _, q := range []string{
		fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD %s", pq.QuoteIdentifier(d.user), pq.QuoteLiteral(d.password)),
		fmt.Sprintf("CREATE DATABASE %s OWNER %s", pq.QuoteIdentifier(d.database), pq.QuoteIdentifier(d.user)),
	} {
		if _, err := admin.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return d
}

// admin connects as the trusted superuser.
func (c *pgCluster) admin(t *testing.T) *sql.DB {
	t.Helper()
	conn, err := pq.NewConnector(fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=postgres sslmode=disable", c.port))
	if err != nil {
		t.Fatal(err)
	}
	return sql.OpenDB(conn)
}

func startPGCluster() (c *pgCluster, skip string, err error) {
	if _, err := os.Stat(filepath.Join(pgBin, "initdb")); err != nil {
		return nil, "no PostgreSQL server binaries in " + pgBin, nil
	}
	c = &pgCluster{}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, "running as root and there is no postgres user to run the server as", nil
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	if c.dir, err = os.MkdirTemp("", "standin-pg-"); err != nil {
		return nil, "", err
	}
	if c.cred != nil {
		if err := os.Chown(c.dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return nil, "", err
		}
	}
	data := filepath.Join(c.dir, "data")
	if out, err := c.pg("initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync").CombinedOutput(); err != nil {
		os.RemoveAll(c.dir)
		return nil, "", fmt.Errorf("initdb: %v\n%s", err, out)
	}
	hba := "local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
	conf := "password_encryption = scram-sha-256\nfsync = off\nmax_connections = 200\n"
	if err := c.writeOwned(filepath.Join(data, "pg_hba.conf"), hba, false); err != nil {
		return nil, "", err
	}
	if err := c.writeOwned(filepath.Join(data, "postgresql.conf"), conf, true); err != nil {
		return nil, "", err
	}
	// The port is picked by binding :0 and releasing it; retry if another
	// process grabbed it in between.
	for attempt := 0; attempt < 3; attempt++ {
		if c.port, err = freePort(); err != nil {
			break
		}
		opts := fmt.Sprintf("-k %s -p %d -c listen_addresses=127.0.0.1", c.dir, c.port)
		out, startErr := c.pg("pg_ctl", "-D", data, "-o", opts, "-l", filepath.Join(c.dir, "log"), "-w", "start").CombinedOutput()
		if startErr == nil {
			return c, "", nil
		}
		log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		err = fmt.Errorf("pg_ctl start: %v\n%s\n%s", startErr, out, log)
	}
	os.RemoveAll(c.dir)
	return nil, "", err
}

func (c *pgCluster) stop() {
	c.pg("pg_ctl", "-D", filepath.Join(c.dir, "data"), "-m", "immediate", "-w", "stop").Run()
	os.RemoveAll(c.dir)
}

// pg prepares a server binary to run as the postgres user (when root).
func (c *pgCluster) pg(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(pgBin, name), args...)
	cmd.Dir = c.dir
	cmd.Env = []string{"PATH=" + pgBin + ":/usr/bin:/bin", "LC_ALL=C"}
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd
}

func (c *pgCluster) writeOwned(path, body string, appendTo bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if appendTo {
		flags = os.O_WRONLY | os.O_APPEND
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(body); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if c.cred != nil {
		return os.Chown(path, int(c.cred.Uid), int(c.cred.Gid))
	}
	return nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func randHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// query runs a one-row query on d as its own user, for assertions.
func (d pgDB) query(t *testing.T, q string, args []any, dest ...any) error {
	t.Helper()
	conn, err := pq.NewConnector(fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=%s sslmode=disable",
		d.host, d.port, d.user, d.password, d.database))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	return db.QueryRowContext(context.Background(), q, args...).Scan(dest...)
}
