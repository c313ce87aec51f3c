package sharedinstall

import (
	"fmt"
	"os"
	"testing"
)

// TestMain turns the test binary into a unit process when childEnv is set: exactly-once and crash
// safety only mean something across real processes.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		if err := runChild(); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
