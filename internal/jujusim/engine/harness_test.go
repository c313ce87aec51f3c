package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/hooktools"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/state"
)

// TestMain makes the test binary the hook tools too: the tools dir links
// every tool name to it, as to the real jujusim binary.
func TestMain(m *testing.M) {
	name := filepath.Base(os.Args[0])
	if hooktools.IsTool(name) {
		os.Exit(hooktools.Run(context.Background(), name, hooktools.Invocation{
			Env:  hooktools.Env{ModelDir: os.Getenv("JUJUSIM_MODEL"), Unit: os.Getenv("JUJU_UNIT_NAME"), ContextID: os.Getenv("JUJU_CONTEXT_ID")},
			Args: os.Args[1:], Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		}))
	}
	os.Exit(m.Run())
}

type harness struct {
	t *testing.T
	e *Engine
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	e := &Engine{ModelDir: filepath.Join(t.TempDir(), "model"), ToolsBinary: bin, RetryScale: 0.0005,
		Providers: map[string]jujusim.Provider{"local": jujusim.LocalProvider{}}}
	t.Cleanup(func() {
		if err := e.DestroyModel(context.Background()); err != nil {
			t.Errorf("destroy model: %v", err)
		}
	})
	return &harness{t: t, e: e}
}

func charmPath(name string) string { return filepath.Join("..", "testdata", name) }

func (h *harness) deploy(n int, mod ...func(*DeployArgs)) {
	h.t.Helper()
	a := DeployArgs{CharmPath: charmPath("recorder"), NumUnits: n}
	for _, f := range mod {
		f(&a)
	}
	if err := h.e.Deploy(a); err != nil {
		h.t.Fatalf("deploy: %v", err)
	}
}

// behaviour installs a shell fragment every hook of the recorder charm
// sources after recording its event; it may set rc to fail the hook.
func (h *harness) behaviour(script string) {
	h.t.Helper()
	dir := filepath.Join(h.e.ModelDir, "recorder")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "behaviour.sh"), []byte(script), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) wait() {
	h.t.Helper()
	if err := h.e.Drive(context.Background(), DriveOptions{}); err != nil {
		h.t.Fatalf("wait: %v", err)
	}
}

// events returns the unit's recorded events ("install - - -") and clears them.
func (h *harness) events(unit string) []string {
	h.t.Helper()
	p := filepath.Join(h.e.ModelDir, "recorder", strings.ReplaceAll(unit, "/", "-")+".events")
	data, err := os.ReadFile(p)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		h.t.Fatal(err)
	}
	if err := os.Remove(p); err != nil {
		h.t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(data), "\n"), "\n")
}

// file reads a file the behaviour script wrote under the recorder dir.
func (h *harness) file(name string) string {
	h.t.Helper()
	data, err := os.ReadFile(filepath.Join(h.e.ModelDir, "recorder", name))
	if err != nil {
		h.t.Fatalf("read %s: %v", name, err)
	}
	return strings.TrimSpace(string(data))
}

func (h *harness) wantEvents(unit string, want ...string) {
	h.t.Helper()
	got := h.events(unit)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		h.t.Fatalf("%s events:\n got: %q\nwant: %q", unit, got, want)
	}
}

func (h *harness) noOverlaps() {
	h.t.Helper()
	if data, err := os.ReadFile(filepath.Join(h.e.ModelDir, "recorder", "overlaps")); err == nil {
		h.t.Fatalf("hooks of one unit overlapped: %s", data)
	}
}

// withAddresses is the bag Juju's EnterScope gives unit (its machine address
// as private-address and ingress-address, egress-subnets address/32) plus
// the given key/value pairs.
func (h *harness) withAddresses(unit string, kv ...string) state.Bag {
	h.t.Helper()
	m := h.model()
	addr := m.Machines[m.Units[unit].Machine].Address
	if addr == "" {
		h.t.Fatalf("%s has no machine address", unit)
	}
	bag := state.Bag{"private-address": addr, "ingress-address": addr, "egress-subnets": addr + "/32"}
	for i := 0; i+1 < len(kv); i += 2 {
		bag[kv[i]] = kv[i+1]
	}
	return bag
}

// jsonFile decodes a JSON object the behaviour script wrote.
func (h *harness) jsonFile(name string) state.Bag {
	h.t.Helper()
	var bag state.Bag
	if err := json.Unmarshal([]byte(h.file(name)), &bag); err != nil {
		h.t.Fatalf("%s: %v", name, err)
	}
	return bag
}

// wantInterleaved checks the unit's events (and clears them): first prefix
// exactly, then an interleaving of groups, each group in its own order.
// Juju fixes the order within a unit's relation and remote unit, not the
// order in which other units' arrivals reach it.
func (h *harness) wantInterleaved(unit string, prefix []string, groups ...[]string) {
	h.t.Helper()
	got := h.events(unit)
	fail := func(why string) {
		h.t.Helper()
		h.t.Fatalf("%s events %s:\n got: %q\nwant: %q then interleaved %q", unit, why, got, prefix, groups)
	}
	if len(got) < len(prefix) || strings.Join(got[:len(prefix)], "\n") != strings.Join(prefix, "\n") {
		fail("do not start with the prefix")
	}
	next := make([]int, len(groups))
	for _, ev := range got[len(prefix):] {
		matched := false
		for g, group := range groups {
			if next[g] < len(group) && group[next[g]] == ev {
				next[g]++
				matched = true
				break
			}
		}
		if !matched {
			fail(fmt.Sprintf("have %q out of order or unexpected", ev))
		}
	}
	for g, group := range groups {
		if next[g] != len(group) {
			fail(fmt.Sprintf("lack %q", group[next[g]:]))
		}
	}
}

// settledPair deploys two recorder units, runs their start-up hooks and forgets those events, so
// that a test sees only what it triggers next.
func (h *harness) settledPair() {
	h.t.Helper()
	h.deploy(2)
	h.wait()
	h.events("recorder/0")
	h.events("recorder/1")
}
