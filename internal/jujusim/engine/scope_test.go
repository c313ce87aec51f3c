package engine

import (
	"maps"
	"strings"
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

// A unit hears of a peer only once that peer entered scope: after its
// install, at its relation-created. Every hook appends to one log under a
// lock, so the log orders hooks of different units as they ran.
func TestUnitsMeetAPeerOnlyOnceItEnteredScope(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		deploy, added int
	}{
		{"deploy -n 3", 3, 0},
		{"add-unit to two", 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.behaviour(`flock "$dir/shared.lock" sh -c 'echo "$1" >> "$2"' _ "$JUJU_UNIT_NAME ${JUJU_DISPATCH_PATH#hooks/} ${JUJU_REMOTE_UNIT:--}" "$dir/shared.log"
if [ "$JUJU_DISPATCH_PATH" = hooks/cluster-relation-joined ]; then
  relation-get --format=json - "$JUJU_REMOTE_UNIT" > "$dir/$tag.joined-$(echo "$JUJU_REMOTE_UNIT" | tr / -)"
fi
`)
			h.deploy(tc.deploy)
			h.wait()
			if tc.added > 0 {
				if _, err := h.e.AddUnit("recorder", tc.added, nil); err != nil {
					t.Fatal(err)
				}
				h.wait()
			}
			lines := strings.Split(h.file("shared.log"), "\n")
			installed := map[string]bool{}
			joins := 0
			for _, line := range lines {
				f := strings.Fields(line)
				switch f[1] {
				case "install":
					installed[f[0]] = true
				case "cluster-relation-joined":
					joins++
					if !installed[f[2]] {
						t.Errorf("%s joined %s before %s installed:\n%s", f[0], f[2], f[2], strings.Join(lines, "\n"))
					}
					file := strings.ReplaceAll(f[0], "/", "-") + ".joined-" + strings.ReplaceAll(f[2], "/", "-")
					if got, want := h.jsonFile(file), h.withAddresses(f[2]); !maps.Equal(got, want) {
						t.Errorf("%s read %s's bag %v in relation-joined, want %v (set when it entered scope)", f[0], f[2], got, want)
					}
				}
			}
			n := tc.deploy + tc.added
			if joins != n*(n-1) {
				t.Errorf("%d relation-joined hooks, want one per ordered pair of %d units (%d):\n%s", joins, n, n*(n-1), strings.Join(lines, "\n"))
			}
		})
	}
}
