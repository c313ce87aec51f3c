package juju

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Port is a port or port range the unit opens, as open-port understands it.
// To is the last port of a range; 0 (or equal to Number) means one port.
// For ICMP, Number and To are 0.
type Port struct {
	Protocol string // "tcp", "udp" or "icmp"
	Number   int
	To       int
}

// TCP is a single TCP port.
func TCP(n int) Port { return Port{Protocol: "tcp", Number: n} }

// canonical folds the equivalent spellings of one port together.
func (p Port) canonical() Port {
	p.Protocol = strings.ToLower(p.Protocol)
	if p.Protocol == "icmp" {
		return Port{Protocol: "icmp"}
	}
	if p.To == p.Number {
		p.To = 0
	}
	return p
}

// String renders p the way Juju prints it (core/network PortRange.String):
// "8080/tcp", "1000-2000/udp" or "icmp".
func (p Port) String() string {
	p = p.canonical()
	switch {
	case p.Protocol == "icmp":
		return "icmp"
	case p.To == 0:
		return fmt.Sprintf("%d/%s", p.Number, p.Protocol)
	default:
		return fmt.Sprintf("%d-%d/%s", p.Number, p.To, p.Protocol)
	}
}

// Validate applies open-port's rules (ports.go: validate): ports 1-65535,
// from <= to, protocol tcp, udp or icmp, and no port for icmp.
func (p Port) Validate() error {
	c := p.canonical()
	switch c.Protocol {
	case "icmp":
		if p.Number != 0 || p.To != 0 {
			return fmt.Errorf("port %v: protocol icmp takes no port number", p)
		}
		return nil
	case "tcp", "udp":
	default:
		return fmt.Errorf("port %v: protocol must be tcp, udp or icmp", p)
	}
	last := c.Number
	if c.To != 0 {
		last = c.To
	}
	if c.Number < 1 || c.Number > 65535 || last < 1 || last > 65535 {
		return fmt.Errorf("port %v: must be in the range 1-65535", p)
	}
	if last < c.Number {
		return fmt.Errorf("port %v: range end before its start", p)
	}
	return nil
}

// ParsePort reads "8080", "8080/tcp", "1000-2000/udp" or "icmp". A missing
// protocol means tcp, as in open-port.
func ParsePort(s string) (Port, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "icmp" {
		return Port{Protocol: "icmp"}, nil
	}
	numbers, protocol, found := strings.Cut(s, "/")
	if !found {
		protocol = "tcp"
	}
	fromText, toText, isRange := strings.Cut(numbers, "-")
	from, err := strconv.Atoi(fromText)
	if err != nil {
		return Port{}, fmt.Errorf("parse port %q: %w", s, err)
	}
	p := Port{Protocol: protocol, Number: from}
	if isRange {
		if p.To, err = strconv.Atoi(toText); err != nil {
			return Port{}, fmt.Errorf("parse port %q: %w", s, err)
		}
	}
	if err := p.Validate(); err != nil {
		return Port{}, fmt.Errorf("parse port %q: %w", s, err)
	}
	return p.canonical(), nil
}

// SortPorts orders ports by protocol, then first port, then last port.
func SortPorts(ports []Port) {
	sort.Slice(ports, func(i, j int) bool {
		a, b := ports[i].canonical(), ports[j].canonical()
		if a.Protocol != b.Protocol {
			return a.Protocol < b.Protocol
		}
		if a.Number != b.Number {
			return a.Number < b.Number
		}
		return a.To < b.To
	})
}

// OpenedPorts lists the ports this unit has opened (not counting open-port
// calls earlier in the same hook: they apply when the hook succeeds).
//
//	opened-ports --format=json      ->  ["8080/tcp","1000-2000/udp","icmp"]
func (c *Client) OpenedPorts(ctx context.Context) ([]Port, error) {
	var raw []string
	if err := c.runJSON(ctx, &raw, "opened-ports", "--format=json"); err != nil {
		return nil, err
	}
	ports := make([]Port, 0, len(raw))
	for _, s := range raw {
		p, err := ParsePort(s)
		if err != nil {
			return nil, fmt.Errorf("opened-ports: %w", err)
		}
		ports = append(ports, p)
	}
	SortPorts(ports)
	return ports, nil
}

// OpenPort asks Juju to open p (applied when the hook exits 0).
//
//	open-port <port>     e.g. open-port 8080/tcp
func (c *Client) OpenPort(ctx context.Context, p Port) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("open-port: %w", err)
	}
	return c.run(ctx, nil, "open-port", p.String())
}

// ClosePort asks Juju to close p (applied when the hook exits 0).
//
//	close-port <port>
func (c *Client) ClosePort(ctx context.Context, p Port) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("close-port: %w", err)
	}
	return c.run(ctx, nil, "close-port", p.String())
}

// SyncPorts makes the unit's open ports exactly want: it closes what is open
// but unwanted, then opens what is wanted but not open, each in sorted order,
// and touches nothing already right. Closing first keeps a range that
// replaces an overlapping one from clashing with it.
func (c *Client) SyncPorts(ctx context.Context, want []Port) error {
	wanted := map[string]Port{}
	for _, p := range want {
		if err := p.Validate(); err != nil {
			return fmt.Errorf("sync ports: %w", err)
		}
		wanted[p.String()] = p.canonical()
	}
	current, err := c.OpenedPorts(ctx)
	if err != nil {
		return fmt.Errorf("sync ports: %w", err)
	}
	open := map[string]bool{}
	var toClose []Port
	for _, p := range current {
		open[p.String()] = true
		if _, ok := wanted[p.String()]; !ok {
			toClose = append(toClose, p)
		}
	}
	var toOpen []Port
	for key, p := range wanted {
		if !open[key] {
			toOpen = append(toOpen, p)
		}
	}
	SortPorts(toClose)
	SortPorts(toOpen)
	for _, p := range toClose {
		if err := c.ClosePort(ctx, p); err != nil {
			return fmt.Errorf("sync ports: %w", err)
		}
	}
	for _, p := range toOpen {
		if err := c.OpenPort(ctx, p); err != nil {
			return fmt.Errorf("sync ports: %w", err)
		}
	}
	return nil
}
