package concourse

import (
	"testing"
)

func TestWebEnvMetricsOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	if e := (Web{}).Env(); e["CONCOURSE_PROMETHEUS_BIND_PORT"] != "" || e["CONCOURSE_PROMETHEUS_BIND_IP"] != "" {
		t.Fatalf("metrics rendered without a port: %v", e)
	}
	e := Web{MetricsPort: 9391}.Env()
	if e["CONCOURSE_PROMETHEUS_BIND_PORT"] != "9391" || e["CONCOURSE_PROMETHEUS_BIND_IP"] != "0.0.0.0" {
		t.Fatalf("metrics env %q:%q", e["CONCOURSE_PROMETHEUS_BIND_IP"], e["CONCOURSE_PROMETHEUS_BIND_PORT"])
	}
}

func TestWorkerEnvRuntimeSettingsFollowTheRuntime(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		runtime  string
		dns, max string // variable names, "" when none may be set
	}{
		{"containerd", "CONCOURSE_CONTAINERD_DNS_SERVER", "CONCOURSE_CONTAINERD_MAX_CONTAINERS"},
		{"guardian", "CONCOURSE_GARDEN_DNS_SERVER", "CONCOURSE_GARDEN_MAX_CONTAINERS"},
		{"houdini", "", ""},
	} {
		e := Worker{Runtime: tc.runtime, DNSServers: []string{"10.0.0.53", "1.1.1.1"}, MaxContainers: 40, Team: "ops"}.Env()
		if e["CONCOURSE_TEAM"] != "ops" {
			t.Errorf("%s: team %q", tc.runtime, e["CONCOURSE_TEAM"])
		}
		n := 0
		for k := range e {
			if k == "CONCOURSE_CONTAINERD_DNS_SERVER" || k == "CONCOURSE_GARDEN_DNS_SERVER" ||
				k == "CONCOURSE_CONTAINERD_MAX_CONTAINERS" || k == "CONCOURSE_GARDEN_MAX_CONTAINERS" {
				n++
			}
		}
		if tc.dns == "" {
			if n != 0 {
				t.Errorf("%s: runtime settings rendered for a runtime without containers: %v", tc.runtime, e)
			}
			continue
		}
		// Concourse splits list variables on commas (twentythousandtonnesofcrudeoil).
		if n != 2 || e[tc.dns] != "10.0.0.53,1.1.1.1" || e[tc.max] != "40" {
			t.Errorf("%s: %v", tc.runtime, e)
		}
	}
	if e := (Worker{Runtime: "containerd"}).Env(); len(e) != 7 {
		t.Errorf("unset team, DNS servers and max containers rendered: %v", e)
	}
}

func TestExtraNeverReplacesWhatTheCharmSets(t *testing.T) {
	t.Parallel()
	e := Web{LogLevel: "info", Extra: Env{"CONCOURSE_LOG_LEVEL": "debug", "CONCOURSE_ENABLE_ACROSS_STEP": "true"}}.Env()
	if e["CONCOURSE_LOG_LEVEL"] != "info" || e["CONCOURSE_ENABLE_ACROSS_STEP"] != "true" {
		t.Fatalf("web env %v", e)
	}
	w := Worker{Extra: Env{"CONCOURSE_NAME": "other", "CONCOURSE_EPHEMERAL": "true"}, Name: "w"}.Env()
	if w["CONCOURSE_NAME"] != "w" || w["CONCOURSE_EPHEMERAL"] != "true" {
		t.Fatalf("worker env %v", w)
	}
}

func TestManagedVariablesCoverEveryOptionalSetting(t *testing.T) {
	t.Parallel()
	m := ManagedVariables()
	for _, k := range []string{"CONCOURSE_POSTGRES_PASSWORD", "CONCOURSE_POSTGRES_CA_CERT", "CONCOURSE_PROMETHEUS_BIND_PORT",
		"CONCOURSE_ADD_LOCAL_USER", "CONCOURSE_TSA_HOST", "CONCOURSE_TEAM", "CONCOURSE_TAG", "CONCOURSE_RUNTIME",
		"CONCOURSE_BAGGAGECLAIM_DRIVER", "CONCOURSE_CONTAINERD_DNS_SERVER", "CONCOURSE_GARDEN_MAX_CONTAINERS"} {
		if !m[k] {
			t.Errorf("%s is set by the charm but not listed as managed", k)
		}
	}
	if m["CONCOURSE_ENABLE_ACROSS_STEP"] || m["CONCOURSE_EPHEMERAL"] {
		t.Error("a variable the charm never sets is listed as managed")
	}
}
