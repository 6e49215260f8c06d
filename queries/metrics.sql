-- name: GetPerformanceSummary :one
-- GetPerformanceSummary aggregates one metric type since a point in time,
-- optionally for one endpoint, percentiles included, in the database. Its
-- window is a range over a parameter, yet it keeps one generic plan (the
-- marker comment, postgres/plan.go): the covering indexes (metric_type[,
-- endpoint], recorded_at DESC) INCLUDE (value) answer any window with an
-- index-only scan of exactly its rows.
SELECT count(*)                                                              AS sample_count,
       COALESCE(avg(value), 0)::float8                                      AS average_value,
       COALESCE(min(value), 0)::float8                                      AS min_value,
       COALESCE(max(value), 0)::float8                                      AS max_value,
       COALESCE(percentile_cont(0.5) WITHIN GROUP (ORDER BY value), 0)::float8  AS p50,
       COALESCE(percentile_cont(0.95) WITHIN GROUP (ORDER BY value), 0)::float8 AS p95,
       COALESCE(percentile_cont(0.99) WITHIN GROUP (ORDER BY value), 0)::float8 AS p99
FROM performance_metrics /* plan: generic (postgres/plan.go) */
WHERE metric_type = @metric_type
  AND recorded_at >= @since
  AND (sqlc.narg(endpoint)::text IS NULL OR endpoint = sqlc.narg(endpoint));

-- name: ListSlowestMetrics :many
-- ListSlowestMetrics returns the highest values of one metric type since a
-- point in time; it walks (metric_type, value DESC) and stops at the limit.
SELECT * FROM performance_metrics
WHERE metric_type = @metric_type
  AND recorded_at >= @since
ORDER BY value DESC
LIMIT @limit_count::int;

-- name: CopyPerformanceMetrics :copyfrom
-- CopyPerformanceMetrics bulk-loads metric samples with COPY.
INSERT INTO performance_metrics (metric_type, value, endpoint, status_code, recorded_at)
VALUES ($1, $2, $3, $4, $5);

-- name: CreateMetric :one
-- CreateMetric records one sample (now when no time is given).
INSERT INTO performance_metrics (metric_type, value, endpoint, status_code, recorded_at)
VALUES (@metric_type, @value, @endpoint, @status_code, COALESCE(sqlc.narg(recorded_at)::timestamptz, now()))
RETURNING *;

-- name: DeleteMetricsBefore :execrows
-- DeleteMetricsBefore deletes at most limit_count samples recorded before a
-- point in time, oldest first: one short batch of the retention job. The
-- subquery walks the recorded_at index and stops at the limit, so each
-- batch locks few rows for a short time.
DELETE FROM performance_metrics
WHERE id IN (SELECT old.id FROM performance_metrics AS old
             WHERE old.recorded_at < @before
             ORDER BY old.recorded_at
             LIMIT @limit_count::int);

-- name: TryRetentionLock :one
-- TryRetentionLock takes a transaction-scoped advisory lock without waiting:
-- false means another replica is running the retention job right now.
SELECT pg_try_advisory_xact_lock(@lock_key::bigint) AS locked;
