package server_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"orgpulse/app"
	"orgpulse/resolvers"
	"orgpulse/server"
	"orgpulse/testsupport"
	"orgpulse/tracing"
)

// traced is a test server whose spans end up in memory, exported as each
// span ends.
type traced struct {
	*testsupport.Server
	spans *tracetest.InMemoryExporter
}

func startTraced(t *testing.T, db *testsupport.DB, tweaks ...func(*server.Config, *resolvers.Config)) *traced {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	srv := testsupport.MustStartServerWith(t, db, []app.Option{app.WithTracing(tracing.Wrap(tp))}, tweaks...)
	return &traced{Server: srv, spans: exp}
}

// post sends query with the given headers (and the API token) as a
// client would.
func (s *traced) post(t *testing.T, query string, header map[string]string) *testsupport.Response {
	t.Helper()
	req := mustPost(t, s.URL+"/graphql", `{"query": `+quote(query)+`}`)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return s.Do(t, req)
}

// trace returns the spans of the request that res answered: the trace
// of the HTTP server span whose X-Request-Id is res's. Spans end (and are
// exported) before the client has the answer, except the HTTP span,
// which ends after the handler returns: wait for it.
func (s *traced) trace(t *testing.T, res *testsupport.Response) tracetest.SpanStubs {
	t.Helper()
	id := res.Header.Get("X-Request-Id")
	var root tracetest.SpanStub
	testsupport.Eventually(t, 10*time.Second, "the HTTP span of request "+id+" ends", func() bool {
		for _, sp := range s.spans.GetSpans() {
			if sp.SpanKind == trace.SpanKindServer && slices.Equal(attr(sp, "http.response.header.x-request-id").AsStringSlice(), []string{id}) {
				root = sp
				return true
			}
		}
		return false
	})
	var out tracetest.SpanStubs
	for _, sp := range s.spans.GetSpans() {
		if sp.SpanContext.TraceID() == root.SpanContext.TraceID() {
			out = append(out, sp)
		}
	}
	return out
}

func attr(sp tracetest.SpanStub, key string) attribute.Value {
	for _, kv := range sp.Attributes {
		if string(kv.Key) == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// tree is a trace's spans by role.
type tree struct {
	http, op tracetest.SpanStub
	sql      []tracetest.SpanStub
	redis    []tracetest.SpanStub
	other    []string
}

func treeOf(t *testing.T, spans tracetest.SpanStubs) tree {
	t.Helper()
	var tr tree
	var https, ops int
	for _, sp := range spans {
		switch {
		case sp.SpanKind == trace.SpanKindServer:
			tr.http, https = sp, https+1
		case attr(sp, "graphql.operation.type").AsString() != "":
			tr.op, ops = sp, ops+1
		case attr(sp, "db.system.name").AsString() == "postgresql":
			tr.sql = append(tr.sql, sp)
		case strings.Contains(sp.InstrumentationScope.Name, "redisotel"):
			tr.redis = append(tr.redis, sp)
		default:
			tr.other = append(tr.other, sp.Name)
		}
	}
	if https != 1 || ops != 1 || len(tr.other) > 0 {
		t.Fatalf("want one HTTP span and one operation span, got %d and %d (others %q) in\n%s", https, ops, tr.other, names(spans))
	}
	if tr.op.Parent.SpanID() != tr.http.SpanContext.SpanID() {
		t.Errorf("the operation span is not the HTTP span's child")
	}
	for _, sp := range append(slices.Clone(tr.sql), tr.redis...) {
		if sp.Parent.SpanID() != tr.op.SpanContext.SpanID() {
			t.Errorf("span %q is not the operation span's child", sp.Name)
		}
	}
	slices.SortFunc(tr.sql, func(a, b tracetest.SpanStub) int { return a.StartTime.Compare(b.StartTime) })
	return tr
}

func names(spans tracetest.SpanStubs) string {
	var b strings.Builder
	for _, sp := range spans {
		fmt.Fprintf(&b, "  %s (%s) %v\n", sp.Name, sp.SpanKind, sp.Attributes)
	}
	return b.String()
}

func summaries(sql []tracetest.SpanStub) []string {
	var out []string
	for _, sp := range sql {
		out = append(out, attr(sp, "db.query.summary").AsString())
	}
	return out
}

// TestTraceOfAQuery: the README's query of 2 statements is one trace of
// an HTTP span, an operation span and exactly those 2 statement spans,
// named by sqlc, with their text and no values.
func TestTraceOfAQuery(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := startTraced(t, db, testsupport.NoCache)
	const q = `query Page { allProjects(pageSize: 20) { name organization { name } teamMembers { name } } }`
	res := srv.post(t, q, map[string]string{"X-Request-Id": "trace-test-1"})
	if res.Status != http.StatusOK || len(res.Errors) > 0 {
		t.Fatalf("status %d: %s", res.Status, res.Raw)
	}
	tr := treeOf(t, srv.trace(t, res))
	h := tr.http
	if h.Name != "POST /graphql" || attr(h, "http.request.method").AsString() != "POST" ||
		attr(h, "http.route").AsString() != "/graphql" || attr(h, "http.response.status_code").AsInt64() != 200 {
		t.Errorf("HTTP span %q: %v", h.Name, h.Attributes)
	}
	if got := attr(h, "http.response.header.x-request-id").AsStringSlice(); !slices.Equal(got, []string{"trace-test-1"}) {
		t.Errorf("X-Request-Id on the HTTP span: %q", got)
	}
	op := tr.op
	if op.Name != "query Page" || attr(op, "graphql.operation.type").AsString() != "query" ||
		attr(op, "graphql.operation.name").AsString() != "Page" || !strings.HasPrefix(attr(op, "graphql.document.hash").AsString(), "sha256:") {
		t.Errorf("operation span %q: %v", op.Name, op.Attributes)
	}
	if op.Status.Code == codes.Error {
		t.Errorf("operation span status %v", op.Status)
	}
	if len(tr.sql) != 2 || len(tr.redis) != 0 {
		t.Fatalf("want the README's 2 statements and no Redis, got %d statement and %d Redis spans:\n%s", len(tr.sql), len(tr.redis), names(srv.trace(t, res)))
	}
	for _, sp := range tr.sql {
		summary, text := attr(sp, "db.query.summary").AsString(), attr(sp, "db.query.text").AsString()
		if sp.Name != summary || summary == "" || strings.HasPrefix(summary, "-") || sp.SpanKind != trace.SpanKindClient {
			t.Errorf("statement span %q (%s): summary %q", sp.Name, sp.SpanKind, summary)
		}
		if !strings.Contains(text, "$1") || strings.Contains(text, "-- name:") {
			t.Errorf("db.query.text should be the statement with its placeholders, without sqlc's header: %q", text)
		}
	}
}

// TestTraceOfACachedRead: a response from the whole-response cache is
// Redis spans under the operation, and no SQL.
func TestTraceOfACachedRead(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := startTraced(t, db, testsupport.WithResponseCache)
	const q = `query Orgs { allOrganizations { id name } }`
	if res := srv.post(t, q, nil); res.Header.Get(headerCache) != "miss" {
		t.Fatalf("first read: %s %q", headerCache, res.Header.Get(headerCache))
	}
	res := srv.post(t, q, nil)
	if res.Header.Get(headerCache) != "hit" {
		t.Fatalf("second read: %s %q", headerCache, res.Header.Get(headerCache))
	}
	tr := treeOf(t, srv.trace(t, res))
	if len(tr.sql) != 0 || len(tr.redis) == 0 {
		t.Fatalf("a cached read: want Redis spans and no SQL, got %d SQL and %d Redis spans", len(tr.sql), len(tr.redis))
	}
	if got := attr(tr.op, "orgpulse.cache").AsString(); got != "hit" {
		t.Errorf("orgpulse.cache = %q, want hit", got)
	}
}

// TestTraceOfAMutation: a mutation's trace shows its transaction, BEGIN
// to COMMIT, and the same statements X-Debug counts.
func TestTraceOfAMutation(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := startTraced(t, db, testsupport.NoCache)
	res := srv.post(t, `mutation Add { createOrganization(input: {name: "Traced Org"}) { id name } }`, map[string]string{"X-Debug": "1"})
	if len(res.Errors) > 0 {
		t.Fatalf("errors: %s", res.Raw)
	}
	tr := treeOf(t, srv.trace(t, res))
	got := summaries(tr.sql)
	if len(got) < 3 || got[0] != "BEGIN" || got[len(got)-1] != "COMMIT" || !slices.Contains(got, "CreateOrganization") {
		t.Fatalf("statements of the mutation: %q, want BEGIN, CreateOrganization, ..., COMMIT", got)
	}
	if want := res.SQLCount(t); len(got) != want {
		t.Errorf("%d statement spans, X-Debug counts %d", len(got), want)
	}
	if attr(tr.op, "graphql.operation.type").AsString() != "mutation" {
		t.Errorf("operation span: %v", tr.op.Attributes)
	}
}

// TestTraceparentIsContinued: a caller's W3C traceparent and tracestate
// are continued, and the operation's log line carries the trace's ids.
func TestTraceparentIsContinued(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := startTraced(t, db, testsupport.NoCache)
	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	res := srv.post(t, `{ allOrganizations { name } }`, map[string]string{
		"traceparent": "00-" + traceID + "-" + parentID + "-01", "tracestate": "congo=t61rcWkgMzE"})
	tr := treeOf(t, srv.trace(t, res))
	if got := tr.http.SpanContext.TraceID().String(); got != traceID {
		t.Fatalf("trace id %s, want the caller's %s", got, traceID)
	}
	if got := tr.http.Parent.SpanID().String(); got != parentID || !tr.http.Parent.IsRemote() {
		t.Errorf("the HTTP span's parent is %s (remote %v), want the caller's %s", got, tr.http.Parent.IsRemote(), parentID)
	}
	if got := tr.http.SpanContext.TraceState().Get("congo"); got != "t61rcWkgMzE" {
		t.Errorf("tracestate congo=%q, want it carried on", got)
	}
	opSpan := tr.op.SpanContext.SpanID().String()
	testsupport.Eventually(t, 10*time.Second, "the operation's log line carries its trace", func() bool {
		for _, line := range strings.Split(srv.Logs(), "\n") {
			if strings.Contains(line, `"msg":"graphql"`) && strings.Contains(line, `"trace_id":"`+traceID+`"`) &&
				strings.Contains(line, `"span_id":"`+opSpan+`"`) {
				return true
			}
		}
		return false
	})
}

// TestTraceOfARefusal: an error sets the operation span's status and
// error.type to its GraphQL code.
func TestTraceOfARefusal(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := startTraced(t, db, testsupport.NoCache)
	res := srv.post(t, `query Bad { noSuchField }`, nil)
	code := res.Code()
	if code == "" {
		t.Fatalf("no error code: %s", res.Raw)
	}
	tr := treeOf(t, srv.trace(t, res))
	if tr.op.Status.Code != codes.Error || tr.op.Status.Description != code || attr(tr.op, "error.type").AsString() != code {
		t.Errorf("operation span: status %v, error.type %q; want Error with %s", tr.op.Status, attr(tr.op, "error.type").AsString(), code)
	}
}

// otlpReceiver is an OTLP/HTTP collector in the test process: it decodes
// what the real exporter posts to /v1/traces.
type otlpReceiver struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*coltracepb.ExportTraceServiceRequest
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		var msg coltracepb.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(body, &msg)
		}
		if req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" || err != nil {
			t.Errorf("the receiver got %s %s (%s): %v", req.Method, req.URL.Path, req.Header.Get("Content-Type"), err)
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.reqs = append(r.reqs, &msg)
		r.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(r.Close)
	return r
}

// received lists the spans of one trace by name, and the resource
// attributes they came with.
func (r *otlpReceiver) received(traceID string) (names []string, resource map[string]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	resource = map[string]string{}
	for _, req := range r.reqs {
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					if hex.EncodeToString(sp.TraceId) != traceID {
						continue
					}
					names = append(names, sp.Name)
					for _, kv := range rs.Resource.Attributes {
						resource[kv.Key] = kv.Value.GetStringValue()
					}
				}
			}
		}
	}
	return names, resource
}

// buildService builds a service as serve does from cfg, over the test's
// database and a Redis client of its own.
func buildService(t *testing.T, db *testsupport.DB, cfg func(*app.Config)) *app.Service {
	t.Helper()
	rdb, prefix := testsupport.MustRedisClient(t)
	c := testsupport.TestConfig(prefix, "otlp-replica")
	cfg(&c)
	svc, err := app.Build(context.Background(), c, app.WithPool(db.Pool), app.WithRedis(rdb),
		app.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	return svc
}

// TestTracesReachAnOTLPReceiver: with OTEL_EXPORTER_OTLP_ENDPOINT set,
// serve's own provider (OTLP/HTTP exporter, batch processor) delivers a
// request's trace, continued from its traceparent, with the service's
// resource, by the time the service has closed.
func TestTracesReachAnOTLPReceiver(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	recv := newOTLPReceiver(t)
	svc := buildService(t, db, func(c *app.Config) {
		c.OTelEndpoint = recv.URL
		c.OTelResourceAttributes = "deployment.environment.name=test,team=core%2Cplatform"
	})
	if svc.Tracing.Exporter() == nil {
		t.Fatal("OTEL_EXPORTER_OTLP_ENDPOINT is set, yet no exporter was created")
	}
	hs := httptest.NewServer(svc.Server.Handler())
	const traceID = "0af7651916cd43dd8448eb211c80319c"
	req := mustPost(t, hs.URL+"/graphql", `{"query": "query Names { allOrganizations { name } }"}`)
	req.Header.Set("traceparent", "00-"+traceID+"-b7ad6b7169203331-01")
	req.Header.Set("Authorization", "Bearer "+testsupport.APIToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	hs.Close()
	svc.Close() // flushes the batch processor, last of all

	names, res := recv.received(traceID)
	for _, want := range []string{"POST /graphql", "query Names"} {
		if !slices.Contains(names, want) {
			t.Errorf("the receiver has no span %q of trace %s; it has %q", want, traceID, names)
		}
	}
	if len(names) < 3 {
		t.Errorf("want the HTTP, operation and statement spans at least, got %q", names)
	}
	for k, want := range map[string]string{"service.name": "orgpulse", "service.instance.id": "otlp-replica",
		"deployment.environment.name": "test", "team": "core,platform"} {
		if res[k] != want {
			t.Errorf("resource %s = %q, want %q", k, res[k], want)
		}
	}
}

// TestTracingOffCreatesNoExporter: serve's defaults (no endpoint) build
// no exporter and no SDK provider: the server is not even wrapped.
func TestTracingOffCreatesNoExporter(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	svc := buildService(t, db, func(*app.Config) {})
	if svc.Tracing.Exporter() != nil || svc.Tracing.Enabled() {
		t.Fatalf("tracing off: exporter %v, enabled %v", svc.Tracing.Exporter(), svc.Tracing.Enabled())
	}
	if _, isNoop := svc.Tracing.TracerProvider.(noop.TracerProvider); !isNoop {
		t.Errorf("tracing off: the provider is a %T, want OpenTelemetry's no-op one", svc.Tracing.TracerProvider)
	}
}

// TestTraceOverWebSocket: an operation over a WebSocket gets its span
// from the same pipeline (the root of its trace: the upgrade has none);
// the mutation's change goes out in a relay span with its Redis commands;
// the event's delivery to the subscriber is a span of its own.
func TestTraceOverWebSocket(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	srv := testsupport.MustStartLiveServer(t, db, testsupport.LiveOptions{Options: []app.Option{app.WithTracing(tracing.Wrap(tp))}})
	projectID := db.MustQueryInt64(t, "SELECT min(id) FROM projects")

	c := testsupport.DialWS(t, srv.WSURL, testsupport.WSDialOptions{})
	c.Init(nil)
	c.Subscribe("q", `query Names { allOrganizations { name } }`, nil)
	if m := c.NextFor("q", 10*time.Second); m.Type != "next" {
		t.Fatalf("query over the socket: %s %s", m.Type, m.Payload)
	}
	c.Subscribe("s", fmt.Sprintf(`subscription Watch { projectUpdated(id: %d) { name } }`, projectID), nil)
	c.Sync()
	srv.Mutate(t, fmt.Sprintf(`mutation { updateProject(id: %d, input: {name: "Traced Project"}) { id } }`, projectID), nil).MustDecode(t, &struct{}{})
	if m := c.NextFor("s", 10*time.Second); m.Type != "next" {
		t.Fatalf("subscription: %s %s", m.Type, m.Payload)
	}

	// find waits for a span named name that match accepts.
	find := func(name string, match func(tracetest.SpanStub) bool) tracetest.SpanStub {
		t.Helper()
		var found tracetest.SpanStub
		testsupport.Eventually(t, 10*time.Second, "a span "+name, func() bool {
			for _, sp := range exp.GetSpans() {
				if sp.Name == name && match(sp) {
					found = sp
					return true
				}
			}
			return false
		})
		return found
	}
	anySpan := func(tracetest.SpanStub) bool { return true }
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("spans:\n%s", names(exp.GetSpans()))
		}
	})
	children := func(parent tracetest.SpanStub) (sql, redis int) {
		for _, sp := range exp.GetSpans() {
			if sp.Parent.SpanID() != parent.SpanContext.SpanID() {
				continue
			}
			if attr(sp, "db.system.name").AsString() == "postgresql" {
				sql++
			} else if strings.Contains(sp.InstrumentationScope.Name, "redisotel") {
				redis++
			}
		}
		return sql, redis
	}
	q := find("query Names", anySpan)
	if q.Parent.IsValid() || attr(q, "orgpulse.transport").AsString() != "websocket" {
		t.Errorf("the WebSocket query's span: parent %v, attributes %v", q.Parent.SpanID(), q.Attributes)
	}
	if sql, _ := children(q); sql == 0 {
		t.Errorf("the WebSocket query's span has no statement spans")
	}
	if s := find("subscription Watch", anySpan); attr(s, "graphql.operation.type").AsString() != "subscription" {
		t.Errorf("subscription span: %v", s.Attributes)
	}
	// The mutation's batch: the one whose events went out on the bus.
	relay := find("changefeed publish", func(sp tracetest.SpanStub) bool { _, redis := children(sp); return redis > 0 })
	if relay.SpanKind != trace.SpanKindProducer {
		t.Errorf("relay span %s, want a producer span", relay.SpanKind)
	}
	for _, sp := range exp.GetSpans() {
		if !sp.Parent.IsValid() && strings.Contains(sp.InstrumentationScope.Name, "redisotel") {
			t.Errorf("a Redis span without a parent: %s (a connection's handshake?)", sp.Name)
		}
	}
	ev := find("subscription Watch event", anySpan)
	if ev.SpanKind != trace.SpanKindConsumer || attr(ev, "orgpulse.subscribers").AsInt64() != 1 {
		t.Errorf("event delivery span %s: %v", ev.SpanKind, ev.Attributes)
	}
}

// BenchmarkTracing is BenchmarkUncachedQueryOverHTTP's request with
// tracing off (serve's default) and with every request sampled into a
// batch span processor whose exporter drops the spans: the cost of
// making them. allocs/op of "off" equals BenchmarkUncachedQueryOverHTTP's
// on a build without tracing (README "Tracing").
func BenchmarkTracing(b *testing.B) {
	db := testsupport.MustOpenSeededDB(b)
	body := []byte(`{"query":"query Employees { allEmployees(pageSize: 20) { id name title organization { id name } } }"}`)
	b.Run("off", func(b *testing.B) {
		srv := testsupport.MustStartServer(b, db, testsupport.NoCache)
		postParallel(b, srv.URL+"/graphql", testsupport.APIToken, body)
	})
	b.Run("sampled", func(b *testing.B) {
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
		b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
		srv := testsupport.MustStartServerWith(b, db, []app.Option{app.WithTracing(tracing.Wrap(tp))}, testsupport.NoCache)
		postParallel(b, srv.URL+"/graphql", testsupport.APIToken, body)
	})
}

// TestNoSpansForProbes: health checks and metric scrapes make no traces.
func TestNoSpansForProbes(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := startTraced(t, db, testsupport.NoCache)
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	res := srv.post(t, `{ __typename }`, nil) // a traced request, after the probes
	srv.trace(t, res)
	for _, sp := range srv.spans.GetSpans() {
		if sp.SpanKind == trace.SpanKindServer && attr(sp, "url.path").AsString() != "/graphql" {
			t.Errorf("a span for %s: %s", attr(sp, "url.path").AsString(), sp.Name)
		}
	}
}

// TestTraceOfAPersistedQuery: an operation sent by its APQ hash alone
// has the span of the text the hash names, and its graphql.document.hash
// is that very hash.
func TestTraceOfAPersistedQuery(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := startTraced(t, db, testsupport.NoCache)
	const doc = `query Persisted { allOrganizations { name } }`
	mustData(t, apqPost(t, srv.Server, doc, nil, true))
	res := apqPost(t, srv.Server, doc, nil, false)
	mustData(t, res)
	tr := treeOf(t, srv.trace(t, res))
	if tr.op.Name != "query Persisted" || attr(tr.op, "graphql.document.hash").AsString() != "sha256:"+sha(doc) {
		t.Errorf("operation span %q, hash %s; want query Persisted, sha256:%s", tr.op.Name, attr(tr.op, "graphql.document.hash").AsString(), sha(doc))
	}
	if len(tr.sql) == 0 {
		t.Errorf("no statement spans under the persisted query's span")
	}
}
