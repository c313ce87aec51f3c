package installer

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"regexp"
	"strings"
)

// Field names used in ConfigError, matching the charm's config options.
const (
	FieldVersion     = "version"
	FieldArch        = "arch"
	FieldURL         = "download-url"
	FieldChecksum    = "checksum"
	FieldResource    = "concourse-release resource"
	versionMarker    = "{version}"
	archMarker       = "{arch}"
	maxVersionLength = 64
)

// Versions and arches end up in URLs and directory names: keep them plain.
var (
	versionPattern = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+_-]*$`)
	archPattern    = regexp.MustCompile(`^[a-z0-9_]+$`)
)

// origin validates the request and picks the source: an attached,
// non-empty resource first, else the URL template.
func (req Request) origin() (origin, error) {
	if len(req.Version) > maxVersionLength || !versionPattern.MatchString(req.Version) {
		return origin{}, &ConfigError{Field: FieldVersion, Reason: fmt.Sprintf("%q is not a plain version like 7.14.3", req.Version)}
	}
	if !archPattern.MatchString(req.Arch) {
		return origin{}, &ConfigError{Field: FieldArch, Reason: fmt.Sprintf("%q is not an architecture like amd64", req.Arch)}
	}
	if req.SHA256 != "" {
		if err := checkHex(req.SHA256, 64); err != nil {
			return origin{}, &ConfigError{Field: FieldChecksum, Reason: fmt.Sprintf("not a sha256: %v", err)}
		}
	}
	attached, err := resourceAttached(req.ResourcePath)
	if err != nil {
		return origin{}, err
	}
	if attached {
		return origin{resource: req.ResourcePath}, nil
	}
	u, err := expandURL(req.URLTemplate, req.Version, req.Arch)
	if err != nil {
		return origin{}, err
	}
	return origin{url: u}, nil
}

// resourceAttached: Juju needs a file for every declared resource, so
// charms ship zero-byte placeholders; those mean "not attached".
func resourceAttached(p string) (bool, error) {
	if p == "" {
		return false, nil
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stat resource %s: %w", p, err)
	}
	if !fi.Mode().IsRegular() {
		return false, &ConfigError{Field: FieldResource, Reason: fmt.Sprintf("%s is not a regular file", p)}
	}
	return fi.Size() > 0, nil
}

// expandURL fills the template and checks the result is an http(s) URL.
func expandURL(template, version, arch string) (string, error) {
	if template == "" {
		return "", &ConfigError{Field: FieldURL, Reason: "empty, and no concourse-release resource is attached"}
	}
	if !strings.Contains(template, versionMarker) {
		return "", &ConfigError{Field: FieldURL, Reason: fmt.Sprintf("%q lacks %s", displayURL(template), versionMarker)}
	}
	raw := strings.NewReplacer(versionMarker, version, archMarker, arch).Replace(template)
	u, err := url.Parse(raw)
	if err != nil {
		return "", &ConfigError{Field: FieldURL, Reason: fmt.Sprintf("%q: not a URL", displayURL(raw))}
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", &ConfigError{Field: FieldURL, Reason: fmt.Sprintf("%q: only http and https are supported", displayURL(raw))}
	}
	if u.Host == "" {
		return "", &ConfigError{Field: FieldURL, Reason: fmt.Sprintf("%q has no host", displayURL(raw))}
	}
	return raw, nil
}
