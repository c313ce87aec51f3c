package service

import (
	"context"
	"fmt"

	"github.com/canonical/pebble/client"
	"gopkg.in/yaml.v3"
)

// planService returns the service as the daemon's current (combined) plan has it.
func (p *Pebble) planService(ctx context.Context, name string) (pebbleService, bool, error) {
	if err := ctx.Err(); err != nil {
		return pebbleService{}, false, err
	}
	data, err := p.client.PlanBytes(nil)
	if err != nil {
		return pebbleService{}, false, fmt.Errorf("read pebble plan: %w", err)
	}
	var plan pebbleLayer
	if err := yaml.Unmarshal(data, &plan); err != nil {
		return pebbleService{}, false, fmt.Errorf("parse pebble plan: %w", err)
	}
	svc, ok := plan.Services[name]
	return svc, ok, nil
}

// addLayer combines svc into the service's own layer. Combining, rather than appending a new
// layer each time, keeps the plan from growing with every Install.
func (p *Pebble) addLayer(ctx context.Context, name string, svc pebbleService) error {
	data, err := marshalLayer(name, svc)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	err = p.client.AddLayer(&client.AddLayerOptions{Combine: true, Label: layerLabel(name), LayerData: data})
	if err != nil {
		return fmt.Errorf("add pebble layer %s: %w", layerLabel(name), err)
	}
	return nil
}

// setStartup changes only the startup of an existing service, by merging into its layer.
func (p *Pebble) setStartup(ctx context.Context, name, startup string) error {
	if _, ok, err := p.planService(ctx, name); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("pebble has no service %s", name)
	}
	return p.addLayer(ctx, name, pebbleService{Override: "merge", Startup: startup})
}
