package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// rejectedDir holds one record per release whose artifact was refused. It is beside releases/, not
// in it: the releases listing, GC and clearDebris never see a record, and a crashed write's temp
// file lands here too.
const rejectedDir = "rejected"

// Rejection remembers an artifact whose content failed verification on this root (wrong checksum,
// unsafe entry, wrong version inside, not a release), so that no unit sharing the root downloads the
// same bytes only to refuse them again. Storage keeps it; internal/release decides when it still
// applies.
//
// It holds no secret, as every unit reads it and shared-storage-info prints it: a download URL
// appears only in its display form (no userinfo, no query) and as a sha256 for matching.
type Rejection struct {
	Version string `json:"version"`
	Arch    string `json:"arch"`
	// SourceKind is "url" or "resource"; Source its display form (redacted URL or resource path).
	SourceKind string `json:"source-kind"`
	Source     string `json:"source"`
	// URLSHA256 is the sha256 of the full download URL (credentials included, so a changed token
	// or password is a changed URL), hex.
	URLSHA256 string `json:"url-sha256,omitempty"`
	// Checksum is the sha256 pin in force when the artifact was read; "" without one.
	Checksum string `json:"checksum,omitempty"`
	// Expected is the digest the bytes were checked against, "<algo>:<hex>" ("" for an unpinned
	// resource). For an unpinned URL it is the sidecar's sha1.
	Expected string `json:"expected,omitempty"`
	// The validators the server sent with the bytes that were read (URL sources).
	ETag          string `json:"etag,omitempty"`
	LastModified  string `json:"last-modified,omitempty"`
	ContentLength int64  `json:"content-length"` // -1: not announced
	// Size and SHA256 (hex) of the bytes that were read and refused.
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Cause is the kind of refusal: "checksum", "unsafe-entry", "version" or "archive".
	Cause string `json:"cause"`
	// Reason is the operator-facing message every unit reports while the record applies.
	Reason     string    `json:"reason"`
	Unit       string    `json:"unit,omitempty"`
	RejectedAt time.Time `json:"rejected-at"`
}

// Name is the release name the record is about ("7.14.3-amd64").
func (rec Rejection) Name() string {
	name, err := ReleaseName(rec.Version, rec.Arch)
	if err != nil {
		return rec.Version + "-" + rec.Arch
	}
	return name
}

func (r *Root) rejectedPath() string { return filepath.Join(r.path, rejectedDir) }

func (r *Root) rejectionFile(name string) string {
	return filepath.Join(r.rejectedPath(), name+".json")
}

// Rejection reads the record for version/arch. ok is false (with a nil error) when there is none or
// it does not parse: a damaged record only costs one more download. The root's identity is
// revalidated first, as for markers.
func (r *Root) Rejection(version, arch string) (rec Rejection, ok bool, err error) {
	name, err := ReleaseName(version, arch)
	if err != nil {
		return Rejection{}, false, err
	}
	if err := r.Revalidate(r.id); err != nil {
		return Rejection{}, false, err
	}
	rec, ok, err = readRejection(r.rejectionFile(name))
	if err != nil || !ok || rec.Version != version || rec.Arch != arch {
		return Rejection{}, false, err
	}
	return rec, true, nil
}

func readRejection(path string) (Rejection, bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Rejection{}, false, nil
	}
	if err != nil {
		return Rejection{}, false, fmt.Errorf("read rejection record: %w", err)
	}
	var rec Rejection
	if json.Unmarshal(data, &rec) != nil {
		return Rejection{}, false, nil
	}
	return rec, true, nil
}

// RecordRejection writes rec atomically (a reader on any unit sees the old record or the new one,
// never a part), replacing any record for the same release. Call it holding the install lock: the
// lock orders it with the download it describes and with ClearRejection, and makes any temp file
// left here the debris of a writer that died.
func (r *Root) RecordRejection(rec Rejection) error {
	name, err := ReleaseName(rec.Version, rec.Arch)
	if err != nil {
		return err
	}
	if err := ensureDir(r.rejectedPath(), 0o755); err != nil {
		return err
	}
	if err := r.clearRejectedDebris(); err != nil {
		return err
	}
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("encode rejection record: %w", err)
	}
	// World-readable like markers: every unit, whatever user runs it, must see the same verdict.
	return WriteFileAtomic(r.rejectionFile(name), append(data, '\n'), 0o644)
}

// ClearRejection removes the record for version/arch, if any. Call it holding the install lock.
func (r *Root) ClearRejection(version, arch string) error {
	name, err := ReleaseName(version, arch)
	if err != nil {
		return err
	}
	err = os.Remove(r.rejectionFile(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove rejection record of %s: %w", name, err)
	}
	return syncDir(r.rejectedPath())
}

// Rejections lists every record on the root, by release name.
func (r *Root) Rejections() ([]Rejection, error) {
	entries, err := os.ReadDir(r.rejectedPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list rejection records: %w", err)
	}
	var out []Rejection
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || !strings.HasSuffix(e.Name(), ".json") || !e.Type().IsRegular() {
			continue
		}
		rec, ok, err := readRejection(filepath.Join(r.rejectedPath(), e.Name()))
		if err != nil {
			return nil, err
		}
		if ok && rec.Name()+".json" == e.Name() {
			out = append(out, rec)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

// clearRejectedDebris removes temp files of writers that died mid-write (WriteFileAtomic's ".tmp-").
func (r *Root) clearRejectedDebris() error {
	entries, err := os.ReadDir(r.rejectedPath())
	if err != nil {
		return fmt.Errorf("list rejection records: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			if err := os.Remove(filepath.Join(r.rejectedPath(), e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove %s: %w", e.Name(), err)
			}
		}
	}
	return nil
}
