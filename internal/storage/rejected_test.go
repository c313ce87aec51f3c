package storage

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func sampleRejection(version string) Rejection {
	return Rejection{
		Version: version, Arch: "amd64", SourceKind: "url", Source: "https://mirror/v/c.tgz?(query hidden)",
		URLSHA256: "ab", ETag: `"1-2"`, LastModified: "Mon, 02 Jan 2024 03:04:05 GMT", ContentLength: 10,
		Size: 10, SHA256: "cd", Cause: "version", Reason: "Release for " + version + " reports version 0.0.1",
		Unit: "concourse-ci/0", RejectedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

func TestRejectionRecordRoundTrip(t *testing.T) {
	t.Parallel()
	r := openTestRoot(t)
	if _, ok, err := r.Rejection("7.14.3", "amd64"); ok || err != nil {
		t.Fatalf("a fresh root has a record: ok=%v err=%v", ok, err)
	}
	if list, err := r.Rejections(); len(list) != 0 || err != nil {
		t.Fatalf("a fresh root lists %v (%v)", list, err)
	}
	want := sampleRejection("7.14.3")
	if err := r.RecordRejection(want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := r.Rejection("7.14.3", "amd64")
	if err != nil || !ok || !reflect.DeepEqual(got, want) {
		t.Fatalf("read back %+v ok=%v err=%v, want %+v", got, ok, err, want)
	}
	if _, ok, _ := r.Rejection("7.14.4", "amd64"); ok {
		t.Error("the record of 7.14.3 answers for 7.14.4")
	}
	if err := r.RecordRejection(sampleRejection("7.14.4")); err != nil {
		t.Fatal(err)
	}
	list, err := r.Rejections()
	if err != nil || len(list) != 2 || list[0].Version != "7.14.3" || list[1].Version != "7.14.4" {
		t.Fatalf("Rejections() = %+v (%v), want 7.14.3 and 7.14.4 in order", list, err)
	}
	info, err := os.Stat(filepath.Join(r.Path(), "rejected", "7.14.3-amd64.json"))
	if err != nil || info.Mode().Perm() != 0o644 {
		t.Errorf("record file: %v, mode %v; want 0644 (every unit reads it)", err, info.Mode().Perm())
	}

	if err := r.ClearRejection("7.14.3", "amd64"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := r.Rejection("7.14.3", "amd64"); ok {
		t.Error("record still there after ClearRejection")
	}
	if err := r.ClearRejection("7.14.3", "amd64"); err != nil {
		t.Errorf("clearing an absent record: %v", err)
	}
}

// A damaged record is no record (one more download, never a stuck unit); a crashed writer's temp
// file is neither listed nor kept by the next writer.
func TestRejectionRecordDamageAndDebris(t *testing.T) {
	t.Parallel()
	r := openTestRoot(t)
	dir := filepath.Join(r.Path(), "rejected")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "7.14.3-amd64.json"), []byte(`{"version":"7.14.3","ar`), 0o644); err != nil {
		t.Fatal(err)
	}
	debris := filepath.Join(dir, ".tmp-7.14.4-amd64.json-123")
	if err := os.WriteFile(debris, []byte(`{"version":"7.14.4"`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := r.Rejection("7.14.3", "amd64"); ok || err != nil {
		t.Errorf("a truncated record reads as ok=%v err=%v, want absent", ok, err)
	}
	if list, err := r.Rejections(); len(list) != 0 || err != nil {
		t.Errorf("Rejections() = %+v (%v), want none", list, err)
	}
	if err := r.RecordRejection(sampleRejection("7.14.5")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(debris); !os.IsNotExist(err) {
		t.Errorf("a dead writer's temp file survived the next write (err %v)", err)
	}
}

// Records live beside releases/, so that installs, GC and the releases listing never meet them, and
// they survive both.
func TestRejectionRecordsSurviveInstallAndGC(t *testing.T) {
	t.Parallel()
	r := openTestRoot(t)
	if err := r.RecordRejection(sampleRejection("7.14.4")); err != nil {
		t.Fatal(err)
	}
	calls := 0
	req := EnsureRequest{Version: "7.14.3", Arch: "amd64", Fill: fillFiles("7.14.3", 2, &calls)}
	if _, _, _, err := r.EnsureRelease(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	removed, err := r.GC(context.Background(), Owner{Unit: "concourse-ci/0"})
	if err != nil || len(removed) != 1 {
		t.Fatalf("GC removed %v (%v), want the unreferenced 7.14.3", removed, err)
	}
	entries, err := os.ReadDir(filepath.Join(r.Path(), "releases"))
	if err != nil || len(entries) != 0 {
		t.Errorf("releases/ holds %v after GC (%v)", entries, err)
	}
	if _, ok, err := r.Rejection("7.14.4", "amd64"); !ok || err != nil {
		t.Errorf("record lost across an install and a GC: ok=%v err=%v", ok, err)
	}
}
