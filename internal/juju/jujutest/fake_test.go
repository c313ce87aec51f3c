package jujutest_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju/jujutest"
)

func TestResponsePrecedence(t *testing.T) {
	t.Parallel()
	r := jujutest.New()
	r.SetOutput("relation-get", "any-args-old")
	r.SetOutputFor("relation-get", []string{"-r", "peers:1"}, "exact-old")
	r.SetOutput("relation-get", "any-args")
	r.SetOutputFor("relation-get", []string{"-r", "peers:1"}, "exact")
	r.SetErrorFor("relation-get", []string{"-r", "db:2"}, 2, "ERROR no such relation")
	tests := []struct {
		args       []string
		wantOut    string
		wantStderr string
	}{
		{[]string{"-r", "peers:1"}, "exact", ""},
		{[]string{"-r", "peers:2"}, "any-args", ""},
		{nil, "any-args", ""},
		{[]string{"-r", "db:2"}, "", "ERROR no such relation"},
	}
	for _, tt := range tests {
		out, err := r.Run(context.Background(), nil, "relation-get", tt.args...)
		if tt.wantStderr != "" {
			var te *juju.ToolError
			if !errors.As(err, &te) || te.Stderr != tt.wantStderr || te.ExitCode != 2 || te.Tool != "relation-get" || !slices.Equal(te.Args, tt.args) {
				t.Errorf("args %q: got %v, want ToolError with %q", tt.args, err, tt.wantStderr)
			}
			continue
		}
		if err != nil || string(out) != tt.wantOut {
			t.Errorf("args %q: got %q, %v; want %q", tt.args, out, err, tt.wantOut)
		}
	}
	// An unprogrammed tool succeeds silently.
	if out, err := r.Run(context.Background(), nil, "juju-log", "x"); err != nil || out != nil {
		t.Errorf("default response %q, %v", out, err)
	}
}

func TestRecordsCallsAndCopies(t *testing.T) {
	t.Parallel()
	r := jujutest.New()
	args := []string{"-r", "peers:1", "--file", "-"}
	stdin := []byte(`{"a":"b"}`)
	if _, err := r.Run(context.Background(), stdin, "relation-set", args...); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Run(context.Background(), nil, "is-leader", "--format=json"); err != nil {
		t.Fatal(err)
	}
	args[0], stdin[0] = "mutated", 'X' // the caller reusing its buffers must not change the record
	calls := r.Calls("relation-set")
	if len(calls) != 1 || !slices.Equal(calls[0].Args, []string{"-r", "peers:1", "--file", "-"}) || string(calls[0].Stdin) != `{"a":"b"}` {
		t.Fatalf("recorded %+v", calls)
	}
	calls[0].Args[0] = "changed" // nor the reader mutating what it got
	if got := r.Calls("relation-set")[0].Args[0]; got != "-r" {
		t.Fatalf("record changed through Calls result: %q", got)
	}
	if all := r.Argv(); len(all) != 2 || all[1][0] != "is-leader" {
		t.Fatalf("Argv %q", all)
	}
	if c := r.Calls("is-leader"); c[0].Stdin != nil {
		t.Fatalf("stdin %q recorded for a call without input", c[0].Stdin)
	}
	r.Reset()
	if n := len(r.Calls("")); n != 0 {
		t.Fatalf("%d calls after Reset", n)
	}
}

func TestHandlerSeesCall(t *testing.T) {
	t.Parallel()
	r := jujutest.New()
	r.Handle("config-get", func(c jujutest.Call) ([]byte, error) {
		return []byte(fmt.Sprintf("%d args, stdin %q", len(c.Args), c.Stdin)), nil
	})
	out, err := r.Run(context.Background(), []byte("in"), "config-get", "--all", "--format=json")
	if err != nil || string(out) != `2 args, stdin "in"` {
		t.Fatalf("got %q, %v", out, err)
	}
}

func TestCancelledContext(t *testing.T) {
	t.Parallel()
	r := jujutest.New()
	r.SetOutput("is-leader", "true")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := r.Run(ctx, nil, "is-leader")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if n := len(r.Calls("is-leader")); n != 1 {
		t.Fatalf("cancelled call recorded %d times, want 1", n)
	}
}

// TestConcurrentUse is meaningful under -race.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	r := jujutest.New()
	const workers, each = 8, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				r.SetOutput(fmt.Sprintf("tool-%d", w), "x")
				if _, err := r.Run(context.Background(), nil, fmt.Sprintf("tool-%d", w), fmt.Sprint(i)); err != nil {
					t.Error(err)
				}
				_ = r.Calls("")
			}
		}()
	}
	wg.Wait()
	if n := len(r.Calls("")); n != workers*each {
		t.Fatalf("%d calls recorded, want %d", n, workers*each)
	}
	for w := range workers {
		calls := r.Calls(fmt.Sprintf("tool-%d", w))
		for i, c := range calls {
			if c.Args[0] != fmt.Sprint(i) {
				t.Fatalf("tool-%d call %d has args %q: order lost", w, i, c.Args)
			}
		}
	}
}
