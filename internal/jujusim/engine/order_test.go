package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDeployThreeUnitsHookOrder(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.deploy(3)
	h.wait()
	// Storage ids come from one model-wide sequence; the peer relation is 0.
	// Peers meet as each enters scope, so their arrivals may interleave.
	for i, leadership := range []string{"leader-elected - - -", "leader-settings-changed - - -", "leader-settings-changed - - -"} {
		unit := fmt.Sprintf("recorder/%d", i)
		var peers [][]string
		for j := 0; j < 3; j++ {
			if j != i {
				peers = append(peers, []string{fmt.Sprintf("cluster-relation-joined recorder/%d cluster:0 -", j), fmt.Sprintf("cluster-relation-changed recorder/%d cluster:0 -", j)})
			}
		}
		h.wantInterleaved(unit, []string{fmt.Sprintf("data-storage-attached - - data/%d", i), "install - - -", "cluster-relation-created - cluster:0 -",
			leadership, "config-changed - - -", "start - - -"}, peers...)
	}
	h.noOverlaps()
	st, err := h.e.Status()
	if err != nil {
		t.Fatal(err)
	}
	app := st.Applications["recorder"]
	if len(app.Units) != 3 || !app.Units["recorder/0"].Leader || app.Units["recorder/1"].Leader {
		t.Fatalf("status units: %+v", app.Units)
	}
	for name, u := range app.Units {
		if u.JujuStatus.Current != "idle" || u.WorkloadStatus.Current != "unknown" {
			t.Errorf("%s: agent %q workload %q, want idle/unknown", name, u.JujuStatus.Current, u.WorkloadStatus.Current)
		}
		if st.Machines[u.Machine].JujuStatus.Current != "started" {
			t.Errorf("%s: machine %s not started", name, u.Machine)
		}
	}
}

func TestAddAndRemoveUnitHookOrder(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.settledPair()
	added, err := h.e.AddUnit("recorder", 1, nil)
	if err != nil || len(added) != 1 || added[0] != "recorder/2" {
		t.Fatalf("add-unit: %v %v", added, err)
	}
	h.wait()
	h.wantInterleaved("recorder/2", []string{
		"data-storage-attached - - data/2", "install - - -", "cluster-relation-created - cluster:0 -",
		"leader-settings-changed - - -", "config-changed - - -", "start - - -"},
		[]string{"cluster-relation-joined recorder/0 cluster:0 -", "cluster-relation-changed recorder/0 cluster:0 -"},
		[]string{"cluster-relation-joined recorder/1 cluster:0 -", "cluster-relation-changed recorder/1 cluster:0 -"})
	h.wantEvents("recorder/0", "cluster-relation-joined recorder/2 cluster:0 -", "cluster-relation-changed recorder/2 cluster:0 -")
	h.wantEvents("recorder/1", "cluster-relation-joined recorder/2 cluster:0 -", "cluster-relation-changed recorder/2 cluster:0 -")

	// Removing the leader: its removal hooks, departed on the others, and
	// leadership moves to the lowest remaining unit.
	if err := h.e.RemoveUnit("recorder/0", true); err != nil {
		t.Fatal(err)
	}
	h.wait()
	// Juju's order (worker/uniter resolvers): storage first, then relations
	// a peer relation is departed but never broken, then stop and remove.
	h.wantEvents("recorder/0", "data-storage-detaching - - data/0",
		"cluster-relation-departed recorder/1 cluster:0 -", "cluster-relation-departed recorder/2 cluster:0 -",
		"stop - - -", "remove - - -")
	h.wantEvents("recorder/1", "cluster-relation-departed recorder/0 cluster:0 -", "leader-elected - - -")
	h.wantEvents("recorder/2", "cluster-relation-departed recorder/0 cluster:0 -")
	if _, err := os.Stat(filepath.Join(h.e.ModelDir, "machines", "0")); !os.IsNotExist(err) {
		t.Fatalf("machine 0 not destroyed: %v", err)
	}
	st, _ := h.e.Status()
	if _, ok := st.Storage["data/0"]; ok {
		t.Fatalf("storage data/0 survived a destroying remove-unit: %+v", st.Storage)
	}
	if !st.Applications["recorder"].Units["recorder/1"].Leader {
		t.Fatalf("recorder/1 should lead now: %+v", st.Applications["recorder"].Units)
	}
	h.noOverlaps()
}

func TestIntegrateAndRemoveRelationHookOrder(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.deploy(1, func(a *DeployArgs) { a.App = "web" })
	h.deploy(2, func(a *DeployArgs) { a.App = "worker" })
	h.wait()
	for _, u := range []string{"web/0", "worker/0", "worker/1"} {
		h.events(u)
	}
	if err := h.e.Integrate("web:api", "worker"); err != nil {
		t.Fatal(err)
	}
	if err := h.e.Integrate("web", "worker:backend"); err == nil {
		t.Fatal("integrating the same endpoints twice must fail")
	}
	h.wait()
	// Peer relations took ids 0 and 1; the new relation is 2.
	h.wantInterleaved("web/0", []string{"api-relation-created - api:2 -"},
		[]string{"api-relation-joined worker/0 api:2 -", "api-relation-changed worker/0 api:2 -"},
		[]string{"api-relation-joined worker/1 api:2 -", "api-relation-changed worker/1 api:2 -"})
	h.wantEvents("worker/1", "backend-relation-created - backend:2 -",
		"backend-relation-joined web/0 backend:2 -", "backend-relation-changed web/0 backend:2 -")
	h.events("worker/0")
	if err := h.e.RemoveRelation("web", "worker"); err == nil || !strings.Contains(err.Error(), "ambiguous relation") {
		t.Fatalf("web and worker relate both ways, want an ambiguity error, got %v", err)
	}
	if err := h.e.RemoveRelation("web:api", "worker"); err != nil {
		t.Fatal(err)
	}
	h.wait()
	h.wantEvents("web/0", "api-relation-departed worker/0 api:2 -", "api-relation-departed worker/1 api:2 -", "api-relation-broken - api:2 -")
	h.wantEvents("worker/0", "backend-relation-departed web/0 backend:2 -", "backend-relation-broken - backend:2 -")
	st, _ := h.e.Status()
	if got := st.Applications["web"].Relations["api"]; len(got) != 0 {
		t.Fatalf("relation still listed after removal: %v", got)
	}
}

func TestRefreshAndLeadershipHookOrder(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.settledPair()
	if err := h.e.Refresh("recorder", charmPath("recorder")); err != nil {
		t.Fatal(err)
	}
	h.wait()
	// No start: the units started already (operation/runhook.go).
	h.wantEvents("recorder/0", "upgrade-charm - - -", "config-changed - - -")
	h.wantEvents("recorder/1", "upgrade-charm - - -", "config-changed - - -")
	if err := h.e.SetLeader("recorder/1"); err != nil {
		t.Fatal(err)
	}
	h.wait()
	// The minion gets nothing: leader-settings-changed follows leader-set only.
	h.wantEvents("recorder/1", "leader-elected - - -")
	h.wantEvents("recorder/0")
	// A leader-set does wake the minion.
	h.behaviour(`if [ "$JUJU_DISPATCH_PATH" = hooks/update-status ] && [ "$(is-leader)" = True ]; then leader-set epoch=2; fi
`)
	if err := h.e.UpdateStatus(); err != nil {
		t.Fatal(err)
	}
	h.wait()
	h.wantEvents("recorder/1", "update-status - - -")
	h.wantEvents("recorder/0", "update-status - - -", "leader-settings-changed - - -")
	st, _ := h.e.Status()
	if st.Applications["recorder"].CharmRev != 1 {
		t.Fatalf("charm rev %d after refresh, want 1", st.Applications["recorder"].CharmRev)
	}
}

func TestRemoveUnitRunsOnlyTheHooksItsStateCallsFor(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.deploy(1, func(a *DeployArgs) { a.App = "web" })
	h.deploy(1, func(a *DeployArgs) { a.App = "worker" })
	if err := h.e.Integrate("web:api", "worker"); err != nil {
		t.Fatal(err)
	}
	h.wait()
	h.events("web/0")
	h.events("worker/0")

	// A unit removed before it ran anything: no storage-attached ran, it was
	// never installed or started, so Juju runs none of its removal hooks.
	added, err := h.e.AddUnit("worker", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.e.RemoveUnit(added[0], true); err != nil {
		t.Fatal(err)
	}
	h.wait()
	h.wantEvents(added[0])
	if _, ok := h.model().Units[added[0]]; ok {
		t.Fatalf("%s still in the model after removal", added[0])
	}
	h.wantEvents("web/0")

	// A started unit in a regular relation: storage, then departed and
	// broken, then stop and remove; the other side sees departed.
	if err := h.e.RemoveUnit("worker/0", true); err != nil {
		t.Fatal(err)
	}
	h.wait()
	// Its peer relation (no peers here) is never broken.
	h.wantEvents("worker/0", "data-storage-detaching - - data/1",
		"backend-relation-departed web/0 backend:2 -", "backend-relation-broken - backend:2 -",
		"stop - - -", "remove - - -")
	h.wantEvents("web/0", "api-relation-departed worker/0 api:2 -")
	h.noOverlaps()
}

func TestAttachResourceUpgradesEveryInstalledUnit(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.behaviour(`if [ "$JUJU_DISPATCH_PATH" = hooks/start ] && [ "$tag" = recorder-1 ] && [ -f "$dir/fail-start" ]; then rc=1; fi
`)
	if err := os.WriteFile(filepath.Join(h.e.ModelDir, "recorder", "fail-start"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	h.deploy(2)
	var he *HookError
	if err := h.e.Drive(context.Background(), DriveOptions{}); !errors.As(err, &he) || he.Unit != "recorder/1" || he.Hook != "start" {
		t.Fatalf("want recorder/1 stuck in start, got %v", err)
	}
	h.events("recorder/0")
	h.events("recorder/1")
	payload := filepath.Join(t.TempDir(), "payload.txt")
	if err := os.WriteFile(payload, []byte("v2"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.e.AttachResource("recorder", "payload", payload); err != nil {
		t.Fatal(err)
	}
	// recorder/1 installed but never started: it still gets the upgrade.
	if err := os.Remove(filepath.Join(h.e.ModelDir, "recorder", "fail-start")); err != nil {
		t.Fatal(err)
	}
	if err := h.e.Resolve("recorder/1", false); err != nil {
		t.Fatal(err)
	}
	h.wait()
	h.wantEvents("recorder/0", "upgrade-charm - - -", "config-changed - - -")
	// The failed start is retried first; then the charm change outranks the
	// relation hooks still pending (resolver nextOp: charmModified before
	// Relations), and config-changed directly follows upgrade-charm.
	h.wantEvents("recorder/1", "start - - -", "upgrade-charm - - -", "config-changed - - -",
		"cluster-relation-joined recorder/0 cluster:0 -", "cluster-relation-changed recorder/0 cluster:0 -")
}

// copyCharm copies the recorder test charm to a temporary directory with
// its metadata.yaml changed by edit.
func copyCharm(t *testing.T, edit func(meta string) string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "charm")
	if err := os.CopyFS(dir, os.DirFS(charmPath("recorder"))); err != nil {
		t.Fatal(err)
	}
	meta := filepath.Join(dir, "metadata.yaml")
	data, err := os.ReadFile(meta)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(meta, []byte(edit(string(data))), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestStorageMountPoints(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, storage string
		want          []string
	}{
		{"singleton with location", "    location: /srv/data\n", []string{"/srv/data"}},
		{"multiple with location", "    location: /srv/data\n    multiple:\n      range: 2-3\n", []string{"/srv/data/data/0", "/srv/data/data/1"}},
		{"no location", "", []string{"/var/lib/juju/storage/data/0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			dir := copyCharm(t, func(meta string) string {
				return strings.Replace(meta, "    location: /srv/data\n", tc.storage, 1)
			})
			h.deploy(1, func(a *DeployArgs) { a.CharmPath = dir })
			var got []string
			for _, id := range sortedKeys(h.model().Storage) {
				got = append(got, h.model().Storage[id].Location)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("storage locations %q, want %q", got, tc.want)
			}
		})
	}
}
