package charm

import (
	"context"
	"errors"
)

// prefetchRelease fetches version (the rollout's next one) while the unit keeps running its own.
// A refused or unreachable release is returned as a problem for the status, never an error that
// would stop the hook from keeping the running version healthy.
func (c *Charm) prefetchRelease(ctx context.Context, cfg Config, p placement, version string) (problem string, err error) {
	if version == "" {
		return "", nil
	}
	next := cfg
	next.Version = version
	_, err = c.fetchRelease(ctx, next, p)
	var blocked *blockedError
	switch {
	case errors.As(err, &blocked):
		return "upgrade held: " + blocked.Error(), nil
	case err != nil:
		c.say("fetching Concourse %s for the rollout: %v (tried again next hook)", version, err)
		return "", nil
	}
	return "", nil
}
