package charm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/installer"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/release"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/storage"
)

// blockedError is a failure the operator must act on: the unit goes to `blocked` with its text.
type blockedError struct{ msg string }

func (e *blockedError) Error() string { return e.msg }

// ensureRelease makes cfg.Version present on the placement's root, downloading it only if no unit
// sharing the root has, and records that this unit uses it.
func (c *Charm) ensureRelease(ctx context.Context, cfg Config, p placement) (release.Installed, error) {
	rel, err := c.fetchRelease(ctx, cfg, p)
	if err != nil {
		return release.Installed{}, err
	}
	// The unit runs what this hook ensures: services restart on it when it changed (workload.go).
	if err := p.root.SetUnitRef(c.env.UnitName, cfg.Version, c.arch); err != nil {
		return release.Installed{}, fmt.Errorf("record release in use: %w", err)
	}
	return rel, nil
}

// fetchRelease makes cfg.Version present on the root and held for this unit (GC keeps it), without
// recording that the unit runs it.
func (c *Charm) fetchRelease(ctx context.Context, cfg Config, p placement) (release.Installed, error) {
	_, _, present, _ := p.root.Release(cfg.Version, c.arch)
	resource := ""
	if !present {
		// Only now: resource-get may fetch a large file from the controller.
		resource = c.attachedResource(ctx)
	}
	req := installer.Request{
		Version:      cfg.Version,
		Arch:         c.arch,
		URLTemplate:  cfg.DownloadURL,
		ResourcePath: resource,
		SHA256:       cfg.Checksum,
		Proxy:        installer.ProxyConfig{HTTPProxy: c.env.HTTPProxy, HTTPSProxy: c.env.HTTPSProxy, NoProxy: c.env.NoProxy},
		Progress:     c.progressReporter(ctx, cfg.Version),
		Retries:      8,
		Backoff:      2 * time.Second,
		StallTimeout: time.Minute,
	}
	opts := release.Options{
		OnWait: func(holder storage.Owner) {
			who := holder.Unit
			if who == "" {
				who = "another unit"
			}
			_ = c.status(ctx, juju.Waiting, fmt.Sprintf("Waiting for %s to finish %s", who, holder.Purpose))
		},
		// Only once a download really starts: a release refused before (by any unit on the root)
		// goes straight back to its blocked message, without a maintenance status in between.
		OnFetch: func() {
			_ = c.status(ctx, juju.Maintenance, fmt.Sprintf("Installing Concourse %s (%s)", cfg.Version, p.describe()))
		},
		// The message stored with a refusal is the one every unit on the root then shows.
		Explain: func(err error) string { return classifyInstallError(cfg.Version, err).Error() },
		Log:     func(line string) { fmt.Fprintln(c.out, line) },
	}
	rel, err := release.EnsureWith(ctx, p.root, c.env.UnitName, req, opts)
	if err != nil {
		return release.Installed{}, classifyInstallError(cfg.Version, err)
	}
	if rel.ByUs {
		fmt.Fprintf(c.out, "installed Concourse %s into %s from %s\n", cfg.Version, rel.Dir, rel.Marker.Source)
	}
	return rel, nil
}

// attachedResource returns the path of the concourse-release resource, or "" when none is attached
// (resource-get fails then; the installer also treats a zero-byte placeholder as not attached).
func (c *Charm) attachedResource(ctx context.Context) string {
	path, err := c.tools.ResourceGet(ctx, releaseResource)
	if err != nil {
		fmt.Fprintf(c.out, "no %s resource: %v\n", releaseResource, err)
		return ""
	}
	return path
}

// progressReporter turns installer progress into status messages, every 5% at most, so the status
// history stays readable: "Downloading Concourse 7.14.3: 312/890 MB".
func (c *Charm) progressReporter(ctx context.Context, version string) func(installer.Progress) {
	lastPhase, lastStep := "", int64(-1)
	return func(p installer.Progress) {
		step := int64(-1)
		if p.Total > 0 {
			step = p.Done * 20 / p.Total
		}
		if p.Phase == lastPhase && (step == lastStep || step < 0 && p.Done-lastStep < 64<<20) {
			return
		}
		if step < 0 {
			step = p.Done
		}
		lastPhase, lastStep = p.Phase, step
		_ = c.status(ctx, juju.Maintenance, p.Message(version))
	}
}

// classifyInstallError turns what the operator can fix into a blockedError; anything else stays an
// error so that Juju retries the hook.
func classifyInstallError(version string, err error) error {
	const untouched = "; the installed release is untouched"
	var (
		rejected *release.RejectedError
		sum      *installer.ChecksumError
		status   *installer.HTTPStatusError
		unsafe   *installer.UnsafeEntryError
		full     *installer.DiskFullError
		mismat   *installer.VersionMismatchError
		artifact *installer.ArtifactError
		badConf  *installer.ConfigError
	)
	switch {
	case errors.As(err, &rejected):
		// Refused by this unit or remembered from any unit on the root: the message stored with the
		// refusal, so that every unit says the same.
		return &blockedError{rejected.Record.Reason}
	case errors.As(err, &sum):
		return &blockedError{fmt.Sprintf("Concourse %s failed verification: %s expected %s, got %s (from %s)%s",
			version, sum.Algo, sum.Expected, sum.Actual, sum.URL, untouched)}
	case errors.As(err, &status) && status.Code >= 400 && status.Code < 500 && status.Code != 429:
		return &blockedError{fmt.Sprintf("Cannot download Concourse %s: HTTP %d from %s; check version and download-url%s",
			version, status.Code, status.URL, untouched)}
	case errors.As(err, &unsafe):
		return &blockedError{fmt.Sprintf("Concourse %s tarball refused: %v%s", version, unsafe, untouched)}
	case errors.As(err, &full):
		return &blockedError{fmt.Sprintf("Disk full installing Concourse %s into %s: free or grow that disk%s", version, full.Dir, untouched)}
	case errors.As(err, &mismat):
		return &blockedError{fmt.Sprintf("Release for %s reports version %s: check download-url or the %s resource%s",
			version, mismat.Got, releaseResource, untouched)}
	case errors.As(err, &artifact): // not gzip, corrupt, or no concourse/bin/concourse
		return &blockedError{fmt.Sprintf("Concourse %s tarball refused: %v%s", version, artifact, untouched)}
	case errors.As(err, &badConf):
		return &blockedError{fmt.Sprintf("%v%s", badConf, untouched)}
	}
	return fmt.Errorf("install Concourse %s: %w", version, err)
}

// collectGarbage removes releases no unit refers to any more. The leader does it, and only when the
// install lock is free soon: another unit's download must never hold up this hook.
func (c *Charm) collectGarbage(ctx context.Context, p placement, rel release.Installed) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	host, _ := os.Hostname()
	owner := storage.Owner{Unit: c.env.UnitName, PID: os.Getpid(), Host: host, Since: c.now()}
	removed, err := p.root.GC(ctx, owner, releaseName(rel.Marker))
	if err != nil {
		fmt.Fprintf(c.out, "release clean-up skipped: %v\n", err)
		return
	}
	for _, name := range removed {
		fmt.Fprintf(c.out, "removed unused release %s from %s\n", name, p.Root)
	}
}

// releaseName names a release as its directory does ("7.14.3-amd64").
func releaseName(m storage.Marker) string {
	name, err := storage.ReleaseName(m.Version, m.Arch)
	if err != nil {
		return m.Version
	}
	return name
}
