package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// TestOTLPSinkTakesTheRealExporter: the OTLP/HTTP exporter delivers to
// the sink without an error, and the sink counts what it dropped.
func TestOTLPSinkTakesTheRealExporter(t *testing.T) {
	var s sinkStats
	srv := httptest.NewServer(s.handler())
	defer srv.Close()
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(srv.URL+"/v1/traces"))
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	for range 3 {
		_, span := tp.Tracer("t").Start(context.Background(), "op")
		span.End()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatalf("export: %v", err)
	}
	res, err := http.Get(srv.URL + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var got map[string]int64
	if err := json.NewDecoder(res.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got["requests"] != 3 || got["bytes"] == 0 {
		t.Errorf("stats %v, want 3 requests with bytes", got)
	}
	if r, _ := http.Post(srv.URL+"/v1/metrics", "application/x-protobuf", strings.NewReader("")); r != nil && r.StatusCode != http.StatusNotFound {
		t.Errorf("POST /v1/metrics: %d, want 404", r.StatusCode)
	}
}
