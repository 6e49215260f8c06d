package resolvers

import (
	"context"
	"fmt"
	"time"

	graphql "github.com/graph-gophers/graphql-go"

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
	if err := checkOneOf("metricType", args.MetricType, MetricTypes); err != nil {
		return nil, err
	}
	s, err := r.q.GetPerformanceSummary(ctx, db.GetPerformanceSummaryParams{
		MetricType: args.MetricType, Since: r.since(args.Since), Endpoint: args.Endpoint,
	})
	if err != nil {
		return nil, fmt.Errorf("get performance summary: %w", err)
	}
	return &SummaryResolver{metricType: args.MetricType, s: s}, nil
}

// SlowestEndpointsArgs are the arguments of Query.slowestEndpoints.
type SlowestEndpointsArgs struct {
	Limit      int32
	MetricType string
	Since      *DateTime
}

// SlowestEndpoints returns the highest samples of one metric type.
func (r *Resolver) SlowestEndpoints(ctx context.Context, args SlowestEndpointsArgs) ([]*MetricResolver, error) {
	if args.Limit < 1 || args.Limit > maxSlowest {
		return nil, Errorf(CodeBadUserInput, "limit", "limit must be between 1 and %d, got %d", maxSlowest, args.Limit)
	}
	if err := checkOneOf("metricType", args.MetricType, MetricTypes); err != nil {
		return nil, err
	}
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
