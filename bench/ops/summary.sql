SELECT count(*), avg(value), min(value), max(value),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY value),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY value),
       percentile_cont(0.99) WITHIN GROUP (ORDER BY value)
FROM performance_metrics
WHERE metric_type = 'api_response' AND recorded_at >= now() - interval '24 hours';
