package charm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/concourse"
)

// webAdminHash is the bcrypt hash the web on unit runs with (CONCOURSE_ADD_LOCAL_USER=user:hash).
func webAdminHash(t *testing.T, m *fakeModel, unit string) (user string, hash []byte) {
	t.Helper()
	env, err := os.ReadFile(filepath.Join(m.dataDirs[unit], "web", "web.env"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(env), "\n") {
		if v, ok := strings.CutPrefix(line, "CONCOURSE_ADD_LOCAL_USER="); ok {
			u, h, _ := strings.Cut(strings.Trim(v, `"'`), ":")
			return u, []byte(h)
		}
	}
	t.Fatalf("no CONCOURSE_ADD_LOCAL_USER in %s", env)
	return "", nil
}

func adminSecret(m *fakeModel) map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.secrets[m.app[keyAdminSecret]]
}

// TestSetAdminPassword: on the leader running web, a given password goes into the secret and the
// web restarts with its hash (Concourse reads local users only at start); the password is never
// echoed to any hook tool but secret-set's file. Setting it again changes nothing.
func TestSetAdminPassword(t *testing.T) {
	t.Parallel()
	m := settledPair(t)
	web := m.services["concourse-ci/0"]
	before, hups := web.snapshot(concourse.WebService), len(web.signalsOf(concourse.WebService))
	const pw = "correct-horse-battery-staple"

	run := runTestAction(t, m, "concourse-ci/0", "set-admin-password", `{"password":"`+pw+`"}`)
	run.mustSucceed(t)
	if got := adminSecret(m)[fieldAdminPassword]; got != pw {
		t.Fatalf("secret holds %q", got)
	}
	if _, ok := run.results["password"]; ok || run.mentions(pw) {
		t.Errorf("a chosen password reached the results or a hook tool: results %v", run.results)
	}
	after := web.snapshot(concourse.WebService)
	if !after.Active || after.InvocationID == before.InvocationID {
		t.Errorf("web not restarted: %+v (was %s)", after, before.InvocationID)
	}
	user, hash := webAdminHash(t, m, "concourse-ci/0")
	if user != "admin" || bcrypt.CompareHashAndPassword(hash, []byte(pw)) != nil {
		t.Errorf("the web runs %s:%s, not the new password's hash", user, hash)
	}
	if web.reloads[concourse.WebService] != 0 || len(web.signalsOf(concourse.WebService)) != hups {
		t.Error("the web was reloaded: SIGHUP does not reload Concourse's local users")
	}

	same := runTestAction(t, m, "concourse-ci/0", "set-admin-password", `{"password":"`+pw+`"}`)
	same.mustSucceed(t)
	if !strings.Contains(same.results["message"], "nothing changed") || len(m.runners["concourse-ci/0"].Calls("secret-set")) != 0 {
		t.Errorf("setting the same password again: %v", same.results)
	}
	if web.snapshot(concourse.WebService).InvocationID != after.InvocationID {
		t.Error("setting the same password again restarted the web")
	}
}

// TestSetAdminPasswordGeneratedReachesAWebOnAnotherUnit: without a password one is generated and
// shown once; when the leader is not the web unit, the web applies it on the relation-changed
// hook the leader's write causes.
func TestSetAdminPasswordGeneratedReachesAWebOnAnotherUnit(t *testing.T) {
	t.Parallel()
	m := settledPair(t)
	m.mu.Lock()
	m.leader = "concourse-ci/1" // the web stays on concourse-ci/0
	m.mu.Unlock()
	gen := m.app[keyAdminGeneration]

	run := runTestAction(t, m, "concourse-ci/1", "set-admin-password", "")
	run.mustSucceed(t)
	pw := run.results["password"]
	if len(pw) < 32 || adminSecret(m)[fieldAdminPassword] != pw {
		t.Fatalf("generated password %q, secret %q", pw, adminSecret(m)[fieldAdminPassword])
	}
	if m.app[keyAdminGeneration] == gen {
		t.Fatal("the peers were not told (admin-generation unchanged)")
	}
	reconcileUnit(t, m, "concourse-ci/0") // relation-changed
	if _, hash := webAdminHash(t, m, "concourse-ci/0"); bcrypt.CompareHashAndPassword(hash, []byte(pw)) != nil {
		t.Error("the web on concourse-ci/0 does not run the generated password")
	}
}

// TestSetAdminPasswordRefusals: a non-leader says where to run it; a bad password is refused
// without touching the secret and without being echoed.
func TestSetAdminPasswordRefusals(t *testing.T) {
	t.Parallel()
	m := settledPair(t)
	old := adminSecret(m)[fieldAdminPassword]
	runTestAction(t, m, "concourse-ci/1", "set-admin-password", `{"password":"a-fine-password"}`).
		mustFail(t, "only the leader", "juju run concourse-ci/leader set-admin-password")
	for params, want := range map[string]string{
		`{"password":""}`:                                "password is empty",
		`{"password":"short"}`:                           "shorter than 8 characters",
		`{"password":"` + strings.Repeat("x", 73) + `"}`: "longer than 72 bytes",
		`{"password":12345678}`:                          "must be a string",
	} {
		run := runTestAction(t, m, "concourse-ci/0", "set-admin-password", params)
		run.mustFail(t, want)
		if strings.Contains(run.err.Error(), "short\"") || strings.Contains(run.err.Error(), "xxxxxxxx") {
			t.Errorf("the refusal echoes the password: %v", run.err)
		}
	}
	if adminSecret(m)[fieldAdminPassword] != old {
		t.Error("a refused password changed the secret")
	}
}
