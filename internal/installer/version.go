package installer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// maxVersionOutput bounds what we keep of the binary's output.
const maxVersionOutput = 4096

// checkVersion runs `bin --version` and requires it to print want.
func checkVersion(ctx context.Context, bin, want string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, err := runVersion(ctx, bin)
	if err != nil {
		return err
	}
	if got := strings.TrimSpace(out); got != want {
		return &VersionMismatchError{Want: want, Got: got}
	}
	return nil
}

// runVersion execs the binary, retrying while the kernel reports ETXTBSY:
// a fork elsewhere in this process may still hold the just-written file
// open for a moment (golang/go#22315).
func runVersion(ctx context.Context, bin string) (string, error) {
	for delay := 10 * time.Millisecond; ; delay *= 2 {
		var stdout, stderr limitedBuffer
		cmd := exec.CommandContext(ctx, bin, "--version")
		// A clean environment: the version must not depend on the hook's.
		cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.WaitDelay = time.Second
		err := cmd.Run()
		if err == nil {
			return stdout.String(), nil
		}
		if errors.Is(err, syscall.ETXTBSY) && delay < time.Second {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return "", fmt.Errorf("run %s --version: %w", bin, ctx.Err())
			case <-t.C:
			}
			continue
		}
		if ctx.Err() != nil {
			return "", fmt.Errorf("run %s --version: %w", bin, ctx.Err())
		}
		return "", fmt.Errorf("run %s --version: %w (stderr: %q)", bin, err, strings.TrimSpace(stderr.String()))
	}
}

// limitedBuffer keeps the first maxVersionOutput bytes and drops the rest,
// so a misbehaving binary cannot balloon our memory.
type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := maxVersionOutput - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
