package release

import (
	"encoding/json"
	"os"
	"path/filepath"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/installer"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/storage"
)

// memoFile, in the unit's own directory on the root, caches the sha256 of the unit's copy of the
// release resource. Each unit has its own copy (Juju fetches it onto every machine), with its own
// inode and times, so only a digest can be matched against a record another unit wrote; the memo
// makes that a stat in every later hook instead of a read of hundreds of MB.
const memoFile = "resource-sha256.json"

type resourceMemo struct {
	Path   string              `json:"path"`
	Stamp  installer.FileStamp `json:"stamp"`
	SHA256 string              `json:"sha256"`
}

// resourceDigest returns the sha256 of the resource at path, whose current stamp is stamp: from the
// memo when it was computed for this very file, else by reading it (and remembering the result).
func resourceDigest(root *storage.Root, unit, path string, stamp installer.FileStamp) (string, error) {
	if m, ok := readMemo(root, unit); ok && m.Path == path && m.Stamp == stamp {
		return m.SHA256, nil
	}
	read, sum, err := installer.HashFile(path)
	if err != nil {
		return "", err
	}
	rememberResourceDigest(root, unit, path, read, sum)
	return sum, nil
}

func readMemo(root *storage.Root, unit string) (resourceMemo, bool) {
	if unit == "" {
		return resourceMemo{}, false
	}
	dir, err := root.UnitDir(unit)
	if err != nil {
		return resourceMemo{}, false
	}
	data, err := os.ReadFile(filepath.Join(dir, memoFile))
	if err != nil {
		return resourceMemo{}, false
	}
	var m resourceMemo
	if json.Unmarshal(data, &m) != nil {
		return resourceMemo{}, false
	}
	return m, true
}

// rememberResourceDigest is best effort: without the memo the next hook reads the file again.
func rememberResourceDigest(root *storage.Root, unit, path string, stamp installer.FileStamp, sum string) {
	if unit == "" || sum == "" || stamp == (installer.FileStamp{}) {
		return
	}
	dir, err := root.UnitDir(unit)
	if err != nil {
		return
	}
	data, err := json.Marshal(resourceMemo{Path: path, Stamp: stamp, SHA256: sum})
	if err != nil {
		return
	}
	_ = storage.WriteFileAtomic(filepath.Join(dir, memoFile), data, 0o600)
}
