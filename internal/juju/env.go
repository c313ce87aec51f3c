package juju

import (
	"path/filepath"
	"strconv"
	"strings"
)

// Env is the hook environment Juju gives every hook and action process.
// Variables that do not apply to the current event are empty.
type Env struct {
	UnitName         string // JUJU_UNIT_NAME, e.g. "concourse-ci-machine/0"
	CharmDir         string // JUJU_CHARM_DIR (or CHARM_DIR on old agents)
	HookName         string // JUJU_HOOK_NAME
	DispatchPath     string // JUJU_DISPATCH_PATH: "hooks/<name>" or "actions/<name>"
	ModelName        string // JUJU_MODEL_NAME
	ModelUUID        string // JUJU_MODEL_UUID
	MachineID        string // JUJU_MACHINE_ID
	PrincipalUnit    string // JUJU_PRINCIPAL_UNIT (subordinates only)
	AvailabilityZone string // JUJU_AVAILABILITY_ZONE
	Version          string // JUJU_VERSION: the agent's Juju version
	ContextID        string // JUJU_CONTEXT_ID: identifies the hook context to the hook tools

	// Model proxy settings meant for the charm's own downloads.
	HTTPProxy  string // JUJU_CHARM_HTTP_PROXY
	HTTPSProxy string // JUJU_CHARM_HTTPS_PROXY
	NoProxy    string // JUJU_CHARM_NO_PROXY

	// Relation events.
	RelationName  string // JUJU_RELATION: the endpoint name
	RelationID    string // JUJU_RELATION_ID: "<endpoint>:<n>"
	RemoteUnit    string // JUJU_REMOTE_UNIT: empty in relation-created and relation-broken
	RemoteApp     string // JUJU_REMOTE_APP
	DepartingUnit string // JUJU_DEPARTING_UNIT: relation-departed only

	// Actions.
	ActionName string // JUJU_ACTION_NAME
	ActionUUID string // JUJU_ACTION_UUID

	// Storage events.
	StorageID       string // JUJU_STORAGE_ID: "<name>/<n>"
	StorageLocation string // JUJU_STORAGE_LOCATION
	StorageKind     string // JUJU_STORAGE_KIND: "filesystem" or "block"

	// Secret events.
	SecretID       string // JUJU_SECRET_ID
	SecretLabel    string // JUJU_SECRET_LABEL
	SecretRevision int    // JUJU_SECRET_REVISION (0 when unset or not a number)
}

// EnvFrom reads the hook environment through getenv (os.Getenv in
// production, a map lookup in tests) so that nothing here depends on the
// process environment.
func EnvFrom(getenv func(string) string) Env {
	charmDir := getenv("JUJU_CHARM_DIR")
	if charmDir == "" {
		charmDir = getenv("CHARM_DIR")
	}
	revision, err := strconv.Atoi(getenv("JUJU_SECRET_REVISION"))
	if err != nil {
		revision = 0
	}
	return Env{
		UnitName:         getenv("JUJU_UNIT_NAME"),
		CharmDir:         charmDir,
		HookName:         getenv("JUJU_HOOK_NAME"),
		DispatchPath:     getenv("JUJU_DISPATCH_PATH"),
		ModelName:        getenv("JUJU_MODEL_NAME"),
		ModelUUID:        getenv("JUJU_MODEL_UUID"),
		MachineID:        getenv("JUJU_MACHINE_ID"),
		PrincipalUnit:    getenv("JUJU_PRINCIPAL_UNIT"),
		AvailabilityZone: getenv("JUJU_AVAILABILITY_ZONE"),
		Version:          getenv("JUJU_VERSION"),
		ContextID:        getenv("JUJU_CONTEXT_ID"),
		HTTPProxy:        getenv("JUJU_CHARM_HTTP_PROXY"),
		HTTPSProxy:       getenv("JUJU_CHARM_HTTPS_PROXY"),
		NoProxy:          getenv("JUJU_CHARM_NO_PROXY"),
		RelationName:     getenv("JUJU_RELATION"),
		RelationID:       getenv("JUJU_RELATION_ID"),
		RemoteUnit:       getenv("JUJU_REMOTE_UNIT"),
		RemoteApp:        getenv("JUJU_REMOTE_APP"),
		DepartingUnit:    getenv("JUJU_DEPARTING_UNIT"),
		ActionName:       getenv("JUJU_ACTION_NAME"),
		ActionUUID:       getenv("JUJU_ACTION_UUID"),
		StorageID:        getenv("JUJU_STORAGE_ID"),
		StorageLocation:  getenv("JUJU_STORAGE_LOCATION"),
		StorageKind:      getenv("JUJU_STORAGE_KIND"),
		SecretID:         getenv("JUJU_SECRET_ID"),
		SecretLabel:      getenv("JUJU_SECRET_LABEL"),
		SecretRevision:   revision,
	}
}

// AppName is the application part of the unit name ("app" for "app/3").
func (e Env) AppName() string {
	app, _, _ := strings.Cut(e.UnitName, "/")
	return app
}

// The kinds of event Event and EventFrom report.
const (
	KindHook   = "hook"
	KindAction = "action"
)

// Event tells which hook or action this process runs for, from
// JUJU_DISPATCH_PATH, else JUJU_ACTION_NAME, else JUJU_HOOK_NAME. kind is
// KindHook, KindAction or "" when the environment names no event at all.
func (e Env) Event() (kind string, name string) {
	return EventFrom(e, "")
}

// EventFrom is Event with one more source: argv0, the path this binary was
// started as. Without a dispatch file Juju executes hooks/<name> directly, so
// a hooks/<name> symlink to the binary names the hook even when an old agent
// sets no JUJU_DISPATCH_PATH.
//
// Precedence, most specific first:
//  1. JUJU_DISPATCH_PATH "hooks/<name>" or "actions/<name>" (Juju >= 2.8
//     sets it for every event);
//  2. argv0 when it is "<dir>/hooks/<name>" and <name> is not "dispatch";
//  3. JUJU_ACTION_NAME (an action);
//  4. JUJU_HOOK_NAME (a hook).
func EventFrom(e Env, argv0 string) (kind string, name string) {
	if kind, name, ok := parseDispatchPath(e.DispatchPath); ok {
		return kind, name
	}
	if name, ok := hookSymlinkName(argv0); ok {
		return KindHook, name
	}
	if e.ActionName != "" {
		return KindAction, e.ActionName
	}
	if e.HookName != "" {
		return KindHook, e.HookName
	}
	return "", ""
}

// parseDispatchPath splits "hooks/<name>" or "actions/<name>"; anything else
// (empty, nested, unknown prefix) is not trusted.
func parseDispatchPath(path string) (kind string, name string, ok bool) {
	dir, name, found := strings.Cut(path, "/")
	if !found || name == "" || strings.Contains(name, "/") {
		return "", "", false
	}
	switch dir {
	case "hooks":
		return KindHook, name, true
	case "actions":
		return KindAction, name, true
	}
	return "", "", false
}

func hookSymlinkName(argv0 string) (string, bool) {
	if argv0 == "" {
		return "", false
	}
	clean := filepath.Clean(argv0)
	name := filepath.Base(clean)
	if filepath.Base(filepath.Dir(clean)) != "hooks" || name == "dispatch" || name == "." || name == "/" {
		return "", false
	}
	return name, true
}
