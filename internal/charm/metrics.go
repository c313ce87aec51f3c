package charm

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
)

// The metrics-endpoint relation (interface prometheus_scrape), written as COS's library writes it
// (charms.prometheus_k8s.v0.prometheus_scrape, MetricsEndpointProvider.set_scrape_job_spec and
// _set_unit_ip): the leader puts the scrape jobs and the Juju topology in the application bag, as
// JSON; each unit puts its address and name in its own bag. A job's target "*:<port>" stands for
// every unit that published an address, so only units running web publish one.
const (
	metricsEndpoint = "metrics-endpoint"
	// charmName is metadata.yaml's name: the topology's charm_name.
	charmName = "concourse-ci-machine"
	// metricsJob is fixed: the consumer names each unit's job after it, and a name that changed
	// (say, with the leader) would cut the series in two.
	metricsJob = "concourse-web"

	keyScrapeJobs     = "scrape_jobs"
	keyScrapeMetadata = "scrape_metadata"
	keyScrapeAddress  = "prometheus_scrape_unit_address"
	keyScrapeUnitName = "prometheus_scrape_unit_name"
)

// scrapeJob is the subset of a Prometheus scrape_config the library passes on.
type scrapeJob struct {
	MetricsPath   string         `json:"metrics_path"`
	StaticConfigs []staticConfig `json:"static_configs"`
	JobName       string         `json:"job_name"`
}

type staticConfig struct {
	Targets []string `json:"targets"`
}

// scrapeMetadata is the Juju topology (cosl.JujuTopology.as_dict), in its key order.
type scrapeMetadata struct {
	Model       string `json:"model"`
	ModelUUID   string `json:"model_uuid"`
	Application string `json:"application"`
	Unit        string `json:"unit"`
	CharmName   string `json:"charm_name"`
}

// publishMetrics tells every related Prometheus where the webs' metrics are: with enable-metrics,
// one job on metrics-port for every unit running web; otherwise no job ("[]", which the library's
// consumer reads as nothing to scrape) and no unit address.
func (c *Charm) publishMetrics(ctx context.Context, cfg Config, leader bool, r roles) error {
	ids, err := c.tools.RelationIDs(ctx, metricsEndpoint)
	if err != nil {
		return fmt.Errorf("%s relations: %w", metricsEndpoint, err)
	}
	if len(ids) == 0 {
		return nil
	}
	unit := map[string]string{keyScrapeAddress: "", keyScrapeUnitName: ""}
	if r.web && cfg.EnableMetrics {
		// The address Juju gives this endpoint, as the library asks its binding: on a network
		// space of its own, Prometheus may not reach the peers' address.
		info, err := c.tools.NetworkGet(ctx, metricsEndpoint)
		if err != nil {
			return fmt.Errorf("network-get %s: %w", metricsEndpoint, err)
		}
		if unit[keyScrapeAddress] = info.IngressAddress(); unit[keyScrapeAddress] == "" {
			return fmt.Errorf("network-get %s: no address", metricsEndpoint)
		}
		unit[keyScrapeUnitName] = c.env.UnitName
	}
	var app map[string]string
	if leader {
		if app, err = c.scrapeAppData(cfg); err != nil {
			return err
		}
	}
	for _, id := range ids {
		if err := c.setBag(ctx, id, false, unit); err != nil {
			return err
		}
		if app != nil {
			if err := c.setBag(ctx, id, true, app); err != nil {
				return err
			}
		}
	}
	return nil
}

// scrapeAppData is the application bag: the jobs and the topology that labels their series.
func (c *Charm) scrapeAppData(cfg Config) (map[string]string, error) {
	jobs := []scrapeJob{}
	if cfg.EnableMetrics {
		jobs = append(jobs, scrapeJob{
			MetricsPath:   "/metrics",
			StaticConfigs: []staticConfig{{Targets: []string{"*:" + strconv.Itoa(cfg.MetricsPort)}}},
			JobName:       metricsJob,
		})
	}
	jobsJSON, err := json.Marshal(jobs)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", keyScrapeJobs, err)
	}
	meta, err := json.Marshal(scrapeMetadata{Model: c.env.ModelName, ModelUUID: c.env.ModelUUID,
		Application: c.env.AppName(), Unit: c.env.UnitName, CharmName: charmName})
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", keyScrapeMetadata, err)
	}
	return map[string]string{keyScrapeJobs: string(jobsJSON), keyScrapeMetadata: string(meta)}, nil
}
