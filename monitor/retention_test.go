package monitor_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"orgpulse/monitor"
	"orgpulse/testsupport"
)

// insertAged inserts n samples recorded age ago (spread over one minute).
func insertAged(t *testing.T, db *testsupport.DB, n int, age time.Duration, endpoint string) {
	t.Helper()
	db.MustExec(t, `INSERT INTO performance_metrics (metric_type, value, endpoint, status_code, recorded_at)
		SELECT 'api_response', g, $3, 200, now() - ($2::float8 + g % 60) * interval '1 second'
		FROM generate_series(1, $1::int) AS g`, n, age.Seconds(), endpoint)
}

func TestRetentionDeletesOldRowsOnlyInBatches(t *testing.T) {
	db := testsupport.MustOpenDB(t)
	insertAged(t, db, 2500, 8*24*time.Hour, "old")
	insertAged(t, db, 300, 6*24*time.Hour, "kept")
	insertAged(t, db, 20, 0, "new")

	// The statements the job runs are counted like a request's, so the
	// test sees each batch.
	ctx, stats := monitor.WithRequestStats(context.Background())
	cutoff := time.Now().Add(-7 * 24 * time.Hour)
	res, err := monitor.PurgeMetrics(ctx, db.Pool, cutoff, 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Deleted != 2500 || res.Batches != 3 || res.Skipped {
		t.Fatalf("result %+v, want 2500 deleted in 3 batches", res)
	}
	var deletes []int64
	for _, st := range stats.Snapshot().SQL {
		if strings.HasPrefix(st.SQL, "/* DeleteMetricsBefore */") {
			deletes = append(deletes, st.Rows)
		}
	}
	if len(deletes) != 3 || deletes[0] != 1000 || deletes[1] != 1000 || deletes[2] != 500 {
		t.Fatalf("DELETE statements removed %v rows, want [1000 1000 500]", deletes)
	}
	if n := db.MustQueryInt64(t, "SELECT count(*) FROM performance_metrics WHERE endpoint = 'old'"); n != 0 {
		t.Fatalf("%d expired rows left", n)
	}
	if n := db.MustQueryInt64(t, "SELECT count(*) FROM performance_metrics WHERE endpoint IN ('kept', 'new')"); n != 320 {
		t.Fatalf("%d recent rows left, want 320", n)
	}

	// Nothing left to delete: one batch finds nothing.
	res, err = monitor.PurgeMetrics(context.Background(), db.Pool, cutoff, 1000, 0)
	if err != nil || res.Deleted != 0 || res.Batches != 1 {
		t.Fatalf("second run: %+v, %v; want nothing deleted in one batch", res, err)
	}
}

// TestRetentionSkipsWhileAnotherReplicaRunsIt holds the job's advisory lock
// the way another replica's batch transaction would: the run skips.
func TestRetentionSkipsWhileAnotherReplicaRunsIt(t *testing.T) {
	db := testsupport.MustOpenDB(t)
	insertAged(t, db, 50, 8*24*time.Hour, "old")
	ctx := context.Background()
	other, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Rollback(ctx)
	var locked bool
	if err := other.QueryRow(ctx, "SELECT pg_try_advisory_xact_lock($1)", monitor.RetentionLockKey).Scan(&locked); err != nil || !locked {
		t.Fatalf("take the lock: %v %v", locked, err)
	}
	cutoff := time.Now().Add(-7 * 24 * time.Hour)
	res, err := monitor.PurgeMetrics(ctx, db.Pool, cutoff, 10, 0)
	if err != nil || !res.Skipped || res.Deleted != 0 {
		t.Fatalf("with the lock held elsewhere: %+v, %v; want skipped", res, err)
	}
	if n := rowCount(t, db); n != 50 {
		t.Fatalf("%d rows, want all 50 kept while skipped", n)
	}
	other.Rollback(ctx)
	res, err = monitor.PurgeMetrics(ctx, db.Pool, cutoff, 10, 0)
	if err != nil || res.Deleted != 50 || res.Batches != 6 {
		t.Fatalf("after the lock is released: %+v, %v; want 50 deleted in 6 batches", res, err)
	}
}

// TestMonitorRetentionJob runs the monitor's own job: METRICS_RETENTION
// and RETENTION_INTERVAL as main passes them.
func TestMonitorRetentionJob(t *testing.T) {
	db := testsupport.MustOpenDB(t)
	insertAged(t, db, 120, 3*time.Hour, "old")
	insertAged(t, db, 7, time.Minute, "new")
	m := monitor.New(monitor.Config{Pool: db.Pool, Retention: 2 * time.Hour, RetentionInterval: 50 * time.Millisecond, RetentionBatch: 50})
	defer m.Close(context.Background())
	waitFor(t, 10*time.Second, "expired rows deleted by the job", func() bool { return rowCount(t, db) == 7 })
	if n := db.MustQueryInt64(t, "SELECT count(*) FROM performance_metrics WHERE endpoint = 'new'"); n != 7 {
		t.Fatalf("%d recent rows left, want 7", n)
	}
}

// TestRetentionBatchUsesTheRecordedAtIndex explains the DELETE the job
// runs (as the tracer saw it, placeholders included) on the seeded data:
// each batch finds its oldest rows through the recorded_at index and stops
// at the limit, instead of sorting the table. (How the outer DELETE then
// reaches those ids, by primary key or by hashing a table this small, is
// the planner's call.)
func TestRetentionBatchUsesTheRecordedAtIndex(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	ctx, stats := monitor.WithRequestStats(context.Background())
	cutoff := time.Now().Add(-7 * 24 * time.Hour)
	if _, err := monitor.PurgeMetrics(ctx, db.Pool, cutoff, 1000, 0); err != nil {
		t.Fatal(err)
	}
	var stmt string
	for _, st := range stats.Snapshot().SQL {
		if strings.HasPrefix(st.SQL, "/* DeleteMetricsBefore */") {
			stmt = st.SQL
		}
	}
	if stmt == "" {
		t.Fatal("the job ran no DeleteMetricsBefore")
	}
	var plan string
	if err := db.Pool.QueryRow(context.Background(), "EXPLAIN (FORMAT JSON) "+stmt, cutoff, 1000).Scan(&plan); err != nil {
		t.Fatalf("explain %s: %v", stmt, err)
	}
	if !strings.Contains(plan, `"Index Name": "performance_metrics_recorded_at_idx"`) {
		t.Fatalf("the batch does not use performance_metrics_recorded_at_idx:\n%s", plan)
	}
	if strings.Contains(plan, `"Node Type": "Sort"`) {
		t.Fatalf("the batch sorts rows instead of walking the index:\n%s", plan)
	}
}
