package monitor

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"orgpulse/db"
)

// RetentionLockKey is the advisory lock key of the retention job. Holding
// it (for example with pg_advisory_lock in a session) pauses the job on
// every replica.
const RetentionLockKey int64 = 0x6f70_6d65_7472_6963 // "opmetric"

// RetentionResult says what one retention run did.
type RetentionResult struct {
	Deleted int64 // rows deleted
	Batches int   // transactions that deleted rows (or found none to delete)
	Skipped bool  // another replica held the lock: nothing was done
}

// PurgeMetrics deletes performance samples recorded before `before`, at
// most batch rows per transaction, oldest first, so no statement holds
// locks for long. Each transaction first takes the retention advisory lock
// with pg_try_advisory_xact_lock: when another replica holds it, the run
// stops there and Skipped is set if nothing was deleted yet. pause is
// waited between batches to leave room for other work.
func PurgeMetrics(ctx context.Context, pool *pgxpool.Pool, before time.Time, batch int, pause time.Duration) (RetentionResult, error) {
	var res RetentionResult
	if batch <= 0 {
		batch = 1000
	}
	for {
		n, locked, err := purgeBatch(ctx, pool, before, batch)
		if err != nil {
			return res, err
		}
		if !locked {
			res.Skipped = res.Batches == 0
			return res, nil
		}
		res.Batches++
		res.Deleted += n
		if n < int64(batch) {
			return res, nil
		}
		if pause > 0 {
			select {
			case <-time.After(pause):
			case <-ctx.Done():
				return res, ctx.Err()
			}
		}
	}
}

func purgeBatch(ctx context.Context, pool *pgxpool.Pool, before time.Time, batch int) (deleted int64, locked bool, err error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return 0, false, fmt.Errorf("retention: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	q := db.New(tx)
	locked, err = q.TryRetentionLock(ctx, RetentionLockKey)
	if err != nil || !locked {
		return 0, false, wrap("retention: lock", err)
	}
	deleted, err = q.DeleteMetricsBefore(ctx, db.DeleteMetricsBeforeParams{Before: before, LimitCount: int32(batch)})
	if err != nil {
		return 0, true, fmt.Errorf("retention: delete: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, true, fmt.Errorf("retention: commit: %w", err)
	}
	return deleted, true, nil
}

func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}
