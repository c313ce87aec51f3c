package service

import (
	"os"
	"testing"
)

// TestMain doubles as the test program the supervisors run: a unit's environment file sets
// helperModeEnv, so the test binary behaves as the service (helper_test.go) instead of testing.
func TestMain(m *testing.M) {
	switch os.Getenv(helperModeEnv) {
	case "service":
		os.Exit(helperService())
	case "child":
		os.Exit(helperChild())
	case "usermanager":
		os.Exit(execUserManager())
	}
	code := m.Run()
	stopSupervisors()
	os.Exit(code)
}
