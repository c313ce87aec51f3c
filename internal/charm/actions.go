package charm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/storage"
)

// sharedStorageInfo reports where this unit's release lives and what the root holds. It only
// reads: an action must not change what the reconcile decided.
func (c *Charm) sharedStorageInfo(ctx context.Context) error {
	params, err := c.tools.ActionGet(ctx)
	if err != nil {
		return fmt.Errorf("read parameters: %w", err)
	}
	verbose, _ := params["verbose"].(bool)
	dataDir, err := c.dataDir(ctx)
	if err != nil {
		return err
	}
	p, err := readPlacement(dataDir)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("this unit has not placed a release yet: wait for its hooks to run (juju status), then retry")
	}
	if err != nil {
		return err
	}
	results := map[string]string{
		"root":     p.Root,
		"location": map[bool]string{true: "shared", false: "local"}[p.Shared],
	}
	if p.SharedPath != "" {
		results["shared-storage-path"] = p.SharedPath
	}
	if p.Note != "" {
		results["fallback-reason"] = p.Note
	}
	results["identity"] = p.root.Identity().String()
	if err := addReleases(results, p.root); err != nil {
		return err
	}
	if err := addRejections(results, p.root); err != nil {
		return err
	}
	if holder, err := storage.ReadOwner(p.root.InstallLockPath()); err == nil {
		results["install-lock.holder"] = holder.String() // recorded while held; a stale one names a holder that died
	}
	if verbose {
		if err := addUnitRefs(results, p.root); err != nil {
			return err
		}
	}
	return c.tools.ActionSet(ctx, results)
}

// addReleases lists the complete releases under root as releases.<n>.* results.
func addReleases(results map[string]string, r *storage.Root) error {
	entries, err := os.ReadDir(filepath.Join(r.Path(), "releases"))
	if err != nil {
		return fmt.Errorf("list releases: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	n := 0
	for _, name := range names {
		cut := strings.LastIndex(name, "-")
		if cut < 0 {
			continue
		}
		_, m, ok, err := r.Release(name[:cut], name[cut+1:])
		if err != nil || !ok {
			continue
		}
		prefix := "releases.r" + strconv.Itoa(n) + "."
		results[prefix+"name"] = name
		results[prefix+"source"] = m.Source
		results[prefix+"sha256"] = m.SHA256
		results[prefix+"size"] = strconv.FormatInt(m.Size, 10)
		results[prefix+"installed-by"] = m.Unit
		n++
	}
	results["release-count"] = strconv.Itoa(n)
	return nil
}

// addRejections lists the artifacts refused for their content as rejected.<n>.* results: what every
// unit on the root reports instead of downloading them again, until the config, the resource or
// the file behind the URL changes.
func addRejections(results map[string]string, r *storage.Root) error {
	recs, err := r.Rejections()
	if err != nil {
		return err
	}
	for n, rec := range recs {
		prefix := "rejected.r" + strconv.Itoa(n) + "."
		for key, value := range map[string]string{
			"name": rec.Name(), "source-kind": rec.SourceKind, "source": rec.Source, "url-sha256": rec.URLSHA256,
			"checksum": rec.Checksum, "expected": rec.Expected, "etag": rec.ETag, "last-modified": rec.LastModified,
			"sha256": rec.SHA256, "cause": rec.Cause, "reason": rec.Reason, "unit": rec.Unit,
		} {
			if value != "" {
				results[prefix+key] = value
			}
		}
		results[prefix+"size"] = strconv.FormatInt(rec.Size, 10)
		if rec.ContentLength >= 0 {
			results[prefix+"content-length"] = strconv.FormatInt(rec.ContentLength, 10)
		}
		results[prefix+"at"] = rec.RejectedAt.UTC().Format(time.RFC3339)
	}
	results["rejected-count"] = strconv.Itoa(len(recs))
	return nil
}

func addUnitRefs(results map[string]string, r *storage.Root) error {
	refs, err := r.UnitRefs()
	if err != nil {
		return err
	}
	for unit, ref := range refs {
		key := "units." + strings.ReplaceAll(unit, "/", "-")
		results[key+".releases"] = strings.Join(ref.Releases(), ",")
		if !ref.Heartbeat.IsZero() {
			results[key+".last-seen"] = ref.Heartbeat.UTC().Format(time.RFC3339)
		}
	}
	return nil
}
