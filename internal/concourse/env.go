package concourse

import (
	"bytes"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Env is a command's environment: Concourse takes every flag as a CONCOURSE_* variable, and the
// charm hands configuration over only this way (an EnvironmentFile), never on the command line.
type Env map[string]string

// Render writes env as an EnvironmentFile, sorted so the same settings give the same bytes. A
// value systemd would split or unescape is double-quoted with \ and " escaped; systemd does not
// expand $ in environment files, so bcrypt hashes pass unchanged. A newline cannot be carried and
// is refused, naming the variable.
func (e Env) Render() ([]byte, error) {
	keys := make([]string, 0, len(e))
	for k := range e {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b bytes.Buffer
	for _, k := range keys {
		v := e[k]
		if strings.ContainsAny(v, "\n\r\x00") {
			return nil, fmt.Errorf("environment variable %s: value holds a newline", k)
		}
		if needsQuotes(v) {
			v = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
		}
		fmt.Fprintf(&b, "%s=%s\n", k, v)
	}
	return b.Bytes(), nil
}

func needsQuotes(v string) bool {
	return v == "" || strings.ContainsAny(v, " \t\"'\\#;$`")
}

// Postgres is how the web reaches its database.
type Postgres struct {
	Host, Database, User, Password string
	Port                           int
	// CAFile, when set, turns TLS on and verifies the server against that CA.
	CAFile string
	TLS    bool
}

// Web is what a web node (ATC + TSA) needs.
type Web struct {
	ExternalURL    string
	PeerAddress    string // this node's own address, reachable by the other web nodes
	ClusterName    string
	BindPort       int
	TSAPort        int
	Postgres       Postgres
	SessionKeyFile string // PEM private keys, given by path
	HostKeyFile    string
	AuthorizedKeys string // authorized_keys of every worker, reloaded on SIGHUP
	AdminUser      string
	AdminHash      string // bcrypt hash of the admin password: the plain one never reaches a file
	LogLevel       string
	MetricsPort    int // Prometheus endpoint on all addresses; 0: none
	Extra          Env // operator's extra variables; never one the charm sets itself
}

// Env is the web command's environment.
func (w Web) Env() Env {
	e := Env{
		"CONCOURSE_EXTERNAL_URL":         w.ExternalURL,
		"CONCOURSE_BIND_IP":              "0.0.0.0",
		"CONCOURSE_BIND_PORT":            strconv.Itoa(w.BindPort),
		"CONCOURSE_PEER_ADDRESS":         w.PeerAddress,
		"CONCOURSE_CLUSTER_NAME":         w.ClusterName,
		"CONCOURSE_TSA_BIND_PORT":        strconv.Itoa(w.TSAPort),
		"CONCOURSE_SESSION_SIGNING_KEY":  w.SessionKeyFile,
		"CONCOURSE_TSA_HOST_KEY":         w.HostKeyFile,
		"CONCOURSE_TSA_AUTHORIZED_KEYS":  w.AuthorizedKeys,
		"CONCOURSE_ADD_LOCAL_USER":       w.AdminUser + ":" + w.AdminHash,
		"CONCOURSE_MAIN_TEAM_LOCAL_USER": w.AdminUser,
		"CONCOURSE_LOG_LEVEL":            w.LogLevel,
		"CONCOURSE_POSTGRES_HOST":        w.Postgres.Host,
		"CONCOURSE_POSTGRES_PORT":        strconv.Itoa(w.Postgres.Port),
		"CONCOURSE_POSTGRES_DATABASE":    w.Postgres.Database,
		"CONCOURSE_POSTGRES_USER":        w.Postgres.User,
		"CONCOURSE_POSTGRES_PASSWORD":    w.Postgres.Password,
		"CONCOURSE_POSTGRES_SSLMODE":     "disable",
	}
	switch {
	case w.Postgres.CAFile != "":
		e["CONCOURSE_POSTGRES_SSLMODE"] = "verify-full"
		e["CONCOURSE_POSTGRES_CA_CERT"] = w.Postgres.CAFile
	case w.Postgres.TLS:
		e["CONCOURSE_POSTGRES_SSLMODE"] = "require"
	}
	if w.MetricsPort > 0 {
		e["CONCOURSE_PROMETHEUS_BIND_IP"] = "0.0.0.0"
		e["CONCOURSE_PROMETHEUS_BIND_PORT"] = strconv.Itoa(w.MetricsPort)
	}
	return e.with(w.Extra)
}

// Worker is what a worker node needs.
type Worker struct {
	Name         string   // unique in the cluster
	WorkDir      string   // on the unit's own disk, never on shared storage
	TSAHosts     []string // host:port of every web node's TSA
	TSAPublicKey string   // file with the TSA host key(s), authorized_keys form
	PrivateKey   string   // file with this worker's private key
	Runtime      string   // "" leaves Concourse's default
	Baggageclaim string   // "" leaves Concourse's default
	Tags         []string // CONCOURSE_TAG, comma-separated
	LogLevel     string
	Team         string   // CONCOURSE_TEAM: the only team whose builds it runs; "" for all
	DNSServers   []string // for the containers; nil leaves the runtime's own choice
	// MaxContainers caps the containers it runs; 0 leaves Concourse's default.
	MaxContainers int
	Extra         Env // operator's extra variables; never one the charm sets itself
}

// Env is the worker command's environment.
func (w Worker) Env() Env {
	hosts := slices.Clone(w.TSAHosts)
	slices.Sort(hosts)
	e := Env{
		"CONCOURSE_NAME":                   w.Name,
		"CONCOURSE_WORK_DIR":               w.WorkDir,
		"CONCOURSE_TSA_HOST":               strings.Join(hosts, ","),
		"CONCOURSE_TSA_PUBLIC_KEY":         w.TSAPublicKey,
		"CONCOURSE_TSA_WORKER_PRIVATE_KEY": w.PrivateKey,
		"CONCOURSE_LOG_LEVEL":              w.LogLevel,
	}
	if w.Runtime != "" {
		e["CONCOURSE_RUNTIME"] = w.Runtime
	}
	if len(w.Tags) > 0 {
		e["CONCOURSE_TAG"] = strings.Join(w.Tags, ",")
	}
	if w.Baggageclaim != "" {
		e["CONCOURSE_BAGGAGECLAIM_DRIVER"] = w.Baggageclaim
	}
	if w.Team != "" {
		e["CONCOURSE_TEAM"] = w.Team
	}
	prefix := RuntimePrefix(w.Runtime)
	if len(w.DNSServers) > 0 && prefix != "" {
		e[prefix+"DNS_SERVER"] = strings.Join(w.DNSServers, ",")
	}
	if w.MaxContainers > 0 && prefix != "" {
		e[prefix+"MAX_CONTAINERS"] = strconv.Itoa(w.MaxContainers)
	}
	return e.with(w.Extra)
}

// HostPort joins an address and a port, bracketing IPv6 addresses.
func HostPort(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}
