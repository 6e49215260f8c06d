package tracing_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/multitracer"
	"github.com/jackc/pgx/v5/pgconn"

	"orgpulse/monitor"
	"orgpulse/tracing"
)

// BenchmarkStatementTracers is what pgx's tracer slot costs a statement
// with tracing off: the statement counter alone (main before tracing)
// against the counter and PgxTracer composed, in a request's context with
// no span (README "Tracing").
func BenchmarkStatementTracers(b *testing.B) {
	ctx, _ := monitor.WithRequestStats(context.Background())
	for range 8 { // a request's context is a chain of values: the lookup walks it
		ctx = context.WithValue(ctx, new(int), 1)
	}
	start := pgx.TraceQueryStartData{SQL: "-- name: GetEmployee :one\nSELECT 1 WHERE $1::int = 1"}
	end := pgx.TraceQueryEndData{CommandTag: pgconn.NewCommandTag("SELECT 1")}
	for _, tt := range []struct {
		name   string
		tracer pgx.QueryTracer
	}{
		{"counter", monitor.Tracer{}},
		{"counter+otel-off", multitracer.New(monitor.Tracer{}, tracing.PgxTracer{})},
	} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tt.tracer.TraceQueryEnd(tt.tracer.TraceQueryStart(ctx, nil, start), nil, end)
			}
		})
	}
}
