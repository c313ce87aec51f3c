package e2e

import (
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/state"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/pgtest"
)

// wantUnits checks every unit of app has state and a message containing want.
func wantUnits(t *testing.T, m *model, app string, n int, state, want string) {
	t.Helper()
	units := m.status().Applications[app].Units
	if len(units) != n {
		t.Fatalf("%s has %d units, want %d", app, len(units), n)
	}
	for name, u := range units {
		if ws := u.WorkloadStatus; ws.Current != state || !strings.Contains(ws.Message, want) {
			t.Errorf("%s: %s %q, want %s containing %q", name, ws.Current, ws.Message, state, want)
		}
	}
}

// noValueIn fails when any bag of the relation holds secret.
func noValueIn(t *testing.T, r *state.Relation, apps []string, secret, what string) {
	t.Helper()
	check := func(owner string, bag state.Bag) {
		for k, v := range bag {
			if strings.Contains(v, secret) {
				t.Errorf("%s's bag holds the %s under %q", owner, what, k)
			}
		}
	}
	for app, bag := range r.AppData {
		if slices.Contains(apps, app) {
			check(app, bag)
		}
	}
	for unit, bag := range r.UnitData {
		if app, _ := state.SplitUnit(unit); slices.Contains(apps, app) {
			check(unit, bag)
		}
	}
}

func loginAs(t *testing.T, pg *pgtest.Cluster, user, password, database string) error {
	t.Helper()
	db, err := sql.Open("postgres", pg.URL(user, password, database))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	return db.Ping()
}

func tableOwner(t *testing.T, admin *sql.DB, table string) string {
	t.Helper()
	var owner string
	if err := admin.QueryRow("SELECT tableowner FROM pg_tables WHERE tablename = $1", table).Scan(&owner); err != nil {
		t.Fatalf("owner of %s: %v", table, err)
	}
	return owner
}

// TestPostgresRelationWithSecrets: the consumer requests a database as data_interfaces does; the
// provider answers as postgresql-operator does, the credentials in an application secret granted
// to the relation; every consumer unit reads it by URI and connects to the real server as the
// relation user. A password rotation reaches the consumers as secret-changed; removing the
// relation drops the user and its secret.
func TestPostgresRelationWithSecrets(t *testing.T) {
	t.Parallel()
	pg := startPostgres(t) // first, so that it is stopped after the model is destroyed
	m := newModel(t)
	deployPGProvider(t, m, pg, "postgresql")
	m.juju("deploy", packTestCharm(t, "consumer"), "consumer", "-n", "2", "--provider", built.provider, "--config", "database=concourse")
	m.juju("wait")
	wantUnits(t, m, "consumer", 2, "blocked", "needs a postgresql relation")
	wantUnits(t, m, "postgresql", 1, "active", "serving 0 databases")

	m.juju("integrate", "consumer:postgresql", "postgresql:database")
	m.juju("wait")
	st := m.modelState()
	r := relationBetween(t, st, "consumer", "postgresql")
	user := fmt.Sprintf("relation-%d", r.ID)

	req := r.AppData["consumer"]
	if req["database"] != "concourse" || !strings.HasPrefix(req["requested-secrets"], `["username","password",`) {
		t.Errorf("consumer's request %v", req)
	}
	prov := r.AppData["postgresql"]
	for _, k := range []string{"username", "password", "uris"} {
		if _, ok := prov[k]; ok {
			t.Errorf("provider wrote %s in its bag although the consumer asked for secrets: %v", k, prov)
		}
	}
	if prov["endpoints"] != pg.Addr() || prov["database"] != "concourse" || !strings.HasPrefix(pg.Version, prov["version"]) {
		t.Errorf("provider bag %v, want endpoints %s database concourse version of %q", prov, pg.Addr(), pg.Version)
	}
	uri := prov["secret-user"]
	s := st.Secrets[uri]
	if s == nil || s.Owner != "postgresql" || !slices.Contains(s.Grants[fmt.Sprint(r.ID)], "consumer") {
		t.Fatalf("secret-user %q: %+v, want a secret owned by the provider app granted to consumer on relation %d", uri, s, r.ID)
	}
	creds := latestSecret(t, st, uri)
	if creds["username"] != user || len(creds["password"]) != 16 {
		t.Fatalf("user secret holds %q and a %d-char password, want %s", creds["username"], len(creds["password"]), user)
	}
	noValueIn(t, r, []string{"consumer", "postgresql"}, creds["password"], "password")
	wantUnits(t, m, "consumer", 2, "active", "connected to concourse as "+user)
	wantUnits(t, m, "postgresql", 1, "active", "serving 1 databases")
	if err := loginAs(t, pg, user, creds["password"], "concourse"); err != nil {
		t.Errorf("the secret's credentials do not log in: %v", err)
	}
	admin, err := pg.Open("concourse")
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if o := tableOwner(t, admin, "consumer_probe"); o != user {
		t.Errorf("consumer_probe owned by %s, want %s", o, user)
	}

	// A new password: a new revision of the same secret, secret-changed on each consumer unit,
	// which reads it with --refresh and connects with it.
	m.juju("config", "postgresql", "password-rotation=1")
	m.juju("wait")
	st = m.modelState()
	rotated := latestSecret(t, st, uri)
	if rotated["password"] == creds["password"] || len(st.Secrets[uri].Revisions) != 2 {
		t.Fatalf("rotation: %d revisions, password changed %t", len(st.Secrets[uri].Revisions), rotated["password"] != creds["password"])
	}
	for _, u := range []string{"consumer/0", "consumer/1"} {
		if !slices.Contains(m.hooks(u), "secret-changed") {
			t.Errorf("%s ran %v, want a secret-changed", u, m.hooks(u))
		}
	}
	wantUnits(t, m, "consumer", 2, "active", "connected to concourse as "+user)
	if err := loginAs(t, pg, user, creds["password"], "concourse"); err == nil {
		t.Error("the old password still logs in")
	}
	noValueIn(t, relationBetween(t, st, "consumer", "postgresql"), []string{"consumer", "postgresql"}, rotated["password"], "password")

	m.juju("remove-relation", "consumer:postgresql", "postgresql:database")
	m.juju("wait")
	wantUnits(t, m, "consumer", 2, "blocked", "needs a postgresql relation")
	wantUnits(t, m, "postgresql", 1, "active", "serving 0 databases")
	if st := m.modelState(); st.Secrets[uri] != nil {
		t.Errorf("the relation's secret outlived it")
	}
	var n int
	if err := admin.QueryRow("SELECT count(*) FROM pg_roles WHERE rolname = $1", user).Scan(&n); err != nil || n != 0 {
		t.Errorf("role %s after the relation went: %d (%v)", user, n, err)
	}
}

// TestPostgresRelationLegacyProvider: a provider without secrets support (legacy=true) writes
// plain username/password; the consumer connects with them. The database already holds a table
// owned by an earlier relation's user (as migrations leave it): the provider hands it to the new
// user, as the operator does for a database one relation uses.
func TestPostgresRelationLegacyProvider(t *testing.T) {
	t.Parallel()
	pg := startPostgres(t) // first, so that it is stopped after the model is destroyed
	m := newModel(t)
	admin, err := pg.Open("postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for _, q := range []string{`CREATE ROLE "relation-99" LOGIN PASSWORD 'gone'`, `CREATE DATABASE concourse`} {
		if _, err := admin.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	old, err := sql.Open("postgres", pg.URL(pg.SuperUser, pg.SuperPassword, "concourse"))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	for _, q := range []string{`CREATE TABLE builds (id int)`, `ALTER TABLE builds OWNER TO "relation-99"`} {
		if _, err := old.Exec(q); err != nil {
			t.Fatal(err)
		}
	}

	deployPGProvider(t, m, pg, "postgresql", "--config", "legacy=true")
	m.juju("deploy", packTestCharm(t, "consumer"), "consumer", "--provider", built.provider, "--config", "database=concourse")
	m.juju("integrate", "consumer:postgresql", "postgresql:database")
	m.juju("wait")

	st := m.modelState()
	r := relationBetween(t, st, "consumer", "postgresql")
	user := fmt.Sprintf("relation-%d", r.ID)
	prov := r.AppData["postgresql"]
	if prov["secret-user"] != "" || prov["username"] != user || len(prov["password"]) != 16 || prov["endpoints"] != pg.Addr() {
		t.Fatalf("legacy provider bag %v, want plain username %s and password, endpoints %s", prov, user, pg.Addr())
	}
	if len(st.Secrets) != 0 {
		t.Errorf("legacy provider made secrets: %v", st.Secrets)
	}
	noValueIn(t, r, []string{"consumer"}, prov["password"], "password")
	wantUnits(t, m, "consumer", 1, "active", "connected to concourse as "+user)
	if o := tableOwner(t, old, "builds"); o != user {
		t.Errorf("the earlier relation's table is owned by %s, want %s", o, user)
	}
	if o := tableOwner(t, old, "consumer_probe"); o != user {
		t.Errorf("consumer_probe owned by %s, want %s", o, user)
	}
	var n int
	if err := admin.QueryRow(`SELECT count(*) FROM pg_roles WHERE rolname = 'relation-99'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("the stale relation user is still there (%d, %v)", n, err)
	}
}
