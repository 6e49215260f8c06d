package resolvers

import (
	"context"
	"fmt"
	"math"
	"time"

	graphql "github.com/graph-gophers/graphql-go"

	"orgpulse/cache"
	"orgpulse/db"
)

// defaultMetricWindow is how far back metric queries look when the client
// gives no `since`.
const defaultMetricWindow = 24 * time.Hour

// maxSlowest bounds slowestEndpoints(limit).
const maxSlowest = 100

// MetricResolver resolves PerformanceMetric.
type MetricResolver struct{ m db.PerformanceMetric }

func (m *MetricResolver) ID() graphql.ID      { return gqlID(m.m.ID) }
func (m *MetricResolver) MetricType() string  { return m.m.MetricType }
func (m *MetricResolver) Value() float64      { return m.m.Value }
func (m *MetricResolver) Endpoint() string    { return m.m.Endpoint }
func (m *MetricResolver) StatusCode() int32   { return m.m.StatusCode }
func (m *MetricResolver) Timestamp() DateTime { return dateTime(m.m.RecordedAt) }

// SummaryResolver resolves PerformanceSummary.
type SummaryResolver struct {
	metricType string
	s          db.GetPerformanceSummaryRow
}

func (s *SummaryResolver) MetricType() string    { return s.metricType }
func (s *SummaryResolver) AverageValue() float64 { return s.s.AverageValue }
func (s *SummaryResolver) Count() int32          { return int32Of(s.s.SampleCount) }
func (s *SummaryResolver) MaxValue() float64     { return s.s.MaxValue }
func (s *SummaryResolver) MinValue() float64     { return s.s.MinValue }
func (s *SummaryResolver) P50() float64          { return s.s.P50 }
func (s *SummaryResolver) P95() float64          { return s.s.P95 }
func (s *SummaryResolver) P99() float64          { return s.s.P99 }

func (r *Resolver) since(since *DateTime) time.Time {
	if since == nil {
		return r.cfg.Now().Add(-defaultMetricWindow)
	}
	return since.Time
}

// PerformanceSummaryArgs are the arguments of Query.performanceSummary.
type PerformanceSummaryArgs struct {
	MetricType string
	Since      *DateTime
	Endpoint   *string
}

// PerformanceSummary aggregates one metric type in the database.
func (r *Resolver) PerformanceSummary(ctx context.Context, args PerformanceSummaryArgs) (*SummaryResolver, error) {
	if err := requireAdmin(ctx); err != nil { // performance data: admin only
		return nil, err
	}
	if err := checkOneOf("metricType", args.MetricType, MetricTypes); err != nil {
		return nil, err
	}
	if err := checkText("endpoint", args.Endpoint, maxNameLength); err != nil {
		return nil, err
	}
	// Cached on its own, with a short TTL, but never as part of a whole
	// response: samples change without a mutation.
	r.loaders(ctx).uncacheable.Store(true)
	key := cache.Key{Name: summaryCacheName(args), Version: versionMetrics}
	s, err := cache.Load(ctx, r.cfg.Cache, key, r.cfg.SummaryTTL, func(ctx context.Context) (cachedSummary, error) {
		s, err := r.q.GetPerformanceSummary(ctx, db.GetPerformanceSummaryParams{
			MetricType: args.MetricType, Since: r.since(args.Since), Endpoint: args.Endpoint,
		})
		if err != nil {
			return cachedSummary{}, fmt.Errorf("get performance summary: %w", err)
		}
		return summaryToWire(s), nil
	})
	if err != nil {
		return nil, err
	}
	return &SummaryResolver{metricType: args.MetricType, s: s.row()}, nil
}

// summaryCacheName names a summary in the cache. Without `since` the window
// slides, so the name says "24h" and the short TTL bounds the drift.
func summaryCacheName(args PerformanceSummaryArgs) string {
	since := windowCacheName(args.Since)
	endpoint := "*"
	if args.Endpoint != nil {
		endpoint = "=" + *args.Endpoint
	}
	return "summary:" + args.MetricType + ":" + since + ":" + endpoint
}

// windowCacheName names the window of since in a cache name.
func windowCacheName(since *DateTime) string {
	if since == nil {
		return "24h"
	}
	return since.UTC().Format(time.RFC3339Nano)
}

// SlowestEndpointsArgs are the arguments of Query.slowestEndpoints.
type SlowestEndpointsArgs struct {
	Limit      int32
	MetricType string
	Since      *DateTime
}

// SlowestEndpoints returns the highest samples of one metric type.
func (r *Resolver) SlowestEndpoints(ctx context.Context, args SlowestEndpointsArgs) ([]*MetricResolver, error) {
	if err := requireAdmin(ctx); err != nil { // performance data: admin only
		return nil, err
	}
	if args.Limit < 1 || args.Limit > maxSlowest {
		return nil, Errorf(CodeBadUserInput, "limit", "limit must be between 1 and %d, got %d", maxSlowest, args.Limit)
	}
	if err := checkOneOf("metricType", args.MetricType, MetricTypes); err != nil {
		return nil, err
	}
	r.loaders(ctx).uncacheable.Store(true) // samples change without a mutation
	rows, err := r.q.ListSlowestMetrics(ctx, db.ListSlowestMetricsParams{
		MetricType: args.MetricType, Since: r.since(args.Since), LimitCount: args.Limit,
	})
	if err != nil {
		return nil, fmt.Errorf("list slowest metrics: %w", err)
	}
	out := make([]*MetricResolver, len(rows))
	for i, m := range rows {
		out[i] = &MetricResolver{m: m}
	}
	return out, nil
}

// maxEndpointStats bounds endpointStats(limit).
const maxEndpointStats = 100

// endpointStatsOrders maps each value of the schema's EndpointStatsOrder to
// the statistic ListEndpointStats sorts on. A value missing here is
// refused, never sorted some other way.
var endpointStatsOrders = map[string]string{
	"P50_DESC": "p50", "P95_DESC": "p95", "P99_DESC": "p99", "AVERAGE_DESC": "average",
	"MAX_DESC": "max", "COUNT_DESC": "count", "ERROR_RATE_DESC": "error_rate", "ENDPOINT_ASC": "endpoint",
}

// EndpointStatsArgs are the arguments of Query.endpointStats.
type EndpointStatsArgs struct {
	MetricType string
	Since      *DateTime
	OrderBy    string
	Limit      int32
}

// EndpointStatsResolver resolves EndpointStats.
type EndpointStatsResolver struct{ s db.ListEndpointStatsRow }

func (e *EndpointStatsResolver) Endpoint() string      { return e.s.Endpoint }
func (e *EndpointStatsResolver) Count() int32          { return int32Of(e.s.SampleCount) }
func (e *EndpointStatsResolver) AverageValue() float64 { return e.s.AverageValue }
func (e *EndpointStatsResolver) P50() float64          { return e.s.P50 }
func (e *EndpointStatsResolver) P95() float64          { return e.s.P95 }
func (e *EndpointStatsResolver) P99() float64          { return e.s.P99 }
func (e *EndpointStatsResolver) MaxValue() float64     { return e.s.MaxValue }
func (e *EndpointStatsResolver) ErrorRate() float64    { return e.s.ErrorRate }

// EndpointStats aggregates one metric type per endpoint in the database,
// cached like performanceSummary.
func (r *Resolver) EndpointStats(ctx context.Context, args EndpointStatsArgs) ([]*EndpointStatsResolver, error) {
	if err := requireAdmin(ctx); err != nil { // performance data: admin only
		return nil, err
	}
	if args.Limit < 1 || args.Limit > maxEndpointStats {
		return nil, Errorf(CodeBadUserInput, "limit", "limit must be between 1 and %d, got %d", maxEndpointStats, args.Limit)
	}
	if err := checkOneOf("metricType", args.MetricType, MetricTypes); err != nil {
		return nil, err
	}
	if now := r.cfg.Now(); args.Since != nil && args.Since.After(now) {
		return nil, Errorf(CodeBadUserInput, "since", "since must not be in the future, got %s", args.Since.UTC().Format(time.RFC3339))
	}
	orderBy, ok := endpointStatsOrders[args.OrderBy]
	if !ok {
		return nil, Errorf(CodeBadUserInput, "orderBy", "orderBy %q is not an EndpointStatsOrder", args.OrderBy)
	}
	r.loaders(ctx).uncacheable.Store(true) // samples change without a mutation
	name := fmt.Sprintf("endpointStats:%s:%s:%s:%d", args.MetricType, windowCacheName(args.Since), orderBy, args.Limit)
	cached, err := cache.Load(ctx, r.cfg.Cache, cache.Key{Name: name, Version: versionMetrics}, r.cfg.SummaryTTL,
		func(ctx context.Context) (cachedEndpointStats, error) {
			rows, err := r.q.ListEndpointStats(ctx, db.ListEndpointStatsParams{
				MetricType: args.MetricType, Since: r.since(args.Since), OrderBy: orderBy, LimitCount: args.Limit,
			})
			if err != nil {
				return nil, fmt.Errorf("list endpoint stats: %w", err)
			}
			return endpointStatsToWire(rows), nil
		})
	if err != nil {
		return nil, err
	}
	out := make([]*EndpointStatsResolver, len(cached))
	for i, s := range cached.rows() {
		out[i] = &EndpointStatsResolver{s: s}
	}
	return out, nil
}

// RecordMetricInput is the input of recordMetric.
type RecordMetricInput struct {
	MetricType string
	Value      float64
	Endpoint   *string
	StatusCode *int32
	Timestamp  *DateTime
}

// RecordMetric stores one performance sample.
func (r *Resolver) RecordMetric(ctx context.Context, args struct{ Input RecordMetricInput }) (*MetricResolver, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	in := args.Input
	if err := checkOneOf("metricType", in.MetricType, MetricTypes); err != nil {
		return nil, err
	}
	if math.IsNaN(in.Value) || math.IsInf(in.Value, 0) || in.Value < 0 {
		return nil, Errorf(CodeBadUserInput, "value", "value must be a finite number of at least 0, got %v", in.Value)
	}
	if err := checkText("endpoint", in.Endpoint, maxNameLength); err != nil {
		return nil, err
	}
	p := db.CreateMetricParams{MetricType: in.MetricType, Value: in.Value}
	if in.Endpoint != nil {
		p.Endpoint = *in.Endpoint
	}
	if in.StatusCode != nil {
		if *in.StatusCode < 0 || *in.StatusCode > 999 {
			return nil, Errorf(CodeBadUserInput, "statusCode", "statusCode must be between 0 and 999, got %d", *in.StatusCode)
		}
		p.StatusCode = *in.StatusCode
	}
	if in.Timestamp != nil {
		p.RecordedAt = &in.Timestamp.Time
	}
	var m db.PerformanceMetric
	err := r.write(ctx, func(ctx context.Context, q *db.Queries) error {
		got, err := q.CreateMetric(ctx, p) // logs the sample too
		m = db.PerformanceMetric(got)
		return err
	})
	if err != nil {
		return nil, err
	}
	r.invalidate(ctx, Change{Table: TableMetrics, Op: OpInsert, RowID: m.ID})
	return &MetricResolver{m: m}, nil
}
