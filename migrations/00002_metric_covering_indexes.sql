-- GetPerformanceSummary reads only value from the rows of a window. Metrics
-- arrive in time order, so without value in the index the planner prefers
-- walking recorded_at and filtering; with INCLUDE (value) the summary is an
-- index-only scan of exactly the window (see queries/explain_test.go).

-- +goose Up
DROP INDEX performance_metrics_metric_type_recorded_at_idx;
CREATE INDEX performance_metrics_metric_type_recorded_at_idx
    ON performance_metrics (metric_type, recorded_at DESC) INCLUDE (value);
DROP INDEX performance_metrics_metric_type_endpoint_recorded_at_idx;
CREATE INDEX performance_metrics_metric_type_endpoint_recorded_at_idx
    ON performance_metrics (metric_type, endpoint, recorded_at DESC) INCLUDE (value);

-- +goose Down
DROP INDEX performance_metrics_metric_type_recorded_at_idx;
CREATE INDEX performance_metrics_metric_type_recorded_at_idx
    ON performance_metrics (metric_type, recorded_at DESC);
DROP INDEX performance_metrics_metric_type_endpoint_recorded_at_idx;
CREATE INDEX performance_metrics_metric_type_endpoint_recorded_at_idx
    ON performance_metrics (metric_type, endpoint, recorded_at DESC);
