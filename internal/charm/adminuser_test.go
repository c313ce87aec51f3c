package charm

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju/jujutest"
)

// TestAdminUsernameRenamesTheUserKeepingThePassword: the admin secret is created with
// admin-username; a new name reaches the web and the secret (for get-admin-password) in the hook
// that sees it, with the same password; a settled leader writes the secret no more.
func TestAdminUsernameRenamesTheUserKeepingThePassword(t *testing.T) {
	t.Parallel()
	srv := serveReleases(t, "1.2.3")
	cfg := testConfig(srv, "")
	cfg["admin-username"] = "ops"
	m := newFakeModel(t, cfg)
	const unit = "concourse-ci/0"
	reconcileAll(t, m, []string{unit})
	admin := func() map[string]string {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.secrets[m.app[keyAdminSecret]]
	}
	first := admin()
	if first[fieldAdminUser] != "ops" || first[fieldAdminPassword] == "" {
		t.Fatalf("admin secret created as %q, want user ops with a password", first[fieldAdminUser])
	}

	m.setConfig("admin-username", "root")
	if err := leaderUnit(m, unit).Reconcile(t.Context()); err != nil { // config-changed
		t.Fatal(err)
	}
	env, err := os.ReadFile(filepath.Join(m.dataDirs[unit], "web", "web.env"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(env), "CONCOURSE_MAIN_TEAM_LOCAL_USER=root\n") || !strings.Contains(string(env), `CONCOURSE_ADD_LOCAL_USER="root:$2`) {
		t.Errorf("web env does not make root the admin:\n%s", env)
	}
	if strings.Contains(string(env), "ops") {
		t.Errorf("the old name is still a local user:\n%s", env)
	}
	renamed := admin()
	if renamed[fieldAdminUser] != "root" || renamed[fieldAdminPassword] != first[fieldAdminPassword] {
		t.Errorf("admin secret after the rename: user %q, same password %v; want root, true",
			renamed[fieldAdminUser], renamed[fieldAdminPassword] == first[fieldAdminPassword])
	}

	c := leaderUnit(m, unit)
	if err := c.Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
	if calls := m.runners[unit].Calls("secret-set"); len(calls) != 0 {
		t.Errorf("a settled leader rewrote the admin secret: %v", calls)
	}
}

// leaderUnit is m.unit(name) whose secret-set writes a new revision of a secret the fake model
// holds, as the owner's does.
func leaderUnit(m *fakeModel, name string) *Charm {
	c := m.unit(name)
	m.mu.Lock()
	r := m.runners[name]
	m.mu.Unlock()
	r.Handle("secret-set", func(call jujutest.Call) ([]byte, error) {
		data, err := os.ReadFile(call.Args[slices.Index(call.Args, "--file")+1])
		if err != nil {
			return nil, err
		}
		var content map[string]string
		if err := json.Unmarshal(data, &content); err != nil {
			return nil, err
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		id := call.Args[len(call.Args)-1]
		if _, ok := m.secrets[id]; !ok || m.leader != name {
			return nil, &juju.ToolError{Tool: "secret-set", ExitCode: 1, Stderr: "ERROR permission denied"}
		}
		m.secrets[id] = content
		return nil, nil
	})
	return c
}
