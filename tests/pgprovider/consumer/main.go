// Command pgconsumer is a test-only charm requiring `postgresql` (postgresql_client) through
// internal/pgrelation, as the Concourse charm does: the leader writes the request, every unit
// reads the provider's answer (secret by URI, or plain legacy fields), connects with lib/pq,
// creates a table (proving it can use the database, whoever owns it), and reports in its status
// whom it connected as, never the password.
package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	_ "github.com/lib/pq"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/pgrelation"
)

const endpoint = "postgresql"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	tools := juju.NewClient(juju.ExecRunner{})
	env := juju.EnvFrom(os.Getenv)
	if err := reconcile(ctx, tools, env); err != nil {
		msg := fmt.Sprintf("hook %s failed: %v", env.HookName, err)
		_ = tools.Log(ctx, juju.LevelError, msg)
		fmt.Fprintln(os.Stderr, msg)
		os.Exit(1)
	}
}

func status(ctx context.Context, tools *juju.Client, state juju.StatusState, format string, args ...any) error {
	return tools.StatusSet(ctx, juju.Status{State: state, Message: fmt.Sprintf(format, args...)})
}

func reconcile(ctx context.Context, tools *juju.Client, env juju.Env) error {
	raw, err := tools.ConfigGet(ctx)
	if err != nil {
		return err
	}
	database, _ := raw["database"].(string)
	ids, err := tools.RelationIDs(ctx, endpoint)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return status(ctx, tools, juju.Blocked, "needs a postgresql relation")
	}
	id := ids[0]
	leader, err := tools.IsLeader(ctx)
	if err != nil {
		return err
	}
	if leader {
		// relation-created in data_interfaces; rewriting equal values changes nothing.
		if err := tools.RelationSet(ctx, id, true, pgrelation.Request(database)); err != nil {
			return err
		}
	}
	app, err := tools.RelationListApp(ctx, id)
	if err != nil {
		return err
	}
	bag := map[string]string{}
	if app != "" {
		if bag, err = tools.RelationGet(ctx, id, app, true); err != nil {
			return err
		}
	}
	getSecret := func(ctx context.Context, uri string) (map[string]string, error) {
		return tools.SecretGet(ctx, juju.SecretGetOptions{ID: uri, Refresh: true})
	}
	creds, state, err := pgrelation.Parse(ctx, bag, getSecret)
	switch state {
	case pgrelation.NoData:
		return status(ctx, tools, juju.Waiting, "waiting for postgresql to answer")
	case pgrelation.Waiting:
		return status(ctx, tools, juju.Waiting, "waiting for postgresql: no %s yet", strings.Join(creds.Missing(), ", "))
	case pgrelation.Invalid:
		return status(ctx, tools, juju.Blocked, "postgresql relation: %v", err)
	}
	caFile := ""
	if creds.TLS && creds.CA != "" {
		caFile = filepath.Join(env.CharmDir, "postgresql-ca.pem")
		if err := os.WriteFile(caFile, []byte(creds.CA), 0o600); err != nil {
			return err
		}
	}
	db, err := sql.Open("postgres", creds.ConnString(caFile))
	if err != nil {
		return status(ctx, tools, juju.Blocked, "postgresql relation: %s", redact(err, creds.Password))
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return status(ctx, tools, juju.Blocked, "database refused the credentials: %s", redact(err, creds.Password))
	}
	if err := migrate(ctx, db); err != nil {
		return status(ctx, tools, juju.Blocked, "cannot use database %s as %s: %s", creds.Database, creds.User, redact(err, creds.Password))
	}
	return status(ctx, tools, juju.Active, "connected to %s as %s", creds.Database, creds.User)
}

// redact is belt and braces: lib/pq errors do not carry the password.
func redact(err error, password string) string {
	if password == "" {
		return err.Error()
	}
	return strings.ReplaceAll(err.Error(), password, "<redacted>")
}

// migrate creates a table, as an application's migrations would; an advisory lock serialises the
// units (concurrent CREATE TABLE IF NOT EXISTS can collide in pg_type).
func migrate(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(4242)"); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS consumer_probe (unit text PRIMARY KEY)"); err != nil {
		return err
	}
	return tx.Commit()
}
