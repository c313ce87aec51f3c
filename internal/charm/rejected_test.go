package charm

import (
	"archive/tar"
	"context"
	"strings"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/releasetest"
)

// writeWrongRelease serves, as version 1.2.3, a well-formed release whose binary reports reports.
func writeWrongRelease(t *testing.T, dir, reports string) releasetest.Artifact {
	t.Helper()
	art, err := releasetest.WriteRelease(dir, "amd64", releasetest.TarballOptions{Version: "1.2.3", OmitBinary: true,
		Extra: []releasetest.Entry{{Header: tar.Header{Typeflag: tar.TypeReg, Name: "concourse/bin/concourse", Mode: 0o755},
			Body: []byte("#!/bin/sh\necho " + reports + "\n")}}})
	if err != nil {
		t.Fatal(err)
	}
	return art
}

// allBlockedAlike checks every unit is blocked with one and the same message containing want, and
// returns it.
func allBlockedAlike(t *testing.T, m *fakeModel, names []string, want string) string {
	t.Helper()
	first := m.lastStatus(names[0])
	for _, n := range names {
		st := m.lastStatus(n)
		if st.State != juju.Blocked || st.Message != first.Message || !strings.Contains(st.Message, want) {
			t.Errorf("%s: %s %q, want blocked with the same message as %s (%q) naming %q", n, st.State, st.Message, names[0], first.Message, want)
		}
	}
	return first.Message
}

// TestBadReleaseIsRefusedOnceForAllUnits: three units on one shared root and a tarball with another
// version inside: one download, the same blocked message on every unit; update-status downloads
// nothing and shows no maintenance in between; a new checksum pin or a new file behind the URL is
// tried again; shared-storage-info shows the refusal; a good release clears it.
func TestBadReleaseIsRefusedOnceForAllUnits(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := writeWrongRelease(t, dir, "9.9.9")
	srv := releasetest.StartServer(t, dir)
	m, _, root := sharedModel(t, srv)
	names := unitNames(3)
	gets := func() int { return srv.Stats(bad.URLPath).GETs() }

	reconcileAll(t, m, names)
	if n := gets(); n != 1 {
		t.Fatalf("3 units on one root downloaded the bad release %d times, want 1", n)
	}
	msg := allBlockedAlike(t, m, names, "reports version 9.9.9")

	before := map[string]int{}
	for _, n := range names {
		before[n] = len(m.statuses(n))
	}
	heads := srv.Stats(bad.URLPath).Heads
	reconcileRound(t, m, names) // update-status
	if n := gets(); n != 1 {
		t.Errorf("update-status downloaded the refused release again: %d downloads in all", n)
	}
	t.Logf("update-status: %d HEAD probes, 0 downloads", srv.Stats(bad.URLPath).Heads-heads)
	if again := allBlockedAlike(t, m, names, "reports version 9.9.9"); again != msg {
		t.Errorf("message changed from %q to %q without any change", msg, again)
	}
	for _, n := range names {
		for _, st := range m.statuses(n)[before[n]:] {
			if st.State != juju.Blocked {
				t.Errorf("%s went through %s %q on update-status", n, st.State, st.Message)
			}
		}
	}

	m.setConfig("checksum", bad.SHA256)
	reconcileRound(t, m, names)
	if n := gets(); n != 2 {
		t.Errorf("after a new checksum pin: %d downloads in all, want 2", n)
	}
	allBlockedAlike(t, m, names, "reports version 9.9.9")

	writeWrongRelease(t, dir, "8.8.8") // same URL, another file: the pin no longer matches
	reconcileRound(t, m, names)
	if n := gets(); n != 3 {
		t.Errorf("after the file behind the URL changed: %d downloads in all, want 3", n)
	}
	allBlockedAlike(t, m, names, "failed verification")

	c := m.unit(names[1])
	r := m.runners[names[1]]
	r.SetOutput("action-get", `{}`)
	if err := c.RunAction(context.Background(), "shared-storage-info"); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(r.Calls("action-set")[0].Args, " ")
	for _, want := range []string{"rejected-count=1", "rejected.r0.name=1.2.3-amd64", "rejected.r0.cause=checksum",
		"rejected.r0.reason=" + m.lastStatus(names[0]).Message, "rejected.r0.checksum=" + bad.SHA256, "rejected.r0.etag=",
		"rejected.r0.source=" + srv.URL + bad.URLPath} {
		if !strings.Contains(got, want) {
			t.Errorf("shared-storage-info %q lacks %q", got, want)
		}
	}

	if _, err := releasetest.WriteRelease(dir, "amd64", releasetest.TarballOptions{Version: "1.2.3"}); err != nil {
		t.Fatal(err)
	}
	m.setConfig("checksum", "")
	reconcileAll(t, m, names)
	if n := gets(); n != 4 {
		t.Errorf("the good release: %d downloads in all, want 4", n)
	}
	for _, n := range names {
		if st := m.lastStatus(n); st.State != juju.Active {
			t.Errorf("%s: %s %q once the release is good", n, st.State, st.Message)
		}
	}
	if recs, err := root.Rejections(); len(recs) != 0 || err != nil {
		t.Errorf("refusals left after a good install: %+v (%v)", recs, err)
	}
}
