package tests

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/juju/charm/v12"
)

// readActions reads actions.yaml as Juju does.
func readActions(t *testing.T) *charm.Actions {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, "actions.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	actions, err := charm.ReadActionsYaml("concourse-ci-machine", f)
	if err != nil {
		t.Fatalf("juju/charm rejects actions.yaml: %v", err)
	}
	return actions
}

// TestActionsSchema: the day-2 actions are declared, and Juju refuses bad parameters before the
// charm runs (an unknown role, a password that is not a string, any unknown key).
func TestActionsSchema(t *testing.T) {
	t.Parallel()
	actions := readActions(t)
	var names []string
	for name := range actions.ActionSpecs {
		names = append(names, name)
	}
	sort.Strings(names)
	want := []string{"get-admin-password", "land-worker", "restart", "retire-worker", "rotate-keys", "set-admin-password", "shared-storage-info",
		"upgrade-resume", "upgrade-rollback", "upgrade-status"}
	if !slices.Equal(names, want) {
		t.Errorf("actions %v, want %v", names, want)
	}
	spec := func(name string) charm.ActionSpec { return actions.ActionSpecs[name] }

	restart := spec("restart")
	params, err := restart.InsertDefaults(map[string]any{})
	if err != nil || params["role"] != "all" {
		t.Errorf("restart's default role %v (%v), want all", params["role"], err)
	}
	for _, role := range []string{"web", "worker", "all"} {
		if err := restart.ValidateParams(map[string]any{"role": role}); err != nil {
			t.Errorf("restart role=%s refused: %v", role, err)
		}
	}
	if err := restart.ValidateParams(map[string]any{"role": "db"}); err == nil {
		t.Error("restart accepts role=db")
	}

	pw := spec("set-admin-password")
	if err := pw.ValidateParams(map[string]any{}); err != nil {
		t.Errorf("set-admin-password without a password (generate one) refused: %v", err)
	}
	if err := pw.ValidateParams(map[string]any{"password": "a-good-password"}); err != nil {
		t.Errorf("set-admin-password with a password refused: %v", err)
	}
	if err := pw.ValidateParams(map[string]any{"password": 12345678}); err == nil {
		t.Error("set-admin-password accepts a number")
	}
	rollback := spec("upgrade-rollback")
	params, err = rollback.InsertDefaults(map[string]any{})
	if err != nil || params["database-migrated"] != false {
		t.Errorf("upgrade-rollback's default database-migrated %v (%v), want false", params["database-migrated"], err)
	}
	if err := rollback.ValidateParams(map[string]any{"database-migrated": true}); err != nil {
		t.Errorf("upgrade-rollback database-migrated=true refused: %v", err)
	}
	if err := rollback.ValidateParams(map[string]any{"database-migrated": "yes"}); err == nil {
		t.Error("upgrade-rollback accepts database-migrated=yes (a string)")
	}
	for _, name := range []string{"land-worker", "retire-worker", "rotate-keys", "upgrade-status", "upgrade-resume"} {
		s := spec(name)
		if err := s.ValidateParams(map[string]any{"role": "worker"}); err == nil {
			t.Errorf("%s accepts a parameter it does not have", name)
		}
	}
}

// TestLeaderOnlyActionsFailThroughDispatch: the built binary, run as Juju runs an action on a unit
// that is not the leader, reports through action-fail (exit 0) where to run it, and writes nothing.
func TestLeaderOnlyActionsFailThroughDispatch(t *testing.T) {
	t.Parallel()
	binary, _ := buildCharm(t, runtime.GOARCH)
	for _, action := range []string{"set-admin-password", "rotate-keys"} {
		t.Run(action, func(t *testing.T) {
			t.Parallel()
			r := newDispatchRun(t, binary)
			r.answer("is-leader", "false", 0)
			r.answer("action-get", `{"password":"never-shown-anywhere"}`, 0)
			code, calls, stderr := r.run("dispatch", "JUJU_DISPATCH_PATH=actions/"+action,
				"JUJU_ACTION_NAME="+action, "JUJU_ACTION_UUID=1")
			want := "action-fail -- " + action + " changes the application's secrets, which only the leader may do: run it on the leader: juju run concourse-ci/leader " + action
			if code != 0 || !hasCall(calls, want) {
				t.Fatalf("exit %d, calls %q, stderr %s: want %q", code, calls, stderr, want)
			}
			for _, c := range calls {
				if strings.HasPrefix(c, "secret-") || strings.HasPrefix(c, "relation-set") || strings.Contains(c, "never-shown-anywhere") {
					t.Errorf("a refused %s called %q", action, c)
				}
			}
		})
	}
}

// TestRolloutActionsRefusedOffTheLeaderThroughDispatch: upgrade-resume and upgrade-rollback, run
// on a unit that is not the leader, fail through action-fail naming where to run them, and
// write no relation data.
func TestRolloutActionsRefusedOffTheLeaderThroughDispatch(t *testing.T) {
	t.Parallel()
	binary, _ := buildCharm(t, runtime.GOARCH)
	for _, action := range []string{"upgrade-resume", "upgrade-rollback"} {
		t.Run(action, func(t *testing.T) {
			t.Parallel()
			r := newDispatchRun(t, binary)
			r.answer("is-leader", "false", 0)
			r.answer("action-get", `{}`, 0)
			code, calls, stderr := r.run("dispatch", "JUJU_DISPATCH_PATH=actions/"+action,
				"JUJU_ACTION_NAME="+action, "JUJU_ACTION_UUID=1")
			want := "action-fail -- " + action + " changes the rollout plan, which only the leader may do: run it on the leader: juju run concourse-ci/leader " + action
			if code != 0 || !hasCall(calls, want) {
				t.Fatalf("exit %d, calls %q, stderr %s: want %q", code, calls, stderr, want)
			}
			for _, c := range calls {
				if strings.HasPrefix(c, "relation-set") {
					t.Errorf("a refused %s called %q", action, c)
				}
			}
		})
	}
}
