package charm

import (
	"context"
	"fmt"
	"strings"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/pgrelation"
)

const (
	postgresEndpoint = "postgresql"
	databaseName     = "concourse"
)

// database is the web's view of the postgresql relation: credentials when ready, else what the
// operator or the provider still has to do.
type database struct {
	creds   pgrelation.Credentials
	ready   bool
	blocked string // the operator must act
	waiting string // the provider has not answered yet
}

// readDatabase asks for the database (leader) and reads the provider's answer. Credentials come
// from the provider's secret (secret-user), or plain fields from providers without secrets.
func (c *Charm) readDatabase(ctx context.Context, leader bool) (database, error) {
	ids, err := c.tools.RelationIDs(ctx, postgresEndpoint)
	if err != nil {
		return database{}, fmt.Errorf("postgresql relation: %w", err)
	}
	if len(ids) == 0 {
		return database{blocked: fmt.Sprintf("needs a postgresql relation (juju integrate %s postgresql)", c.env.AppName())}, nil
	}
	relID := ids[0]
	if leader {
		if err := c.setBag(ctx, relID, true, pgrelation.Request(databaseName)); err != nil {
			return database{}, fmt.Errorf("request the database: %w", err)
		}
	}
	provider, err := c.tools.RelationListApp(ctx, relID)
	if err != nil {
		return database{}, fmt.Errorf("postgresql provider of %s: %w", relID, err)
	}
	if provider == "" {
		return database{waiting: "Waiting for the PostgreSQL provider to join"}, nil
	}
	bag, err := c.tools.RelationGet(ctx, relID, provider, true)
	if err != nil {
		return database{}, fmt.Errorf("read %s data of %s: %w", relID, provider, err)
	}
	get := func(ctx context.Context, uri string) (map[string]string, error) {
		return c.tools.SecretGet(ctx, juju.SecretGetOptions{ID: uri, Refresh: true})
	}
	creds, state, err := pgrelation.Parse(ctx, bag, get)
	switch state {
	case pgrelation.Ready:
		return database{creds: creds, ready: true}, nil
	case pgrelation.Invalid:
		return database{blocked: fmt.Sprintf("%s sent unusable database data: %v", provider, err)}, nil
	case pgrelation.Waiting:
		return database{waiting: fmt.Sprintf("Waiting for %s to provide the database (missing %s)", provider, strings.Join(creds.Missing(), ", "))}, nil
	}
	return database{waiting: fmt.Sprintf("Waiting for %s to create database %s", provider, databaseName)}, nil
}
