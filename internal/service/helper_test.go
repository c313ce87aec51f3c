package service

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The helper service reads these from its environment (the Spec's EnvFile).
const (
	helperModeEnv  = "SERVICE_TEST_HELPER" // "service", "child" or "usermanager"
	helperOutEnv   = "HELPER_OUT"          // file the helper appends JSON events to
	helperExitEnv  = "HELPER_EXIT_ON"      // a signal name that makes it exit, besides SIGTERM
	helperChildEnv = "HELPER_CHILD"        // "1": fork a child that outlives nothing on its own
	helperValueEnv = "TEST_VALUE"          // echoed in the start event
)

// event is one line of the helper's output.
type event struct {
	Event  string   `json:"event"` // "start", "signal", "child"
	PID    int      `json:"pid"`
	Value  string   `json:"value,omitempty"`
	Args   []string `json:"args,omitempty"`
	Signal string   `json:"signal,omitempty"`
}

func helperEmit(e event) {
	f, err := os.OpenFile(os.Getenv(helperOutEnv), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	defer f.Close()
	line, _ := json.Marshal(e)
	// One write per line: O_APPEND keeps concurrent writers' lines whole.
	if _, err := f.Write(append(line, '\n')); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
}

// helperService records its start and every signal it gets, and exits on SIGTERM or on
// $HELPER_EXIT_ON, so tests can see which signal a stop sent.
func helperService() int {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGINT, syscall.SIGTERM)
	if os.Getenv(helperChildEnv) == "1" {
		child := exec.Command(os.Args[0])
		child.Env = append(os.Environ(), helperModeEnv+"=child")
		if err := child.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
	}
	helperEmit(event{Event: "start", PID: os.Getpid(), Value: os.Getenv(helperValueEnv), Args: os.Args[1:]})
	for sig := range sigs {
		name := unix.SignalName(sig.(syscall.Signal))
		helperEmit(event{Event: "signal", PID: os.Getpid(), Signal: name})
		if sig == syscall.SIGTERM || name == os.Getenv(helperExitEnv) {
			return 0
		}
	}
	return 0
}

// helperChild stands for a worker's container: it reports itself and waits to be killed.
func helperChild() int {
	signal.Ignore(syscall.SIGHUP)
	helperEmit(event{Event: "child", PID: os.Getpid()})
	select {}
}

// helperFiles makes a private directory with the helper's output file and an environment file
// that runs the test binary as the helper. extra lines are appended to the environment file.
func helperFiles(t *testing.T, extra ...string) (envFile, outFile string) {
	t.Helper()
	dir := t.TempDir()
	outFile = filepath.Join(dir, "events")
	lines := append([]string{
		helperModeEnv + "=service",
		helperOutEnv + "=" + outFile,
		"# a comment the env file parsers must skip",
		helperValueEnv + `="hello world"`,
	}, extra...)
	envFile = filepath.Join(dir, "env")
	if err := os.WriteFile(envFile, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return envFile, outFile
}

// testBinary is the program every test service runs.
func testBinary(t *testing.T) string {
	t.Helper()
	exe := testBinaryPath()
	if exe == "" {
		t.Fatal("cannot find the test binary")
	}
	return exe
}

func testBinaryPath() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	return exe
}

// readEvents returns the helper's events so far.
func readEvents(t *testing.T, outFile string) []event {
	t.Helper()
	f, err := os.Open(outFile)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var events []event
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		var e event
		if err := json.Unmarshal(scanner.Bytes(), &e); err != nil {
			t.Fatalf("helper output %q: %v", scanner.Text(), err)
		}
		events = append(events, e)
	}
	return events
}

// waitEvent polls the helper's output until an event matches, or fails when ctx ends. The
// helper writes asynchronously to the supervisor's job, so there is no job to wait on here.
func waitEvent(ctx context.Context, t *testing.T, outFile string, match func(event) bool) event {
	t.Helper()
	var seen []event
	err := poll(ctx, func() bool {
		seen = readEvents(t, outFile)
		for _, e := range seen {
			if match(e) {
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("no matching helper event (%v); saw %+v", err, seen)
	}
	for _, e := range seen {
		if match(e) {
			return e
		}
	}
	panic("unreachable")
}

func isStart(e event) bool { return e.Event == "start" }

func isSignal(pid int, name string) func(event) bool {
	return func(e event) bool { return e.Event == "signal" && e.PID == pid && e.Signal == name }
}

// poll calls cond until it holds or ctx ends.
func poll(ctx context.Context, cond func() bool) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name, which may itself contain spaces.
	rest := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
	fields := strings.Fields(rest)
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// unitCounter numbers the services this binary creates.
var unitCounter atomic.Int64

// uniqueName keeps units apart from other tests (counter) and from other runs sharing a
// supervisor (pid).
func uniqueName(what string) string {
	return fmt.Sprintf("svctest-%d-%s-%d", os.Getpid(), what, unitCounter.Add(1))
}
