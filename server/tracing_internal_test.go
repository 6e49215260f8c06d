package server

import (
	"context"
	"errors"
	"testing"

	gqlerrors "github.com/graph-gophers/graphql-go/errors"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"orgpulse/resolvers"
)

// TestEndOperationRecordsInternalErrors: an INTERNAL error's cause is
// recorded on the operation span (an exception event), a client's error
// only names its code; the status is Error with the first code.
func TestEndOperationRecordsInternalErrors(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	_, span := tp.Tracer("t").Start(context.Background(), "op")
	cause := errors.New("connection reset by peer")
	endOperation(&call{span: span}, &outcome{resp: response{Errors: []*gqlerrors.QueryError{
		{Message: "bad", Extensions: map[string]any{"code": resolvers.CodeBadUserInput}},
		{Message: "internal error", ResolverError: cause, Extensions: map[string]any{"code": resolvers.CodeInternal}},
	}}})
	spans := exp.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("%d spans", len(spans))
	}
	sp := spans[0]
	if sp.Status.Code != codes.Error || sp.Status.Description != resolvers.CodeBadUserInput {
		t.Errorf("status %v, want Error %s", sp.Status, resolvers.CodeBadUserInput)
	}
	var recorded []string
	for _, ev := range sp.Events {
		for _, kv := range ev.Attributes {
			if kv.Key == "exception.message" {
				recorded = append(recorded, kv.Value.AsString())
			}
		}
	}
	if len(recorded) != 1 || recorded[0] != cause.Error() {
		t.Errorf("recorded errors %q, want only the INTERNAL one's cause", recorded)
	}
}
