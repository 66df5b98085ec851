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

// CheckpointLockSQL calls fn (pg_advisory_lock, pg_advisory_unlock) on the
// checkpoint lock of the session's schema.
func CheckpointLockSQL(fn string) string { return schemaLockSQL(fn, lockCheckpoint) }

// MigrationLockSQL calls fn on the migration lock of the session's schema.
func MigrationLockSQL(fn string) string { return schemaLockSQL(fn, lockMigrate) }
