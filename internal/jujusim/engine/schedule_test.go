package engine

import (
	"strings"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/state"
)

// Juju's resolver chain, not arrival order, picks a unit's next hook.

func TestNextHookFollowsTheResolverChain(t *testing.T) {
	t.Parallel()
	joined := state.Hook{Kind: "relation-joined", Name: "cluster-relation-joined", RelationID: 0, RemoteUnit: "recorder/1"}
	changed := state.Hook{Kind: "relation-changed", Name: "cluster-relation-changed", RelationID: 0, RemoteUnit: "recorder/1"}
	departed := state.Hook{Kind: "relation-departed", Name: "cluster-relation-departed", RelationID: 0, RemoteUnit: "recorder/1", Departing: "recorder/0"}
	created := state.Hook{Kind: "relation-created", Name: "cluster-relation-created", RelationID: 0}
	storage := state.Hook{Kind: "storage-attached", Name: "data-storage-attached", RelationID: state.NoRelation, StorageID: "data/0"}
	detaching := state.Hook{Kind: "storage-detaching", Name: "data-storage-detaching", RelationID: state.NoRelation, StorageID: "data/0"}
	action := state.Hook{Kind: "action", Name: "echo", RelationID: state.NoRelation, ActionID: "1"}
	simple := state.SimpleHook
	startHook := simple("start")
	for _, tc := range []struct {
		name                      string
		installed, started, dying bool
		followUp                  *state.Hook
		queue                     []state.Hook
		want                      []string // hook names in the order they run
	}{
		{"before install: storage, install, then created and leadership", false, false, false, nil,
			[]state.Hook{created, simple("install"), simple("config-changed"), simple("leader-elected"), storage},
			[]string{"data-storage-attached", "install", "cluster-relation-created", "leader-elected", "config-changed"}},
		{"actions and leadership before relations", true, true, false, nil,
			[]state.Hook{joined, changed, simple("update-status"), action, simple("leader-settings-changed")},
			[]string{"leader-settings-changed", "echo", "cluster-relation-joined", "cluster-relation-changed", "update-status"}},
		{"upgrade before config before relations", true, true, false, nil,
			[]state.Hook{joined, simple("config-changed"), simple("upgrade-charm")},
			[]string{"upgrade-charm", "config-changed", "cluster-relation-joined"}},
		{"a queued follow-up runs first", true, false, false, &startHook,
			[]state.Hook{action, simple("leader-elected"), joined},
			[]string{"start", "leader-elected", "echo", "cluster-relation-joined"}},
		{"a dying unit: storage, departures, stop, remove; nothing else", true, true, true, nil,
			[]state.Hook{simple("remove"), simple("stop"), simple("config-changed"), departed, detaching, simple("update-status")},
			[]string{"data-storage-detaching", "cluster-relation-departed", "stop", "remove"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := &state.Unit{Name: "recorder/0", App: "recorder", Installed: tc.installed, Started: tc.started, Dying: tc.dying,
				FollowUp: tc.followUp, Queue: append([]state.Hook{}, tc.queue...)}
			m := &state.Model{Units: map[string]*state.Unit{u.Name: u, "recorder/1": {Name: "recorder/1", App: "recorder"}},
				Relations: map[int]*state.Relation{0: {ID: 0, Joined: map[string][]string{u.Name: {"recorder/1"}}}},
				Storage:   map[string]*state.StorageInstance{"data/0": {ID: "data/0", Attached: true}}}
			var got []string
			for {
				h, _, ok := (&Engine{}).nextHook(m, u, &plan{})
				if !ok {
					break
				}
				got = append(got, h.Name)
				u.Installed = u.Installed || h.Kind == "install"
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("ran %q, want %q", got, tc.want)
			}
		})
	}
}

// Leadership and actions outrank relation hooks already waiting: a queue of
// relation-changed, action, leader-elected (in that arrival order) runs
// leader-elected, the action, then relation-changed.
func TestLeadershipAndActionsJumpQueuedRelationHooks(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.settledPair()
	h.behaviour(`if [ "$JUJU_DISPATCH_PATH" = hooks/update-status ] && [ "$JUJU_UNIT_NAME" = recorder/0 ]; then relation-set -r cluster:0 k=v; fi
`)
	if err := h.e.UpdateStatus(); err != nil {
		t.Fatal(err)
	}
	// Stop driving as soon as recorder/0's write queued relation-changed on
	// recorder/1, before recorder/1 can run it.
	pending := func(m *state.Model) bool {
		for _, q := range m.Units["recorder/1"].Queue {
			if q.Kind == "relation-changed" {
				return true
			}
		}
		return false
	}
	if err := h.e.Drive(t.Context(), DriveOptions{Until: pending}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.e.EnqueueAction("recorder/1", "echo", map[string]string{"msg": "hi"}); err != nil {
		t.Fatal(err)
	}
	if err := h.e.SetLeader("recorder/1"); err != nil {
		t.Fatal(err)
	}
	h.wait()
	h.wantEvents("recorder/1", "update-status - - -", "leader-elected - - -", "echo - - -", "cluster-relation-changed recorder/0 cluster:0 -")
}

// A charm change outranks a pending config change (resolver nextOp:
// charmModified before the config hash), and the config-changed that
// follows upgrade-charm satisfies the pending one.
func TestUpgradeCharmRunsBeforeAPendingConfigChanged(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.deploy(1)
	h.wait()
	h.events("recorder/0")
	if err := h.e.SetConfig("recorder", map[string]string{"greeting": "hi"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := h.e.Refresh("recorder", charmPath("recorder")); err != nil {
		t.Fatal(err)
	}
	h.wait()
	h.wantEvents("recorder/0", "upgrade-charm - - -", "config-changed - - -")
}
