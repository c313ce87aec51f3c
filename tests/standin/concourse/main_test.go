package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"version", []string{"--version"}, 0, version + "\n", ""},
		{"web not yet", []string{"web"}, 2, "", "stand-in: web not implemented yet\n"},
		{"worker not yet", []string{"worker", "--work-dir", "/x"}, 2, "", "stand-in: worker not implemented yet\n"},
		{"generate-key not yet", []string{"generate-key"}, 2, "", "stand-in: generate-key not implemented yet\n"},
		{"unknown", []string{"frobnicate"}, 2, "", "unknown command"},
		{"no args", nil, 2, "", "usage"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			code := run(tc.args, &out, &errOut)
			if code != tc.wantCode {
				t.Errorf("exit code = %d, want %d", code, tc.wantCode)
			}
			if out.String() != tc.wantStdout {
				t.Errorf("stdout = %q, want %q", out.String(), tc.wantStdout)
			}
			if !strings.Contains(errOut.String(), tc.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", errOut.String(), tc.wantStderr)
			}
		})
	}
}
