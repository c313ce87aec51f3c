package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/charmpack"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/state"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/pgtest"
)

// startPostgres starts a real PostgreSQL cluster that the model's units can reach: on 127.0.0.1
// for the local provider, on the simulator bridge's host address for nspawn machines
// (pgtest.ForProvider). It is stopped when the test ends; the test is skipped without server
// binaries.
func startPostgres(t *testing.T) *pgtest.Cluster {
	t.Helper()
	pg := pgtest.Start(t, pgtest.ForProvider(built.provider))
	t.Logf("postgresql %s at %s (superuser %s)", pg.Version, pg.Addr(), pg.SuperUser)
	return pg
}

// packTestCharm builds the static dispatch of one of the test charms under tests/pgprovider
// ("" for the provider, "consumer" for the requirer) and packs it like the real charm.
func packTestCharm(t *testing.T, sub string) string {
	t.Helper()
	dir := t.TempDir()
	pkg := "./tests/pgprovider"
	if sub != "" {
		pkg += "/" + sub
	}
	dispatch := filepath.Join(dir, "dispatch")
	cmd := exec.Command("go", "build", "-trimpath", "-o", dispatch, pkg)
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	out := filepath.Join(dir, strings.ReplaceAll(strings.TrimPrefix(pkg, "./"), "/", "-")+".charm")
	err := charmpack.Pack(charmpack.Options{SourceDir: filepath.Join("../..", pkg), Dispatch: dispatch, Arch: "amd64", Version: "e2e", Output: out})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// pgProviderConfig are the --config flags that point tests/pgprovider at pg as its superuser.
func pgProviderConfig(pg *pgtest.Cluster) []string {
	return []string{"--config", "host=" + pg.Host, "--config", fmt.Sprintf("port=%d", pg.Port),
		"--config", "admin-user=" + pg.SuperUser, "--config", "admin-password=" + pg.SuperPassword}
}

// deployPGProvider deploys tests/pgprovider as app (one unit), serving databases of pg; it
// provides `database` (postgresql_client), so: m.juju("integrate", "<app>:postgresql", app+":database").
func deployPGProvider(t *testing.T, m *model, pg *pgtest.Cluster, app string, extra ...string) {
	t.Helper()
	args := append([]string{"deploy", packTestCharm(t, ""), app, "--provider", built.provider}, pgProviderConfig(pg)...)
	m.juju(append(args, extra...)...)
}

// modelState reads the model document (relation bags, secrets) as the simulator stores it.
func (m *model) modelState() *state.Model {
	m.t.Helper()
	var out *state.Model
	err := state.Store{Dir: m.dir}.View(func(st *state.Model) error {
		out = st
		return nil
	})
	if err != nil {
		m.t.Fatal(err)
	}
	return out
}

// relationBetween finds the live relation between apps a and b.
func relationBetween(t *testing.T, st *state.Model, a, b string) *state.Relation {
	t.Helper()
	for _, r := range st.Relations {
		if len(r.Endpoints) == 2 && !r.Dying {
			x, y := r.Endpoints[0].App, r.Endpoints[1].App
			if x == a && y == b || x == b && y == a {
				return r
			}
		}
	}
	t.Fatalf("no relation between %s and %s", a, b)
	return nil
}

// latestSecret is the newest revision of secret uri.
func latestSecret(t *testing.T, st *state.Model, uri string) map[string]string {
	t.Helper()
	s := st.Secrets[uri]
	if s == nil {
		t.Fatalf("no secret %s in the model", uri)
	}
	for i := len(s.Revisions) - 1; i >= 0; i-- {
		if s.Revisions[i] != nil {
			return s.Revisions[i]
		}
	}
	t.Fatalf("secret %s has no revision", uri)
	return nil
}
