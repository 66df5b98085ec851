package sqlstore

import (
	"context"
	"time"
)

// CheckpointIfDue is the timed checkpoint's tick, for tests that cannot
// wait for the ticker.
func (s *Store) CheckpointIfDue(ctx context.Context, after time.Duration) error {
	return s.checkpointIfDue(ctx, after)
}
