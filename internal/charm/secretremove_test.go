package charm

import (
	"context"
	"slices"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju/jujutest"
)

// TestSecretRemoveDropsTheObsoleteRevision: the revision Juju reports unused (a replaced admin
// password or host key) is removed, that one only, without a reconcile.
func TestSecretRemoveDropsTheObsoleteRevision(t *testing.T) {
	t.Parallel()
	r := jujutest.New()
	c := New(Options{Env: juju.Env{UnitName: "concourse-ci/0", SecretID: "secret:abc", SecretRevision: 2}, Tools: juju.NewClient(r)})
	if err := c.RunHook(context.Background(), "secret-remove"); err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"secret-remove", "--revision", "2", "secret:abc"}}
	if got := r.Argv(); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("hook tools %q, want %q", got, want)
	}

	r = jujutest.New()
	c = New(Options{Env: juju.Env{UnitName: "concourse-ci/0", SecretID: "secret:abc"}, Tools: juju.NewClient(r)})
	if err := c.RunHook(context.Background(), "secret-remove"); err != nil || len(r.Argv()) != 0 {
		t.Errorf("without a revision: %v, calls %q; want nothing removed", err, r.Argv())
	}
}
