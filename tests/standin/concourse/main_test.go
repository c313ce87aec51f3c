package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		args       []string
		env        []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"version", []string{"--version"}, nil, 0, version + "\n", ""},
		{"web without env", []string{"web"}, nil, 1, "", "CONCOURSE_EXTERNAL_URL: must be set"},
		{"worker without env", []string{"worker"}, nil, 1, "", "CONCOURSE_WORK_DIR: must be set"},
		{"generate-key not yet", []string{"generate-key"}, nil, 2, "", "stand-in: generate-key not implemented yet\n"},
		{"unknown", []string{"frobnicate"}, nil, 2, "", "unknown command"},
		{"no args", nil, nil, 2, "", "usage"},
		{"CONCOURSE_VERSION web", []string{"web"}, []string{"CONCOURSE_VERSION=7.11.2"}, 2, "", "CONCOURSE_VERSION must not be set"},
		{"CONCOURSE_VERSION --version", []string{"--version"}, []string{"CONCOURSE_VERSION=7.11.2"}, 2, "", "CONCOURSE_VERSION must not be set"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			code := run(context.Background(), tc.args, tc.env, nil, &out, &errOut)
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
