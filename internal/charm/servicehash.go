package charm

import (
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/concourse"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/service"
)

// hashedSpec is the part of a spec that decides a restart. The worker's stop bound (drain-timeout)
// is left out: the supervisor reads it when it stops the service, so a new bound needs the unit
// file rewritten (Install) but no restart, which would land every worker for nothing. It is
// pinned to the default rather than zeroed so that units hashed before drain-timeout existed
// keep their hash and do not restart on upgrade.
func hashedSpec(s service.Spec) service.Spec {
	if s.Name == concourse.WorkerService {
		s.TimeoutStop = drainBound
	}
	return s
}
