// Package e2e runs the real packed charm under the Juju simulator (jujusim), each unit on its own
// machine: systemd-nspawn containers booting a real systemd when this host can run them (root,
// systemd-nspawn, the rootfs cache made by .ci/machines.sh), else the simulator's local provider.
// E2E_PROVIDER=local|nspawn forces one; the chosen provider is logged by every test.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/charmpack"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/machine"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/releasetest"
)

// artifacts are built once per test binary run by TestMain: the static jujusim binary (it is also
// every hook tool, bind-mounted into machines) and the packed charm.
type artifacts struct {
	jujusim, charm, provider, skip string
}

var built artifacts // written once in TestMain, read-only afterwards

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := 1
	if built, err = build(dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e build:", err)
	} else {
		code = releasetest.RunTests(m) // removes the stand-in builds too
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func build(dir string) (artifacts, error) {
	a := artifacts{jujusim: filepath.Join(dir, "jujusim"), charm: filepath.Join(dir, "concourse-ci-machine_amd64.charm")}
	dispatch := filepath.Join(dir, "dispatch")
	for out, pkg := range map[string]string{a.jujusim: "./cmd/jujusim", dispatch: "./cmd/concourse-charm"} {
		cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
		cmd.Dir = "../.."
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			return a, fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
		}
	}
	err := charmpack.Pack(charmpack.Options{SourceDir: "../..", Dispatch: dispatch, Arch: "amd64", Version: "e2e", Output: a.charm})
	if err != nil {
		return a, err
	}
	a.provider, a.skip = chooseProvider()
	return a, nil
}

// chooseProvider prefers real machines; it only falls back when they cannot run here, and says why.
func chooseProvider() (provider, why string) {
	switch p := os.Getenv("E2E_PROVIDER"); p {
	case "local", "nspawn":
		return p, ""
	case "":
	default:
		return "", fmt.Sprintf("E2E_PROVIDER=%q: want local or nspawn", p)
	}
	if err := machine.HostSupport(context.Background()); err != nil {
		return "local", "this host cannot run nspawn machines: " + err.Error()
	}
	if !machine.RootfsComplete(machine.DefaultRootfsDir()) {
		return "local", "no rootfs cache at " + machine.DefaultRootfsDir() + ": run .ci/machines.sh"
	}
	return "nspawn", ""
}
