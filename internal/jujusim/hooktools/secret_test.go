package hooktools

import (
	"strings"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/state"
)

// A secret another application owns and granted on a relation is readable by URI while the
// relation exists, and no longer once it is removed (the grant goes with the relation).
func TestSecretGrantLivesWithItsRelation(t *testing.T) {
	t.Parallel()
	st := fixture(t)
	const uri = "secret:cqj7rm7mp25c7bc2ikdg"
	err := st.Update(func(m *state.Model) error {
		m.Secrets[uri] = &state.Secret{ID: uri, Owner: "other", Revisions: []map[string]string{{"username": "relation-1"}},
			Grants: map[string][]string{"1": {"app"}}}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if out, errs, code := invoke(st, "app/1", "c1", "", "secret-get", uri, "username"); code != 0 || out != "relation-1\n" {
		t.Fatalf("granted consumer: %q %q %d", out, errs, code)
	}
	if err := st.Update(func(m *state.Model) error { delete(m.Relations, 1); return nil }); err != nil {
		t.Fatal(err)
	}
	if out, errs, code := invoke(st, "app/1", "c1", "", "secret-get", uri); code != 1 || !strings.Contains(errs, "permission denied") {
		t.Errorf("after the relation went: %q %q %d, want permission denied", out, errs, code)
	}
}
