// Command pgprovider is a test-only charm that provides `database` (postgresql_client) from an
// existing PostgreSQL server the way canonical/postgresql-operator does
// (src/relations/postgresql_provider.py PostgreSQLProvider._on_database_requested and
// update_endpoints, lib/charms/postgresql_k8s/v0/postgresql.py create_user / create_database,
// through data_interfaces DatabaseProvides). Every hook reconciles every relation.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/lib/pq"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
)

const endpoint = "database"

// relationAccess is the operator's ACCESS_GROUP_RELATION, given to every relation user.
const relationAccess = "relation_access"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	p := &provider{tools: juju.NewClient(juju.ExecRunner{}), env: juju.EnvFrom(os.Getenv)}
	if err := p.reconcile(ctx); err != nil {
		msg := fmt.Sprintf("hook %s failed: %v", p.env.HookName, err)
		_ = p.tools.Log(ctx, juju.LevelError, msg)
		fmt.Fprintln(os.Stderr, msg)
		os.Exit(1)
	}
}

type config struct {
	host, adminUser, adminPassword, rotation string
	port                                     int
	legacy                                   bool
}

func readConfig(raw map[string]any) config {
	str := func(k string) string { s, _ := raw[k].(string); return s }
	c := config{host: str("host"), adminUser: str("admin-user"), adminPassword: str("admin-password"), rotation: str("password-rotation")}
	if n, ok := raw["port"].(int64); ok {
		c.port = int(n)
	}
	c.legacy, _ = raw["legacy"].(bool)
	return c
}

func (c config) addr() string { return net.JoinHostPort(c.host, strconv.Itoa(c.port)) }

func (c config) open(database string) (*sql.DB, error) {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(c.adminUser, c.adminPassword), Host: c.addr(),
		Path: "/" + database, RawQuery: "sslmode=disable&connect_timeout=10"}
	return sql.Open("postgres", u.String())
}

type provider struct {
	tools *juju.Client
	env   juju.Env
}

func (p *provider) status(ctx context.Context, state juju.StatusState, format string, args ...any) error {
	return p.tools.StatusSet(ctx, juju.Status{State: state, Message: fmt.Sprintf(format, args...)})
}

func (p *provider) reconcile(ctx context.Context) error {
	leader, err := p.tools.IsLeader(ctx)
	if err != nil {
		return err
	}
	if !leader {
		return p.status(ctx, juju.Active, "standby (the leader serves databases)")
	}
	raw, err := p.tools.ConfigGet(ctx)
	if err != nil {
		return err
	}
	cfg := readConfig(raw)
	if cfg.host == "" || cfg.port == 0 || cfg.adminUser == "" || cfg.adminPassword == "" {
		return p.status(ctx, juju.Blocked, "set host, port, admin-user and admin-password")
	}
	admin, err := cfg.open("postgres")
	if err != nil {
		return err
	}
	defer admin.Close()
	var version string
	if err := admin.QueryRowContext(ctx, "SELECT version()").Scan(&version); err != nil {
		// Transient as a rule (the server starting, a busy host): fail the hook so that Juju
		// retries it, as the operator defers the event; a blocked status would settle the model.
		return fmt.Errorf("cannot reach postgresql at %s: %w", cfg.addr(), err)
	}
	// get_postgresql_version: "PostgreSQL 15.14 (Debian ...) on ..." -> "15.14"
	if f := strings.Fields(version); len(f) > 1 {
		version = f[1]
	}
	leaderData, err := p.tools.LeaderGet(ctx)
	if err != nil {
		return err
	}
	rotate := leaderData["password-rotation"] != cfg.rotation

	ids, err := p.tools.RelationIDs(ctx, endpoint)
	if err != nil {
		return err
	}
	reqs := map[string]map[string]string{} // relation id -> requirer app bag
	for _, id := range ids {
		app, err := p.tools.RelationListApp(ctx, id)
		if err != nil {
			return err
		}
		if app == "" {
			continue
		}
		bag, err := p.tools.RelationGet(ctx, id, app, true)
		if err != nil {
			return err
		}
		reqs[id] = bag
	}
	served := 0
	live := map[string]bool{}
	for _, id := range ids {
		live[userFor(id)] = true
		req := reqs[id]
		if req == nil || req["database"] == "" {
			continue // data_interfaces: database_requested only once "database" is there
		}
		if err := p.serve(ctx, admin, cfg, id, req, reqs, version, leaderData, rotate); err != nil {
			var blocked blockedError
			if errors.As(err, &blocked) {
				return p.status(ctx, juju.Blocked, "%s", blocked.msg)
			}
			return fmt.Errorf("relation %s: %w", id, err)
		}
		served++
	}
	if err := p.overseeUsers(ctx, admin, live, leaderData); err != nil {
		return err
	}
	if rotate {
		if err := p.tools.LeaderSet(ctx, map[string]string{"password-rotation": cfg.rotation}); err != nil {
			return err
		}
	}
	return p.status(ctx, juju.Active, "serving %d databases", served)
}

type blockedError struct{ msg string }

func (b blockedError) Error() string { return b.msg }

// userFor is the operator's user name for a relation: "relation-<id>".
func userFor(relID string) string {
	_, n, _ := strings.Cut(relID, ":")
	return "relation-" + n
}

func newPassword() (string, error) {
	// utils.new_password: 16 characters of letters and digits.
	const choices = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	for i, x := range b {
		b[i] = choices[int(x)%len(choices)]
	}
	return string(b), nil
}

func requested(req map[string]string) []string {
	var list []string
	if err := json.Unmarshal([]byte(req["requested-secrets"]), &list); err != nil {
		return nil // get_encoded_list: no list, no secrets
	}
	return list
}

// serve is _on_database_requested + update_endpoints for one relation.
func (p *provider) serve(ctx context.Context, admin *sql.DB, cfg config, id string, req map[string]string,
	reqs map[string]map[string]string, version string, leaderData map[string]string, rotate bool) error {
	user := userFor(id)
	database := req["database"]
	own, err := p.tools.RelationGet(ctx, id, p.env.AppName(), true)
	if err != nil {
		return err
	}
	secretKey := "secret-" + user // leader setting: URI of the relation's user secret
	password, err := p.currentPassword(ctx, own, leaderData[secretKey])
	if err != nil {
		return err
	}
	if password == "" || rotate {
		if password, err = newPassword(); err != nil {
			return err
		}
	}
	roles := []string{relationAccess}
	if extra := req["extra-user-roles"]; extra != "" {
		for _, r := range strings.Split(extra, ",") {
			if r = strings.ToLower(strings.TrimSpace(r)); r != "" && r != relationAccess {
				roles = append(roles, r)
			}
		}
	}
	if err := createUser(ctx, admin, user, password, roles); err != nil {
		return err
	}
	sharing := 0 // relations_accessing_this_database
	for _, other := range reqs {
		if other["database"] == database {
			sharing++
		}
	}
	if err := createDatabase(ctx, cfg, admin, database, user, sharing); err != nil {
		return err
	}

	ep := cfg.addr()
	uris := (&url.URL{Scheme: "postgresql", User: url.UserPassword(user, password), Host: ep, Path: "/" + database}).String()
	userFields := map[string]string{"username": user, "password": password, "uris": uris}
	tlsFields := map[string]string{"tls": "False"} // no TLS here; tls-ca would be ""
	bag := map[string]string{"database": database, "endpoints": ep, "read-only-endpoints": ep, "version": version}
	asSecret := requested(req)
	if cfg.legacy {
		asSecret = nil
	}
	userSecret, plain := split(userFields, asSecret)
	for k, v := range plain {
		bag[k] = v
	}
	tlsSecret, plainTLS := split(tlsFields, asSecret)
	for k, v := range plainTLS {
		bag[k] = v
	}
	relNum := strings.TrimPrefix(id, endpoint+":")
	if len(userSecret) > 0 {
		uri, err := p.ensureSecret(ctx, id, own["secret-user"], fmt.Sprintf("%s.%s.user.secret", endpoint, relNum), userSecret)
		if err != nil {
			return err
		}
		bag["secret-user"] = uri
		if leaderData[secretKey] != uri {
			if err := p.tools.LeaderSet(ctx, map[string]string{secretKey: uri}); err != nil {
				return err
			}
		}
	} else {
		bag["secret-user"] = "" // deletes it
	}
	if len(tlsSecret) > 0 {
		uri, err := p.ensureSecret(ctx, id, own["secret-tls"], fmt.Sprintf("%s.%s.tls.secret", endpoint, relNum), tlsSecret)
		if err != nil {
			return err
		}
		bag["secret-tls"] = uri
	}
	if len(plain) == 0 {
		for k := range userFields {
			if own[k] != "" {
				bag[k] = ""
			}
		}
	}
	changed := map[string]string{}
	for k, v := range bag {
		if own[k] != v {
			changed[k] = v
		}
	}
	return p.tools.RelationSet(ctx, id, true, changed)
}

// split puts the fields the requirer asked for as secrets on one side, the rest on the other
// (Data._process_secret_fields).
func split(fields map[string]string, asSecret []string) (secret, plain map[string]string) {
	secret, plain = map[string]string{}, map[string]string{}
	for k, v := range fields {
		if slices.Contains(asSecret, k) {
			secret[k] = v
		} else {
			plain[k] = v
		}
	}
	return secret, plain
}

// currentPassword is the password already shared on the relation: in the user secret, or plain.
func (p *provider) currentPassword(ctx context.Context, own map[string]string, knownURI string) (string, error) {
	uri := own["secret-user"]
	if uri == "" {
		uri = knownURI
	}
	if uri != "" {
		content, err := p.tools.SecretGet(ctx, juju.SecretGetOptions{ID: uri})
		if err != nil {
			return "", err
		}
		return content["password"], nil
	}
	return own["password"], nil
}

// ensureSecret adds the app-owned secret and grants it to the relation (CachedSecret.add_secret:
// secret.grant(relation)), or sets a new revision when its content changed.
func (p *provider) ensureSecret(ctx context.Context, relID, uri, label string, content map[string]string) (string, error) {
	if uri == "" {
		id, err := p.tools.SecretAdd(ctx, content, juju.SecretAddOptions{Label: label})
		if err != nil {
			return "", err
		}
		return id, p.tools.SecretGrant(ctx, id, relID, "")
	}
	old, err := p.tools.SecretGet(ctx, juju.SecretGetOptions{ID: uri})
	if err != nil {
		return "", err
	}
	same := len(old) == len(content)
	for k, v := range content {
		same = same && old[k] == v
	}
	if !same {
		if err := p.tools.SecretSet(ctx, uri, content, juju.SecretSetOptions{}); err != nil {
			return "", err
		}
	}
	return uri, nil
}

// createUser is PostgreSQL.create_user: CREATE or ALTER ROLE ... LOGIN ENCRYPTED PASSWORD with
// statement logging off, then the extra roles; privileges such as CREATEDB go in the definition.
func createUser(ctx context.Context, db *sql.DB, user, password string, roles []string) error {
	if _, err := db.ExecContext(ctx, fmt.Sprintf(`DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = %s) THEN CREATE ROLE %s NOLOGIN; END IF; END $$`,
		pq.QuoteLiteral(relationAccess), pq.QuoteIdentifier(relationAccess))); err != nil {
		return fmt.Errorf("create access group: %w", err)
	}
	var exists bool
	if err := db.QueryRowContext(ctx, "SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)", user).Scan(&exists); err != nil {
		return fmt.Errorf("look up user %s: %w", user, err)
	}
	var privileges, grants []string
	for _, r := range roles {
		switch r {
		case "createdb", "createrole", "superuser":
			privileges = append(privileges, strings.ToUpper(r))
			continue
		}
		var ok bool
		if err := db.QueryRowContext(ctx, "SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)", r).Scan(&ok); err != nil {
			return fmt.Errorf("look up role %s: %w", r, err)
		}
		if !ok {
			return blockedError{"invalid role(s) for extra user roles"} // INVALID_EXTRA_USER_ROLE_BLOCKING_MESSAGE
		}
		grants = append(grants, r)
	}
	verb := "CREATE"
	if exists {
		verb = "ALTER"
	}
	def := fmt.Sprintf("%s ROLE %s WITH LOGIN ENCRYPTED PASSWORD %s %s", verb, pq.QuoteIdentifier(user), pq.QuoteLiteral(password), strings.Join(privileges, " "))
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "SET LOCAL log_statement = 'none'"); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, def); err != nil {
		return fmt.Errorf("%s role %s: %w", strings.ToLower(verb), user, err) // the statement holds the password: not in the error
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	for _, g := range grants {
		if _, err := db.ExecContext(ctx, fmt.Sprintf("GRANT %s TO %s", pq.QuoteIdentifier(g), pq.QuoteIdentifier(user))); err != nil {
			return fmt.Errorf("grant %s to %s: %w", g, user, err)
		}
	}
	return nil
}

// reassignOwnership is _generate_database_privileges_statements for a database only one relation
// uses: every table, sequence, function, procedure, aggregate and view (whoever created it, e.g.
// a previous relation's user running migrations) and every schema becomes the relation user's.
const reassignOwnership = `DO $$
DECLARE r RECORD;
BEGIN
  FOR r IN (SELECT statement FROM (SELECT 1 AS index,'ALTER TABLE '|| schemaname || '."' || tablename ||'" OWNER TO %[1]s;' AS statement
FROM pg_tables WHERE NOT schemaname IN ('pg_catalog', 'information_schema')
UNION SELECT 2 AS index,'ALTER SEQUENCE '|| sequence_schema || '."' || sequence_name ||'" OWNER TO %[1]s;' AS statement
FROM information_schema.sequences WHERE NOT sequence_schema IN ('pg_catalog', 'information_schema')
UNION SELECT 3 AS index,'ALTER FUNCTION '|| nsp.nspname || '."' || p.proname ||'"('||pg_get_function_identity_arguments(p.oid)||') OWNER TO %[1]s;' AS statement
FROM pg_proc p JOIN pg_namespace nsp ON p.pronamespace = nsp.oid WHERE NOT nsp.nspname IN ('pg_catalog', 'information_schema') AND p.prokind = 'f'
UNION SELECT 4 AS index,'ALTER PROCEDURE '|| nsp.nspname || '."' || p.proname ||'"('||pg_get_function_identity_arguments(p.oid)||') OWNER TO %[1]s;' AS statement
FROM pg_proc p JOIN pg_namespace nsp ON p.pronamespace = nsp.oid WHERE NOT nsp.nspname IN ('pg_catalog', 'information_schema') AND p.prokind = 'p'
UNION SELECT 5 AS index,'ALTER AGGREGATE '|| nsp.nspname || '."' || p.proname ||'"('||pg_get_function_identity_arguments(p.oid)||') OWNER TO %[1]s;' AS statement
FROM pg_proc p JOIN pg_namespace nsp ON p.pronamespace = nsp.oid WHERE NOT nsp.nspname IN ('pg_catalog', 'information_schema') AND p.prokind = 'a'
UNION SELECT 6 AS index,'ALTER VIEW '|| schemaname || '."' || viewname ||'" OWNER TO %[1]s;' AS statement
FROM pg_catalog.pg_views WHERE NOT schemaname IN ('pg_catalog', 'information_schema')) AS statements ORDER BY index) LOOP
      EXECUTE format(r.statement);
  END LOOP;
END; $$;`

// createDatabase is PostgreSQL.create_database: the database (owned by the admin), no access for
// PUBLIC, all privileges for the user; inside it, with one relation on the database everything is
// handed to that user, else the user gets all privileges on what exists.
func createDatabase(ctx context.Context, cfg config, admin *sql.DB, database, user string, sharing int) error {
	var exists bool
	if err := admin.QueryRowContext(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", database).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", database, err)
	}
	qdb, quser := pq.QuoteIdentifier(database), pq.QuoteIdentifier(user)
	stmts := []string{
		"REVOKE ALL PRIVILEGES ON DATABASE " + qdb + " FROM PUBLIC",
		"GRANT ALL PRIVILEGES ON DATABASE " + qdb + " TO " + quser,
		"GRANT ALL PRIVILEGES ON DATABASE " + qdb + " TO " + pq.QuoteIdentifier(cfg.adminUser),
	}
	if !exists {
		stmts = append([]string{"CREATE DATABASE " + qdb}, stmts...)
	}
	for _, s := range stmts {
		if _, err := admin.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	db, err := cfg.open(database)
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "SELECT schema_name FROM information_schema.schemata WHERE schema_name NOT LIKE 'pg_%' AND schema_name <> 'information_schema'")
	if err != nil {
		return fmt.Errorf("list schemas of %s: %w", database, err)
	}
	var schemas []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return err
		}
		schemas = append(schemas, pq.QuoteIdentifier(s))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var priv []string
	if sharing == 1 {
		priv = append(priv, fmt.Sprintf(reassignOwnership, quser),
			fmt.Sprintf("UPDATE pg_catalog.pg_largeobject_metadata SET lomowner = (SELECT oid FROM pg_roles WHERE rolname = %s) WHERE lomowner = (SELECT oid FROM pg_roles WHERE rolname = %s)",
				pq.QuoteLiteral(user), pq.QuoteLiteral(cfg.adminUser)))
		for _, s := range schemas {
			priv = append(priv, "ALTER SCHEMA "+s+" OWNER TO "+quser)
		}
	} else {
		for _, s := range schemas {
			priv = append(priv,
				"GRANT ALL PRIVILEGES ON ALL TABLES IN SCHEMA "+s+" TO "+quser,
				"GRANT ALL PRIVILEGES ON ALL SEQUENCES IN SCHEMA "+s+" TO "+quser,
				"GRANT ALL PRIVILEGES ON ALL FUNCTIONS IN SCHEMA "+s+" TO "+quser,
				"GRANT USAGE ON SCHEMA "+s+" TO "+quser,
				"GRANT CREATE ON SCHEMA "+s+" TO "+quser)
		}
	}
	for _, s := range priv {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("privileges of %s on %s: %w", user, database, err)
		}
	}
	return nil
}

// overseeUsers is PostgreSQLProvider.oversee_users: users of relations that are gone are
// dropped (their objects reassigned to the admin), and their secrets removed.
func (p *provider) overseeUsers(ctx context.Context, admin *sql.DB, live map[string]bool, leaderData map[string]string) error {
	rows, err := admin.QueryContext(ctx, "SELECT rolname FROM pg_roles WHERE rolname LIKE 'relation-%'")
	if err != nil {
		return fmt.Errorf("list relation users: %w", err)
	}
	var stale []string
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			rows.Close()
			return err
		}
		if !live[u] {
			stale = append(stale, u)
		}
	}
	rows.Close()
	sort.Strings(stale)
	if len(stale) == 0 {
		return rows.Err()
	}
	dbs, err := admin.QueryContext(ctx, "SELECT datname FROM pg_database WHERE datistemplate = false")
	if err != nil {
		return err
	}
	var names []string
	for dbs.Next() {
		var n string
		if err := dbs.Scan(&n); err != nil {
			dbs.Close()
			return err
		}
		names = append(names, n)
	}
	dbs.Close()
	raw, err := p.tools.ConfigGet(ctx)
	if err != nil {
		return err
	}
	cfg := readConfig(raw)
	for _, u := range stale {
		for _, n := range names {
			db, err := cfg.open(n)
			if err != nil {
				return err
			}
			_, err1 := db.ExecContext(ctx, "REASSIGN OWNED BY "+pq.QuoteIdentifier(u)+" TO "+pq.QuoteIdentifier(cfg.adminUser))
			_, err2 := db.ExecContext(ctx, "DROP OWNED BY "+pq.QuoteIdentifier(u))
			db.Close()
			if err := errors.Join(err1, err2); err != nil {
				return fmt.Errorf("release objects of %s in %s: %w", u, n, err)
			}
		}
		if _, err := admin.ExecContext(ctx, "DROP ROLE "+pq.QuoteIdentifier(u)); err != nil {
			return fmt.Errorf("drop %s: %w", u, err)
		}
		if uri := leaderData["secret-"+u]; uri != "" {
			if err := p.tools.SecretRemove(ctx, uri); err != nil {
				return err
			}
			if err := p.tools.LeaderSet(ctx, map[string]string{"secret-" + u: ""}); err != nil {
				return err
			}
		}
	}
	return nil
}
