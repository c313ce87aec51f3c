package concourse

import (
	"path/filepath"
	"syscall"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/service"
)

// Service names, fixed: operators find them with `systemctl status concourse-web`.
const (
	WebService    = "concourse-web"
	WorkerService = "concourse-worker"
	// WebUser runs the web node: it needs no root, only its keys (group-readable) and the release.
	WebUser = "concourse"
)

// Binary is the concourse binary inside an unpacked release directory.
func Binary(releaseDir string) string {
	return filepath.Join(releaseDir, "concourse", "bin", "concourse")
}

// WebSpec runs `concourse web` as its own user; SIGHUP reloads the workers' keys.
func WebSpec(releaseDir, envFile string, bindPorts ...int) service.Spec {
	s := service.Spec{
		Name:             WebService,
		Description:      "Concourse CI web node (ATC and TSA)",
		Exec:             []string{Binary(releaseDir), "web"},
		EnvFile:          envFile,
		User:             WebUser,
		Group:            WebUser,
		RestartOnFailure: true,
		ReloadSignal:     syscall.SIGHUP,
		TimeoutStop:      time.Minute,
	}
	for _, p := range bindPorts { // 0: a listener that is off
		if p > 0 && p < 1024 {
			s.AmbientCaps = []string{"CAP_NET_BIND_SERVICE"}
		}
	}
	return s
}

// WorkerSpec runs `concourse worker` as root (it runs containers). A plain stop or restart lands
// the worker (SIGUSR1: it drains, keeps its volumes and comes back under the same name); only the
// main process is signalled, so the containers it delegates finish their steps while it drains,
// bounded by drain before SIGKILL.
func WorkerSpec(releaseDir, envFile string, drain time.Duration) service.Spec {
	return service.Spec{
		Name:             WorkerService,
		Description:      "Concourse CI worker node",
		Exec:             []string{Binary(releaseDir), "worker"},
		EnvFile:          envFile,
		KillSignal:       syscall.SIGUSR1,
		TimeoutStop:      drain,
		KillProcessOnly:  true,
		Delegate:         true,
		Unlimited:        true,
		RestartOnFailure: true,
	}
}
