package installer_test

import (
	"context"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/installer"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/releasetest"
)

// TestSidecarOfAURLWithAQuery: a download-url with a query (a mirror's "?raw=1") has its sidecar at
// the tarball's path + ".sha1", query kept, not at "...?raw=1.sha1".
func TestSidecarOfAURLWithAQuery(t *testing.T) {
	t.Parallel()
	const version = "7.5.1"
	f := newFixture(t, releasetest.TarballOptions{Version: version})
	req := f.request(version)
	req.URLTemplate += "?raw=1"
	box := newSandbox(t)
	if _, err := installer.Install(context.Background(), req, box.staging); err != nil {
		t.Fatalf("Install: %v", err)
	}
	if st := f.srv.Stats(f.art.URLPath + ".sha1"); st.Requests != 1 {
		t.Errorf("sidecar requests at %s.sha1 = %+v, want 1", f.art.URLPath, st)
	}
}
