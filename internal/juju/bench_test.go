package juju_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju/jujutest"
)

// BenchmarkExecRunner is the fixed cost of one hook-tool process (fork,
// exec of a shell script, pipes), the floor under every Client method.
func BenchmarkExecRunner(b *testing.B) {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "is-leader"), []byte("#!/bin/sh\necho true\n"), 0o755); err != nil {
		b.Fatal(err)
	}
	c := juju.NewClient(juju.ExecRunner{ToolsDir: dir})
	ctx := context.Background()
	for b.Loop() {
		if ok, err := c.IsLeader(ctx); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkRelationSetEncode is the client-side cost of encoding a peer
// data bag of 50 keys onto stdin.
func BenchmarkRelationSetEncode(b *testing.B) {
	data := map[string]string{}
	for i := range 50 {
		data[fmt.Sprintf("key-%02d", i)] = fmt.Sprintf("value %d with some length to it", i)
	}
	fake := jujutest.New()
	c := juju.NewClient(fake)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.RelationSet(ctx, "peers:1", true, data); err != nil {
			b.Fatal(err)
		}
		fake.Reset()
	}
}
