package tracing_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"orgpulse/tracing"
)

func TestOffWithoutEndpoint(t *testing.T) {
	p, err := tracing.New(context.Background(), tracing.Config{Protocol: "grpc", Sampler: "always_on", ServiceName: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Enabled() || p.Exporter() != nil {
		t.Fatalf("no endpoint: enabled %v, exporter %v", p.Enabled(), p.Exporter())
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestNewRefusesWhatItCannotBuild(t *testing.T) {
	for _, cfg := range []tracing.Config{
		{Endpoint: "http://localhost:4318", Protocol: "http/json", Sampler: "always_on"},
		{Endpoint: "http://localhost:4318", Protocol: "grpc", Sampler: "jaeger_remote"},
		{Endpoint: "http://localhost:4318", Protocol: "http/protobuf", ResourceAttributes: "novalue"},
	} {
		if _, err := tracing.New(context.Background(), cfg); err == nil {
			t.Errorf("%+v was accepted", cfg)
		}
	}
	for _, proto := range []string{"http/protobuf", "grpc"} {
		p, err := tracing.New(context.Background(), tracing.Config{Endpoint: "http://127.0.0.1:1", Protocol: proto, ServiceName: "orgpulse"})
		if err != nil || p.Exporter() == nil {
			t.Fatalf("%s: %v", proto, err)
		}
		_ = p.Shutdown(context.Background())
	}
}

func TestTracesURL(t *testing.T) {
	for _, tt := range []struct {
		cfg  tracing.Config
		want string
	}{
		{tracing.Config{Endpoint: "http://c:4318"}, "http://c:4318/v1/traces"},
		{tracing.Config{Endpoint: "http://c:4318/base/"}, "http://c:4318/base/v1/traces"},
		{tracing.Config{Endpoint: "http://c:4318", TracesEndpoint: "https://t:443/custom"}, "https://t:443/custom"},
	} {
		if got := tracing.TracesURL(tt.cfg); got != tt.want {
			t.Errorf("%+v: %s, want %s", tt.cfg, got, tt.want)
		}
	}
}

func TestSplitQuery(t *testing.T) {
	for _, tt := range []struct{ sql, summary, text string }{
		{"-- name: GetEmployee :one\nSELECT * FROM employees\nWHERE id = $1", "GetEmployee", "SELECT * FROM employees\nWHERE id = $1"},
		{"begin", "BEGIN", "begin"},
		{"  commit ", "COMMIT", "commit"},
		{"select(1)", "SELECT", "select(1)"},
		{"", "postgresql", ""},
	} {
		summary, text := tracing.SplitQuery(tt.sql)
		if summary != tt.summary || text != tt.text {
			t.Errorf("%q: %q %q, want %q %q", tt.sql, summary, text, tt.summary, tt.text)
		}
	}
}

func TestResource(t *testing.T) {
	res, err := tracing.NewResource(tracing.Config{ServiceName: "orgpulse", InstanceID: "r1",
		ResourceAttributes: "service.name=ignored, k=v%20w,,"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, kv := range res.Attributes() {
		got[string(kv.Key)] = kv.Value.AsString()
	}
	if got["service.name"] != "orgpulse" || got["service.instance.id"] != "r1" || got["k"] != "v w" {
		t.Errorf("resource %v", got)
	}
}

// TestLogHandler: a record logged with a span's context carries its ids;
// one without does not.
func TestLogHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(tracing.LogHandler(slog.NewJSONHandler(&buf, nil))).With("component", "x")
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewInMemoryExporter()))
	ctx, span := tp.Tracer("t").Start(context.Background(), "op")
	log.InfoContext(ctx, "inside")
	log.Info("outside")
	span.End()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := `"trace_id":"` + span.SpanContext().TraceID().String() + `","span_id":"` + span.SpanContext().SpanID().String() + `"`
	if len(lines) != 2 || !strings.Contains(lines[0], want) || strings.Contains(lines[1], "trace_id") {
		t.Fatalf("log lines:\n%s\nwant the first with %s", buf.String(), want)
	}
}
