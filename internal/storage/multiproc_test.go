package storage

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// raceRounds is 100 by default, 20 with -short, or STORAGE_RACE_ROUNDS.
func raceRounds(t *testing.T) int {
	if s := os.Getenv("STORAGE_RACE_ROUNDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("STORAGE_RACE_ROUNDS=%q", s)
		}
		return n
	}
	if testing.Short() {
		return 20
	}
	return 100
}

// Eight processes ask for the same new release at the same moment, round after round: each round
// must run Fill exactly once, and every process must get the same directory and marker.
func TestEnsureReleaseExactlyOnceAcrossProcesses(t *testing.T) {
	t.Parallel()
	const procs = 8
	rounds := raceRounds(t)
	root := t.TempDir()
	countFile := filepath.Join(t.TempDir(), "fills")
	helpers := make([]*helper, procs)
	for i := range helpers {
		helpers[i] = startHelper(t, "race", []string{
			"ROOT=" + root, "ROUNDS=" + strconv.Itoa(rounds), "COUNT_FILE=" + countFile, fmt.Sprintf("UNIT=racer/%d", i),
		})
	}
	for round := 0; round < rounds; round++ {
		for _, h := range helpers {
			if got, want := h.line(t), fmt.Sprintf("ready %d", round); got != want {
				t.Fatalf("helper said %q, want %q", got, want)
			}
		}
		for _, h := range helpers { // all are blocked on stdin: this releases them together
			if _, err := fmt.Fprintln(h.stdin, "go"); err != nil {
				t.Fatal(err)
			}
		}
		installers, results := 0, map[string]int{}
		for _, h := range helpers {
			fields := strings.SplitN(h.line(t), " ", 4)
			if len(fields) != 4 || fields[0] != "done" || fields[1] != strconv.Itoa(round) {
				t.Fatalf("round %d: helper said %q", round, fields)
			}
			if fields[2] == "true" {
				installers++
			}
			results[fields[3]]++
		}
		if installers != 1 || len(results) != 1 {
			t.Fatalf("round %d: %d installers, results %v", round, installers, results)
		}
	}
	for _, h := range helpers {
		if err := h.wait(); err != nil {
			t.Fatal(err)
		}
	}
	assertOneFillPerRound(t, countFile, rounds)
	r, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	for round := 0; round < rounds; round++ {
		v := fmt.Sprintf("1.0.%d", round)
		dir, _, ok, err := r.Release(v, "amd64")
		if err != nil || !ok {
			t.Fatalf("release %s missing: %v", v, err)
		}
		assertCompleteRelease(t, dir, v, 3)
	}
}

func assertOneFillPerRound(t *testing.T, countFile string, rounds int) {
	t.Helper()
	data, err := os.ReadFile(countFile)
	if err != nil {
		t.Fatal(err)
	}
	fills := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		round, _, _ := strings.Cut(line, " ")
		fills[round]++
	}
	for round := 0; round < rounds; round++ {
		if n := fills[strconv.Itoa(round)]; n != 1 {
			t.Errorf("round %d filled %d times", round, n)
		}
	}
	if len(fills) != rounds {
		t.Errorf("fills for %d rounds, want %d", len(fills), rounds)
	}
}

// crashPoints are every step a crash helper reports, in order.
func crashPoints() []string {
	points := []string{"locked", "cleared"}
	for k := 0; k < crashFiles; k++ {
		points = append(points, fmt.Sprintf("file-%d", k))
	}
	return append(points, "filled", "sealed", "renamed", "marked")
}

// An installer killed at any point must never leave a marker beside a partial tree, and the next
// EnsureRelease must finish the job: one complete release, no staging, no trash.
func TestEnsureReleaseSurvivesInstallerKilled(t *testing.T) {
	t.Parallel()
	points := crashPoints()
	type crash struct {
		at     string // step to kill at
		exact  bool   // helper waits at each step: the kill lands exactly there
		again  string // if set, kill a second installer at this step before recovering
		reason string
	}
	var crashes []crash
	for _, p := range points {
		crashes = append(crashes, crash{at: p, exact: true, reason: "exact"})
	}
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 42))
	for i := 0; i < 12; i++ { // free-running: the kill lands somewhere after the step
		c := crash{at: points[rng.IntN(len(points))], reason: "free"}
		if i%3 == 0 {
			c.again = points[rng.IntN(len(points))]
		}
		crashes = append(crashes, c)
	}
	for i, c := range crashes {
		t.Run(fmt.Sprintf("%02d-%s-%s", i, c.reason, c.at), func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			version := fmt.Sprintf("9.%d.0", i)
			killInstallerAt(t, root, version, c.at, c.exact)
			if c.exact && c.at == "renamed" {
				assertRenamedWithoutMarker(t, filepath.Join(root, "releases", version+"-amd64"))
			}
			if c.again != "" {
				killInstallerAt(t, root, version, c.again, false)
			}
			recoverAndCheck(t, root, version)
		})
	}
}

// killInstallerAt runs a crash helper, SIGKILLs it once it reports step at, then checks that no
// marker sits beside a partial tree.
func killInstallerAt(t *testing.T, root, version, at string, exact bool) {
	t.Helper()
	env := []string{"ROOT=" + root, "VERSION=" + version}
	if exact {
		env = append(env, "ACK=1")
	}
	h := startHelper(t, "crash", env)
	for {
		line, ok := h.nextLine()
		if !ok && !exact {
			// Finished before the step (or found the release complete): must have succeeded.
			if err := h.wait(); err != nil {
				t.Fatalf("crash helper: %v", err)
			}
			break
		}
		if !ok {
			t.Fatalf("crash helper ended before step %s: %v", at, h.wait())
		}
		if line == "step "+at {
			break
		}
		if exact {
			if _, err := h.stdin.Write([]byte{1}); err != nil {
				t.Fatal(err)
			}
		}
	}
	h.kill(t)
	r, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if dir, _, ok, err := r.Release(version, "amd64"); err != nil || ok {
		if err != nil {
			t.Fatal(err)
		}
		assertCompleteRelease(t, dir, version, crashFiles) // a marker promises a whole tree
	}
}

func recoverAndCheck(t *testing.T, root, version string) {
	t.Helper()
	r, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	_, wasComplete, _ := readMarker(filepath.Join(root, "releases", version+"-amd64"))
	calls := 0
	dir, m, ours, err := r.EnsureRelease(context.Background(), EnsureRequest{
		Version: version, Arch: "amd64", Fill: fillFiles(version, crashFiles, &calls),
	})
	if err != nil {
		t.Fatal(err)
	}
	if ours == wasComplete || calls != map[bool]int{true: 1}[ours] {
		t.Errorf("marker before=%v, installed now=%v, fills=%d", wasComplete, ours, calls)
	}
	if m.Version != version || m.Size != crashFiles {
		t.Errorf("marker = %+v", m)
	}
	assertCompleteRelease(t, dir, version, crashFiles)
	assertReleaseDirs(t, r, version+"-amd64")
	held, err := TryLock(r.InstallLockPath(), Owner{})
	if err != nil {
		t.Fatalf("install lock still held after recovery: %v", err)
	}
	held.Release()
}

// assertRenamedWithoutMarker checks the crash window between rename and marker was really hit.
func assertRenamedWithoutMarker(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "bin")); err != nil {
		t.Fatalf("release not renamed into place: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, MarkerFile)); !os.IsNotExist(err) {
		t.Fatalf("marker present (%v) after a kill before it was written", err)
	}
}
