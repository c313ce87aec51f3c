package charm

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/concourse"
)

// ExtraEnv is extra-env split by role: a line without a role prefix is in both.
type ExtraEnv struct {
	Web, Worker concourse.Env
}

// Bounds of drain-timeout: below 10s a worker cannot even tell the TSA it is landing; above a day
// a stuck drain would hold a unit's removal (and systemd's stop job) for longer than anyone waits.
const (
	minDrainTimeout = 10 * time.Second
	maxDrainTimeout = 24 * time.Hour
)

// reservedPorts are where Concourse's own other listeners bind by default. A web and a worker
// share a unit in mode auto (one unit) and all, so the charm's ports must stay clear of them.
var reservedPorts = map[int]string{
	7776: "the worker's debug endpoint",
	7777: "the worker's container runtime API (Garden)",
	7787: "baggageclaim's debug endpoint",
	7788: "baggageclaim (the worker's volumes)",
	8079: "the web's debug endpoint",
	8888: "the worker's healthcheck",
}

var (
	// Concourse's identifier rule (atc.ValidateIdentifier), in ASCII: team names.
	teamName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	// A local user name goes into CONCOURSE_ADD_LOCAL_USER as "name:hash,...": no ':' or ','.
	adminName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	extraName = regexp.MustCompile(`^CONCOURSE_[A-Z0-9_]+$`)
	envName   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// parseDay2 reads and checks the options of day-2 operation into c, after config.go's: the
// first bad one is returned, naming it.
func (p *configParser) parseDay2(c *Config) error {
	c.ExternalURL = p.str("external-url")
	c.WebPort = p.integer("web-port")
	c.TSAPort = p.integer("tsa-port")
	c.AdminUsername = p.str("admin-username")
	c.WorkerTeam = p.str("worker-team")
	c.BaggageclaimDriver = p.str("baggageclaim-driver")
	dns := p.str("dns-servers")
	c.MaxContainers = p.integer("max-containers")
	drain := p.str("drain-timeout")
	c.EnableMetrics = p.boolean("enable-metrics")
	c.MetricsPort = p.integer("metrics-port")
	extra := p.str("extra-env")
	if p.err != nil {
		return p.err
	}
	var err *ConfigError
	if c.ExternalURL, err = checkExternalURL(c.ExternalURL); err != nil {
		return err
	}
	for _, check := range []func() *ConfigError{c.checkPorts, c.checkAdminUsername, c.checkWorkerTeam, c.checkBaggageclaim} {
		if err := check(); err != nil {
			return err
		}
	}
	if c.DNSServers, err = parseDNSServers(dns, c.Runtime); err != nil {
		return err
	}
	if err := c.checkMaxContainers(); err != nil {
		return err
	}
	if c.DrainTimeout, err = parseDrainTimeout(drain); err != nil {
		return err
	}
	if c.ExtraEnv, err = parseExtraEnv(extra, c.Runtime); err != nil {
		return err
	}
	return nil
}

// checkExternalURL accepts "" (the unit's own address) or an absolute http(s) URL of the root:
// Concourse builds its links, OAuth callbacks and fly's login from it and serves no sub-path.
func checkExternalURL(s string) (string, *ConfigError) {
	if s == "" {
		return "", nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return "", &ConfigError{"external-url", s, "want an absolute http(s) URL such as https://ci.example.com, or empty for http://<unit address>:<web-port>"}
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", &ConfigError{"external-url", s, "want no user, query or fragment"}
	}
	if strings.Trim(u.Path, "/") != "" {
		return "", &ConfigError{"external-url", s, "Concourse serves from the root of its URL: want no path"}
	}
	return u.Scheme + "://" + u.Host, nil
}

func (c Config) checkPorts() *ConfigError {
	for _, p := range []struct {
		option string
		port   int
	}{{"web-port", c.WebPort}, {"tsa-port", c.TSAPort}, {"metrics-port", c.MetricsPort}} {
		if p.port < 1 || p.port > 65535 {
			return &ConfigError{p.option, p.port, "want a TCP port, 1-65535"}
		}
		if what, ok := reservedPorts[p.port]; ok {
			return &ConfigError{p.option, p.port, fmt.Sprintf("%s listens there when a unit runs web and worker", what)}
		}
	}
	if c.TSAPort == c.WebPort {
		return &ConfigError{"tsa-port", c.TSAPort, "the same port as web-port"}
	}
	if c.EnableMetrics && (c.MetricsPort == c.WebPort || c.MetricsPort == c.TSAPort) {
		return &ConfigError{"metrics-port", c.MetricsPort, "the same port as web-port or tsa-port"}
	}
	return nil
}

func (c Config) checkAdminUsername() *ConfigError {
	if !adminName.MatchString(c.AdminUsername) {
		return &ConfigError{"admin-username", c.AdminUsername, "want 1-64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit"}
	}
	return nil
}

func (c Config) checkWorkerTeam() *ConfigError {
	if c.WorkerTeam == "" {
		return nil
	}
	if !teamName.MatchString(c.WorkerTeam) || strings.Trim(c.WorkerTeam, "0123456789") == "" {
		return &ConfigError{"worker-team", c.WorkerTeam, "want a Concourse team name: lowercase letters, digits, '.', '_' or '-', starting with a letter or digit, not only digits; or empty for every team"}
	}
	return nil
}

// checkBaggageclaim keeps "detect", Concourse's own default, out of the environment ("").
func (c *Config) checkBaggageclaim() *ConfigError {
	switch c.BaggageclaimDriver {
	case "detect":
		c.BaggageclaimDriver = ""
		return nil
	case "naive", "overlay", "btrfs":
		return nil
	}
	return &ConfigError{"baggageclaim-driver", c.BaggageclaimDriver, "want one of detect, naive, overlay, btrfs"}
}

// parseDNSServers splits a comma list of IP addresses (empty items dropped).
func parseDNSServers(s, runtime string) ([]string, *ConfigError) {
	var out []string
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if net.ParseIP(item) == nil {
			return nil, &ConfigError{"dns-servers", s, fmt.Sprintf("%q is not an IP address: want a comma-separated list of IP addresses", item)}
		}
		out = append(out, item)
	}
	if len(out) > 0 && concourse.RuntimePrefix(runtime) == "" {
		return nil, &ConfigError{"dns-servers", s, "runtime=" + runtime + " runs no containers: leave it empty"}
	}
	return out, nil
}

func (c Config) checkMaxContainers() *ConfigError {
	if c.MaxContainers < 0 {
		return &ConfigError{"max-containers", c.MaxContainers, "want a positive number, or 0 for Concourse's default (250)"}
	}
	if c.MaxContainers > 0 && concourse.RuntimePrefix(c.Runtime) == "" {
		return &ConfigError{"max-containers", c.MaxContainers, "runtime=" + c.Runtime + " runs no containers: leave it 0"}
	}
	return nil
}

func parseDrainTimeout(s string) (time.Duration, *ConfigError) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, &ConfigError{"drain-timeout", s, "want a duration such as 5m or 1h30m"}
	}
	if d < minDrainTimeout || d > maxDrainTimeout {
		return 0, &ConfigError{"drain-timeout", s, fmt.Sprintf("want between %v and %v", minDrainTimeout, maxDrainTimeout)}
	}
	return d, nil
}

// integer reads an int option (int64 from config-get; a whole float64 from a JSON round trip).
func (p *configParser) integer(key string) int {
	v, ok := p.value(key)
	if !ok {
		return 0
	}
	switch n := v.(type) {
	case int64:
		if n >= math.MinInt32 && n <= math.MaxInt32 {
			return int(n)
		}
	case int:
		if n >= math.MinInt32 && n <= math.MaxInt32 {
			return n
		}
	case float64:
		if n == math.Trunc(n) && n >= math.MinInt32 && n <= math.MaxInt32 {
			return int(n)
		}
	}
	if p.err == nil {
		p.err = &ConfigError{key, v, "want a whole number"}
	}
	return 0
}
