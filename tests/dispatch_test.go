package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// fakeTool is every hook tool: it logs its name and arguments, prints a programmed answer and exits
// with a programmed code (files under $FAKE_DIR named after the tool).
const fakeTool = `#!/bin/sh
name=$(basename "$0")
echo "$name $*" >> "$FAKE_DIR/calls"
[ -f "$FAKE_DIR/out.$name" ] && cat "$FAKE_DIR/out.$name"
[ -f "$FAKE_DIR/rc.$name" ] && exit "$(cat "$FAKE_DIR/rc.$name")"
exit 0
`

var hookTools = []string{
	"config-get", "status-set", "is-leader", "storage-list", "storage-get", "relation-ids",
	"relation-get", "relation-set", "application-version-set", "juju-log", "action-get",
	"action-set", "action-fail", "action-log", "resource-get", "opened-ports", "open-port", "close-port",
}

type dispatchRun struct {
	charmDir, fakeDir string
	t                 *testing.T
}

func newDispatchRun(t *testing.T, binary string) *dispatchRun {
	t.Helper()
	r := &dispatchRun{charmDir: t.TempDir(), fakeDir: t.TempDir(), t: t}
	toolsDir := filepath.Join(r.fakeDir, "bin")
	must(t, os.Mkdir(toolsDir, 0o755))
	must(t, os.WriteFile(filepath.Join(toolsDir, "fake-tool"), []byte(fakeTool), 0o755))
	for _, name := range hookTools {
		must(t, os.Symlink("fake-tool", filepath.Join(toolsDir, name)))
	}
	data, err := os.ReadFile(binary)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(r.charmDir, "dispatch"), data, 0o755))
	must(t, os.Mkdir(filepath.Join(r.charmDir, "hooks"), 0o755))
	must(t, os.Symlink("../dispatch", filepath.Join(r.charmDir, "hooks", "config-changed")))
	return r
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (r *dispatchRun) answer(tool, out string, rc int) {
	must(r.t, os.WriteFile(filepath.Join(r.fakeDir, "out."+tool), []byte(out), 0o644))
	if rc != 0 {
		must(r.t, os.WriteFile(filepath.Join(r.fakeDir, "rc."+tool), []byte{byte('0' + rc)}, 0o644))
	}
}

// run executes program (relative to the charm dir) with Juju's hook environment plus extra.
func (r *dispatchRun) run(program string, extra ...string) (exitCode int, calls []string, stderr string) {
	r.t.Helper()
	cmd := exec.Command(filepath.Join(r.charmDir, program))
	cmd.Dir = r.charmDir
	cmd.Env = append([]string{
		"PATH=" + filepath.Join(r.fakeDir, "bin") + ":/usr/bin:/bin",
		"FAKE_DIR=" + r.fakeDir,
		"JUJU_UNIT_NAME=concourse-ci/0", "JUJU_CHARM_DIR=" + r.charmDir, "JUJU_MODEL_NAME=test",
	}, extra...)
	var errBuf strings.Builder
	cmd.Stderr = &errBuf
	err := cmd.Run()
	if exit, ok := err.(*exec.ExitError); ok {
		exitCode = exit.ExitCode()
	} else if err != nil {
		r.t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(r.fakeDir, "calls"))
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line != "" {
			calls = append(calls, line)
		}
	}
	return exitCode, calls, errBuf.String()
}

func hasCall(calls []string, prefix string) bool {
	for _, c := range calls {
		if strings.HasPrefix(c, prefix) {
			return true
		}
	}
	return false
}

const badModeConfig = `{"mode":"both","version":"7.14.3","download-url":"https://example.com/{version}.tgz","checksum":"","shared-storage-path":"","shared-storage-require-mount":true,"log-level":"info"}`

func TestDispatchRouting(t *testing.T) {
	t.Parallel()
	binary, _ := buildCharm(t, runtime.GOARCH)

	t.Run("hook through JUJU_DISPATCH_PATH runs the reconcile", func(t *testing.T) {
		t.Parallel()
		r := newDispatchRun(t, binary)
		r.answer("config-get", badModeConfig, 0)
		code, calls, stderr := r.run("dispatch", "JUJU_DISPATCH_PATH=hooks/update-status", "JUJU_HOOK_NAME=update-status")
		if code != 0 {
			t.Fatalf("exit %d, stderr %s", code, stderr)
		}
		if len(calls) < 2 || calls[0] != "config-get --all --format=json" || !strings.HasPrefix(calls[1], `status-set blocked -- config option "mode"=both`) {
			t.Fatalf("calls %q: want config-get then status-set blocked naming mode", calls)
		}
	})

	t.Run("hook through a hooks/ symlink", func(t *testing.T) {
		t.Parallel()
		r := newDispatchRun(t, binary)
		r.answer("config-get", badModeConfig, 0)
		code, calls, stderr := r.run("hooks/config-changed")
		if code != 0 || !hasCall(calls, "status-set blocked") {
			t.Fatalf("exit %d, calls %q, stderr %s", code, calls, stderr)
		}
	})

	t.Run("unknown hook exits 0 and calls nothing", func(t *testing.T) {
		t.Parallel()
		r := newDispatchRun(t, binary)
		code, calls, stderr := r.run("dispatch", "JUJU_DISPATCH_PATH=hooks/some-future-hook")
		if code != 0 || len(calls) != 0 {
			t.Fatalf("exit %d, calls %q, stderr %s", code, calls, stderr)
		}
	})

	t.Run("action failure goes to action-fail", func(t *testing.T) {
		t.Parallel()
		r := newDispatchRun(t, binary)
		r.answer("action-get", `{"verbose":false}`, 0)
		r.answer("storage-list", `[]`, 0)
		code, calls, stderr := r.run("dispatch", "JUJU_DISPATCH_PATH=actions/shared-storage-info",
			"JUJU_ACTION_NAME=shared-storage-info", "JUJU_ACTION_UUID=1")
		if code != 0 || !hasCall(calls, "action-fail") || hasCall(calls, "status-set") {
			t.Fatalf("exit %d, calls %q, stderr %s: want action-fail and no status change", code, calls, stderr)
		}
	})

	t.Run("unexpected error is logged and fails the hook", func(t *testing.T) {
		t.Parallel()
		r := newDispatchRun(t, binary)
		r.answer("config-get", "", 0)
		must(t, os.WriteFile(filepath.Join(r.fakeDir, "rc.config-get"), []byte("1"), 0o644))
		code, calls, stderr := r.run("dispatch", "JUJU_DISPATCH_PATH=hooks/install")
		if code == 0 || !hasCall(calls, "juju-log --log-level=ERROR") || !strings.Contains(stderr, "config-get") {
			t.Fatalf("exit %d, calls %q, stderr %s: want non-zero, juju-log ERROR naming config-get", code, calls, stderr)
		}
	})

	t.Run("no event in the environment", func(t *testing.T) {
		t.Parallel()
		r := newDispatchRun(t, binary)
		code, calls, _ := r.run("dispatch")
		if code != 2 || len(calls) != 0 {
			t.Fatalf("exit %d, calls %q: want 2 and no tool call", code, calls)
		}
	})
}
