package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/engine"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/machine"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/releasetest"
)

// model is one simulated Juju model, destroyed (machines included) when the test ends.
type model struct {
	t   *testing.T
	dir string
}

func newModel(t *testing.T) *model {
	t.Helper()
	if built.provider == "" {
		t.Skip(built.skip)
	}
	if built.skip != "" {
		t.Logf("provider %s: %s", built.provider, built.skip)
	} else {
		t.Logf("provider %s", built.provider)
	}
	m := &model{t: t, dir: filepath.Join(t.TempDir(), "model")}
	t.Cleanup(func() {
		if out, err := m.cmd("destroy-model"); err != nil {
			t.Errorf("destroy-model: %v\n%s", err, out)
		}
	})
	return m
}

func (m *model) cmd(args ...string) (string, error) {
	cmd := exec.Command(built.jujusim, append([]string{"--model", m.dir}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// juju runs a command that must succeed. `wait` lets a failed hook be retried twice, as Juju
// retries failed hooks by itself: a transient failure (a busy CI host) is not a charm bug, and a
// hook that keeps failing still fails the test.
func (m *model) juju(args ...string) string {
	m.t.Helper()
	if len(args) == 1 && args[0] == "wait" {
		args = append(args, "--max-retries", "2")
	}
	out, err := m.cmd(args...)
	if err != nil {
		m.t.Fatalf("jujusim %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (m *model) status() engine.StatusInfo {
	m.t.Helper()
	var st engine.StatusInfo
	if err := json.Unmarshal([]byte(m.juju("status", "--format=json")), &st); err != nil {
		m.t.Fatal(err)
	}
	return st
}

// hooks lists, in order, the hooks the unit ran (from its log in the model dir).
func (m *model) hooks(unit string) []string {
	m.t.Helper()
	f, err := os.Open(filepath.Join(m.dir, "logs", "unit-"+strings.ReplaceAll(unit, "/", "-")+".log"))
	if err != nil {
		m.t.Fatal(err)
	}
	defer f.Close()
	var hooks []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 5 && fields[3] == "running" {
			hooks = append(hooks, fields[4])
		}
	}
	return hooks
}

// releaseServer serves fixture releases where the machines can reach it: on every interface, and
// addressed through the bridge's host address for nspawn machines.
type releaseServer struct {
	*releasetest.Handler
	base      string
	artifacts map[string]releasetest.Artifact
}

func serveRelease(t *testing.T, versions ...string) *releaseServer {
	t.Helper()
	dir := t.TempDir()
	arts := map[string]releasetest.Artifact{}
	for _, v := range versions {
		// The Go stand-in (static), so that what runs `--version` inside the machines is a real
		// binary from the release, as concourse would be, in a published release's layout (runtime
		// binaries, hard link and relative symlinks in bin/, 14 resource types, 3 fly assets).
		opts := releasetest.TarballOptions{Version: v, PadBytes: 2 << 20, StandinPath: releasetest.Standin(t, v), Layout: releasetest.LayoutReal}
		art, err := releasetest.WriteRelease(dir, "amd64", opts)
		if err != nil {
			t.Fatal(err)
		}
		arts[v] = art
	}
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	h := releasetest.NewHandler(dir)
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() {
		h.Close()
		srv.Shutdown(context.Background())
	})
	host := "127.0.0.1"
	if built.provider == "nspawn" {
		host = machine.DefaultNetwork().HostIP()
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return &releaseServer{Handler: h, base: "http://" + net.JoinHostPort(host, port),
		artifacts: arts}
}

func (s *releaseServer) artifact(version string) releasetest.Artifact { return s.artifacts[version] }

// downloads counts the GETs of version's tarball: HEAD probes (a unit asking whether a refused
// tarball changed) read no body and are not downloads.
func (s *releaseServer) downloads(version string) int {
	return s.Stats(releasetest.URLPath(version, "amd64")).GETs()
}

// probes counts the HEADs of version's tarball.
func (s *releaseServer) probes(version string) int {
	return s.Stats(releasetest.URLPath(version, "amd64")).Heads
}

func (s *releaseServer) urlTemplate() string { return s.base + releasetest.URLTemplate }
