package pgtest

import (
	"database/sql"
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestStartServesPasswordAuth(t *testing.T) {
	c := Start(t, Options{})
	if c.Host != "127.0.0.1" || c.Port == 0 || c.SuperUser != "operator" || len(c.SuperPassword) < 16 {
		t.Fatalf("cluster %s as %s", c.Addr(), c.SuperUser)
	}
	if !strings.Contains(c.Version, ".") {
		t.Errorf("version %q", c.Version)
	}
	admin, err := c.Open("postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec(`CREATE ROLE "relation-1" LOGIN PASSWORD 'right-one'`); err != nil {
		t.Fatal(err)
	}
	ok, err := sql.Open("postgres", c.URL("relation-1", "right-one", "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer ok.Close()
	var who string
	if err := ok.QueryRow("SELECT current_user").Scan(&who); err != nil || who != "relation-1" {
		t.Fatalf("as relation-1: %q %v", who, err)
	}
	bad, _ := sql.Open("postgres", c.URL("relation-1", "wrong", "postgres"))
	defer bad.Close()
	if err := bad.Ping(); err == nil || !strings.Contains(err.Error(), "password authentication failed") {
		t.Errorf("wrong password: %v, want password authentication failed", err)
	}
	var method string
	if err := admin.QueryRow(`SELECT auth_method FROM pg_hba_file_rules WHERE type = 'host' LIMIT 1`).Scan(&method); err != nil || method != "scram-sha-256" {
		t.Errorf("host auth %q %v", method, err)
	}

	dir := c.DataDir
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("data dir left behind: %v", err)
	}
	if err := c.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestForProvider(t *testing.T) {
	if o := ForProvider("local"); o.Host != "127.0.0.1" || o.Listen != nil {
		t.Errorf("local: %+v", o)
	}
	o := ForProvider("nspawn")
	if o.Host != "10.213.0.1" || len(o.Listen) != 1 || o.Listen[0] != "0.0.0.0" || o.Allow[1] != "10.213.0.0/24" {
		t.Errorf("nspawn: %+v", o)
	}
}

// A wildcard listener serves the test process on loopback while clients are told Host.
func TestWildcardListenerServesLoopback(t *testing.T) {
	c := Start(t, Options{Host: "192.0.2.1", Listen: []string{"0.0.0.0"}})
	if c.Addr() != "192.0.2.1:"+strconv.Itoa(c.Port) || c.LocalHost != "127.0.0.1" {
		t.Errorf("Addr %s LocalHost %s", c.Addr(), c.LocalHost)
	}
	db, err := c.Open("postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
}
