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

// AfterWatchCheck has f run inside each Checkpoint right after the watch's
// check.
func (s *Store) AfterWatchCheck(f func()) { s.watchChecked = f }
