package hooktools

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/state"
)

func portTools() map[string]tool {
	flags := []flagSpec{{names: []string{"format"}}, {names: []string{"endpoints"}}}
	return map[string]tool{
		"open-port":    {flags: flags, run: func(c *call) error { return portChange(c, true) }},
		"close-port":   {flags: flags, run: func(c *call) error { return portChange(c, false) }},
		"opened-ports": {flags: withFormat(flagSpec{names: []string{"endpoints"}, boolean: true}), run: openedPorts},
	}
}

const portFormat = "<port>[/<protocol>] or <from>-<to>[/<protocol>] or icmp"

var validPortOrRange = regexp.MustCompile(`^icmp|(?:[0-9]+)(?:-(?:[0-9]+))?(/(?:[a-z0-9]+))?$`)

// parsePortRange follows jujuc/ports.go parseArguments and validate, and
// returns the canonical "from[-to]/proto" form.
func parsePortRange(raw string) (string, error) {
	arg := strings.ToLower(raw)
	if !validPortOrRange.MatchString(arg) {
		return "", fmt.Errorf("expected %s; got %q", portFormat, raw)
	}
	if arg == "icmp" {
		return "icmp", nil
	}
	ports, proto, hasProto := strings.Cut(arg, "/")
	if !hasProto {
		proto = "tcp"
	}
	fromS, toS, isRange := strings.Cut(ports, "-")
	from, err := strconv.Atoi(fromS)
	if err != nil {
		return "", fmt.Errorf("expected port number; got %q", fromS)
	}
	to := from
	if isRange {
		if to, err = strconv.Atoi(toS); err != nil {
			return "", fmt.Errorf("expected port number; got %q", toS)
		}
	}
	if from > to {
		return "", fmt.Errorf("invalid port range %d-%d/%s; expected fromPort <= toPort", from, to, proto)
	}
	if proto == "icmp" {
		return "", fmt.Errorf(`protocol "icmp" doesn't support any ports; got "%v"`, from)
	}
	if from < 1 || from > 65535 || to < 1 || to > 65535 {
		return "", fmt.Errorf(`port must be in the range [1, 65535]; got "%v"`, from)
	}
	if proto != "tcp" && proto != "udp" {
		return "", fmt.Errorf(`protocol must be "tcp", "udp", or "icmp"; got %q`, proto)
	}
	if from == to {
		return fmt.Sprintf("%d/%s", from, proto), nil
	}
	return fmt.Sprintf("%d-%d/%s", from, to, proto), nil
}

// portChange is buffered until the hook succeeds.
func portChange(c *call, open bool) error {
	if len(c.opts.args) == 0 {
		return usagef("no port or range specified")
	}
	pr, err := parsePortRange(c.opts.args[0])
	if err != nil {
		return usageError{err.Error()}
	}
	if err := checkEmpty(c.opts.args[1:]); err != nil {
		return err
	}
	return c.update(func(_ *state.Model, hc *state.HookContext, _ *state.Unit) error {
		hc.PortOps = append(hc.PortOps, state.PortOp{Open: open, Range: pr})
		return nil
	})
}

// ApplyPortOps returns ports after ops, sorted like Juju (protocol, number).
func ApplyPortOps(ports []string, ops []state.PortOp) []string {
	out := append([]string{}, ports...)
	for _, op := range ops {
		out = state.RemoveString(out, op.Range)
		if op.Open {
			out = append(out, op.Range)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		pi, ni := portSortKey(out[i])
		pj, nj := portSortKey(out[j])
		if pi != pj {
			return pi < pj
		}
		return ni < nj
	})
	return out
}

func portSortKey(r string) (string, int) {
	ports, proto, _ := strings.Cut(r, "/")
	from, _, _ := strings.Cut(ports, "-")
	n, _ := strconv.Atoi(from)
	if r == "icmp" {
		proto = "icmp"
	}
	return proto, n
}

func openedPorts(c *call) error {
	if err := checkEmpty(c.opts.args); err != nil {
		return err
	}
	var out []string
	if err := c.view(func(_ *state.Model, hc *state.HookContext, u *state.Unit) error {
		out = ApplyPortOps(u.Ports, hc.PortOps)
		return nil
	}); err != nil {
		return err
	}
	return c.write(out)
}
