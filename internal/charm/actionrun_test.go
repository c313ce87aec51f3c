package charm

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju/jujutest"
)

// actionRun is one action run on a unit of a fake model: what it set as results and its error
// (what dispatch hands to action-fail).
type actionRun struct {
	results map[string]string
	err     error
	calls   []jujutest.Call // every hook-tool call it made
}

// runTestAction runs action name on unit with params (JSON, as action-get prints them). tune, if
// set, adjusts the Charm first (a shorter drain bound).
func runTestAction(t *testing.T, m *fakeModel, unit, name, params string, tune ...func(*Charm)) actionRun {
	t.Helper()
	c := m.unit(unit)
	for _, f := range tune {
		f(c)
	}
	r := m.runners[unit]
	r.Reset()
	if params == "" {
		params = "{}"
	}
	var check map[string]any
	if err := json.Unmarshal([]byte(params), &check); err != nil {
		t.Fatalf("params %s: %v", params, err)
	}
	r.SetOutput("action-get", params)
	run := actionRun{results: map[string]string{}}
	run.err = c.RunAction(context.Background(), name)
	for _, call := range r.Calls("action-set") {
		for _, kv := range call.Args {
			k, v, _ := strings.Cut(kv, "=")
			run.results[k] = v
		}
	}
	run.calls = r.Calls("")
	return run
}

// mustFail checks that an action failed with a message holding every want.
func (a actionRun) mustFail(t *testing.T, want ...string) {
	t.Helper()
	if a.err == nil {
		t.Fatalf("action succeeded (results %v), want a failure", a.results)
	}
	for _, w := range want {
		if !strings.Contains(a.err.Error(), w) {
			t.Errorf("failure %q does not say %q", a.err, w)
		}
	}
}

func (a actionRun) mustSucceed(t *testing.T) {
	t.Helper()
	if a.err != nil {
		t.Fatalf("action failed: %v", a.err)
	}
}

// mentions reports whether any hook-tool argument or input holds s.
func (a actionRun) mentions(s string) bool {
	for _, call := range a.calls {
		if strings.Contains(string(call.Stdin), s) {
			return true
		}
		for _, arg := range call.Args {
			if strings.Contains(arg, s) {
				return true
			}
		}
	}
	return false
}

// statusOf is the last status a unit set.
func statusOf(m *fakeModel, unit string) juju.Status { return m.lastStatus(unit) }
