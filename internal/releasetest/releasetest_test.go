package releasetest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestMain(m *testing.M) { os.Exit(RunTests(m)) }

func TestBuildStandinPrintsVersionAndCaches(t *testing.T) {
	t.Parallel()
	p1, err := BuildStandin("1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	p2, err := BuildStandin("1.2.3")
	if err != nil || p2 != p1 {
		t.Fatalf("second build = %q, %v; want cached %q", p2, err, p1)
	}
	out, err := exec.Command(p1, "--version").Output()
	if err != nil || string(out) != "1.2.3\n" {
		t.Fatalf("--version = %q, %v", out, err)
	}
	if _, err := BuildStandin("1.2.3; rm -rf /"); err == nil {
		t.Error("unsafe version accepted")
	}
}

func TestWriteTarballLayoutAndDeterminism(t *testing.T) {
	t.Parallel()
	opts := TarballOptions{Version: "7.1.0", PadBytes: 100_001, Seed: 7}
	var a, b bytes.Buffer
	if err := WriteTarball(&a, opts); err != nil {
		t.Fatal(err)
	}
	if err := WriteTarball(&b, opts); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("same options gave different tarballs")
	}
	entries := listTarball(t, a.Bytes())
	var padTotal int64
	for _, typ := range ResourceTypes {
		padTotal += entries["concourse/resource-types/"+typ+"/rootfs.tgz"]
		if _, ok := entries["concourse/resource-types/"+typ+"/resource_metadata.json"]; !ok {
			t.Errorf("no metadata for %s", typ)
		}
	}
	if padTotal != opts.PadBytes {
		t.Errorf("padding %d bytes, want %d", padTotal, opts.PadBytes)
	}
	for _, want := range []string{"concourse/bin/concourse", "concourse/fly-assets/fly-linux-amd64.tgz"} {
		if _, ok := entries[want]; !ok {
			t.Errorf("missing %s", want)
		}
	}
	// Incompressible padding: the tarball is at least as big as the pad.
	if int64(a.Len()) < opts.PadBytes {
		t.Errorf("tarball %d bytes, padding %d compressed away", a.Len(), opts.PadBytes)
	}
}

func listTarball(t *testing.T, data []byte) map[string]int64 {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	out := map[string]int64{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[hdr.Name] = hdr.Size
	}
}

func TestServerFaultsAndStats(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	art, err := WriteRelease(dir, "arm64", TarballOptions{Version: "7.2.0", PadBytes: 50_000})
	if err != nil {
		t.Fatal(err)
	}
	srv := StartServer(t, dir)
	url := srv.URL + art.URLPath
	srv.SetFault(art.URLPath, Fault{FailStatus: 503, FailTimes: 1, CutAfter: 10, CutTimes: 1})

	get := func(h map[string]string) (*http.Response, []byte, error) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp, body, err
	}
	if resp, _, _ := get(nil); resp.StatusCode != 503 {
		t.Errorf("first answer %d, want injected 503", resp.StatusCode)
	}
	if _, body, err := get(nil); err == nil || len(body) != 10 {
		t.Errorf("second answer: %d bytes, err %v; want a cut after 10", len(body), err)
	}
	resp, body, err := get(map[string]string{"Range": "bytes=10-"})
	if err != nil || resp.StatusCode != http.StatusPartialContent || int64(len(body)) != art.Size-10 {
		t.Errorf("range answer %v, %d bytes, %v", resp.Status, len(body), err)
	}
	sidecar, _ := os.ReadFile(art.Path + ".sha1")
	if want := fmt.Sprintf("%s  concourse-7.2.0-linux-arm64.tgz\n", art.SHA1); string(sidecar) != want {
		t.Errorf("sidecar %q, want %q", sidecar, want)
	}
	st := srv.Stats(art.URLPath)
	if st.Requests != 3 || st.Full != 2 || st.Ranged != 1 || st.Ranges[0] != "bytes=10-" {
		t.Errorf("stats %+v", st)
	}
	r, err := srv.Client().Get(srv.URL + StatsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var all map[string]PathStats
	if err := json.NewDecoder(r.Body).Decode(&all); err != nil || all[art.URLPath].Requests != 3 {
		t.Errorf("/_stats = %v, %v", all, err)
	}
	if !strings.Contains(srv.URLTemplate(), "{version}") {
		t.Error("URLTemplate lacks {version}")
	}
}
