package charm

import (
	"testing"
	"time"
)

// TestDrainPlanFollowsDrainTimeout: the bound of a land or retire is drain-timeout; a Config never
// parsed (no configuration at hand) gets drain-timeout's default.
func TestDrainPlanFollowsDrainTimeout(t *testing.T) {
	t.Parallel()
	cfg, err := ParseConfig(map[string]any{"drain-timeout": "1h30m"})
	if err != nil {
		t.Fatal(err)
	}
	if got := drainPlanFor(cfg).drain; got != 90*time.Minute {
		t.Errorf("drain-timeout 1h30m: bound %v", got)
	}
	if got := drainPlanFor(Config{}).drain; got != drainBound {
		t.Errorf("no configuration: bound %v, want %v", got, drainBound)
	}
}
