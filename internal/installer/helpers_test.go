package installer_test

import (
	"crypto/sha1"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/installer"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/releasetest"
)

func TestMain(m *testing.M) { os.Exit(releasetest.RunTests(m)) }

const testArch = "amd64"

// fixture is one release served from a loopback server.
type fixture struct {
	srv *releasetest.Server
	art releasetest.Artifact
}

func newFixture(t *testing.T, opts releasetest.TarballOptions) fixture {
	t.Helper()
	dir := t.TempDir()
	art, err := releasetest.WriteRelease(dir, testArch, opts)
	if err != nil {
		t.Fatal(err)
	}
	return fixture{srv: releasetest.StartServer(t, dir), art: art}
}

func (f fixture) request(version string) installer.Request {
	return installer.Request{
		Version:      version,
		Arch:         testArch,
		URLTemplate:  f.srv.URLTemplate(),
		HTTPClient:   f.srv.Client(),
		Retries:      3,
		Backoff:      time.Millisecond,
		StallTimeout: 10 * time.Second,
	}
}

func (f fixture) url() string { return f.srv.URL + f.art.URLPath }

// rewriteSidecar makes the sidecar match the tarball as it is now on disk.
func (f fixture) rewriteSidecar(t *testing.T) {
	t.Helper()
	data, err := os.ReadFile(f.art.Path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum(data)
	line := hex.EncodeToString(sum[:]) + "  " + f.art.Filename + "\n"
	if err := os.WriteFile(f.art.Path+".sha1", []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
}

// sandbox is a parent directory holding the staging dir and a sentinel,
// so a test can prove nothing outside staging was touched.
type sandbox struct {
	parent, staging string
}

const sentinelBody = "untouched"

func newSandbox(t *testing.T) sandbox {
	t.Helper()
	parent := t.TempDir()
	s := sandbox{parent: parent, staging: filepath.Join(parent, "staging")}
	if err := os.Mkdir(s.staging, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(parent, "sentinel"), []byte(sentinelBody), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// assertUntouched checks the parent holds exactly staging and the
// unchanged sentinel.
func (s sandbox) assertUntouched(t *testing.T) {
	t.Helper()
	entries, err := os.ReadDir(s.parent)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "staging" && e.Name() != "sentinel" {
			t.Errorf("unexpected %s outside staging", filepath.Join(s.parent, e.Name()))
		}
	}
	body, err := os.ReadFile(filepath.Join(s.parent, "sentinel"))
	if err != nil || string(body) != sentinelBody {
		t.Errorf("sentinel changed: %q, %v", body, err)
	}
}

func (s sandbox) assertEmptyStaging(t *testing.T) {
	t.Helper()
	entries, err := os.ReadDir(s.staging)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("staging not cleared after failure: %s", e.Name())
	}
}

func fileMode(t *testing.T, p string) fs.FileMode {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode()
}
