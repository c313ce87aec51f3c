package jujusim

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLocalMachine(t *testing.T) {
	t.Parallel()
	model := t.TempDir()
	shared := t.TempDir()
	m, err := LocalProvider{}.Provision(context.Background(), MachineSpec{ID: "2", ModelDir: model, Binds: []Bind{{HostPath: shared, Path: "/srv/shared"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Destroy(context.Background()) })
	if m.Address() != "127.0.1.3" {
		t.Errorf("address %s", m.Address())
	}
	root := filepath.Join(model, "machines", "2", "root")
	for in, want := range map[string]string{"/var/lib/x": root + "/var/lib/x", model + "/tools": model + "/tools", "rel": "rel"} {
		if got := MachinePath(m, in); got != want {
			t.Errorf("MachinePath(%q) = %q, want %q", in, got, want)
		}
	}
	out, code, err := m.Exec(context.Background(), Cmd{Argv: []string{"/bin/sh", "-c", "echo out; echo err >&2; cat; exit 3"}, Stdin: []byte("in\n"), Dir: "/"})
	if err != nil || code != 3 || string(out) != "out\nerr\nin\n" {
		t.Fatalf("exec: %q %d %v", out, code, err)
	}
	// The bind: a file written through the machine path lands in the host dir.
	if _, code, err := m.Exec(context.Background(), Cmd{Argv: []string{"/bin/sh", "-c", "echo hi > " + MachinePath(m, "/srv/shared") + "/f"}}); err != nil || code != 0 {
		t.Fatalf("write through bind: %d %v", code, err)
	}
	if data, _ := os.ReadFile(filepath.Join(shared, "f")); string(data) != "hi\n" {
		t.Fatalf("bind content %q", data)
	}
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "dispatch"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := m.CopyIn(context.Background(), src, "/var/lib/juju/agents/unit-a-0/charm"); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(root, "var/lib/juju/agents/unit-a-0/charm/dispatch"))
	if err != nil || info.Mode().Perm() != 0o755 {
		t.Fatalf("copied dispatch: %v %v", info, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, _, err := m.Exec(ctx, Cmd{Argv: []string{"/bin/sh", "-c", "sleep 60"}})
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "canceled") {
			t.Fatalf("cancelled exec: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cancelled exec did not return")
	}
	if err := m.Destroy(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(root); !os.IsNotExist(err) {
		t.Fatalf("machine dir survives Destroy: %v", err)
	}
}
