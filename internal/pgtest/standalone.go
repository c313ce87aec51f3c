package pgtest

import (
	"context"
	"fmt"
)

// StartCluster is Start for programs that are not tests (the local demo): the caller stops the
// cluster with Stop. It fails, saying why, where Start would skip.
func StartCluster(ctx context.Context, opts Options) (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	cred, err := serverCredential()
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	c, err := start(ctx, bin, cred, opts)
	if err != nil {
		if c != nil {
			_ = c.Stop()
		}
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	return c, nil
}
