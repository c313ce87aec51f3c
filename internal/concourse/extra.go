package concourse

// RuntimePrefix is the prefix of the variables Concourse reads for a worker runtime's own
// settings: the containerd runtime's flags (CONCOURSE_CONTAINERD_*), or Guardian's, which the
// worker forwards to gdn as flags (CONCOURSE_GARDEN_*). Houdini runs no containers and has none;
// "" (Concourse's default runtime, whichever it is) gets none either. Concourse refuses to start
// a worker given another runtime's prefix (workercmd.verifyRuntimeFlags).
func RuntimePrefix(runtime string) string {
	switch runtime {
	case "containerd":
		return "CONCOURSE_CONTAINERD_"
	case "guardian":
		return "CONCOURSE_GARDEN_"
	}
	return ""
}

// with adds extra's variables to e, never replacing one e already holds: what the charm sets is
// what the charm manages.
func (e Env) with(extra Env) Env {
	for k, v := range extra {
		if _, ok := e[k]; !ok {
			e[k] = v
		}
	}
	return e
}

// ManagedVariables are the variables the charm sets on a web or a worker under some
// configuration. An operator's extra variables may not name them: the charm's value would win,
// or, for one it sets only sometimes, the two would fight over it as the configuration changes.
// Derived from Env itself with every optional setting on, so it cannot fall behind.
func ManagedVariables() map[string]bool {
	envs := []Env{
		Web{MetricsPort: 1, Postgres: Postgres{TLS: true, CAFile: "ca"}}.Env(),
	}
	for _, runtime := range []string{"containerd", "guardian"} {
		envs = append(envs, Worker{Runtime: runtime, Baggageclaim: "naive", Tags: []string{"t"}, Team: "t",
			DNSServers: []string{"1.1.1.1"}, MaxContainers: 1}.Env())
	}
	out := map[string]bool{}
	for _, e := range envs {
		for k := range e {
			out[k] = true
		}
	}
	return out
}
