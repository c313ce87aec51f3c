package machine

import (
	"context"
	"os"
	"testing"
)

// BenchmarkProvisionDestroy measures one machine's full life: overlay, nspawn boot until systemd
// reports "running", address, then poweroff and teardown.
func BenchmarkProvisionDestroy(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	p, err := NewProvider(Options{StateDir: b.TempDir(), Network: testNetwork(3)})
	if err != nil {
		b.Skip(err)
	}
	ctx := context.Background()
	for b.Loop() {
		m, err := p.Provision(ctx, Spec{ID: "0"})
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Destroy(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
