package monitor

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Tracer is a pgx QueryTracer that attributes every statement to the request
// in its context. Counting at the driver, not in resolvers, means nothing a
// resolver does can hide a statement from the N+1 tests.
type Tracer struct{}

type traceKey struct{}

type traceStart struct {
	sql   string
	start time.Time
}

// TraceQueryStart implements pgx.QueryTracer.
func (Tracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if StatsFrom(ctx) == nil {
		return ctx
	}
	return context.WithValue(ctx, traceKey{}, traceStart{sql: data.SQL, start: time.Now()})
}

// TraceQueryEnd implements pgx.QueryTracer.
func (Tracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	s := StatsFrom(ctx)
	st, ok := ctx.Value(traceKey{}).(traceStart)
	if s == nil || !ok {
		return
	}
	d := time.Since(st.start)
	s.addStatement(Statement{SQL: statementText(st.sql), DurationMs: ms(d), Rows: data.CommandTag.RowsAffected()}, d)
}

type batchTraceKey struct{}

// batchTrace times the statements of one batch: each is charged the time
// from the previous one's results (or the batch's start) to its own.
type batchTrace struct{ last time.Time }

// TraceBatchStart implements pgx.BatchTracer: a pipeline's statements
// (postgres.Pipeline) count one by one, as if sent separately.
func (Tracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	if StatsFrom(ctx) == nil {
		return ctx
	}
	return context.WithValue(ctx, batchTraceKey{}, &batchTrace{last: time.Now()})
}

// TraceBatchQuery implements pgx.BatchTracer.
func (Tracer) TraceBatchQuery(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchQueryData) {
	s := StatsFrom(ctx)
	bt, ok := ctx.Value(batchTraceKey{}).(*batchTrace)
	if s == nil || !ok {
		return
	}
	now := time.Now()
	d := now.Sub(bt.last)
	bt.last = now
	s.addStatement(Statement{SQL: statementText(data.SQL), DurationMs: ms(d), Rows: data.CommandTag.RowsAffected(), Pipelined: true}, d)
}

// TraceBatchEnd implements pgx.BatchTracer.
func (Tracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// statementText turns sqlc's "-- name: GetEmployee :one" header into a
// "/* GetEmployee */" prefix and folds whitespace, so debug output names the
// query and fits on one line.
func statementText(sql string) string {
	prefix := ""
	if rest, ok := strings.CutPrefix(sql, "-- name: "); ok {
		header, body, _ := strings.Cut(rest, "\n")
		if name, _, ok := strings.Cut(header, " "); ok {
			prefix = "/* " + name + " */ "
		}
		sql = body
	}
	return prefix + strings.Join(strings.Fields(sql), " ")
}
