package charm

import (
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Mode says which Concourse components a unit runs.
type Mode string

const (
	ModeAuto   Mode = "auto"
	ModeAll    Mode = "all"
	ModeWeb    Mode = "web"
	ModeWorker Mode = "worker"
)

// Config is config.yaml, typed and validated.
type Config struct {
	Mode                      Mode
	Version                   string
	DownloadURL               string
	Checksum                  string // sha256 pin, lower-case hex, or empty
	SharedStoragePath         string // absolute and clean, or empty
	SharedStorageRequireMount bool
	LogLevel                  string
	WorkerTags                []string
	Runtime                   string

	// Listeners, the web's URL and admin, worker settings, metrics: config_day2.go.
	ExternalURL        string // "" until the unit's address is known: http://<address>:<web-port>
	WebPort            int
	TSAPort            int
	AdminUsername      string
	WorkerTeam         string
	BaggageclaimDriver string // "" for Concourse's default (detect)
	DNSServers         []string
	MaxContainers      int // 0: Concourse's default
	DrainTimeout       time.Duration
	EnableMetrics      bool
	MetricsPort        int
	ExtraEnv           ExtraEnv
}

// ConfigError names the option an operator has to fix.
type ConfigError struct {
	Option string
	Value  any
	Reason string
}

func (e *ConfigError) Error() string {
	if e.Value == nil { // a value that must not be shown (extra-env may hold secrets)
		return fmt.Sprintf("config option %q: %s", e.Option, e.Reason)
	}
	return fmt.Sprintf("config option %q=%v: %s", e.Option, e.Value, e.Reason)
}

var (
	pinnedVersion = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`)
	sha256Hex     = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// ParseConfig validates the values `config-get --all` returned. The first bad option wins, so the
// blocked status names exactly one thing to fix.
func ParseConfig(raw map[string]any) (Config, error) {
	return parseConfig(raw, nil)
}

// parseConfig is ParseConfig noting in read (when not nil) every option it looked at.
func parseConfig(raw map[string]any, read map[string]bool) (Config, error) {
	p := configParser{raw: raw, read: read}
	c := Config{
		Mode:                      Mode(p.str("mode")),
		Version:                   p.str("version"),
		DownloadURL:               p.str("download-url"),
		Checksum:                  strings.ToLower(p.str("checksum")),
		SharedStoragePath:         p.str("shared-storage-path"),
		SharedStorageRequireMount: p.boolean("shared-storage-require-mount"),
		LogLevel:                  p.str("log-level"),
		Runtime:                   p.str("runtime"),
	}
	tags := p.str("worker-tags")
	if p.err != nil {
		return Config{}, p.err
	}
	var err *ConfigError
	for _, check := range []func() *ConfigError{c.checkMode, c.checkVersion, c.checkDownloadURL, c.checkChecksum, c.checkSharedPath, c.checkLogLevel, c.checkRuntime} {
		if err := check(); err != nil {
			return Config{}, err
		}
	}
	if c.WorkerTags, err = parseTags(tags); err != nil {
		return Config{}, err
	}
	if err := p.parseDay2(&c); err != nil {
		return Config{}, err
	}
	c.SharedStoragePath = filepath.Clean(c.SharedStoragePath)
	if c.SharedStoragePath == "." {
		c.SharedStoragePath = ""
	}
	return c, nil
}

func (c Config) checkMode() *ConfigError {
	switch c.Mode {
	case ModeAuto, ModeAll, ModeWeb, ModeWorker:
		return nil
	}
	return &ConfigError{"mode", c.Mode, "want one of auto, all, web, worker"}
}

func (c Config) checkVersion() *ConfigError {
	if !pinnedVersion.MatchString(c.Version) {
		return &ConfigError{"version", c.Version, "want an exact release such as 7.14.3 (no \"latest\", no \"v\" prefix)"}
	}
	return nil
}

func (c Config) checkDownloadURL() *ConfigError {
	if !strings.Contains(c.DownloadURL, "{version}") {
		return &ConfigError{"download-url", c.DownloadURL, "must contain {version}"}
	}
	expanded := strings.NewReplacer("{version}", c.Version, "{arch}", "amd64").Replace(c.DownloadURL)
	u, err := url.Parse(expanded)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &ConfigError{"download-url", c.DownloadURL, "want an http(s) URL"}
	}
	return nil
}

func (c Config) checkChecksum() *ConfigError {
	if c.Checksum != "" && !sha256Hex.MatchString(c.Checksum) {
		return &ConfigError{"checksum", c.Checksum, "want the sha256 of the tarball: 64 hex digits, or empty"}
	}
	return nil
}

func (c Config) checkSharedPath() *ConfigError {
	if c.SharedStoragePath != "" && !filepath.IsAbs(c.SharedStoragePath) {
		return &ConfigError{"shared-storage-path", c.SharedStoragePath, "want an absolute path, or empty"}
	}
	return nil
}

func (c Config) checkLogLevel() *ConfigError {
	switch c.LogLevel {
	case "debug", "info", "error", "fatal":
		return nil
	}
	return &ConfigError{"log-level", c.LogLevel, "want one of debug, info, error, fatal"}
}

var workerTag = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// parseTags splits worker-tags; empty items (a trailing comma) are dropped, a bad tag is named.
func parseTags(s string) ([]string, *ConfigError) {
	var tags []string
	for _, t := range strings.Split(s, ",") {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if !workerTag.MatchString(t) {
			return nil, &ConfigError{"worker-tags", s, fmt.Sprintf("tag %q: want letters, digits, '.', '_' or '-'", t)}
		}
		tags = append(tags, t)
	}
	return tags, nil
}

func (c Config) checkRuntime() *ConfigError {
	switch c.Runtime {
	case "containerd", "guardian", "houdini":
		return nil
	}
	return &ConfigError{"runtime", c.Runtime, "want one of containerd, guardian, houdini"}
}

// configParser reads typed values and remembers the first type mismatch. An option missing from
// raw (or null) reads as its config.yaml default (configDefaults).
type configParser struct {
	raw  map[string]any
	read map[string]bool
	err  error
}

func (p *configParser) value(key string) (any, bool) {
	if p.read != nil {
		p.read[key] = true
	}
	if v, ok := p.raw[key]; ok && v != nil {
		return v, true
	}
	v, ok := configDefaults[key]
	return v, ok
}

func (p *configParser) str(key string) string {
	v, ok := p.value(key)
	if !ok {
		return ""
	}
	s, ok := v.(string)
	if !ok && p.err == nil {
		p.err = &ConfigError{key, v, "want a string"}
	}
	return strings.TrimSpace(s)
}

func (p *configParser) boolean(key string) bool {
	v, ok := p.value(key)
	if !ok {
		return false
	}
	b, ok := v.(bool)
	if !ok && p.err == nil {
		p.err = &ConfigError{key, v, "want true or false"}
	}
	return b
}
