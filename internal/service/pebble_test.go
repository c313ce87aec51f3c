package service

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestPebbleLifecycle runs the systemd lifecycle's checks that Pebble can honour (see Pebble's
// doc comment for those it cannot: KillSignal, KillProcessOnly, MainPID, Remove).
func TestPebbleLifecycle(t *testing.T) {
	t.Parallel()
	p, _ := pebbleForTest(t)
	ctx := testContext(t)
	name := uniqueName("life")
	envFile, out := helperFiles(t)
	spec := helperSpec(t, name, envFile)
	removeAtEnd(t, p, name)

	if changed, err := p.Install(ctx, spec); err != nil || !changed {
		t.Fatalf("first Install = %v, %v; want changed", changed, err)
	}
	if changed, err := p.Install(ctx, spec); err != nil || changed {
		t.Fatalf("identical Install = %v, %v; want unchanged", changed, err)
	}
	if st := mustState(ctx, t, p, name); !st.Installed || st.Active || st.Enabled {
		t.Fatalf("after Install: %+v", st)
	}

	first := startAndCheck(ctx, t, p, name, out)
	if err := p.Start(ctx, name); err != nil {
		t.Fatalf("Start of a running service: %v", err)
	}
	reloadKeepsProcess(ctx, t, p, name, out, first)

	if err := p.Signal(ctx, name, syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	waitEvent(ctx, t, out, isSignal(first.MainPID, "SIGUSR1"))

	if err := p.Restart(ctx, name); err != nil {
		t.Fatal(err)
	}
	waitEvent(ctx, t, out, isSignal(first.MainPID, "SIGTERM")) // Pebble always stops with SIGTERM
	second := mustState(ctx, t, p, name)
	if !second.Active || second.InvocationID == first.InvocationID {
		t.Fatalf("Restart kept the invocation: before %+v, after %+v", first, second)
	}
	restarted := waitEvent(ctx, t, out, func(e event) bool { return isStart(e) && e.PID != first.MainPID })

	if err := p.Stop(ctx, name); err != nil {
		t.Fatal(err)
	}
	waitEvent(ctx, t, out, isSignal(restarted.PID, "SIGTERM"))
	if st := mustState(ctx, t, p, name); st.Active {
		t.Fatalf("after Stop: %+v", st)
	}
	if err := p.Stop(ctx, name); err != nil {
		t.Fatalf("Stop of a stopped service: %v", err)
	}

	if err := p.Enable(ctx, name); err != nil {
		t.Fatal(err)
	}
	if st := mustState(ctx, t, p, name); !st.Enabled {
		t.Fatalf("after Enable: %+v", st)
	}
	if changed, err := p.Install(ctx, spec); err != nil || changed {
		t.Fatalf("Install after Enable = %v, %v; want unchanged (Install keeps startup)", changed, err)
	}
	if st := mustState(ctx, t, p, name); !st.Enabled {
		t.Fatalf("Install undid Enable: %+v", st)
	}
	if err := p.Disable(ctx, name); err != nil {
		t.Fatal(err)
	}
	if st := mustState(ctx, t, p, name); st.Enabled {
		t.Fatalf("after Disable: %+v", st)
	}

	spec.Description = "changed"
	if changed, err := p.Install(ctx, spec); err != nil || !changed {
		t.Fatalf("Install of a changed spec = %v, %v; want changed", changed, err)
	}

	if err := p.Start(ctx, name); err != nil {
		t.Fatal(err)
	}
	if err := p.Remove(ctx, name); err != nil {
		t.Fatal(err)
	}
	if st := mustState(ctx, t, p, name); st.Active || st.Enabled {
		t.Fatalf("after Remove: %+v (Pebble keeps the definition, stopped and disabled)", st)
	}
}

func TestPebbleStartFailureNamesService(t *testing.T) {
	t.Parallel()
	p, _ := pebbleForTest(t)
	ctx := testContext(t)
	name := uniqueName("broken")
	removeAtEnd(t, p, name)
	if _, err := p.Install(ctx, Spec{Name: name, Exec: []string{"/nonexistent/concourse", "web"}}); err != nil {
		t.Fatal(err)
	}
	err := p.Start(ctx, name)
	if err == nil || !strings.Contains(err.Error(), name) {
		t.Fatalf("Start of a service that cannot run: %v; want an error naming %s", err, name)
	}
}

func TestPebbleReloadWithoutSignal(t *testing.T) {
	t.Parallel()
	p, _ := pebbleForTest(t)
	ctx := testContext(t)
	name := uniqueName("noreload")
	removeAtEnd(t, p, name)
	envFile, _ := helperFiles(t)
	spec := helperSpec(t, name, envFile)
	spec.ReloadSignal = 0
	if _, err := p.Install(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := p.Reload(ctx, name); err == nil || !strings.Contains(err.Error(), name) {
		t.Fatalf("Reload without a ReloadSignal: %v; want an error naming %s", err, name)
	}
}

// TestPebbleRefusesSecretsInOpenDir: the layer carries the env file, so a Pebble whose
// directory others can enter must not get one.
func TestPebbleRefusesSecretsInOpenDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := &Pebble{socket: filepath.Join(dir, ".pebble.socket")} // refused before any request
	envFile, _ := helperFiles(t)
	_, err := p.Install(testContext(t), Spec{Name: "open", Exec: []string{"/bin/true"}, EnvFile: envFile})
	if err == nil || !strings.Contains(err.Error(), "0755") {
		t.Fatalf("Install into a 0755 pebble dir: %v; want a refusal naming the mode", err)
	}
	private, err := os.MkdirTemp(t.TempDir(), "private-")
	if err != nil {
		t.Fatal(err)
	}
	if err := checkPrivateDir(private); err != nil {
		t.Fatalf("a 0700 dir of ours: %v", err)
	}
}

// TestPebbleReplanStartsEnabledServices runs its own daemon: a replan acts on every service,
// and would restart other tests' removed ones (see Pebble.Replan).
func TestPebbleReplanStartsEnabledServices(t *testing.T) {
	t.Parallel()
	pebbleForTest(t) // skips when there can be no daemon
	pd, err := startPebble()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pd.stop)
	ctx := testContext(t)
	p, err := NewPebble(ctx, PebbleOptions{Socket: pd.socket})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	name := uniqueName("replan")
	envFile, out := helperFiles(t)
	removeAtEnd(t, p, name)
	if _, err := p.Install(ctx, helperSpec(t, name, envFile)); err != nil {
		t.Fatal(err)
	}
	if err := p.Enable(ctx, name); err != nil {
		t.Fatal(err)
	}
	if err := p.Replan(ctx); err != nil {
		t.Fatal(err)
	}
	waitEvent(ctx, t, out, isStart)
	if st := mustState(ctx, t, p, name); !st.Active || !st.Enabled {
		t.Fatalf("after Replan: %+v", st)
	}
}
