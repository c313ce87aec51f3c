package e2e

import (
	"archive/tar"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/releasetest"
)

// serveFiles replaces what srv serves for version with the tarball and sidecar at from, each by a
// rename, so that no request ever sees half a file (the new mtime and size change its validators).
func serveFiles(t *testing.T, srv *releaseServer, version string, from releasetest.Artifact) {
	t.Helper()
	served := srv.artifact(version).Path
	for _, suffix := range []string{"", ".sha1"} {
		data, err := os.ReadFile(from.Path + suffix)
		if err != nil {
			t.Fatal(err)
		}
		tmp := served + suffix + ".new"
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, served+suffix); err != nil {
			t.Fatal(err)
		}
	}
}

// keepArtifact copies what srv serves for version aside, to be served again later.
func keepArtifact(t *testing.T, srv *releaseServer, version string) releasetest.Artifact {
	t.Helper()
	art := srv.artifact(version)
	dir := t.TempDir()
	for _, suffix := range []string{"", ".sha1"} {
		data, err := os.ReadFile(art.Path + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, art.Filename+suffix), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	art.Path = filepath.Join(dir, art.Filename)
	return art
}

// unitsBlockedAlike checks every unit of concourse-ci is blocked with one and the same message
// naming want, and returns that message.
func unitsBlockedAlike(t *testing.T, m *storageModel, units int, want string) string {
	t.Helper()
	app := m.status().Applications["concourse-ci"]
	if len(app.Units) != units {
		t.Fatalf("%d units in status, want %d", len(app.Units), units)
	}
	msg := ""
	for name, u := range app.Units {
		ws := u.WorkloadStatus
		if msg == "" {
			msg = ws.Message
		}
		if ws.Current != "blocked" || ws.Message != msg || !strings.Contains(ws.Message, want) {
			t.Errorf("%s: %s %q, want blocked naming %q, the same on every unit (%q)", name, ws.Current, ws.Message, want, msg)
		}
	}
	return msg
}

// TestBadReleaseIsDownloadedOnce: three units on one shared directory and a release whose tarball
// holds another version download it once and are all blocked with the same message; an
// update-status round downloads nothing (one HEAD per unit asks whether the file changed); a new
// checksum pin is tried again, and so is a new file behind the URL; shared-storage-info shows the
// refusal; with the good release and no pin the units install it, once, and the refusal is gone.
func TestBadReleaseIsDownloadedOnce(t *testing.T) {
	t.Parallel()
	m := newStorageModel(t, version)
	good := keepArtifact(t, m.srv, version)
	bad, err := releasetest.WriteRelease(t.TempDir(), "amd64", releasetest.TarballOptions{Version: version, OmitBinary: true,
		PadBytes: 2 << 20, Extra: []releasetest.Entry{{Header: tar.Header{Typeflag: tar.TypeReg, Name: "concourse/bin/concourse", Mode: 0o755},
			Body: []byte("#!/bin/sh\necho 7.14.9\n")}}})
	if err != nil {
		t.Fatal(err)
	}
	serveFiles(t, m.srv, version, bad)
	shared := filepath.Join(t.TempDir(), "shared")
	m.deploy(3, sharedDirArgs(shared)...)
	m.juju("wait")

	step := func(name string, wantDownloads int) {
		t.Helper()
		t.Logf("%s: %d downloads of the tarball in all, %d HEAD probes", name, m.srv.downloads(version), m.srv.probes(version))
		if n := m.srv.downloads(version); n != wantDownloads {
			t.Errorf("%s: %d downloads in all, want %d", name, n, wantDownloads)
		}
	}
	step("deploy", 1)
	msg := unitsBlockedAlike(t, m, 3, "reports version 7.14.9")

	probes := m.srv.probes(version)
	m.juju("update-status")
	m.juju("wait")
	step("update-status", 1)
	if again := unitsBlockedAlike(t, m, 3, "reports version 7.14.9"); again != msg {
		t.Errorf("update-status changed the message from %q to %q", msg, again)
	}
	if n := m.srv.probes(version) - probes; n != 3 {
		t.Errorf("update-status: %d HEAD probes, want one per unit", n)
	}

	m.juju("config", "concourse-ci", "checksum="+bad.SHA256) // right for these bytes; the version inside is still wrong
	m.juju("wait")
	step("checksum pinned", 2)
	unitsBlockedAlike(t, m, 3, "reports version 7.14.9")

	serveFiles(t, m.srv, version, good) // the good release, but the pin is still the bad one's
	m.juju("update-status")
	m.juju("wait")
	step("new file behind the URL", 3)
	unitsBlockedAlike(t, m, 3, "failed verification")
	out := m.juju("run", "concourse-ci/2", "shared-storage-info")
	for _, want := range []string{`rejected-count: "1"`, "name: " + version + "-amd64", "cause: checksum", good.SHA256, bad.SHA256,
		"source: " + m.srv.urlTemplate()[:strings.Index(m.srv.urlTemplate(), "/v{version}")]} {
		if !strings.Contains(out, want) {
			t.Errorf("shared-storage-info lacks %q:\n%s", want, out)
		}
	}

	m.juju("config", "concourse-ci", "checksum=")
	m.juju("wait")
	step("good release", 4)
	wantStatuses(t, m, 3, "shared storage")
	wantReleases(t, m.model, version, "shared")
	if entries, err := os.ReadDir(filepath.Join(shared, "rejected")); err != nil || len(entries) != 0 {
		t.Errorf("refusal records left once the release installed: %v (%v)", entries, err)
	}
}
