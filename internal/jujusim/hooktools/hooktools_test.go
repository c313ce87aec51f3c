package hooktools

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/state"
)

// fixture builds a model with app "app" (units app/0 leader, app/1), a peer
// relation 0, and one running context per unit: app/0 in a peer
// relation-changed hook with app/1 as remote unit, app/1 in update-status.
func fixture(t *testing.T) state.Store {
	t.Helper()
	st := state.Store{Dir: t.TempDir()}
	if err := st.Init("m", "uuid"); err != nil {
		t.Fatal(err)
	}
	err := st.Update(func(m *state.Model) error {
		m.Applications["app"] = &state.Application{Name: "app", Leader: "app/0",
			Config:      map[string]any{"port": float64(8080), "name": "x", "unset": nil},
			ConfigTypes: map[string]string{"port": "int", "name": "string", "unset": "string"},
			Endpoints:   map[string]state.Endpoint{"peers": {Name: "peers", Role: "peer"}}}
		m.Units["app/0"] = &state.Unit{Name: "app/0", App: "app", Machine: "0"}
		m.Units["app/1"] = &state.Unit{Name: "app/1", App: "app", Machine: "1"}
		m.Machines["0"] = &state.Machine{ID: "0", Address: "10.0.0.1"}
		m.Relations[0] = &state.Relation{ID: 0, Endpoints: []state.RelEndpoint{{App: "app", Endpoint: "peers", Role: "peer"}},
			UnitData: map[string]state.Bag{"app/1": {"k": "remote"}}, AppData: map[string]state.Bag{"app": {"a": "1"}},
			Joined: map[string][]string{"app/0": {"app/1"}, "app/1": {"app/0"}}, Entered: []string{"app/0", "app/1"}}
		m.Relations[1] = &state.Relation{ID: 1, Endpoints: []state.RelEndpoint{{App: "app", Endpoint: "db", Role: "requirer"}, {App: "other", Endpoint: "db", Role: "provider"}},
			AppData: map[string]state.Bag{"app": {"b": "2"}}, Entered: []string{"app/0", "app/1"}}
		m.Storage["data/0"] = &state.StorageInstance{ID: "data/0", Name: "data", Kind: "filesystem", Owner: "app/0", Path: "/srv/data"}
		m.Contexts["c0"] = &state.HookContext{ID: "c0", Unit: "app/0", Hook: state.Hook{Kind: "relation-changed", Name: "peers-relation-changed", RelationID: 0, RemoteUnit: "app/1", RemoteApp: "app"}}
		m.Contexts["c1"] = &state.HookContext{ID: "c1", Unit: "app/1", Hook: state.SimpleHook("update-status")}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func invoke(st state.Store, unit, ctxID, stdin string, argv ...string) (string, string, int) {
	var out, errb bytes.Buffer
	code := Run(context.Background(), argv[0], Invocation{Env: Env{ModelDir: st.Dir, Unit: unit, ContextID: ctxID},
		Args: argv[1:], Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb})
	return out.String(), errb.String(), code
}

func TestToolOutputsAndErrors(t *testing.T) {
	t.Parallel()
	st := fixture(t)
	for _, tc := range []struct {
		unit, ctx string
		argv      []string
		out, err  string
		code      int
	}{
		{"app/0", "c0", []string{"config-get", "--format=json"}, `{"name":"x","port":8080}` + "\n", "", 0},
		{"app/0", "c0", []string{"config-get", "--all", "--format=json"}, `{"name":"x","port":8080,"unset":null}` + "\n", "", 0},
		{"app/0", "c0", []string{"config-get", "port"}, "8080\n", "", 0},
		{"app/0", "c0", []string{"is-leader"}, "True\n", "", 0},
		{"app/1", "c1", []string{"is-leader", "--format=json"}, "false\n", "", 0},
		{"app/0", "c0", []string{"relation-ids", "--format=json", "peers"}, `["peers:0"]` + "\n", "", 0},
		{"app/1", "c1", []string{"relation-ids"}, "", "ERROR no endpoint name specified\n", 2},
		{"app/0", "c0", []string{"relation-list"}, "app/1\n", "", 0},
		{"app/1", "c1", []string{"relation-list"}, "", "ERROR no relation id specified\n", 2},
		{"app/1", "c1", []string{"relation-list", "-r", "peers:7"}, "", "ERROR invalid value \"peers:7\" for option -r: relation not found\n", 2},
		{"app/0", "c0", []string{"relation-get", "--format=json"}, `{"k":"remote"}` + "\n", "", 0},
		{"app/0", "c0", []string{"relation-get", "k"}, "remote\n", "", 0},
		// Own app bag: readable by every unit in a peer relation, by the leader only otherwise.
		{"app/1", "c1", []string{"relation-get", "-r", "0", "--app", "-", "app"}, "a: \"1\"\n", "", 0},
		{"app/1", "c1", []string{"relation-get", "-r", "1", "--app", "-", "app"}, "", "ERROR permission denied\n", 1},
		{"app/0", "c0", []string{"relation-get", "-r", "0", "--app", "--format=json", "-", "app"}, `{"a":"1"}` + "\n", "", 0},
		{"app/1", "c1", []string{"relation-set", "-r", "0", "--app", "x=y"}, "", "ERROR cannot write relation settings\n", 1},
		{"app/1", "c1", []string{"relation-set", "-r", "0", "novalue"}, "", "ERROR expected \"key=value\", got \"novalue\"\n", 2},
		{"app/0", "c0", []string{"storage-list", "--format=json"}, `["data/0"]` + "\n", "", 0},
		{"app/0", "c0", []string{"storage-get", "-s", "data/0", "--format=json"}, `{"kind":"filesystem","location":"/srv/data"}` + "\n", "", 0},
		{"app/0", "c0", []string{"storage-get"}, "", "ERROR no storage instance specified\n", 2},
		{"app/1", "c1", []string{"storage-get", "-s", "data/0"}, "", "ERROR invalid value \"data/0\" for flag -s: storage \"data/0\" not found\n", 2},
		{"app/0", "c0", []string{"status-set", "bogus", "x"}, "", "ERROR invalid status \"bogus\", expected one of [maintenance blocked waiting active]\n", 2},
		{"app/1", "c1", []string{"status-set", "--application", "active"}, "", "ERROR this unit is not the leader\n", 1},
		{"app/0", "c0", []string{"open-port", "70000"}, "", "ERROR port must be in the range [1, 65535]; got \"70000\"\n", 2},
		{"app/0", "c0", []string{"open-port", "80/sctp"}, "", "ERROR protocol must be \"tcp\", \"udp\", or \"icmp\"; got \"sctp\"\n", 2},
		{"app/0", "c0", []string{"action-get"}, "", "ERROR not running an action\n", 1},
		{"app/0", "c0", []string{"unit-get", "private-address"}, "10.0.0.1\n", "", 0},
		{"app/0", "c0", []string{"network-get", "nope"}, "", "ERROR no network config found for binding \"nope\"\n", 1},
		{"app/0", "c0", []string{"leader-get", "--format=json"}, "{}\n", "", 0},
		{"app/1", "c1", []string{"leader-set", "a=b"}, "", "ERROR cannot write settings: not the leader\n", 1},
		{"app/0", "c0", []string{"resource-get", "payload"}, "", "ERROR could not download resource: resource#app/payload not found\n", 1},
		{"app/0", "c0", []string{"config-get", "--bogus"}, "", "ERROR flag provided but not defined: --bogus\n", 2},
		{"app/1", "c0", []string{"is-leader"}, "", "ERROR bad request: unknown context \"c0\"\n", 1},
	} {
		out, errOut, code := invoke(st, tc.unit, tc.ctx, "", tc.argv...)
		if out != tc.out || errOut != tc.err || code != tc.code {
			t.Errorf("%s %v:\n got (%q, %q, %d)\nwant (%q, %q, %d)", tc.unit, tc.argv, out, errOut, code, tc.out, tc.err, tc.code)
		}
	}
}

// Writes are buffered in the context, never in the model, until the
// engine commits them; the writing unit reads its own pending changes.
func TestRelationSetIsBufferedPerContext(t *testing.T) {
	t.Parallel()
	st := fixture(t)
	if _, e, code := invoke(st, "app/0", "c0", "big: value\nother: x\n", "relation-set", "--file", "-", "other=y"); code != 0 {
		t.Fatal(e)
	}
	if _, e, code := invoke(st, "app/0", "c0", "", "relation-set", "--app", "lead=1"); code != 0 {
		t.Fatal(e)
	}
	out, _, _ := invoke(st, "app/0", "c0", "", "relation-get", "--format=json", "-", "app/0")
	if out != `{"big":"value","other":"y"}`+"\n" {
		t.Fatalf("own pending bag: %q", out)
	}
	err := st.View(func(m *state.Model) error {
		r := m.Relations[0]
		if len(r.UnitData["app/0"]) != 0 || r.AppData["app"]["lead"] != "" {
			t.Errorf("relation-set reached the model before commit: %v %v", r.UnitData, r.AppData)
		}
		hc := m.Contexts["c0"]
		if hc.UnitSettings[0]["other"] != "y" || hc.AppSettings[0]["lead"] != "1" {
			t.Errorf("pending changes: %+v", hc)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Another unit does not see app/0's pending write.
	out, _, _ = invoke(st, "app/1", "c1", "", "relation-get", "-r", "0", "--format=json", "-", "app/0")
	if out != "{}\n" {
		t.Fatalf("app/1 saw app/0's uncommitted data: %q", out)
	}
}

func TestPortParsing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want, err string }{
		{"8080", "8080/tcp", ""},
		{"8080/UDP", "8080/udp", ""},
		{"1000-2000/tcp", "1000-2000/tcp", ""},
		{"icmp", "icmp", ""},
		{"2000-1000", "", "invalid port range 2000-1000/tcp; expected fromPort <= toPort"},
		{"abc", "", `expected <port>[/<protocol>] or <from>-<to>[/<protocol>] or icmp; got "abc"`},
	} {
		got, err := parsePortRange(tc.in)
		if got != tc.want || (err == nil) != (tc.err == "") || err != nil && err.Error() != tc.err {
			t.Errorf("%q: got (%q, %v), want (%q, %q)", tc.in, got, err, tc.want, tc.err)
		}
	}
	if got := ApplyPortOps([]string{"9000/tcp"}, []state.PortOp{{Open: true, Range: "53/udp"}, {Open: true, Range: "80/tcp"}, {Open: false, Range: "9000/tcp"}}); strings.Join(got, " ") != "80/tcp 53/udp" {
		t.Fatalf("ports: %v", got)
	}
}

func TestSmartFormat(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		v    any
		want string
	}{
		{nil, ""}, {"", ""}, {"x", "x\n"}, {true, "True\n"}, {[]string{"a", "b"}, "a\nb\n"},
		{map[string]string{"k": "v"}, "k: v\n"},
	} {
		var b bytes.Buffer
		if err := writeFormatted(&b, "smart", tc.v); err != nil || b.String() != tc.want {
			t.Errorf("%#v: %q %v, want %q", tc.v, b.String(), err, tc.want)
		}
	}
}
