package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"orgpulse/resolvers"
	"orgpulse/tracing"
)

// OpenTelemetry spans of the server (README "Tracing"): one server span
// per HTTP request (otelhttp), one span per GraphQL operation whatever its
// transport (serveOperation starts it, record ends it), one per
// subscription event delivered. With tracing off (Config.Tracer nil) none
// of this runs: no wrapper, no attribute is built.

// tracingHandler wraps the routes in otelhttp's server span, which
// continues a caller's W3C traceparent (traced says which requests get
// one).
func (s *Server) tracingHandler(mux http.Handler) http.Handler {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		// The mux set r.Pattern on its way; the request id is the one
		// serveGraphQL kept or made.
		span := trace.SpanFromContext(r.Context())
		if r.Pattern != "" {
			span.SetAttributes(semconv.HTTPRoute(r.Pattern))
		}
		if id := w.Header().Get("X-Request-Id"); id != "" {
			span.SetAttributes(attribute.StringSlice("http.response.header.x-request-id", []string{id}))
		}
	})
	return otelhttp.NewHandler(inner, "http",
		otelhttp.WithTracerProvider(s.cfg.Tracer),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()), // /metrics has the request metrics
		otelhttp.WithPropagators(tracing.Propagator()),
		otelhttp.WithFilter(traced),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			if r.Pattern != "" {
				return r.Method + " " + r.Pattern
			}
			return r.Method
		}))
}

// traced says which requests get an HTTP span: not a WebSocket upgrade
// (its span would last as long as the socket; each of its operations is
// a trace of its own), nor the probes and scrapes a load balancer and
// Prometheus send every few seconds, which would bury the requests.
func traced(r *http.Request) bool {
	switch r.URL.Path {
	case "/healthz", "/readyz", "/metrics":
		return false
	}
	return !isWebSocket(r)
}

// startOperation starts c's operation span under ctx's span (the HTTP
// request's; none over a WebSocket). Its attributes name the operation and
// its document's hash, never the variables.
func (s *Server) startOperation(ctx context.Context, c *call, d *document) context.Context {
	if s.tracer == nil {
		return ctx
	}
	name := d.kind
	if name == "" {
		name = "graphql"
	}
	if d.name != "" {
		name += " " + d.name
	}
	sum := sha256.Sum256([]byte(c.req.Query))
	attrs := []attribute.KeyValue{
		attribute.String("graphql.document.hash", "sha256:"+hex.EncodeToString(sum[:])),
		attribute.String("orgpulse.request_id", c.reqID),
		attribute.String("orgpulse.transport", c.transport),
	}
	if d.kind != "" {
		attrs = append(attrs, semconv.GraphQLOperationTypeKey.String(d.kind))
	}
	if d.name != "" {
		attrs = append(attrs, semconv.GraphQLOperationName(d.name))
	}
	ctx, c.span = s.tracer.Start(ctx, name, trace.WithAttributes(attrs...))
	return ctx
}

// endOperation ends c's span with o's outcome: the first error's code as
// error.type and the status (Error with that code), every INTERNAL error
// recorded with its cause. o is nil for an admitted subscription.
func endOperation(c *call, o *outcome) {
	span := c.span
	if span == nil {
		return
	}
	defer span.End()
	if o == nil {
		return
	}
	code := o.code
	for _, e := range o.resp.Errors {
		ec := fmt.Sprint(e.Extensions["code"])
		if code == "" {
			code = ec
		}
		if ec == resolvers.CodeInternal {
			if err := errors.Join(e.ResolverError, e.Err); err != nil {
				span.RecordError(err)
			}
		}
	}
	if o.cache != "" {
		span.SetAttributes(attribute.String("orgpulse.cache", o.cache))
	}
	if code != "" {
		span.SetAttributes(semconv.ErrorTypeKey.String(code))
		span.SetStatus(codes.Error, code)
	}
}

// logContext is the context an operation's log lines are written with:
// its span's, so they carry trace_id and span_id.
func logContext(c *call) context.Context {
	if c.span == nil {
		return context.Background()
	}
	return trace.ContextWithSpan(context.Background(), c.span)
}

// eventOpName is the name a subscription's event spans carry: the
// request's operationName, else the name its document gives the operation
// (from the parse the pipeline already made and keeps). Tracing off, none.
func (s *Server) eventOpName(query, opName string) string {
	if s.tracer == nil || opName != "" {
		return opName
	}
	return s.docs.parse(sha256.Sum256([]byte(query)), query).pick("").name
}

// startEvent starts the span of one subscription event's delivery to the
// members of a shared subscription: a trace of its own, as the event
// arrived from the bus, not from a request.
func (s *Server) startEvent(opName string, members int) trace.Span {
	if s.tracer == nil {
		return nil
	}
	name := "subscription"
	if opName != "" {
		name += " " + opName
	}
	_, span := s.tracer.Start(context.Background(), name+" event", trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(semconv.GraphQLOperationTypeSubscription, semconv.GraphQLOperationName(opName),
			attribute.Int("orgpulse.subscribers", members)))
	return span
}
