// Command scrapeconsumer is a test-only charm requiring `metrics-endpoint` (prometheus_scrape). It
// turns the provider's relation data into scrape targets as MetricsEndpointConsumer does
// (_static_scrape_config, _relation_hosts, expand_wildcard_targets_into_individual_jobs) and
// puts them in its status: "targets: <unit>=http://<address>:<port><path> ...", or the reason
// there are none. It scrapes nothing itself: the tests do, from the host.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
)

const endpoint = "metrics-endpoint"

type job struct {
	JobName       string `json:"job_name"`
	MetricsPath   string `json:"metrics_path"`
	StaticConfigs []struct {
		Targets []string `json:"targets"`
	} `json:"static_configs"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	tools := juju.NewClient(juju.ExecRunner{})
	msg, err := targets(ctx, tools)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := tools.StatusSet(ctx, juju.Status{State: juju.Active, Message: msg}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func targets(ctx context.Context, tools *juju.Client) (string, error) {
	ids, err := tools.RelationIDs(ctx, endpoint)
	if err != nil || len(ids) == 0 {
		return "no relation", err
	}
	var out []string
	for _, id := range ids {
		app, err := tools.RelationListApp(ctx, id)
		if err != nil || app == "" {
			return "no remote application", err
		}
		bag, err := tools.RelationGet(ctx, id, app, true)
		if err != nil {
			return "", err
		}
		var jobs []job
		if err := json.Unmarshal([]byte(bag["scrape_jobs"]), &jobs); err != nil {
			return fmt.Sprintf("scrape_jobs unreadable: %v", err), nil
		}
		var meta map[string]string
		if err := json.Unmarshal([]byte(bag["scrape_metadata"]), &meta); err != nil || meta["model_uuid"] == "" || meta["application"] == "" {
			return fmt.Sprintf("scrape_metadata unreadable: %q", bag["scrape_metadata"]), nil
		}
		units, err := tools.RelationList(ctx, id)
		if err != nil {
			return "", err
		}
		hosts := map[string]string{}
		for _, u := range units {
			ub, err := tools.RelationGet(ctx, id, u, false)
			if err != nil {
				return "", err
			}
			if name, addr := ub["prometheus_scrape_unit_name"], ub["prometheus_scrape_unit_address"]; name != "" && addr != "" {
				hosts[name] = addr
			}
		}
		for _, j := range jobs {
			path := j.MetricsPath
			if path == "" {
				path = "/metrics"
			}
			for _, sc := range j.StaticConfigs {
				for _, t := range sc.Targets {
					if !strings.HasPrefix(t, "*") {
						out = append(out, fmt.Sprintf("%s=http://%s%s", meta["application"], t, path))
						continue
					}
					for name, addr := range hosts {
						out = append(out, fmt.Sprintf("%s=http://%s%s", name, strings.Replace(t, "*", addr, 1), path))
					}
				}
			}
		}
	}
	if len(out) == 0 {
		return "no targets", nil
	}
	slices.Sort(out)
	return "targets: " + strings.Join(out, " "), nil
}
