package charm

import (
	"fmt"
	"strings"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/concourse"
)

// managedBy names the option to use instead of a variable the charm manages, for the message.
var managedBy = map[string]string{
	"CONCOURSE_EXTERNAL_URL":              "external-url",
	"CONCOURSE_BIND_PORT":                 "web-port",
	"CONCOURSE_TSA_BIND_PORT":             "tsa-port",
	"CONCOURSE_ADD_LOCAL_USER":            "admin-username",
	"CONCOURSE_MAIN_TEAM_LOCAL_USER":      "admin-username",
	"CONCOURSE_LOG_LEVEL":                 "log-level",
	"CONCOURSE_TAG":                       "worker-tags",
	"CONCOURSE_TEAM":                      "worker-team",
	"CONCOURSE_RUNTIME":                   "runtime",
	"CONCOURSE_BAGGAGECLAIM_DRIVER":       "baggageclaim-driver",
	"CONCOURSE_CONTAINERD_DNS_SERVER":     "dns-servers",
	"CONCOURSE_GARDEN_DNS_SERVER":         "dns-servers",
	"CONCOURSE_CONTAINERD_MAX_CONTAINERS": "max-containers",
	"CONCOURSE_GARDEN_MAX_CONTAINERS":     "max-containers",
	"CONCOURSE_PROMETHEUS_BIND_IP":        "enable-metrics",
	"CONCOURSE_PROMETHEUS_BIND_PORT":      "metrics-port",
}

// parseExtraEnv reads extra-env: one KEY=VALUE a line, KEY a CONCOURSE_* name, optionally
// prefixed "web:" or "worker:" to reach one role only (a change then restarts that role only);
// blank lines and lines starting with '#' are skipped. A variable the charm manages is refused,
// named. Errors name lines and variables, never a value: values may be credentials.
func parseExtraEnv(s, runtime string) (ExtraEnv, *ConfigError) {
	out := ExtraEnv{Web: concourse.Env{}, Worker: concourse.Env{}}
	managed := concourse.ManagedVariables()
	fail := func(line int, format string, args ...any) (ExtraEnv, *ConfigError) {
		return ExtraEnv{}, &ConfigError{Option: "extra-env", Reason: fmt.Sprintf("line %d: ", line) + fmt.Sprintf(format, args...)}
	}
	for i, line := range strings.Split(s, "\n") {
		n := i + 1
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		web, worker := true, true
		switch {
		case strings.HasPrefix(line, "web:"):
			line, worker = line[len("web:"):], false
		case strings.HasPrefix(line, "worker:"):
			line, web = line[len("worker:"):], false
		}
		key, value, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || !envName.MatchString(key) {
			return fail(n, "want [web:|worker:]CONCOURSE_NAME=value")
		}
		switch {
		case !extraName.MatchString(key):
			return fail(n, "%s: only CONCOURSE_* variables (upper case) may be set", key)
		case key == "CONCOURSE_VERSION":
			return fail(n, "%s: the concourse binary panics when it is set", key)
		case managed[key]:
			if opt := managedBy[key]; opt != "" {
				return fail(n, "%s is managed by the charm: use the %s option", key, opt)
			}
			return fail(n, "%s is managed by the charm", key)
		}
		if worker {
			if p := runtimePrefixOf(key); p != "" && p != concourse.RuntimePrefix(runtime) {
				return fail(n, "%s is not for runtime=%s: the worker would refuse to start", key, runtime)
			}
		}
		for _, role := range []struct {
			on  bool
			env concourse.Env
		}{{web, out.Web}, {worker, out.Worker}} {
			if !role.on {
				continue
			}
			if _, dup := role.env[key]; dup {
				return fail(n, "%s is set twice", key)
			}
			role.env[key] = value
		}
	}
	return out, nil
}

// runtimePrefixOf is the runtime-specific prefix key carries, if any.
func runtimePrefixOf(key string) string {
	for _, r := range []string{"containerd", "guardian"} {
		if p := concourse.RuntimePrefix(r); strings.HasPrefix(key, p) {
			return p
		}
	}
	return ""
}
