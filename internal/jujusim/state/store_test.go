package state

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
)

// helperEnv makes the test binary a hook-tool-like process that updates the model n times.
const helperEnv = "STATE_STORE_HELPER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		n, _ := strconv.Atoi(os.Getenv("STATE_STORE_N"))
		for range n {
			if err := (Store{Dir: dir}).Update(func(m *Model) error { m.Next("counter"); return nil }); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestUpdatesFromManyProcessesAreNeverLost: hook tools of several units write the model at the
// same time; every read-modify-write must be serialised by the lock.
func TestUpdatesFromManyProcessesAreNeverLost(t *testing.T) {
	t.Parallel()
	st := Store{Dir: t.TempDir()}
	if err := st.Init("m", "uuid"); err != nil {
		t.Fatal(err)
	}
	const procs, each, goroutines = 6, 40, 4
	var cmds []*exec.Cmd
	for range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), helperEnv+"="+st.Dir, "STATE_STORE_N="+strconv.Itoa(each))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				if err := st.Update(func(m *Model) error { m.Next("counter"); return nil }); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("helper: %v", err)
		}
	}
	var got int
	if err := st.View(func(m *Model) error { got = m.Seq["counter"]; return nil }); err != nil {
		t.Fatal(err)
	}
	if want := (procs + goroutines) * each; got != want {
		t.Fatalf("counter = %d after %d updates: updates were lost", got, want)
	}
}

// TestFailedUpdateWritesNothing: an update whose function fails leaves the model as it was.
func TestFailedUpdateWritesNothing(t *testing.T) {
	t.Parallel()
	st := Store{Dir: t.TempDir()}
	if err := st.Init("m", "uuid"); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := st.Update(func(m *Model) error { m.Next("counter"); return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want the function's error", err)
	}
	var got int
	_ = st.View(func(m *Model) error { got = m.Seq["counter"]; return nil })
	if got != 0 {
		t.Fatalf("counter = %d after a failed update, want 0", got)
	}
}
