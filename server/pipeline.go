package server

import (
	"context"
	"net/http"
	"time"

	gqlerrors "github.com/graph-gophers/graphql-go/errors"
	"go.opentelemetry.io/otel/trace"

	"orgpulse/auth"
	"orgpulse/cache"
	"orgpulse/monitor"
	"orgpulse/resolvers"
)

// The one path of a GraphQL operation, whatever carried it (HTTP POST,
// HTTP GET, a WebSocket message): parse once (document.go), limits and
// cost (cost.go), the transport's rule (no mutation over GET, no
// subscription over HTTP), authorization, the response cache (HTTP
// queries), loaders and execution, error translation, and observation:
// the Prometheus histogram, the api_response and database samples, one
// log line. The transports decode requests and frame answers; they decide
// nothing else.

// call is one operation as a transport received it.
type call struct {
	reqID     string
	transport string // http or websocket, for the log
	req       *request
	media     string // the response's media type; it decides the statuses
	// credential is the Authorization value that came with it ("" none);
	// queryToken says the URL carried a token, which is refused.
	credential string
	queryToken bool
	// principal is who it runs for, once authenticate has admitted it.
	principal auth.Principal
	debug     bool // X-Debug: 1, with Debug on: answer extensions.debug
	get       bool // HTTP GET: queries only
	cache     bool // the response cache may answer it (HTTP)
	async     bool // execute on a goroutine of its own (WebSocket)
	start     time.Time
	// subscribe takes over an admitted subscription, for principal p;
	// nil refuses them.
	subscribe func(d *document, p auth.Principal)
	// respond frames the answer. It is called once per operation that is
	// not a subscription.
	respond func(o *outcome)
	// ifNoneMatch is a GET's If-None-Match: the ETags the client holds
	// (httpcache.go).
	ifNoneMatch string
	// span is the operation's OpenTelemetry span (tracing.go); nil when
	// tracing is off.
	span trace.Span
}

// outcome is an operation's answer.
type outcome struct {
	status int      // the HTTP status, for c.media (statusFor)
	resp   response // data, errors and extensions, unless a cache hit
	body   []byte   // resp encoded, or the cached response
	header map[string]string
	cache  string       // X-Orgpulse-Cache: hit, miss, or "" when not consulted
	store  *cache.Entry // keep body under this entry once it is sent
	code   string       // a refusal's code, for the log
}

// serveOperation admits and executes one operation. Only a subscription
// leaves it early, admitted, for c.subscribe.
func (s *Server) serveOperation(ctx context.Context, c *call) {
	d := s.resolveDocument(ctx, c)    // persisted.go: the text, or the document its hash names
	ctx = s.startOperation(ctx, c, d) // tracing.go; record ends it
	if ref := s.admit(c, d); ref != nil {
		s.refuse(c, d, ref)
		return
	}
	s.register(ctx, c, d) // persisted.go: an APQ document is stored once admitted
	if d.kind == "subscription" {
		c.subscribe(d, c.principal)
		endOperation(c, nil)
		return
	}
	if c.async {
		go s.execute(ctx, c, d)
		return
	}
	s.execute(ctx, c, d)
}

// admit refuses what must not run: a request without a valid credential
// (unless ANONYMOUS_ROLE lets it in), a document that was not analysed, an
// operation its transport does not carry, a document over a limit, a
// field the principal's role may not select (in that order). It sets
// c.principal.
func (s *Server) admit(c *call, d *document) *refusal {
	p, ref := s.authenticate(c)
	if ref != nil {
		return ref
	}
	c.principal = p
	switch {
	case d.kind == "":
		return d.refused
	case c.get && d.kind != "query":
		return &refusal{Code: CodeMethodNotAllowed, Message: "a " + d.kind + " cannot run over GET: use POST",
			Status: http.StatusMethodNotAllowed, header: map[string]string{"Allow": "POST"}}
	case d.kind == "subscription" && c.subscribe == nil:
		return &refusal{Code: CodeBadRequest, Message: "subscriptions run over a WebSocket at /graphql (graphql-transport-ws)",
			Status: http.StatusBadRequest}
	case d.refused != nil:
		return d.refused
	}
	return forbidden(p, d)
}

// refuse answers and records a refused operation.
func (s *Server) refuse(c *call, d *document, r *refusal) {
	ext := map[string]any{"code": r.Code}
	for k, v := range r.Ext {
		ext[k] = v
	}
	o := &outcome{status: refusalStatus(c.media, r), header: r.header, code: r.Code,
		resp: response{Errors: []*gqlerrors.QueryError{{Message: r.Message, Extensions: ext}}}}
	o.body = s.encodeJSON(o.resp)
	s.record(c, d, o, nil)
	c.respond(o)
}

// execute runs an admitted query or mutation, or answers it from the
// response cache.
func (s *Server) execute(ctx context.Context, c *call, d *document) {
	// A mutation's context outlives REQUEST_TIMEOUT by the time its COMMIT
	// may take to answer: its answer must tell the truth (resolvers/write.go).
	ctx, cancel := resolvers.RequestContext(ctx, s.cfg.RequestTimeout, d.kind == "mutation")
	defer cancel()
	ctx, stats := monitor.WithRequestStats(ctx)
	o := &outcome{}
	// A debug request always executes: its extensions.debug shows the
	// work. Introspection is never cached (respcache.go).
	cached := c.cache && s.cfg.ResponseCache != nil && d.kind == "query" && !c.debug && !d.stats.Introspection
	var key cache.Key
	var entry cache.Entry
	if cached {
		key = responseKey(c.req, c.principal)
		cached = !s.uncacheable.has(key.Name)
	}
	if cached {
		entry = s.cfg.ResponseCache.Lookup(ctx, key)
		if entry.Value != nil {
			o.status, o.body, o.cache = http.StatusOK, entry.Value, "hit"
			revalidate(c, o, entry) // httpcache.go: its ETag, or 304
			s.record(c, d, o, stats)
			c.respond(o)
			return
		}
		o.cache = "miss"
	}

	ctx = s.resolver.WithLoaders(resolvers.WithPrincipal(ctx, c.principal))
	res := s.exec(ctx, c.reqID, c.req)
	o.resp = response{Data: res.Data, Errors: s.translateErrors(ctx, c.reqID, res.Errors)}
	if c.debug {
		snap := stats.Snapshot()
		snap.DurationMs = float64(time.Since(c.start).Microseconds()) / 1000
		o.resp.Extensions = map[string]any{"debug": snap}
	}
	if len(res.Data) > 0 {
		if o.resp.Extensions == nil {
			o.resp.Extensions = map[string]any{}
		}
		o.resp.Extensions["cost"] = d.stats.Cost
	}
	// GraphQL-over-HTTP: a request that never executed is a 4xx (a 5xx
	// when the service, not the request, is at fault).
	o.status = statusFor(c.media, res.Data, o.resp.Errors)
	o.body = s.encodeResponse(o.resp)
	switch {
	case !cached || o.status != http.StatusOK || len(o.resp.Errors) > 0:
	case s.resolver.ResponseCacheable(ctx):
		o.store = &entry
		revalidate(c, o, entry)
	default:
		s.uncacheable.add(key.Name)
	}
	// Recorded before it is answered: a client that has its answer finds
	// it counted (over WebSocket the answer is on its way at once).
	s.record(c, d, o, stats)
	c.respond(o)
}

// record observes a finished operation (observe), under the name its
// metrics and samples may carry (metricName).
func (s *Server) record(c *call, d *document, o *outcome, stats *monitor.RequestStats) {
	var snap monitor.Snapshot
	if stats != nil {
		snap = stats.Snapshot()
	}
	elapsed := time.Since(c.start)
	snap.DurationMs = float64(elapsed.Microseconds()) / 1000
	extra := []any{"transport", c.transport}
	if o.code != "" {
		extra = append(extra, "code", o.code)
	}
	if o.cache != "" {
		extra = append(extra, "cache", o.cache)
	}
	s.observe(logContext(c), c.reqID, metricName(c, d, o), d.kind, o.status, len(o.resp.Errors), elapsed, snap, extra...)
	endOperation(c, o)
}

const (
	transportHTTP = "http"
	transportWS   = "websocket"
)
