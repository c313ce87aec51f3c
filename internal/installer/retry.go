package installer

import (
	"context"
	"fmt"
	"time"
)

// maxBackoff caps the doubling so a long outage is polled at a sane rate.
const maxBackoff = time.Minute

// retrier is the one failure budget shared by everything in an Install:
// sidecar fetch, reconnects after a cut, and full restarts. Sharing it keeps
// the worst case bounded no matter which step keeps failing.
type retrier struct {
	left  int
	total int
	delay time.Duration
}

func newRetrier(retries int, backoff time.Duration) *retrier {
	return &retrier{left: retries, total: retries, delay: backoff}
}

// wait consumes one retry and sleeps the current backoff, doubling it for
// next time. It returns an error wrapping cause when the budget is spent or
// ctx ends first.
func (r *retrier) wait(ctx context.Context, cause error) error {
	if r.left <= 0 {
		return fmt.Errorf("giving up after %d retries: %w", r.total, cause)
	}
	r.left--
	t := time.NewTimer(r.delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("%w (while waiting to retry after: %v)", ctx.Err(), cause)
	case <-t.C:
	}
	r.delay = min(2*r.delay, maxBackoff)
	return nil
}
