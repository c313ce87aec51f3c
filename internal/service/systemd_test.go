package service

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// removeAtEnd removes the service however the test ended. t.Context is already cancelled when
// cleanups run, hence a fresh one.
func removeAtEnd(t *testing.T, m Manager, name string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := m.Remove(ctx, name); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
}

// awkwardArgs must reach the program unchanged: they exercise ExecStart quoting (systemd) and
// shell-words quoting (Pebble).
var awkwardArgs = []string{"two words", `quo"te`, "$HOME", "${HOME}", "100%", "%n", `back\slash`, ";", "", "it's", "tab\there"}

func helperSpec(t *testing.T, name, envFile string) Spec {
	return Spec{
		Name:             name,
		Description:      "service test " + name + " (100% real)",
		Exec:             append([]string{testBinary(t)}, awkwardArgs...),
		EnvFile:          envFile,
		WorkingDir:       filepath.Dir(envFile),
		KillSignal:       syscall.SIGINT,
		TimeoutStop:      20 * time.Second,
		Delegate:         true,
		Unlimited:        true,
		RestartOnFailure: true,
		ReloadSignal:     syscall.SIGHUP,
	}
}

func TestSystemdLifecycle(t *testing.T) {
	t.Parallel()
	m, um := systemdForTest(t)
	ctx := testContext(t)
	name := uniqueName("life")
	envFile, out := helperFiles(t, helperExitEnv+"=SIGINT")
	spec := helperSpec(t, name, envFile)
	removeAtEnd(t, m, name)

	if changed, err := m.Install(ctx, spec); err != nil || !changed {
		t.Fatalf("first Install = %v, %v; want changed", changed, err)
	}
	unitFile := filepath.Join(um.unitDir, name+".service")
	if got, _ := os.ReadFile(unitFile); string(got) != RenderUnit(spec, "default.target") {
		t.Fatalf("unit file is not RenderUnit's output:\n%s", got)
	}
	if changed, err := m.Install(ctx, spec); err != nil || changed {
		t.Fatalf("identical Install = %v, %v; want unchanged", changed, err)
	}
	if st := mustState(ctx, t, m, name); !st.Installed || st.Active || st.Enabled {
		t.Fatalf("after Install: %+v", st)
	}

	first := startAndCheck(ctx, t, m, name, out)
	if err := m.Start(ctx, name); err != nil { // idempotent
		t.Fatalf("Start of a running service: %v", err)
	}
	if st := mustState(ctx, t, m, name); st.InvocationID != first.InvocationID {
		t.Fatalf("Start of a running service restarted it: %+v then %+v", first, st)
	}

	reloadKeepsProcess(ctx, t, m, name, out, first)

	if err := m.Signal(ctx, name, syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	waitEvent(ctx, t, out, isSignal(first.MainPID, "SIGUSR1"))

	if err := m.Restart(ctx, name); err != nil {
		t.Fatal(err)
	}
	waitEvent(ctx, t, out, isSignal(first.MainPID, "SIGINT")) // the KillSignal, not SIGTERM
	second := mustState(ctx, t, m, name)
	if !second.Active || second.InvocationID == first.InvocationID || second.MainPID == first.MainPID {
		t.Fatalf("Restart kept the invocation: before %+v, after %+v", first, second)
	}
	waitEvent(ctx, t, out, func(e event) bool { return isStart(e) && e.PID == second.MainPID })

	if err := m.Stop(ctx, name); err != nil {
		t.Fatal(err)
	}
	waitEvent(ctx, t, out, isSignal(second.MainPID, "SIGINT"))
	if st := mustState(ctx, t, m, name); st.Active || st.MainPID != 0 {
		t.Fatalf("after Stop: %+v", st)
	}
	if err := m.Stop(ctx, name); err != nil {
		t.Fatalf("Stop of a stopped service: %v", err)
	}

	enableDisable(ctx, t, m, um, name)

	if err := m.Remove(ctx, name); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(unitFile); !os.IsNotExist(err) {
		t.Fatalf("unit file after Remove: %v", err)
	}
	if st := mustState(ctx, t, m, name); st.Installed {
		t.Fatalf("after Remove: %+v", st)
	}
	if err := m.Remove(ctx, name); err != nil {
		t.Fatalf("Remove of a removed service: %v", err)
	}
}

func mustState(ctx context.Context, t *testing.T, m Manager, name string) State {
	t.Helper()
	st, err := m.State(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// startAndCheck starts the service and checks that the program got the env file's variables
// and its arguments intact, and that State names the process that runs.
func startAndCheck(ctx context.Context, t *testing.T, m Manager, name, out string) State {
	t.Helper()
	if err := m.Start(ctx, name); err != nil {
		t.Fatal(err)
	}
	started := waitEvent(ctx, t, out, isStart)
	if started.Value != "hello world" {
		t.Errorf("program saw %s=%q, want the env file's %q", helperValueEnv, started.Value, "hello world")
	}
	if !slices.Equal(started.Args, awkwardArgs) {
		t.Errorf("program got args %q, want %q", started.Args, awkwardArgs)
	}
	st := mustState(ctx, t, m, name)
	if !st.Active || st.InvocationID == "" {
		t.Fatalf("after Start: %+v", st)
	}
	if m.Backend() == "systemd" && st.MainPID != started.PID {
		t.Fatalf("State MainPID %d, program is %d", st.MainPID, started.PID)
	}
	st.MainPID = started.PID
	return st
}

// reloadKeepsProcess checks that Reload delivers the ReloadSignal to the same process, without
// a new invocation.
func reloadKeepsProcess(ctx context.Context, t *testing.T, m Manager, name, out string, before State) {
	t.Helper()
	if err := m.Reload(ctx, name); err != nil {
		t.Fatal(err)
	}
	waitEvent(ctx, t, out, isSignal(before.MainPID, "SIGHUP"))
	after := mustState(ctx, t, m, name)
	if !after.Active || after.InvocationID != before.InvocationID {
		t.Fatalf("Reload restarted: before %+v, after %+v", before, after)
	}
	if m.Backend() == "systemd" && after.MainPID != before.MainPID {
		t.Fatalf("Reload changed MainPID: before %+v, after %+v", before, after)
	}
}

func enableDisable(ctx context.Context, t *testing.T, m *Systemd, um *userManager, name string) {
	t.Helper()
	link := filepath.Join(um.unitDir, "default.target.wants", name+".service")
	if err := m.Enable(ctx, name); err != nil {
		t.Fatal(err)
	}
	if target, err := os.Readlink(link); err != nil || target != filepath.Join(um.unitDir, name+".service") {
		t.Fatalf("wants link after Enable: %q, %v", target, err)
	}
	if st := mustState(ctx, t, m, name); !st.Enabled {
		t.Fatalf("after Enable: %+v", st)
	}
	if err := m.Disable(ctx, name); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(link); !os.IsNotExist(err) {
		t.Fatalf("wants link after Disable: %v", err)
	}
	if st := mustState(ctx, t, m, name); st.Enabled {
		t.Fatalf("after Disable: %+v", st)
	}
}

// TestSystemdKillProcessOnly proves why the worker sets KillProcessOnly: with it, a stop leaves
// the main process's children (the worker's containers) running; without it, systemd kills the
// whole control group.
func TestSystemdKillProcessOnly(t *testing.T) {
	t.Parallel()
	m, _ := systemdForTest(t)
	for _, processOnly := range []bool{true, false} {
		ctx := testContext(t)
		name := uniqueName("killmode")
		envFile, out := helperFiles(t, helperChildEnv+"=1")
		spec := helperSpec(t, name, envFile)
		spec.KillSignal, spec.KillProcessOnly = syscall.SIGTERM, processOnly
		removeAtEnd(t, m, name)
		if _, err := m.Install(ctx, spec); err != nil {
			t.Fatal(err)
		}
		if err := m.Start(ctx, name); err != nil {
			t.Fatal(err)
		}
		child := waitEvent(ctx, t, out, func(e event) bool { return e.Event == "child" })
		t.Cleanup(func() { _ = syscall.Kill(child.PID, syscall.SIGKILL) })
		if err := m.Stop(ctx, name); err != nil {
			t.Fatal(err)
		}
		if processOnly && !alive(child.PID) {
			t.Errorf("KillProcessOnly: child %d died with the service", child.PID)
		}
		// Stop's job ends once the control group is empty, so no waiting is needed here.
		if !processOnly && alive(child.PID) {
			t.Errorf("KillMode=control-group: child %d survived the stop", child.PID)
		}
	}
}

func TestSystemdStartFailureNamesUnit(t *testing.T) {
	t.Parallel()
	m, _ := systemdForTest(t)
	ctx := testContext(t)
	name := uniqueName("broken")
	removeAtEnd(t, m, name)
	spec := Spec{Name: name, Description: "cannot run", Exec: []string{"/nonexistent/concourse", "web"}}
	if _, err := m.Install(ctx, spec); err != nil {
		t.Fatal(err)
	}
	err := m.Start(ctx, name)
	if err == nil || !strings.Contains(err.Error(), name+".service") || !strings.Contains(err.Error(), "failed") {
		t.Fatalf("Start of a unit that cannot run: %v; want an error naming %s.service and the failed job", err, name)
	}
	if st := mustState(ctx, t, m, name); st.Active || !strings.HasPrefix(st.Status, "failed") {
		t.Fatalf("after failed Start: %+v", st)
	}
}

func TestSystemdStateOfUnknownUnit(t *testing.T) {
	t.Parallel()
	m, _ := systemdForTest(t)
	st := mustState(testContext(t), t, m, uniqueName("unknown"))
	if st.Installed || st.Active || st.Enabled || st.MainPID != 0 {
		t.Fatalf("unknown unit: %+v", st)
	}
}
