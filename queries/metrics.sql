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

-- name: ListEndpointStats :many
-- ListEndpointStats aggregates one metric type since a point in time per
-- endpoint, percentiles and the share of server errors (status >= 500)
-- included, in the database, and returns the first limit_count endpoints
-- in the order order_by names (EndpointStatsOrder in the schema): a
-- parameter cannot name a column, so one CASE picks the statistic to sort
-- on, highest first (NULL for every row when sorting by endpoint), and the
-- endpoint breaks ties. The covering index (metric_type, recorded_at DESC)
-- INCLUDE (value, endpoint, status_code) reads exactly the window's rows,
-- index-only (migrations/00004).
SELECT endpoint, sample_count, average_value, p50, p95, p99, max_value, error_rate
FROM (
    SELECT endpoint,
           count(*)                                                   AS sample_count,
           avg(value)::float8                                         AS average_value,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY value)::float8  AS p50,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY value)::float8 AS p95,
           percentile_cont(0.99) WITHIN GROUP (ORDER BY value)::float8 AS p99,
           max(value)::float8                                         AS max_value,
           ((count(*) FILTER (WHERE status_code >= 500))::float8 / count(*))::float8 AS error_rate
    FROM performance_metrics
    WHERE metric_type = @metric_type
      AND recorded_at >= @since
    GROUP BY endpoint
) AS stats
ORDER BY CASE @order_by::text
             WHEN 'p50' THEN p50
             WHEN 'p95' THEN p95
             WHEN 'p99' THEN p99
             WHEN 'average' THEN average_value
             WHEN 'max' THEN max_value
             WHEN 'count' THEN sample_count::float8
             WHEN 'error_rate' THEN error_rate
         END DESC NULLS LAST,
         endpoint
LIMIT @limit_count::int;

-- name: CopyPerformanceMetrics :copyfrom
-- CopyPerformanceMetrics bulk-loads metric samples with COPY.
INSERT INTO performance_metrics (metric_type, value, endpoint, status_code, recorded_at)
VALUES ($1, $2, $3, $4, $5);

-- name: CreateMetric :one
-- CreateMetric records one sample (now when no time is given) and logs it
-- in the change log in the same statement: performance_metrics has no
-- trigger, so that the service's own sampled COPY writes stay out of the
-- log (migrations/00005_change_log.sql), while recordMetric's sample is
-- delivered to metricRecorded subscribers like every other change.
WITH m AS (
    INSERT INTO performance_metrics (metric_type, value, endpoint, status_code, recorded_at)
    VALUES (@metric_type, @value, @endpoint, @status_code, COALESCE(sqlc.narg(recorded_at)::timestamptz, now()))
    RETURNING *
), logged AS (
    INSERT INTO change_log (table_name, op, row_id, new_row)
    SELECT 'performance_metrics', 'INSERT', m.id, to_jsonb(m) FROM m
)
SELECT m.id, m.metric_type, m.value, m.endpoint, m.status_code, m.recorded_at FROM m;

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
