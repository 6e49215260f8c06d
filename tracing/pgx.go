package tracing

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// PgxTracer is a pgx QueryTracer and BatchTracer that gives every SQL
// statement a client span, named by sqlc's query name (db.query.summary),
// with its text and never its bound values.
//
// It takes its tracer from the span the statement runs under, not from a
// provider given when the pool was opened: a statement outside any traced
// operation (the recorder's COPY, a migration) makes no root span of its
// own, a pool shared by several test servers traces into each server's
// provider, and with tracing off the whole cost is one context lookup that
// finds no recording span.
type PgxTracer struct{}

const scopeName = "orgpulse"

type pgxSpanKey struct{}

// TraceQueryStart implements pgx.QueryTracer.
func (PgxTracer) TraceQueryStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return ctx
	}
	_, span := startStatement(ctx, parent, conn, data.SQL, time.Now())
	return context.WithValue(ctx, pgxSpanKey{}, span)
}

// TraceQueryEnd implements pgx.QueryTracer.
func (PgxTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	if span, ok := ctx.Value(pgxSpanKey{}).(trace.Span); ok {
		endStatement(span, data.CommandTag, data.Err, time.Now())
	}
}

// pgxBatch times a batch's statements as monitor.Tracer does: each from
// the previous one's results (or the batch's start) to its own.
type pgxBatch struct {
	parent trace.Span
	last   time.Time
}

type pgxBatchKey struct{}

// TraceBatchStart implements pgx.BatchTracer: a pipeline's statements
// (postgres.Pipeline) get a span each, as if sent one by one.
func (PgxTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return ctx
	}
	return context.WithValue(ctx, pgxBatchKey{}, &pgxBatch{parent: parent, last: time.Now()})
}

// TraceBatchQuery implements pgx.BatchTracer.
func (PgxTracer) TraceBatchQuery(ctx context.Context, conn *pgx.Conn, data pgx.TraceBatchQueryData) {
	b, ok := ctx.Value(pgxBatchKey{}).(*pgxBatch)
	if !ok {
		return
	}
	now := time.Now()
	_, span := startStatement(ctx, b.parent, conn, data.SQL, b.last)
	span.SetAttributes(attribute.Bool("db.orgpulse.pipelined", true))
	endStatement(span, data.CommandTag, data.Err, now)
	b.last = now
}

// TraceBatchEnd implements pgx.BatchTracer.
func (PgxTracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

func startStatement(ctx context.Context, parent trace.Span, conn *pgx.Conn, sql string, start time.Time) (context.Context, trace.Span) {
	summary, text := SplitQuery(sql)
	attrs := []attribute.KeyValue{semconv.DBSystemNamePostgreSQL, semconv.DBQuerySummary(summary), semconv.DBQueryText(text)}
	if conn != nil {
		cfg := conn.Config()
		attrs = append(attrs, semconv.DBNamespace(cfg.Database), semconv.ServerAddress(cfg.Host), semconv.ServerPort(int(cfg.Port)))
	}
	return parent.TracerProvider().Tracer(scopeName).Start(ctx, summary,
		trace.WithSpanKind(trace.SpanKindClient), trace.WithTimestamp(start), trace.WithAttributes(attrs...))
}

func endStatement(span trace.Span, tag pgconn.CommandTag, err error, end time.Time) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			span.SetAttributes(semconv.DBResponseStatusCode(pgErr.Code), semconv.ErrorTypeKey.String(pgErr.Code))
		} else {
			span.SetAttributes(semconv.ErrorTypeKey.String("_OTHER"))
		}
	} else if tag.Select() {
		span.SetAttributes(attribute.Int64("db.response.returned_rows", tag.RowsAffected()))
	}
	span.End(trace.WithTimestamp(end))
}

// SplitQuery reads a statement's summary and text: sqlc begins each
// query with "-- name: GetEmployee :one", whose name is the summary and
// which the text leaves out; any other statement (BEGIN, COMMIT, a query
// of the monitor's) is summarised by its first keyword, upper-cased.
func SplitQuery(sql string) (summary, text string) {
	if rest, ok := strings.CutPrefix(sql, "-- name: "); ok {
		header, body, _ := strings.Cut(rest, "\n")
		if name, _, ok := strings.Cut(header, " "); ok {
			return name, strings.TrimSpace(body)
		}
	}
	text = strings.TrimSpace(sql)
	summary, _, _ = strings.Cut(text, " ")
	if i := strings.IndexAny(summary, "\n\t(;"); i >= 0 {
		summary = summary[:i]
	}
	if summary == "" {
		return "postgresql", text
	}
	return strings.ToUpper(summary), text
}
