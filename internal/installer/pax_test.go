package installer

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"testing"
)

func TestPAXGlobalHeaderIsNotAnEntry(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	// What `git archive` and `tar --format=pax --pax-option=...` emit first.
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "pax_global_header", PAXRecords: map[string]string{"comment": "abc"}, Format: tar.FormatPAX}); err != nil {
		t.Fatal(err)
	}
	body := []byte("#!/bin/sh\n")
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "concourse/bin/concourse", Mode: 0o755, Size: int64(len(body))})
	tw.Write(body)
	tw.Close()
	gz.Close()
	if err := unpackTarball(context.Background(), &buf, t.TempDir()); err != nil {
		t.Fatalf("a release with a pax global header is refused: %v", err)
	}
}
