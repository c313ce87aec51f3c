package engine

import (
	"maps"
	"testing"
)

// Relation scope: when a unit may see a relation, what its bag starts with,
// and when a relation counts as broken.

func TestUnitBagStartsWithTheUnitsAddress(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.behaviour(`case "$JUJU_DISPATCH_PATH" in
hooks/cluster-relation-created)
  relation-get --format=json - "$JUJU_UNIT_NAME" > "$dir/$tag.created" ;;
hooks/cluster-relation-joined)
  relation-get --format=json - "$JUJU_REMOTE_UNIT" > "$dir/$tag.joined" ;;
esac
`)
	h.deploy(2)
	h.wait()
	for _, tc := range []struct{ file, unit string }{
		{"recorder-0.created", "recorder/0"}, // own bag, before the charm wrote anything
		{"recorder-1.created", "recorder/1"},
		{"recorder-0.joined", "recorder/1"}, // the peer's bag as the other unit reads it
		{"recorder-1.joined", "recorder/0"},
	} {
		if got, want := h.jsonFile(tc.file), h.withAddresses(tc.unit); !maps.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", tc.file, got, want)
		}
	}
}

func TestRelationIDsLeaveOutABrokenRelation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.deploy(1, func(a *DeployArgs) { a.App = "web" })
	h.deploy(1, func(a *DeployArgs) { a.App = "worker" })
	if err := h.e.Integrate("web:api", "worker"); err != nil {
		t.Fatal(err)
	}
	h.wait()
	h.behaviour(`case "$JUJU_DISPATCH_PATH" in
hooks/api-relation-departed|hooks/api-relation-broken)
  hook=${JUJU_DISPATCH_PATH#hooks/api-relation-}
  relation-ids api > "$dir/$tag.ids-$hook"
  relation-get -r "$JUJU_RELATION_ID" - "$JUJU_UNIT_NAME" > /dev/null; echo $? > "$dir/$tag.get-$hook" ;;
esac
`)
	if err := h.e.RemoveRelation("web:api", "worker"); err != nil {
		t.Fatal(err)
	}
	h.wait()
	for file, want := range map[string]string{
		"web-0.ids-departed": "api:2", // worker/0 is still a member when departed starts
		"web-0.ids-broken":   "",      // dying and no members left: broken
		"web-0.get-broken":   "0",     // but -r still reaches it
	} {
		if got := h.file(file); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
}

func TestRelationsInvisibleUntilTheUnitEntersScope(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.behaviour(`case "$JUJU_DISPATCH_PATH" in
hooks/install|hooks/cluster-relation-created)
  hook=${JUJU_DISPATCH_PATH#hooks/}
  relation-ids cluster > "$dir/$tag.ids-$hook"
  relation-get -r cluster:0 - "$JUJU_UNIT_NAME" > /dev/null 2> "$dir/$tag.get-err-$hook"; echo $? > "$dir/$tag.get-$hook"
  relation-set -r cluster:0 k=v 2> /dev/null; echo $? > "$dir/$tag.set-$hook" ;;
esac
`)
	h.deploy(1)
	h.wait()
	for file, want := range map[string]string{
		// During install the unit is not in the peer relation's scope yet.
		"recorder-0.ids-install":     "",
		"recorder-0.get-install":     "2",
		"recorder-0.get-err-install": `ERROR invalid value "cluster:0" for option -r: relation not found`,
		"recorder-0.set-install":     "2",
		// From relation-created on it is.
		"recorder-0.ids-cluster-relation-created": "cluster:0",
		"recorder-0.get-cluster-relation-created": "0",
		"recorder-0.set-cluster-relation-created": "0",
	} {
		if got := h.file(file); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
}
