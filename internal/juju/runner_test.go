package juju_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
)

// writeTool puts an executable shell script called name into dir.
func writeTool(t *testing.T, dir, name, script string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestExecRunner(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// config-get echoes its arguments and its stdin, and complains on stderr.
	writeTool(t, dir, "config-get", `
printf 'args:%s|' "$@"
printf 'stdin:'; cat
echo "  something went wrong  " >&2
exit "${EXIT_CODE:-0}"
`)
	tests := []struct {
		name       string
		env        []string
		stdin      []byte
		args       []string
		wantStdout string
		wantCode   int // -1: expect success
		wantStderr string
	}{
		{"success with stdin", nil, []byte("a: b\n"), []string{"--all", "--format=json"}, "args:--all|args:--format=json|stdin:a: b\n", -1, ""},
		{"success without stdin", nil, nil, []string{"x y"}, "args:x y|stdin:", -1, ""},
		{"non-zero exit", []string{"EXIT_CODE=3"}, nil, []string{"k"}, "args:k|stdin:", 3, "something went wrong"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := juju.ExecRunner{ToolsDir: dir, Env: append([]string{"PATH=/usr/bin:/bin"}, tt.env...)}
			out, err := r.Run(context.Background(), tt.stdin, "config-get", tt.args...)
			if string(out) != tt.wantStdout {
				t.Errorf("stdout %q, want %q", out, tt.wantStdout)
			}
			if tt.wantCode < 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var te *juju.ToolError
			if !errors.As(err, &te) {
				t.Fatalf("error %v (%T) is not a *ToolError", err, err)
			}
			if te.Tool != "config-get" || te.ExitCode != tt.wantCode || te.Stderr != tt.wantStderr {
				t.Errorf("ToolError %+v, want tool config-get code %d stderr %q", te, tt.wantCode, tt.wantStderr)
			}
			if strings.Join(te.Args, " ") != strings.Join(tt.args, " ") {
				t.Errorf("ToolError args %q, want %q", te.Args, tt.args)
			}
			msg := err.Error()
			if !strings.Contains(msg, "config-get") || !strings.Contains(msg, tt.wantStderr) {
				t.Errorf("Error() %q lacks tool name or stderr", msg)
			}
		})
	}
}

func TestExecRunnerMissingTool(t *testing.T) {
	t.Parallel()
	r := juju.ExecRunner{ToolsDir: t.TempDir()}
	_, err := r.Run(context.Background(), nil, "is-leader", "--format=json")
	var te *juju.ToolError
	if !errors.As(err, &te) || te.ExitCode != -1 || te.Tool != "is-leader" {
		t.Fatalf("got %v, want a ToolError for is-leader with exit code -1", err)
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error %v should wrap os.ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), "is-leader") {
		t.Errorf("Error() %q does not name the tool", err)
	}
}

func TestExecRunnerMissingToolOnPath(t *testing.T) {
	t.Parallel()
	r := juju.ExecRunner{Env: []string{"PATH=" + t.TempDir()}}
	_, err := r.Run(context.Background(), nil, "definitely-not-a-hook-tool")
	if err == nil || !strings.Contains(err.Error(), "definitely-not-a-hook-tool") {
		t.Fatalf("got %v, want an error naming the tool", err)
	}
}

// TestExecRunnerCancel proves cancelling ctx kills a tool that would never
// finish; the tool reports that it started through a FIFO, so no sleeping.
func TestExecRunnerCancel(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "started")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	writeTool(t, dir, "relation-get", "echo started > \"$FIFO\"\nexec sleep 3600\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		r := juju.ExecRunner{ToolsDir: dir, Env: []string{"PATH=/usr/bin:/bin", "FIFO=" + fifo}}
		_, err := r.Run(ctx, nil, "relation-get")
		done <- err
	}()
	f, err := os.Open(fifo) // blocks until the tool opens it for writing
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(f).ReadString('\n')
	f.Close()
	if err != nil || line != "started\n" {
		t.Fatalf("read %q, %v", line, err)
	}
	cancel()
	err = <-done
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	var te *juju.ToolError
	if !errors.As(err, &te) || te.Tool != "relation-get" || te.ExitCode != -1 {
		t.Fatalf("got %#v, want ToolError for relation-get with exit code -1", err)
	}
}

func TestToolErrorMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err      juju.ToolError
		contains []string
		excludes []string
	}{
		{juju.ToolError{Tool: "status-set", Args: []string{"bogus", "--", "hunter2"}, ExitCode: 2, Stderr: `ERROR invalid status "bogus"`},
			[]string{"status-set", "status 2", `invalid status "bogus"`}, []string{"hunter2"}},
		{juju.ToolError{Tool: "open-port", ExitCode: -1, Err: os.ErrNotExist},
			[]string{"open-port", "could not run", os.ErrNotExist.Error()}, nil},
	}
	for _, tt := range tests {
		msg := tt.err.Error()
		for _, s := range tt.contains {
			if !strings.Contains(msg, s) {
				t.Errorf("%q lacks %q", msg, s)
			}
		}
		for _, s := range tt.excludes {
			if strings.Contains(msg, s) {
				t.Errorf("%q must not contain argument %q", msg, s)
			}
		}
	}
}
