package charm

import (
	"errors"
	"strings"
	"testing"
)

func validRaw() map[string]any {
	return map[string]any{
		"mode":                         "auto",
		"version":                      "7.14.3",
		"download-url":                 "https://example.com/v{version}/concourse-{version}-linux-{arch}.tgz",
		"checksum":                     "",
		"shared-storage-path":          "/srv/concourse/",
		"shared-storage-require-mount": true,
		"log-level":                    "info",
		"runtime":                      "containerd",
	}
}

func TestParseConfigValid(t *testing.T) {
	t.Parallel()
	c, err := ParseConfig(validRaw())
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode != ModeAuto || c.Version != "7.14.3" || c.SharedStoragePath != "/srv/concourse" || !c.SharedStorageRequireMount {
		t.Fatalf("parsed %+v", c)
	}
}

func TestParseConfigNamesTheBadOption(t *testing.T) {
	t.Parallel()
	cases := []struct {
		key   string
		value any
	}{
		{"mode", "both"},
		{"version", "latest"},
		{"version", "v7.14.3"},
		{"version", "7.14"},
		{"download-url", "https://example.com/concourse.tgz"},
		{"download-url", "ftp://example.com/{version}.tgz"},
		{"checksum", "abc"},
		{"checksum", strings.Repeat("g", 64)},
		{"shared-storage-path", "relative/dir"},
		{"log-level", "verbose"},
		{"version", 7},
		{"shared-storage-require-mount", "yes"},
		{"worker-tags", "gpu,has space"},
		{"worker-tags", "a;b"},
		{"runtime", "docker"},
	}
	for _, tc := range cases {
		raw := validRaw()
		raw[tc.key] = tc.value
		_, err := ParseConfig(raw)
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Fatalf("%s=%v: got %v, want a ConfigError", tc.key, tc.value, err)
		}
		if ce.Option != tc.key || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s=%v: error %q names %q", tc.key, tc.value, err, ce.Option)
		}
	}
}

func TestParseConfigEmptySharedPathMeansLocal(t *testing.T) {
	t.Parallel()
	raw := validRaw()
	raw["shared-storage-path"] = ""
	raw["checksum"] = strings.Repeat("AB", 32)
	c, err := ParseConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	if c.SharedStoragePath != "" || c.Checksum != strings.Repeat("ab", 32) {
		t.Fatalf("parsed %+v", c)
	}
}

func TestParseConfigWorkerTags(t *testing.T) {
	t.Parallel()
	raw := validRaw()
	raw["worker-tags"] = " gpu, linux-x86_64 ,,"
	c, err := ParseConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.WorkerTags, "|") != "gpu|linux-x86_64" {
		t.Fatalf("tags %q", c.WorkerTags)
	}
}
