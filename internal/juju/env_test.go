package juju_test

import (
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
)

func getenv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestEnvFromReadsEveryVariable(t *testing.T) {
	t.Parallel()
	vars := map[string]string{
		"JUJU_UNIT_NAME":         "concourse/3",
		"JUJU_CHARM_DIR":         "/var/lib/juju/agents/unit-concourse-3/charm",
		"CHARM_DIR":              "/ignored",
		"JUJU_HOOK_NAME":         "db-relation-changed",
		"JUJU_DISPATCH_PATH":     "hooks/db-relation-changed",
		"JUJU_MODEL_NAME":        "ci",
		"JUJU_MODEL_UUID":        "6f1b0c3e-uuid",
		"JUJU_MACHINE_ID":        "4",
		"JUJU_PRINCIPAL_UNIT":    "principal/0",
		"JUJU_AVAILABILITY_ZONE": "zone-a",
		"JUJU_VERSION":           "3.6.1",
		"JUJU_CONTEXT_ID":        "concourse/3-db-relation-changed-42",
		"JUJU_CHARM_HTTP_PROXY":  "http://proxy:3128",
		"JUJU_CHARM_HTTPS_PROXY": "http://proxy:3129",
		"JUJU_CHARM_NO_PROXY":    "127.0.0.1,localhost",
		"JUJU_RELATION":          "db",
		"JUJU_RELATION_ID":       "db:7",
		"JUJU_REMOTE_UNIT":       "postgresql/0",
		"JUJU_REMOTE_APP":        "postgresql",
		"JUJU_DEPARTING_UNIT":    "postgresql/1",
		"JUJU_ACTION_NAME":       "get-admin-password",
		"JUJU_ACTION_UUID":       "17",
		"JUJU_STORAGE_ID":        "concourse-data/0",
		"JUJU_STORAGE_LOCATION":  "/var/lib/concourse-data",
		"JUJU_STORAGE_KIND":      "filesystem",
		"JUJU_SECRET_ID":         "secret:cq0abc",
		"JUJU_SECRET_LABEL":      "admin",
		"JUJU_SECRET_REVISION":   "5",
	}
	want := juju.Env{
		UnitName:         "concourse/3",
		CharmDir:         "/var/lib/juju/agents/unit-concourse-3/charm",
		HookName:         "db-relation-changed",
		DispatchPath:     "hooks/db-relation-changed",
		ModelName:        "ci",
		ModelUUID:        "6f1b0c3e-uuid",
		MachineID:        "4",
		PrincipalUnit:    "principal/0",
		AvailabilityZone: "zone-a",
		Version:          "3.6.1",
		ContextID:        "concourse/3-db-relation-changed-42",
		HTTPProxy:        "http://proxy:3128",
		HTTPSProxy:       "http://proxy:3129",
		NoProxy:          "127.0.0.1,localhost",
		RelationName:     "db",
		RelationID:       "db:7",
		RemoteUnit:       "postgresql/0",
		RemoteApp:        "postgresql",
		DepartingUnit:    "postgresql/1",
		ActionName:       "get-admin-password",
		ActionUUID:       "17",
		StorageID:        "concourse-data/0",
		StorageLocation:  "/var/lib/concourse-data",
		StorageKind:      "filesystem",
		SecretID:         "secret:cq0abc",
		SecretLabel:      "admin",
		SecretRevision:   5,
	}
	if got := juju.EnvFrom(getenv(vars)); got != want {
		t.Fatalf("EnvFrom:\n got %+v\nwant %+v", got, want)
	}
}

func TestEnvFromFallbacks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		vars         map[string]string
		wantCharmDir string
		wantRevision int
	}{
		{"old agent sets only CHARM_DIR", map[string]string{"CHARM_DIR": "/charm"}, "/charm", 0},
		{"nothing set", map[string]string{}, "", 0},
		{"revision not a number", map[string]string{"JUJU_SECRET_REVISION": "x"}, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := juju.EnvFrom(getenv(tt.vars))
			if env.CharmDir != tt.wantCharmDir || env.SecretRevision != tt.wantRevision {
				t.Fatalf("CharmDir %q revision %d, want %q %d", env.CharmDir, env.SecretRevision, tt.wantCharmDir, tt.wantRevision)
			}
		})
	}
}

func TestAppName(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"concourse-ci-machine/12": "concourse-ci-machine",
		"web/0":                   "web",
		"":                        "",
		"noslash":                 "noslash",
	}
	for unit, want := range tests {
		if got := (juju.Env{UnitName: unit}).AppName(); got != want {
			t.Errorf("AppName(%q) = %q, want %q", unit, got, want)
		}
	}
}

func TestEventPrecedence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		env      juju.Env
		argv0    string
		wantKind string
		wantName string
	}{
		{"dispatch path hook", juju.Env{DispatchPath: "hooks/install", HookName: "other"}, "", juju.KindHook, "install"},
		{"dispatch path action", juju.Env{DispatchPath: "actions/run-check", ActionName: "x"}, "", juju.KindAction, "run-check"},
		{"dispatch path beats argv0", juju.Env{DispatchPath: "hooks/start"}, "/charm/hooks/stop", juju.KindHook, "start"},
		{"malformed dispatch path falls through", juju.Env{DispatchPath: "hooks/", HookName: "remove"}, "", juju.KindHook, "remove"},
		{"nested dispatch path falls through", juju.Env{DispatchPath: "hooks/a/b", HookName: "remove"}, "", juju.KindHook, "remove"},
		{"unknown dispatch prefix falls through", juju.Env{DispatchPath: "other/x", ActionName: "act"}, "", juju.KindAction, "act"},
		{"argv0 hook symlink", juju.Env{HookName: "wrong"}, "/var/lib/juju/charm/hooks/config-changed", juju.KindHook, "config-changed"},
		{"relative argv0 hook symlink", juju.Env{}, "hooks/upgrade-charm", juju.KindHook, "upgrade-charm"},
		{"argv0 dispatch is not a hook name", juju.Env{HookName: "install"}, "/charm/hooks/dispatch", juju.KindHook, "install"},
		{"argv0 outside hooks/", juju.Env{HookName: "install"}, "/charm/dispatch", juju.KindHook, "install"},
		{"argv0 beats action name", juju.Env{ActionName: "act"}, "/charm/hooks/start", juju.KindHook, "start"},
		{"action name beats hook name", juju.Env{ActionName: "act", HookName: "hook"}, "", juju.KindAction, "act"},
		{"hook name alone", juju.Env{HookName: "update-status"}, "", juju.KindHook, "update-status"},
		{"nothing", juju.Env{}, "/usr/bin/concourse-charm", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			kind, name := juju.EventFrom(tt.env, tt.argv0)
			if kind != tt.wantKind || name != tt.wantName {
				t.Fatalf("EventFrom = (%q, %q), want (%q, %q)", kind, name, tt.wantKind, tt.wantName)
			}
			if tt.argv0 == "" {
				if k, n := tt.env.Event(); k != kind || n != name {
					t.Fatalf("Event = (%q, %q), EventFrom without argv0 = (%q, %q)", k, n, kind, name)
				}
			}
		})
	}
}
