package charm

import (
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/concourse"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
)

// externalURL is external-url, or the unit's own web address when it is empty.
func externalURL(cfg Config, addr string) string {
	if cfg.ExternalURL != "" {
		return cfg.ExternalURL
	}
	return "http://" + concourse.HostPort(addr, cfg.WebPort)
}

// metricsPort is the web's Prometheus port, or 0 while enable-metrics is off.
func metricsPort(cfg Config) int {
	if !cfg.EnableMetrics {
		return 0
	}
	return cfg.MetricsPort
}

// webPorts are the ports a unit opens: the web's, its TSA's and, with enable-metrics, the metrics
// port; none on a unit that runs no web (a worker only dials out).
func webPorts(cfg Config, r roles) []juju.Port {
	ports := []juju.Port{}
	if !r.web {
		return ports
	}
	ports = append(ports, juju.TCP(cfg.WebPort), juju.TCP(cfg.TSAPort))
	if p := metricsPort(cfg); p > 0 {
		ports = append(ports, juju.TCP(p))
	}
	return ports
}
