package charm

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"testing"

	"gopkg.in/yaml.v3"
)

// badValues holds, for EVERY option in config.yaml, values ParseConfig must refuse naming that
// option (on top of config.yaml's defaults). An option added to config.yaml without an entry here
// fails TestEveryConfigOptionIsReadAndValidated; so does an entry whose values are accepted.
var badValues = map[string][]any{
	"mode":                         {"both", ""},
	"version":                      {"latest", "v7.14.3"},
	"download-url":                 {"https://example.com/concourse.tgz", "ftp://example.com/{version}.tgz"},
	"checksum":                     {"abc"},
	"shared-storage-path":          {"relative/dir"},
	"shared-storage-require-mount": {"yes"},
	"log-level":                    {"verbose"},
	"worker-tags":                  {"a;b", "has space"},
	"runtime":                      {"docker"},
	"external-url":                 {"ci.example.com", "ftp://ci.example.com", "https://ci.example.com/concourse", "https://u:p@ci.example.com", "https://ci.example.com?x=1", "http://:8080"},
	"web-port":                     {int64(0), int64(65536), int64(7788), 80.5},
	"tsa-port":                     {int64(-1), int64(8080), int64(8888)},
	"admin-username":               {"", "Admin", "ad:min", "a,b", "-admin"},
	"worker-team":                  {"Team", "123", "-x", "a b"},
	"baggageclaim-driver":          {"zfs", ""},
	"dns-servers":                  {"8.8.8.8,dns.google", "1.1.1.1;8.8.8.8"},
	"max-containers":               {int64(-1)},
	"drain-timeout":                {"5", "1s", "48h", "forever", ""},
	"enable-metrics":               {"yes"},
	"metrics-port":                 {int64(0), int64(65536), int64(8079)},
	"extra-env":                    {"FOO=bar", "CONCOURSE_POSTGRES_PASSWORD=x", "CONCOURSE_VERSION=1", "just words", "CONCOURSE_X=1\nCONCOURSE_X=2", "concourse_x=1"},
}

type yamlOption struct {
	Type    string `yaml:"type"`
	Default any    `yaml:"default"`
}

// configYAML reads the charm's config.yaml: every option with its type and default as config-get
// returns it (int as int64).
func configYAML(t *testing.T) map[string]yamlOption {
	t.Helper()
	data, err := os.ReadFile("../../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Options map[string]yamlOption `yaml:"options"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	// Not vacuous: the charm had 21 options when this test was written; fewer means a broken read.
	if len(doc.Options) < 21 {
		t.Fatalf("config.yaml: %d options read, want at least 21", len(doc.Options))
	}
	for name, o := range doc.Options {
		if i, ok := o.Default.(int); ok {
			o.Default = int64(i)
			doc.Options[name] = o
		}
	}
	return doc.Options
}

func defaultsOf(opts map[string]yamlOption) map[string]any {
	raw := map[string]any{}
	for name, o := range opts {
		raw[name] = o.Default
	}
	return raw
}

// wrongType is a value of another type than the option's, as a mistyped config-get would give.
func wrongType(t *testing.T, typ string) any {
	switch typ {
	case "string":
		return int64(7)
	case "int":
		return "7"
	case "boolean":
		return "true"
	}
	t.Fatalf("config.yaml declares type %q, which this test does not know", typ)
	return nil
}

func requireRefused(t *testing.T, raw map[string]any, option string, value any) {
	t.Helper()
	_, err := ParseConfig(raw)
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Errorf("%s=%#v: got %v, want a ConfigError naming %s", option, value, err, option)
		return
	}
	if ce.Option != option {
		t.Errorf("%s=%#v: refused naming %q (%v), want %q", option, value, ce.Option, err, option)
	}
}

func TestEveryConfigOptionIsReadAndValidated(t *testing.T) {
	t.Parallel()
	opts := configYAML(t)
	defaults := defaultsOf(opts)

	read := map[string]bool{}
	base, err := parseConfig(defaults, read)
	if err != nil {
		t.Fatalf("config.yaml's defaults refused: %v", err)
	}
	for _, name := range slices.Sorted(maps.Keys(opts)) {
		if !read[name] {
			t.Errorf("option %q is in config.yaml but ParseConfig never reads it", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(read)) {
		if _, ok := opts[name]; !ok {
			t.Errorf("ParseConfig reads %q, which config.yaml does not declare", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(badValues)) {
		if _, ok := opts[name]; !ok {
			t.Errorf("badValues lists %q, which config.yaml does not declare", name)
		}
	}

	for _, name := range slices.Sorted(maps.Keys(opts)) {
		t.Run(name, func(t *testing.T) {
			bad := badValues[name]
			if len(bad) == 0 {
				t.Fatalf("option %q has no invalid values in badValues: add what ParseConfig must refuse", name)
			}
			for _, v := range append([]any{wrongType(t, opts[name].Type)}, bad...) {
				raw := maps.Clone(defaults)
				raw[name] = v
				requireRefused(t, raw, name, v)
			}
			// An option left out reads as its default, never as a zero value.
			raw := maps.Clone(defaults)
			delete(raw, name)
			if got, err := ParseConfig(raw); err != nil || !reflect.DeepEqual(got, base) {
				t.Errorf("without %s: %+v, %v; want the same as with its default", name, got, err)
			}
		})
	}
}

func TestConfigDefaultsMatchConfigYAML(t *testing.T) {
	t.Parallel()
	want := defaultsOf(configYAML(t))
	if !reflect.DeepEqual(configDefaults, want) {
		for _, k := range slices.Sorted(maps.Keys(want)) {
			if !reflect.DeepEqual(configDefaults[k], want[k]) {
				t.Errorf("%s: configDefaults has %#v, config.yaml %#v", k, configDefaults[k], want[k])
			}
		}
		for k := range configDefaults {
			if _, ok := want[k]; !ok {
				t.Errorf("configDefaults has %q, which config.yaml does not declare", k)
			}
		}
	}
}

// The checks that depend on two options name the one to fix.
func TestConfigCrossChecks(t *testing.T) {
	t.Parallel()
	defaults := defaultsOf(configYAML(t))
	for _, tc := range []struct {
		set    map[string]any
		option string
	}{
		{map[string]any{"runtime": "houdini", "dns-servers": "1.1.1.1"}, "dns-servers"},
		{map[string]any{"runtime": "houdini", "max-containers": int64(10)}, "max-containers"},
		{map[string]any{"enable-metrics": true, "metrics-port": int64(8080)}, "metrics-port"},
		{map[string]any{"web-port": int64(9000), "tsa-port": int64(9000)}, "tsa-port"},
		{map[string]any{"runtime": "guardian", "extra-env": "CONCOURSE_CONTAINERD_NETWORK_POOL=10.9.0.0/16"}, "extra-env"},
		{map[string]any{"extra-env": "worker:CONCOURSE_GARDEN_NETWORK_POOL=10.9.0.0/16"}, "extra-env"},
	} {
		raw := maps.Clone(defaults)
		maps.Copy(raw, tc.set)
		requireRefused(t, raw, tc.option, fmt.Sprint(tc.set))
	}
	// ... and what they allow.
	for _, set := range []map[string]any{
		{"runtime": "houdini"},
		{"enable-metrics": false, "metrics-port": int64(8080)}, // unused while metrics are off
		{"runtime": "guardian", "extra-env": "CONCOURSE_GARDEN_NETWORK_POOL=10.9.0.0/16", "dns-servers": "1.1.1.1"},
		{"extra-env": "web:CONCOURSE_GARDEN_NETWORK_POOL=10.9.0.0/16"}, // web only: no runtime there
	} {
		raw := maps.Clone(defaults)
		maps.Copy(raw, set)
		if _, err := ParseConfig(raw); err != nil {
			t.Errorf("%v refused: %v", set, err)
		}
	}
}
