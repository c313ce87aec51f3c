package juju

import (
	"context"
	"errors"
	"strings"
)

// NetworkInfo is network-get's view of one endpoint binding.
type NetworkInfo struct {
	BindAddresses    []BindAddress `json:"bind-addresses"`
	IngressAddresses []string      `json:"ingress-addresses"`
	EgressSubnets    []string      `json:"egress-subnets"`
}

// BindAddress is one network interface in the binding's space.
type BindAddress struct {
	MACAddress    string             `json:"mac-address"`
	InterfaceName string             `json:"interface-name"`
	Addresses     []InterfaceAddress `json:"addresses"`
}

// InterfaceAddress is one address of an interface.
type InterfaceAddress struct {
	Hostname string `json:"hostname"`
	Value    string `json:"value"`
	CIDR     string `json:"cidr"`
}

// IngressAddress is the address to advertise to others: the first ingress
// address, else the first bind address (network-get.go does the same for
// --ingress-address). Empty when there is none.
func (n NetworkInfo) IngressAddress() string {
	if len(n.IngressAddresses) > 0 {
		return n.IngressAddresses[0]
	}
	return n.BindAddress()
}

// BindAddress is the first address to listen on, or "".
func (n NetworkInfo) BindAddress() string {
	for _, b := range n.BindAddresses {
		for _, a := range b.Addresses {
			if a.Value != "" {
				return a.Value
			}
		}
	}
	return ""
}

// NetworkGet describes the network of an endpoint or extra binding.
//
//	network-get --format=json <binding>
func (c *Client) NetworkGet(ctx context.Context, binding string) (NetworkInfo, error) {
	if err := requireNonEmpty("network-get: binding", binding); err != nil {
		return NetworkInfo{}, err
	}
	var info NetworkInfo
	if err := c.runJSON(ctx, &info, "network-get", "--format=json", binding); err != nil {
		return NetworkInfo{}, err
	}
	return info, nil
}

// UnitGetPrivateAddress is this unit's address in its default space.
//
//	unit-get --format=json private-address
func (c *Client) UnitGetPrivateAddress(ctx context.Context) (string, error) {
	return c.runString(ctx, "unit-get", "--format=json", "private-address")
}

// ResourceGet fetches the named resource (if needed) and returns the path of
// the unit's local copy. It fails when no file was attached to the resource.
//
//	resource-get <name>      (prints the bare path, no newline)
func (c *Client) ResourceGet(ctx context.Context, name string) (string, error) {
	if err := requireNonEmpty("resource-get: resource name", name); err != nil {
		return "", err
	}
	out, err := c.r.Run(ctx, nil, "resource-get", name)
	if err != nil {
		return "", err
	}
	path := strings.TrimSpace(string(out))
	if path == "" {
		return "", errors.New("resource-get printed no path for resource " + name)
	}
	return path, nil
}

// LeaderGet reads the application's leader settings. Deprecated in Juju in
// favour of peer relation application data; kept for completeness.
//
//	leader-get --format=json
func (c *Client) LeaderGet(ctx context.Context) (map[string]string, error) {
	settings := map[string]string{}
	if err := c.runJSON(ctx, &settings, "leader-get", "--format=json"); err != nil {
		return nil, err
	}
	if settings == nil {
		settings = map[string]string{}
	}
	return settings, nil
}

// LeaderSet writes leader settings (leader only; immediate, not rolled back).
// Deprecated in Juju like LeaderGet; values travel on argv.
//
//	leader-set <k1>=<v1> ...      (keys sorted)
func (c *Client) LeaderSet(ctx context.Context, settings map[string]string) error {
	if len(settings) == 0 {
		return nil
	}
	return c.run(ctx, nil, "leader-set", sortedKeyValues(settings)...)
}
