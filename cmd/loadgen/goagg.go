package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"orgpulse/db"
)

// The aggregation row of the original design's table compares computing a
// summary in the database with computing it in the application. orgpulse
// only does the former; the latter exists here, in the harness, and
// nowhere in the product: load the rows of the window with one SELECT (all
// columns, as an ORM would), then count, average, min, max and
// interpolated percentiles in Go. Both variants run over one pgx
// connection, one after the other, so they differ only in where the
// aggregation happens.

// aggResult is what goagg reports.
type aggResult struct {
	MetricType string  `json:"metricType"`
	Since      string  `json:"since"`
	Rows       int64   `json:"rows"`
	InDatabase *Result `json:"inDatabase"`
	InGo       *Result `json:"inGo"`
	Ratio      float64 `json:"ratioP50"` // InGo.P50 / InDatabase.P50
}

type summary struct {
	count                        int64
	avg, min, max, p50, p95, p99 float64
}

func runGoAgg(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("goagg", flag.ContinueOnError)
	dbURL := fs.String("db", "", "PostgreSQL URL (loopback only)")
	metricType := fs.String("metric-type", "api_response", "metric type to summarize")
	window := fs.Duration("window", 24*time.Hour, "summarize samples recorded since now minus this")
	dur := fs.Duration("d", 5*time.Second, "how long to run each variant (at most 10m)")
	n := fs.Int("n", 1000, "at most this many runs of each variant")
	out := fs.String("o", "", "write the JSON result here (default stdout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireLoopback(*dbURL); err != nil {
		return err
	}
	if *dur <= 0 || *dur > maxDuration || *n < 1 || *n > maxRequests {
		return errors.New("-d must be in (0, 10m] and -n in [1, 10000000]")
	}
	cfg, err := pgxpool.ParseConfig(*dbURL)
	if err != nil {
		return err
	}
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	q := db.New(pool)
	since := time.Now().Add(-*window)

	inDB := func(ctx context.Context) (summary, error) {
		r, err := q.GetPerformanceSummary(ctx, db.GetPerformanceSummaryParams{MetricType: *metricType, Since: since})
		return summary{r.SampleCount, r.AverageValue, r.MinValue, r.MaxValue, r.P50, r.P95, r.P99}, err
	}
	inGo := func(ctx context.Context) (summary, error) {
		return aggregateInGo(ctx, pool, *metricType, since)
	}

	// The two must agree before either is timed.
	a, err := inDB(ctx)
	if err != nil {
		return fmt.Errorf("summary in SQL: %w", err)
	}
	b, err := inGo(ctx)
	if err != nil {
		return fmt.Errorf("summary in Go: %w", err)
	}
	if err := same(a, b); err != nil {
		return err
	}
	res := &aggResult{MetricType: *metricType, Since: since.UTC().Format(time.RFC3339), Rows: a.count}
	if res.InDatabase, err = timeIt(ctx, inDB, *dur, *n); err != nil {
		return err
	}
	if res.InGo, err = timeIt(ctx, inGo, *dur, *n); err != nil {
		return err
	}
	if res.InDatabase.P50 > 0 {
		res.Ratio = res.InGo.P50 / res.InDatabase.P50
	}
	return writeJSON(*out, res)
}

// aggregateInGo is the application-side aggregation: every row of the
// window crosses the wire and is scanned into a struct.
func aggregateInGo(ctx context.Context, pool *pgxpool.Pool, metricType string, since time.Time) (summary, error) {
	rows, err := pool.Query(ctx, `SELECT id, metric_type, value, endpoint, status_code, recorded_at
		FROM performance_metrics WHERE metric_type = $1 AND recorded_at >= $2`, metricType, since)
	if err != nil {
		return summary{}, err
	}
	metrics, err := pgx.CollectRows(rows, pgx.RowToStructByPos[db.PerformanceMetric])
	if err != nil {
		return summary{}, err
	}
	s := summary{count: int64(len(metrics))}
	if len(metrics) == 0 {
		return s, nil
	}
	values := make([]float64, len(metrics))
	s.min, s.max = math.Inf(1), math.Inf(-1)
	var sum float64
	for i, m := range metrics {
		values[i] = m.Value
		sum += m.Value
		s.min = math.Min(s.min, m.Value)
		s.max = math.Max(s.max, m.Value)
	}
	s.avg = sum / float64(len(values))
	slices.Sort(values)
	s.p50, s.p95, s.p99 = percentileCont(values, 0.5), percentileCont(values, 0.95), percentileCont(values, 0.99)
	return s, nil
}

// percentileCont is PostgreSQL's percentile_cont: linear interpolation
// between the two nearest ranks.
func percentileCont(sorted []float64, p float64) float64 {
	pos := p * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	return sorted[lo] + (pos-float64(lo))*(sorted[hi]-sorted[lo])
}

func same(a, b summary) error {
	close := func(x, y float64) bool { return math.Abs(x-y) <= 1e-6*math.Max(1, math.Abs(x)) }
	if a.count != b.count || !close(a.avg, b.avg) || !close(a.min, b.min) || !close(a.max, b.max) ||
		!close(a.p50, b.p50) || !close(a.p95, b.p95) || !close(a.p99, b.p99) {
		return fmt.Errorf("the Go aggregation disagrees with SQL: %+v versus %+v", b, a)
	}
	return nil
}

func timeIt(ctx context.Context, f func(context.Context) (summary, error), dur time.Duration, n int) (*Result, error) {
	for range 5 { // warm-up
		if _, err := f(ctx); err != nil {
			return nil, err
		}
	}
	var ds []time.Duration
	start := time.Now()
	for len(ds) < n && time.Since(start) < dur {
		t := time.Now()
		if _, err := f(ctx); err != nil {
			return nil, err
		}
		ds = append(ds, time.Since(t))
	}
	res := &Result{Concurrency: 1}
	res.summarize(ds, time.Since(start))
	return res, nil
}
