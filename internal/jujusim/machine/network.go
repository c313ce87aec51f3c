package machine

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Network is the host bridge machines attach to and the /24 their addresses come from. Several
// providers, in one process or many, may share a Network: addresses are leased through files in a
// directory under /run, taken under a lock.
type Network struct {
	Bridge string // host bridge interface, at most 15 bytes
	Subnet string // an IPv4 /24 such as "10.213.0.0/24"; the host takes .1, machines .2 to .254
}

// DefaultNetwork is bridge jujusim0 on 10.213.0.0/24.
func DefaultNetwork() Network { return Network{Bridge: "jujusim0", Subnet: "10.213.0.0/24"} }

// HostIP is the bridge's own address, reachable from every machine.
func (n Network) HostIP() string {
	prefix, err := n.prefix()
	if err != nil {
		return ""
	}
	return prefix.Addr().Next().String()
}

func (n Network) prefix() (netip.Prefix, error) {
	p, err := netip.ParsePrefix(n.Subnet)
	if err != nil || !p.Addr().Is4() || p.Bits() != 24 || p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("network %s: subnet %q is not an IPv4 /24", n.Bridge, n.Subnet)
	}
	return p, nil
}

func (n Network) stateDir() string { return filepath.Join("/run/jujusim", "net-"+n.Bridge) }

// lease takes a free address for owner (record.leaseOwner), creating and configuring the bridge
// first when no machine uses it yet. A lease whose machine is gone was left by a crash and is taken
// over.
func (n Network) lease(ctx context.Context, owner string) (string, error) {
	prefix, err := n.prefix()
	if err != nil {
		return "", err
	}
	unlock, err := n.lock(ctx)
	if err != nil {
		return "", err
	}
	defer unlock()
	if err := n.ensureBridge(ctx, prefix); err != nil {
		return "", err
	}
	for addr := prefix.Addr().Next().Next(); prefix.Contains(addr) && addr != lastAddr(prefix); addr = addr.Next() {
		path := filepath.Join(n.stateDir(), addr.String())
		if held, err := os.ReadFile(path); err == nil && !leaseStale(string(held)) {
			continue
		}
		if err := writeFileSync(path, []byte(owner), 0o600); err != nil {
			return "", fmt.Errorf("lease %s: %w", addr, err)
		}
		// The host may still map this address to the MAC of the machine that held it last.
		_ = exec.CommandContext(ctx, "ip", "neigh", "flush", "to", addr.String(), "dev", n.Bridge).Run()
		return addr.String(), nil
	}
	return "", fmt.Errorf("network %s: no free address in %s", n.Bridge, n.Subnet)
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	b[3] = 255
	return netip.AddrFrom4(b)
}

// release gives addr back; the last machine to leave removes the bridge, so nothing stays behind.
func (n Network) release(ctx context.Context, addr, owner string) error {
	unlock, err := n.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	path := filepath.Join(n.stateDir(), addr)
	if held, err := os.ReadFile(path); err == nil && string(held) == owner {
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("release %s: %w", addr, err)
		}
	}
	leases, err := os.ReadDir(n.stateDir())
	if err != nil {
		return fmt.Errorf("network %s leases: %w", n.Bridge, err)
	}
	for _, l := range leases {
		if l.Name() != "lock" {
			return nil
		}
	}
	n.dropForwarding(ctx)
	if _, err := os.Stat(filepath.Join("/sys/class/net", n.Bridge)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return ipCommand(ctx, "link", "del", n.Bridge)
}

func (n Network) lock(ctx context.Context) (func(), error) {
	if err := os.MkdirAll(n.stateDir(), 0o700); err != nil {
		return nil, fmt.Errorf("network state dir: %w", err)
	}
	unlock, err := lockFile(ctx, filepath.Join(n.stateDir(), "lock"))
	if err != nil {
		return nil, fmt.Errorf("lock network %s: %w", n.Bridge, err)
	}
	return unlock, nil
}

// bridgeMAC is a locally administered unicast MAC derived from the bridge's name.
func (n Network) bridgeMAC() string {
	h := sha256.Sum256([]byte(n.Bridge))
	return fmt.Sprintf("02:%02x:%02x:%02x:%02x:%02x", h[0], h[1], h[2], h[3], h[4])
}

func (n Network) ensureBridge(ctx context.Context, prefix netip.Prefix) error {
	if _, err := os.Stat(filepath.Join("/sys/class/net", n.Bridge)); errors.Is(err, os.ErrNotExist) {
		// A fixed MAC: a bridge without one takes the lowest MAC of its ports, so it changes each
		// time a machine joins or leaves, and every machine's ARP entry for the host address goes
		// stale at once (dial i/o timeouts to host services for up to a minute, seen in e2e).
		if err := ipCommand(ctx, "link", "add", n.Bridge, "address", n.bridgeMAC(), "type", "bridge"); err != nil {
			return err
		}
	}
	hostCIDR := fmt.Sprintf("%s/%d", n.HostIP(), prefix.Bits())
	out, err := exec.CommandContext(ctx, "ip", "-o", "addr", "show", "dev", n.Bridge).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip addr show %s: %w: %s", n.Bridge, err, out)
	}
	if !strings.Contains(string(out), " "+hostCIDR+" ") {
		if err := ipCommand(ctx, "addr", "add", hostCIDR, "dev", n.Bridge); err != nil {
			return err
		}
	}
	if err := ipCommand(ctx, "link", "set", n.Bridge, "up"); err != nil {
		return err
	}
	return n.allowForwarding(ctx)
}

// allowForwarding lets machines reach each other when bridged frames go through iptables
// (br_netfilter, loaded by Docker) and the FORWARD policy drops them (Docker sets DROP): one ACCEPT
// rule for traffic that stays on the bridge, first in the chain. Without iptables nothing filters.
func (n Network) allowForwarding(ctx context.Context) error {
	if _, err := exec.LookPath("iptables"); err != nil {
		return nil
	}
	rule := []string{"FORWARD", "-i", n.Bridge, "-o", n.Bridge, "-j", "ACCEPT"}
	if exec.CommandContext(ctx, "iptables", append([]string{"-w", "-C"}, rule...)...).Run() == nil {
		return nil
	}
	args := append([]string{"-w", "-I", rule[0], "1"}, rule[1:]...)
	if out, err := exec.CommandContext(ctx, "iptables", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("iptables %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// dropForwarding removes allowForwarding's rule with the bridge.
func (n Network) dropForwarding(ctx context.Context) {
	if _, err := exec.LookPath("iptables"); err == nil {
		_ = exec.CommandContext(ctx, "iptables", "-w", "-D", "FORWARD", "-i", n.Bridge, "-o", n.Bridge, "-j", "ACCEPT").Run()
	}
}

// configureGuest gives the container's host0 its address and a default route through the host.
// It runs the host's ip inside only the container's network namespace, as the minimal image has no
// iproute2 of its own.
func (n Network) configureGuest(ctx context.Context, leaderPID int, addr string) error {
	prefix, err := n.prefix()
	if err != nil {
		return err
	}
	ns := []string{"nsenter", "-t", fmt.Sprint(leaderPID), "-n", "ip"}
	steps := [][]string{
		{"addr", "add", fmt.Sprintf("%s/%d", addr, prefix.Bits()), "dev", "host0"},
		{"link", "set", "host0", "up"},
		{"route", "add", "default", "via", n.HostIP()},
	}
	for _, step := range steps {
		argv := append(append([]string{}, ns...), step...)
		if out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("configure guest network (ip %s): %w: %s", strings.Join(step, " "), err, out)
		}
	}
	return nil
}

func ipCommand(ctx context.Context, args ...string) error {
	if out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}
