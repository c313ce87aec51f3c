package juju

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Runner runs one hook tool and returns its stdout. A tool that cannot be
// started or exits non-zero yields a *ToolError.
type Runner interface {
	Run(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error)
}

// ToolError is the failure of one hook tool. Error() names the tool and
// carries its stderr, which is where jujuc explains what it refused. Args are
// kept for callers and tests but deliberately left out of Error(): they can
// hold action results or relation keys that have no place in a log line.
type ToolError struct {
	Tool     string
	Args     []string
	ExitCode int    // -1 when the tool never ran (missing, not executable, cancelled)
	Stderr   string // trimmed
	Err      error  // the underlying exec or context error, if any
}

func (e *ToolError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "hook tool %s", e.Tool)
	switch {
	case e.ExitCode >= 0:
		fmt.Fprintf(&b, " exited with status %d", e.ExitCode)
	case e.Err != nil:
		fmt.Fprintf(&b, " could not run: %v", e.Err)
	default:
		b.WriteString(" failed")
	}
	if e.Stderr != "" {
		fmt.Fprintf(&b, ": %s", e.Stderr)
	}
	return b.String()
}

func (e *ToolError) Unwrap() error { return e.Err }

// ExecRunner runs hook tools as processes.
type ExecRunner struct {
	// ToolsDir, when set, is where the tools are; empty means look them up
	// on PATH, which is how Juju hands them to a hook.
	ToolsDir string
	// Env, when non-nil, replaces the inherited environment of the tool.
	Env []string
}

// waitDelay bounds how long Run waits for a killed tool's pipes to close
// (a grandchild can hold them open); it is not a synchronisation device.
const waitDelay = 5 * time.Second

// Run starts the tool with stdin piped in (nil means no input), waits for it
// and returns its stdout. Cancelling ctx kills the tool.
func (r ExecRunner) Run(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	path := name
	if r.ToolsDir != "" {
		path = filepath.Join(r.ToolsDir, name)
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = r.Env
	cmd.WaitDelay = waitDelay
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr

	err := cmd.Run()
	if err == nil {
		return stdout.Bytes(), nil
	}
	toolErr := &ToolError{
		Tool:     name,
		Args:     append([]string(nil), args...),
		ExitCode: -1,
		Stderr:   strings.TrimSpace(stderr.String()),
		Err:      err,
	}
	var exitErr *exec.ExitError
	if ctxErr := ctx.Err(); ctxErr != nil {
		// Killed because the caller gave up: report that, not "signal: killed".
		toolErr.Err = ctxErr
	} else if errors.As(err, &exitErr) && exitErr.ExitCode() >= 0 {
		toolErr.ExitCode = exitErr.ExitCode()
		toolErr.Err = nil
	}
	return stdout.Bytes(), toolErr
}
