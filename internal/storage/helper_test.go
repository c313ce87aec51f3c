package storage

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary re-executes itself as a helper process when STORAGE_HELPER names a mode: locks
// and crashes only mean something across real processes.
func TestMain(m *testing.M) {
	if mode := os.Getenv("STORAGE_HELPER"); mode != "" {
		if err := runHelper(mode); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runHelper(mode string) error {
	switch mode {
	case "hold-lock":
		return helperHoldLock()
	case "lock-wait":
		return helperLockWait()
	case "open":
		return helperOpen()
	case "race":
		return helperRace()
	case "crash":
		return helperCrash()
	}
	return fmt.Errorf("unknown helper mode %q", mode)
}

// helperHoldLock takes the lock, says "locked <pid>", and holds it until stdin closes.
func helperHoldLock() error {
	held, err := Lock(context.Background(), os.Getenv("LOCK_PATH"), Owner{Unit: os.Getenv("UNIT"), Purpose: os.Getenv("PURPOSE")})
	if err != nil {
		return err
	}
	fmt.Printf("locked %d\n", os.Getpid())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return held.Release()
}

// helperLockWait waits up to LOCK_TIMEOUT for the lock and says "locked" if it got it.
func helperLockWait() error {
	timeout, err := time.ParseDuration(os.Getenv("LOCK_TIMEOUT"))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	held, err := Lock(ctx, os.Getenv("LOCK_PATH"), Owner{Unit: "waiter/0"})
	if err != nil {
		return err
	}
	fmt.Println("locked")
	return held.Release()
}

// helperOpen waits for the start barrier (fd 3 reaching EOF), opens ROOT and prints its UUID.
func helperOpen() error {
	if err := awaitBarrier(); err != nil {
		return err
	}
	r, err := Open(os.Getenv("ROOT"))
	if err != nil {
		return err
	}
	fmt.Println(r.Identity().UUID)
	return nil
}

func awaitBarrier() error {
	barrier := os.NewFile(3, "barrier")
	_, err := io.Copy(io.Discard, barrier)
	return err
}

// helperRace runs ROUNDS rounds; each waits for "go" on stdin, ensures version 1.0.<round>, appends
// one line per Fill to COUNT_FILE and reports "done <round> <installedByUs> <dir> <marker json>".
func helperRace() error {
	rounds, err := strconv.Atoi(os.Getenv("ROUNDS"))
	if err != nil {
		return err
	}
	r, err := Open(os.Getenv("ROOT"))
	if err != nil {
		return err
	}
	in := bufio.NewReader(os.Stdin)
	for round := 0; round < rounds; round++ {
		fmt.Printf("ready %d\n", round)
		if _, err := in.ReadString('\n'); err != nil {
			return fmt.Errorf("wait for go: %w", err)
		}
		dir, marker, ours, err := r.EnsureRelease(context.Background(), EnsureRequest{
			Version: fmt.Sprintf("1.0.%d", round), Arch: "amd64",
			Owner: Owner{Unit: os.Getenv("UNIT")},
			Fill:  countingFill(os.Getenv("COUNT_FILE"), round),
		})
		if err != nil {
			return err
		}
		data, err := json.Marshal(marker)
		if err != nil {
			return err
		}
		fmt.Printf("done %d %t %s %s\n", round, ours, dir, data)
	}
	return nil
}

func countingFill(countFile string, round int) func(context.Context, string) (Marker, error) {
	return func(_ context.Context, staging string) (Marker, error) {
		f, err := os.OpenFile(countFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return Marker{}, err
		}
		_, err = fmt.Fprintf(f, "%d %d\n", round, os.Getpid())
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return Marker{}, err
		}
		return Marker{SHA256: "abc"}, writeReleaseFiles(staging, fmt.Sprintf("1.0.%d", round), 3, nil)
	}
}

// writeReleaseFiles writes the n files of a fake release, calling after(k) after file k.
func writeReleaseFiles(staging, version string, n int, after func(k int)) error {
	if err := os.MkdirAll(filepath.Join(staging, "bin"), 0o755); err != nil {
		return err
	}
	for k := 0; k < n; k++ {
		if err := os.WriteFile(filepath.Join(staging, "bin", fmt.Sprintf("f%d", k)), releaseFileContent(version, k), 0o755); err != nil {
			return err
		}
		if after != nil {
			after(k)
		}
	}
	return nil
}

func releaseFileContent(version string, k int) []byte {
	return []byte(strings.Repeat(fmt.Sprintf("file %d of %s\n", k, version), 4096))
}

// helperCrash ensures VERSION and reports every step as "step <name>". With ACK=1 it waits for one
// byte on stdin after each step, so the test can kill it exactly there.
func helperCrash() error {
	r, err := Open(os.Getenv("ROOT"))
	if err != nil {
		return err
	}
	in := bufio.NewReader(os.Stdin)
	step := func(point string) {
		fmt.Printf("step %s\n", point)
		if os.Getenv("ACK") == "1" {
			_, _ = in.ReadByte()
		}
	}
	r.testHook = step
	version := os.Getenv("VERSION")
	_, _, _, err = r.EnsureRelease(context.Background(), EnsureRequest{
		Version: version, Arch: "amd64", Owner: Owner{Unit: "crash/0"},
		Fill: func(_ context.Context, staging string) (Marker, error) {
			return Marker{Size: crashFiles}, writeReleaseFiles(staging, version, crashFiles, func(k int) {
				step(fmt.Sprintf("file-%d", k))
			})
		},
	})
	return err
}

const crashFiles = 6

// helper is a running helper process with its stdin and line-oriented stdout.
type helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
	done  chan error
}

// startHelper runs this test binary in mode with extra environment and optional extra files
// (fd 3 onwards). The process is killed and reaped at cleanup if still running.
func startHelper(t *testing.T, mode string, env []string, extra ...*os.File) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), "STORAGE_HELPER="+mode), env...)
	cmd.ExtraFiles = extra
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start helper %s: %v", mode, err)
	}
	h := &helper{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout), done: make(chan error, 1)}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = h.wait()
	})
	return h
}

// line reads the helper's next output line; it fails the test if the helper exits instead.
func (h *helper) line(t *testing.T) string {
	t.Helper()
	s, err := h.out.ReadString('\n')
	if err != nil {
		t.Fatalf("helper %d output ended: %v (exit: %v)", h.cmd.Process.Pid, err, h.wait())
	}
	return strings.TrimSuffix(s, "\n")
}

// nextLine reads the helper's next output line; ok is false once the output has ended.
func (h *helper) nextLine() (line string, ok bool) {
	s, err := h.out.ReadString('\n')
	return strings.TrimSuffix(s, "\n"), err == nil
}

// wait reaps the helper once (output must be drained first) and returns its exit error.
func (h *helper) wait() error {
	select {
	case err := <-h.done:
		h.done <- err
		return err
	default:
	}
	_, _ = io.Copy(io.Discard, h.out)
	err := h.cmd.Wait()
	h.done <- err
	return err
}

// kill sends SIGKILL and reaps; by then the kernel has dropped the helper's locks.
func (h *helper) kill(t *testing.T) {
	t.Helper()
	if err := h.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("kill helper: %v", err)
	}
	_ = h.wait()
}
