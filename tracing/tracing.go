// Package tracing is orgpulse's OpenTelemetry tracing: the tracer provider
// the standard OTEL_* variables describe, the pgx tracer that gives every
// SQL statement a span, and the slog handler that puts the active span's
// ids on log lines. Without an OTLP endpoint nothing is built: the
// provider is OpenTelemetry's no-op one, and no exporter exists.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Config is the tracing part of the OpenTelemetry environment variables
// (the SDK's specification names them): app binds them, this package
// builds from them.
type Config struct {
	Endpoint           string  // OTEL_EXPORTER_OTLP_ENDPOINT: base URL; the HTTP exporter appends /v1/traces
	TracesEndpoint     string  // OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: the full URL, wins over Endpoint
	Protocol           string  // OTEL_EXPORTER_OTLP_PROTOCOL: http/protobuf or grpc
	ServiceName        string  // OTEL_SERVICE_NAME
	Sampler            string  // OTEL_TRACES_SAMPLER
	SamplerArg         float64 // OTEL_TRACES_SAMPLER_ARG: the ratio of the traceidratio samplers
	ResourceAttributes string  // OTEL_RESOURCE_ATTRIBUTES: key=value,key=value
	InstanceID         string  // service.instance.id: REPLICA_ID
}

// Protocols OTEL_EXPORTER_OTLP_PROTOCOL accepts: the Go SDK has no
// http/json exporter.
const (
	ProtocolHTTP = "http/protobuf"
	ProtocolGRPC = "grpc"
)

// Samplers OTEL_TRACES_SAMPLER accepts (the specification's, less the
// vendor ones the Go SDK does not have).
var Samplers = []string{"always_on", "always_off", "traceidratio",
	"parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio"}

// Enabled says whether an endpoint is set: without one nothing is traced.
func (c Config) Enabled() bool { return c.Endpoint != "" || c.TracesEndpoint != "" }

// Provider is the service's tracer provider and what it exports through.
type Provider struct {
	trace.TracerProvider
	sdk      *sdktrace.TracerProvider // nil when off
	exporter sdktrace.SpanExporter    // nil when off
}

// Off is the provider of a service that traces nothing.
func Off() *Provider { return &Provider{TracerProvider: noop.NewTracerProvider()} }

// Wrap makes a Provider of an SDK provider built elsewhere (tests: one
// over an in-memory exporter).
func Wrap(tp *sdktrace.TracerProvider) *Provider { return &Provider{TracerProvider: tp, sdk: tp} }

// Enabled says whether spans may be recorded: false for Off.
func (p *Provider) Enabled() bool { return p.sdk != nil }

// Exporter is the OTLP exporter, nil when tracing is off.
func (p *Provider) Exporter() sdktrace.SpanExporter { return p.exporter }

// Shutdown exports what the batch processor holds and stops it.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p.sdk == nil {
		return nil
	}
	if err := p.sdk.Shutdown(ctx); err != nil {
		return fmt.Errorf("flush traces: %w", err)
	}
	return nil
}

// Propagator reads and writes W3C traceparent and tracestate headers.
func Propagator() propagation.TextMapPropagator { return propagation.TraceContext{} }

// New builds the provider cfg describes: Off without an endpoint, else an
// OTLP exporter behind a batch span processor.
func New(ctx context.Context, cfg Config) (*Provider, error) {
	if !cfg.Enabled() {
		return Off(), nil
	}
	exp, err := newExporter(ctx, cfg)
	if err != nil {
		return nil, err
	}
	sampler, err := NewSampler(cfg.Sampler, cfg.SamplerArg)
	if err != nil {
		return nil, fmt.Errorf("OTEL_TRACES_SAMPLER: %w", err)
	}
	res, err := NewResource(cfg)
	if err != nil {
		return nil, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithSampler(sampler), sdktrace.WithResource(res))
	return &Provider{TracerProvider: tp, sdk: tp, exporter: exp}, nil
}

func newExporter(ctx context.Context, cfg Config) (sdktrace.SpanExporter, error) {
	switch cfg.Protocol {
	case ProtocolGRPC:
		u := cfg.TracesEndpoint
		if u == "" {
			u = cfg.Endpoint
		}
		exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(u))
		if err != nil {
			return nil, fmt.Errorf("OTLP gRPC exporter: %w", err)
		}
		return exp, nil
	case ProtocolHTTP, "":
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(TracesURL(cfg)))
		if err != nil {
			return nil, fmt.Errorf("OTLP HTTP exporter: %w", err)
		}
		return exp, nil
	}
	return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL: want %s or %s, got %q", ProtocolHTTP, ProtocolGRPC, cfg.Protocol)
}

// TracesURL is where the HTTP exporter posts: the signal's own endpoint
// as given, else the base endpoint with /v1/traces, as the specification
// says.
func TracesURL(cfg Config) string {
	if cfg.TracesEndpoint != "" {
		return cfg.TracesEndpoint
	}
	return strings.TrimSuffix(cfg.Endpoint, "/") + "/v1/traces"
}

// NewSampler is the sampler OTEL_TRACES_SAMPLER names; ratio is
// OTEL_TRACES_SAMPLER_ARG, read by the traceidratio ones only.
func NewSampler(name string, ratio float64) (sdktrace.Sampler, error) {
	switch name {
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio), nil
	case "parentbased_always_on", "":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), nil
	}
	return nil, fmt.Errorf("want one of %s, got %q", strings.Join(Samplers, ", "), name)
}

// NewResource describes the service: OTEL_RESOURCE_ATTRIBUTES, then
// service.name (OTEL_SERVICE_NAME wins, as the specification says) and
// service.instance.id.
func NewResource(cfg Config) (*resource.Resource, error) {
	attrs, err := ParseResourceAttributes(cfg.ResourceAttributes)
	if err != nil {
		return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	attrs = append(attrs, semconv.ServiceName(cfg.ServiceName))
	if cfg.InstanceID != "" {
		attrs = append(attrs, semconv.ServiceInstanceID(cfg.InstanceID))
	}
	return resource.NewWithAttributes(semconv.SchemaURL, attrs...), nil
}

// ParseResourceAttributes reads key=value pairs separated by commas, each
// value percent-decoded (the specification's W3C Baggage form).
func ParseResourceAttributes(s string) ([]attribute.KeyValue, error) {
	var attrs []attribute.KeyValue
	for _, pair := range strings.Split(s, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("want key=value pairs separated by commas, got %q", pair)
		}
		val, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("want key=value pairs with percent-encoded values, got %q: %w", pair, err)
		}
		attrs = append(attrs, attribute.String(k, val))
	}
	return attrs, nil
}

// CheckEndpoint accepts an OTLP endpoint: empty, or an http(s) URL with a
// host.
func CheckEndpoint(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("want an http:// or https:// URL such as http://localhost:4318, got " + fmt.Sprintf("%q", s))
	}
	return nil
}
