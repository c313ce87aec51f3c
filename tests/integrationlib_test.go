package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeJuju answers the juju commands .github/integration-lib.sh runs with the shapes Juju 3.x
// prints (cmd/juju/status formatter: applications.<app>.units.<unit>.workload-status.message and
// public-address; machines.<id>.instance-id; juju run --format=json keyed by unit; add-machine's
// "created machine N" on stderr).
const fakeJuju = `#!/bin/bash
case "$1 $2" in
"add-machine -n") for i in $(seq "$3"); do echo "created machine $((3 + i))" >&2; done ;;
"wait-for machine") ;;
"show-machine "*) echo '{"model":{"name":"concourse"},"machines":{"'$2'":{"instance-id":"juju-a1b2c3-'$2'"}}}' ;;
"status concourse-ci") cat "$FAKE_STATUS" ;;
"run concourse-ci/leader") echo '{"concourse-ci/0":{"id":"4","results":{"password":"s3cret","username":"admin","return-code":0},"status":"completed"}}' ;;
*) echo "fake juju: unexpected $*" >&2; exit 2 ;;
esac
`

const fakeStatus = `{"applications":{"concourse-ci":{"units":{
 "concourse-ci/0":{"workload-status":{"current":"active","message":"worker 7.14.3, 1 TSA host (shared storage SHARED)"},"public-address":"10.0.0.4"},
 "concourse-ci/1":{"workload-status":{"current":"active","message":"web 7.14.3 (shared storage SHARED)"},"public-address":"10.0.0.5"},
 "concourse-ci/2":{"workload-status":{"current":"active","message":"worker 7.14.3, 1 TSA host (local: not a mount point)"},"public-address":"10.0.0.6"}}}}}`

// TestIntegrationLib runs the integration workflow's helpers against a fake juju and sudo: the
// machine ids parsed from add-machine, the LXD disk device each container gets, the web's URL and
// the admin password read from JSON, and the shared-storage check that counts units and releases.
func TestIntegrationLib(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("jq"); err != nil {
		t.Skip("jq is not installed: the helpers read Juju's JSON with it")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	shared := filepath.Join(dir, "shared")
	if err := os.MkdirAll(filepath.Join(shared, "releases", "7.14.3-amd64"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(shared, "releases", ".staging-1"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string, mode os.FileMode) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(bin, "juju"), fakeJuju, 0o755)
	// sudo runs the command, except lxc, which is recorded.
	write(filepath.Join(bin, "sudo"), "#!/bin/bash\nif [ \"$1\" = lxc ]; then echo \"$*\" >>\""+dir+"/lxc.log\"; exit 0; fi\nexec \"$@\"\n", 0o755)
	write(filepath.Join(dir, "status.json"), strings.ReplaceAll(fakeStatus, "SHARED", shared), 0o644)
	lib, err := filepath.Abs(filepath.Join(repoRoot, ".github", "integration-lib.sh"))
	if err != nil {
		t.Fatal(err)
	}
	run := func(script string) (string, error) {
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", "source "+lib+"\n"+script)
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "SHARED="+shared, "FAKE_STATUS="+filepath.Join(dir, "status.json"))
		out, err := cmd.Output()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out) + string(ee.Stderr), err
		}
		return string(out), err
	}
	check := func(script, want string) {
		t.Helper()
		out, err := run(script)
		if err != nil || strings.TrimSpace(out) != want {
			t.Errorf("%s: %q (%v), want %q", script, out, err, want)
		}
	}
	check(`m=$(add_machines 3); echo "$m"; csv $m`, "4 5 6 \n4,5,6")
	check(`share_dir 4 5 >/dev/null; cat "$(dirname "$SHARED")/lxc.log"`,
		"lxc config device add juju-a1b2c3-4 concourse-shared disk source="+shared+" path="+shared+" shift=true\n"+
			"lxc config device add juju-a1b2c3-5 concourse-shared disk source="+shared+" path="+shared+" shift=true")
	check(`web_url concourse-ci`, "http://10.0.0.5:8080")
	check(`admin_password concourse-ci`, "s3cret")
	check(`units concourse-ci | tr '\n' ' '`, "concourse-ci/0 concourse-ci/1 concourse-ci/2")
	// Two of the three units say shared storage; the staging directory is not a release.
	check(`expect_shared concourse-ci 2 >/dev/null && echo ok`, "ok")
	if out, err := run(`expect_shared concourse-ci 3`); err == nil || !strings.Contains(out, "2 of 3 units on shared storage") {
		t.Errorf("expect_shared accepts a unit on its own copy: %v %s", err, out)
	}
	if err := os.MkdirAll(filepath.Join(shared, "releases", "7.15.0-amd64"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := run(`expect_shared concourse-ci 2`); err == nil || !strings.Contains(out, "holds 2 releases, want 1") {
		t.Errorf("expect_shared accepts two releases: %v %s", err, out)
	}
}
