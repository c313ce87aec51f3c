package engine

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/state"
)

func (h *harness) model() *state.Model {
	h.t.Helper()
	var out *state.Model
	if err := h.e.store().View(func(m *state.Model) error { out = m; return nil }); err != nil {
		h.t.Fatal(err)
	}
	return out
}

// runUpdateStatus queues update-status everywhere and drives; it returns
// the Drive error (a *HookError when a hook failed).
func (h *harness) runUpdateStatus() error {
	h.t.Helper()
	if err := h.e.UpdateStatus(); err != nil {
		h.t.Fatal(err)
	}
	return h.e.Drive(context.Background(), DriveOptions{})
}

func TestRelationDataRules(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.deploy(2)
	h.wait()
	h.behaviour(`case "$JUJU_DISPATCH_PATH" in
hooks/update-status)
  relation-set -r cluster:0 mine=$tag 2> "$dir/$tag.unit-err"; echo $? > "$dir/$tag.unit-rc"
  relation-set -r cluster:0 --app owner=$tag 2> "$dir/$tag.app-err"; echo $? > "$dir/$tag.app-rc"
  relation-get -r cluster:0 --app - recorder > "$dir/$tag.own-app" 2>&1; echo $? > "$dir/$tag.own-app-rc"
  relation-get -r cluster:0 --format=json - $JUJU_UNIT_NAME > "$dir/$tag.own-unit" ;;
hooks/cluster-relation-changed)
  if [ -n "$JUJU_REMOTE_UNIT" ]; then
    relation-get --format=json - "$JUJU_REMOTE_UNIT" > "$dir/$tag.saw-$(echo $JUJU_REMOTE_UNIT | tr / -)"
  else
    relation-get --format=json --app - "$JUJU_REMOTE_APP" > "$dir/$tag.saw-app" 2>&1
  fi ;;
esac
`)
	if err := h.runUpdateStatus(); err != nil {
		t.Fatal(err)
	}
	if h.file("recorder-0.app-rc") != "0" {
		t.Fatalf("leader could not write its app bag: %s", h.file("recorder-0.app-err"))
	}
	if h.file("recorder-1.app-rc") == "0" || h.file("recorder-1.app-err") != "ERROR cannot write relation settings" {
		t.Fatalf("non-leader wrote the app bag: rc %s err %q", h.file("recorder-1.app-rc"), h.file("recorder-1.app-err"))
	}
	// In a peer relation every unit may read its own app's bag (Juju's uniter facade,
	// readLocalApplicationSettings); what a non-leader sees depends on whether the leader's hook
	// has committed yet, so only the exit code is checked here.
	if h.file("recorder-1.own-app-rc") != "0" || h.file("recorder-0.own-app") != "owner: recorder-0" {
		t.Fatalf("own app bag reads: leader %q non-leader %q", h.file("recorder-0.own-app"), h.file("recorder-1.own-app"))
	}
	if got, want := h.jsonFile("recorder-0.own-unit"), h.withAddresses("recorder/0", "mine", "recorder-0"); !maps.Equal(got, want) {
		t.Fatalf("a unit sees its own pending write: got %v, want %v", got, want)
	}
	r := h.model().Relations[0]
	for unit, tag := range map[string]string{"recorder/0": "recorder-0", "recorder/1": "recorder-1"} {
		if bag, want := r.UnitData[unit], h.withAddresses(unit, "mine", tag); !maps.Equal(bag, want) {
			t.Errorf("%s bag = %v, want %v", unit, bag, want)
		}
	}
	if bag := r.AppData["recorder"]; len(bag) != 1 || bag["owner"] != "recorder-0" {
		t.Errorf("app bag = %v, want only the leader's write", bag)
	}
	// Each unit saw the other's write through relation-changed.
	if got, want := h.jsonFile("recorder-1.saw-recorder-0"), h.withAddresses("recorder/0", "mine", "recorder-0"); !maps.Equal(got, want) {
		t.Errorf("recorder/1 read recorder/0's bag as %v, want %v", got, want)
	}
	// The leader's app-bag write reaches the peer as relation-changed with
	// no remote unit; in a peer relation the non-leader reads it.
	if got := h.file("recorder-1.saw-app"); got != `{"owner":"recorder-0"}` {
		t.Errorf("recorder/1 reading its own app bag in relation-changed: %q", got)
	}
	if _, err := os.Stat(filepath.Join(h.e.ModelDir, "recorder", "recorder-0.saw-app")); !os.IsNotExist(err) {
		t.Errorf("the leader got relation-changed for its own app-bag write")
	}
}

func TestBufferedChangesDiscardedWhenHookFails(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.deploy(1)
	h.wait()
	h.behaviour(`case "$JUJU_DISPATCH_PATH" in
hooks/update-status)
  relation-set -r cluster:0 kept=yes
  open-port 8080
  status-set active "set before failing"
  rc=$(cat "$dir/rc" 2>/dev/null || echo 0) ;;
esac
`)
	if err := os.WriteFile(filepath.Join(h.e.ModelDir, "recorder", "rc"), []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := h.runUpdateStatus()
	var he *HookError
	if !errors.As(err, &he) || he.Unit != "recorder/0" || he.Hook != "update-status" || !strings.Contains(he.LogTail, "update-status exited 1") {
		t.Fatalf("want a HookError for recorder/0 update-status with its log, got %v", err)
	}
	m := h.model()
	u := m.Units["recorder/0"]
	if u.Workload.Current != "error" || u.Workload.Message != `hook failed: "update-status"` {
		t.Fatalf("workload after failure: %+v", u.Workload)
	}
	if !maps.Equal(m.Relations[0].UnitData["recorder/0"], h.withAddresses("recorder/0")) || len(u.Ports) != 0 {
		t.Fatalf("failed hook's relation-set/open-port were committed: %v %v", m.Relations[0].UnitData, u.Ports)
	}
	// Fix the cause and retry with resolve: now the same changes commit,
	// and the status set while failing is restored.
	if err := os.WriteFile(filepath.Join(h.e.ModelDir, "recorder", "rc"), []byte("0"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.e.Resolve("recorder/0", false); err != nil {
		t.Fatal(err)
	}
	h.wait()
	m = h.model()
	u = m.Units["recorder/0"]
	if m.Relations[0].UnitData["recorder/0"]["kept"] != "yes" || strings.Join(u.Ports, ",") != "8080/tcp" {
		t.Fatalf("successful retry did not commit: %v %v", m.Relations[0].UnitData, u.Ports)
	}
	if u.Error != nil || u.Workload.Current != "active" || u.Workload.Message != "set before failing" {
		t.Fatalf("after resolve: error %+v workload %+v", u.Error, u.Workload)
	}
}

func TestFailedHookIsRetriedOnSchedule(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.behaviour(`case "$JUJU_DISPATCH_PATH" in
hooks/install)
  n=$(cat "$dir/$tag.tries" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$dir/$tag.tries"
  [ $n -ge 3 ] || rc=1 ;;
esac
`)
	h.deploy(1)
	if err := h.e.Drive(context.Background(), DriveOptions{}); err == nil {
		t.Fatal("wait with no retries allowed must report the failed install")
	}
	start := time.Now()
	if err := h.e.Drive(context.Background(), DriveOptions{MaxRetries: 5}); err != nil {
		t.Fatal(err)
	}
	// Retries waited 5s and 10s, scaled by RetryScale.
	if min := h.e.retryDelay(0) + h.e.retryDelay(1); time.Since(start) < min {
		t.Fatalf("retries came after %v, before the scaled schedule %v", time.Since(start), min)
	}
	if h.file("recorder-0.tries") != "3" {
		t.Fatalf("install ran %s times, want 3", h.file("recorder-0.tries"))
	}
	ev := h.events("recorder/0")
	if strings.Join(ev[:4], "|") != "data-storage-attached - - data/0|install - - -|install - - -|install - - -" || ev[len(ev)-1] != "start - - -" {
		t.Fatalf("events: %q", ev)
	}
}

func TestRetrySchedule(t *testing.T) {
	t.Parallel()
	e := &Engine{RetryScale: 1}
	for retries, want := range []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 5 * time.Minute, 5 * time.Minute} {
		if got := e.retryDelay(retries); got != want {
			t.Errorf("retry %d: delay %v, want %v", retries, got, want)
		}
	}
}

func TestStorageRules(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.deploy(2)
	h.behaviour(`case "$JUJU_DISPATCH_PATH" in
hooks/data-storage-attached)
  loc=$(storage-get location)
  [ -f "$loc/owner" ] && cp "$loc/owner" "$dir/$tag.found"
  echo $tag > "$loc/owner" ;;
hooks/update-status)
  storage-get location > /dev/null 2> "$dir/$tag.get-err"
  storage-list --format=json > "$dir/$tag.list" ;;
esac
`)
	h.wait()
	if err := h.runUpdateStatus(); err != nil {
		t.Fatal(err)
	}
	if got := h.file("recorder-1.get-err"); got != "ERROR no storage instance specified" {
		t.Fatalf("storage-get without -s outside a storage hook: %q", got)
	}
	if got := h.file("recorder-1.list"); got != `["data/1"]` {
		t.Fatalf("storage-list: %q", got)
	}
	// Storage still owned by recorder/0 cannot go to another unit.
	_, err := h.e.AddUnit("recorder", 1, []string{"data/0"})
	want := "cannot attach storage data/0 to unit recorder/2: cannot attach storage owned by unit recorder/0 to unit recorder/2"
	if err == nil || err.Error() != want {
		t.Fatalf("attach owned storage: got %v, want %q", err, want)
	}
	if _, ok := h.model().Units["recorder/2"]; ok {
		t.Fatal("a refused add-unit left a unit behind")
	}
	// Detached storage (remove-unit --no-destroy-storage) can, with its data.
	if err := h.e.RemoveUnit("recorder/1", false); err != nil {
		t.Fatal(err)
	}
	h.wait()
	if s := h.model().Storage["data/1"]; s == nil || s.Owner != "" {
		t.Fatalf("data/1 after remove-unit --no-destroy-storage: %+v", s)
	}
	added, err := h.e.AddUnit("recorder", 1, []string{"data/1"})
	if err != nil {
		t.Fatal(err)
	}
	h.wait()
	if got := h.file(strings.ReplaceAll(added[0], "/", "-") + ".found"); got != "recorder-1" {
		t.Fatalf("%s found %q in the reattached storage, want recorder-1's data", added[0], got)
	}
	if s := h.model().Storage["data/1"]; s.Owner != added[0] {
		t.Fatalf("data/1 owner %q, want %s", s.Owner, added[0])
	}
}

func TestSharedStorageCharmRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	err := h.e.Deploy(DeployArgs{CharmPath: charmPath("shared-storage"), NumUnits: 1})
	want := `charm "shared-storage" store "shared-data": shared storage support not implemented`
	if err == nil || err.Error() != want {
		t.Fatalf("deploy shared storage charm: got %v, want %q", err, want)
	}
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, tc := range []struct {
		kv   map[string]string
		want string
	}{
		{map[string]string{"nope": "1"}, `unknown option "nope"`},
		{map[string]string{"workers": "abc"}, `option "workers" expected int, got "abc"`},
		{map[string]string{"debug": "maybe"}, `option "debug" expected boolean, got "maybe"`},
		{map[string]string{"ratio": "x"}, `option "ratio" expected float, got "x"`},
	} {
		if err := h.e.Deploy(DeployArgs{CharmPath: charmPath("recorder"), App: "bad", Config: tc.kv}); err == nil || err.Error() != tc.want {
			t.Errorf("deploy --config %v: got %v, want %q", tc.kv, err, tc.want)
		}
	}
	h.deploy(2, func(a *DeployArgs) { a.Config = map[string]string{"workers": "3"} })
	h.behaviour(`case "$JUJU_DISPATCH_PATH" in
hooks/config-changed) config-get --all --format=json > "$dir/$tag.config" ;;
esac
`)
	h.wait()
	if got := h.file("recorder-0.config"); got != `{"debug":false,"greeting":"hello","ratio":null,"workers":3}` {
		t.Fatalf("config-get --all: %s", got)
	}
	h.events("recorder/0")
	if err := h.e.SetConfig("recorder", map[string]string{"workers": "two"}, nil); err == nil || err.Error() != `option "workers" expected int, got "two"` {
		t.Fatalf("config workers=two: %v", err)
	}
	if err := h.e.SetConfig("recorder", map[string]string{"greeting": "hi"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := h.e.SetConfig("recorder", map[string]string{"debug": "true"}, nil); err != nil {
		t.Fatal(err)
	}
	h.wait()
	h.wantEvents("recorder/0", "config-changed - - -")
	if got := h.file("recorder-1.config"); got != `{"debug":true,"greeting":"hi","ratio":null,"workers":3}` {
		t.Fatalf("config after change: %s", got)
	}
}

func TestUnitsRunInParallelButNeverOverlapTheirOwnHooks(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.deploy(4)
	// In update-status each unit waits (up to 5s) to see another unit's
	// marker: only possible if units run hooks at the same time.
	h.behaviour(`case "$JUJU_DISPATCH_PATH" in
hooks/update-status)
  touch "$dir/active.$tag"; i=0
  while [ $i -lt 100 ] && [ $(ls "$dir" | grep -c '^active\.') -lt 2 ]; do sleep 0.05; i=$((i+1)); done
  [ $i -lt 100 ] && echo parallel > "$dir/$tag.parallel" ;;
esac
`)
	h.wait()
	for round := 0; round < 3; round++ {
		if err := h.e.SetConfig("recorder", map[string]string{"workers": string(rune('2' + round))}, nil); err != nil {
			t.Fatal(err)
		}
		if err := h.runUpdateStatus(); err != nil {
			t.Fatal(err)
		}
	}
	h.noOverlaps()
	if h.file("recorder-0.parallel") != "parallel" {
		t.Fatal("units did not run in parallel")
	}
}

func TestActions(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.deploy(1)
	h.behaviour(`case "$JUJU_DISPATCH_PATH" in
actions/echo)
  action-set out="$(action-get msg)" n.count="$(action-get count)"
  action-log "echoing"
  [ "$(action-get msg)" = fail ] && action-fail "asked to fail" ;;
hooks/update-status)
  action-get msg 2> "$dir/$tag.outside" ;;
esac
`)
	h.wait()
	if _, err := h.e.EnqueueAction("recorder/0", "echo", map[string]string{"count": "2"}); err == nil || !strings.Contains(err.Error(), "msg") {
		t.Fatalf("missing required param accepted: %v", err)
	}
	if _, err := h.e.EnqueueAction("recorder/0", "nope", nil); err == nil || err.Error() != `action "nope" not defined on unit "recorder/0"` {
		t.Fatalf("unknown action: %v", err)
	}
	id, err := h.e.EnqueueAction("recorder/0", "echo", map[string]string{"msg": "hi", "count": "2"})
	if err != nil {
		t.Fatal(err)
	}
	failID, err := h.e.EnqueueAction("recorder/0", "echo", map[string]string{"msg": "fail"})
	if err != nil {
		t.Fatal(err)
	}
	h.wait()
	a, _ := h.e.Action(id)
	if a.Status != "completed" || a.Results["out"] != "hi" || a.Results["n"].(map[string]any)["count"] != "2" || len(a.Log) != 1 {
		t.Fatalf("action: %+v", a)
	}
	f, _ := h.e.Action(failID)
	if f.Status != "failed" || f.Message != "asked to fail" {
		t.Fatalf("failed action: %+v", f)
	}
	if err := h.runUpdateStatus(); err != nil {
		t.Fatal(err)
	}
	if got := h.file("recorder-0.outside"); got != "ERROR not running an action" {
		t.Fatalf("action-get in a hook: %q", got)
	}
}
