// Package server is orgpulse's HTTP edge: GraphQL over HTTP, GraphiQL,
// health checks. It is also where errors are translated, once, into
// GraphQL error codes.
package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	graphql "github.com/graph-gophers/graphql-go"
	gqlerrors "github.com/graph-gophers/graphql-go/errors"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"orgpulse/auth"
	"orgpulse/cache"
	"orgpulse/monitor"
	"orgpulse/postgres"
	"orgpulse/resolvers"
	"orgpulse/schema"
)

// Config tunes the server. Zero values take the defaults noted.
type Config struct {
	MaxBodyBytes   int64         // default 1 MiB
	RequestTimeout time.Duration // default 10s
	MaxDepth       int           // default 10
	Debug          bool          // accept X-Debug: 1 and answer extensions.debug
	ReplicaID      string        // sent as X-Orgpulse-Replica
	NodeModules    string        // node_modules serving GraphiQL instead of the embedded copy; default none
	Logger         *slog.Logger
	// APIToken is a static admin credential (Authorization: Bearer
	// <token>), compared in constant time; empty: none.
	APIToken string
	// Verifier checks JWT bearer tokens (auth.NewVerifier); nil: only
	// APIToken is accepted.
	Verifier *auth.Verifier
	// GraphiQLToken, with Debug, pre-fills GraphiQL's headers editor with
	// "Authorization": "Bearer <GraphiQLToken>" (dev.sh: an admin token).
	GraphiQLToken string
	// AnonymousRole is the role of a request without a credential;
	// "" or auth.RoleNone refuses it (401 UNAUTHENTICATED).
	AnonymousRole auth.Role
	// Redis, when set, is checked by /readyz (health.go): its outage
	// makes the replica degraded, not unready, unless ReadyRequiresRedis.
	Redis              redis.UniversalClient
	ReadyRequiresRedis bool
	// Monitor, when set, hears every GraphQL request (Prometheus metrics,
	// recorded samples) and serves /metrics.
	Monitor *monitor.Monitor
	// SlowRequest: a request at least this slow is logged at WARN with its
	// SQL statements; default 500ms. At most one such line per operation
	// per SlowRequestLogEvery (default 5s): the others are counted.
	SlowRequest         time.Duration
	SlowRequestLogEvery time.Duration
	// WS tunes the WebSocket transport at /graphql (ws.go).
	WS WSConfig
	// ResponseCache, when set, keeps whole query responses (respcache.go);
	// ResponseCacheTTL bounds them (default 5m).
	ResponseCache    *cache.Cache
	ResponseCacheTTL time.Duration

	// Query limits, each refused before execution with its own
	// extensions.code (limits.go, cost.go).
	MaxQueryLength    int // bytes of query text; default 20000 (QUERY_TOO_LONG)
	MaxSelections     int // fields, spreads, inline fragments, fragments expanded; default 1000 (TOO_MANY_SELECTIONS)
	MaxAliases        int // default 30 (TOO_MANY_ALIASES)
	MaxCost           int // estimated objects returned; default 100000 (COST_LIMIT_EXCEEDED)
	MaxVariablesBytes int // JSON size of the variables; default 64 KiB (VARIABLES_TOO_LARGE)
	// Introspection allows __schema and __type; nil: allowed when Debug.
	Introspection *bool
	// CORSOrigins are the origins (scheme://host[:port], or "*") whose
	// browsers may call the API; none: same-origin only.
	CORSOrigins []string

	// Admission of GraphQL requests over HTTP (admission.go): a body must
	// arrive within BodyReadTimeout (DefaultBodyReadTimeout; else 408
	// BODY_READ_TIMEOUT), and one more than MaxInflight
	// (DefaultMaxInflight) in flight is answered 503 SERVICE_UNAVAILABLE.
	BodyReadTimeout time.Duration
	// ResponseWriteTimeout bounds sending one HTTP response
	// (DefaultResponseWriteTimeout): a client that stops reading is cut
	// off and counted, instead of holding its handler, its buffers and
	// a MaxInflight slot for ever. WebSockets have WSConfig.WriteTimeout.
	ResponseWriteTimeout time.Duration
	MaxInflight          int

	// Persisted operations (persisted.go) and the document cache
	// (doccache.go): DocumentCacheSize documents are kept parsed; 0:
	// DefaultDocumentCacheSize, negative: none (DOCUMENT_CACHE_SIZE=0).
	Persisted         PersistedConfig
	DocumentCacheSize int
	// CacheControl is the Cache-Control of answers to GET (httpcache.go);
	// default DefaultCacheControl.
	CacheControl string

	// Tracer makes the OpenTelemetry spans (tracing.go); nil: none, at
	// no cost.
	Tracer trace.TracerProvider
}

// Server serves GraphQL over HTTP.
type Server struct {
	cfg      Config
	pool     *pgxpool.Pool
	resolver *resolvers.Resolver
	schema   *graphql.Schema
	graphiql *GraphiQL
	log      *slog.Logger
	draining atomic.Bool
	info     *schemaInfo // field types and page sizes for the limits (cost.go)
	docs     docCache    // recent documents, parsed (doccache.go)
	apq      apqStore    // APQ documents in Redis (persisted.go)
	wss      *wsState    // open sockets and their counters (ws.go)
	health   *health     // what /readyz last saw (health.go)
	shares   shares      // subscriptions shared by identical operations (wsshare.go)
	// uncacheable: requests whose responses read what no mutation
	// announces (respcache.go).
	uncacheable keySet
	// slow limits the slow-request lines per operation (slowlog.go).
	slow *monitor.SlowLog
	adm  *admission // requests in flight (admission.go)
	// tracer is Config.Tracer's, nil when tracing is off (tracing.go).
	tracer trace.Tracer
}

// Defaults of Config that app.DefaultConfig takes, so each is written once.
const (
	DefaultMaxBodyBytes   = 1 << 20
	DefaultRequestTimeout = 10 * time.Second
	DefaultMaxDepth       = 10
	DefaultSlowRequest    = 500 * time.Millisecond
)

// New parses the schema against the resolvers: a mismatch between SDL and
// Go fails here, at start-up, not at the first request.
func New(pool *pgxpool.Pool, res *resolvers.Resolver, cfg Config) (*Server, error) {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.MaxDepth <= 0 {
		cfg.MaxDepth = DefaultMaxDepth
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SlowRequest <= 0 {
		cfg.SlowRequest = DefaultSlowRequest
	}
	applyLimitDefaults(&cfg)
	applyPersistedDefaults(&cfg)
	s := &Server{cfg: cfg, pool: pool, resolver: res, log: cfg.Logger, wss: newWSState(),
		docs: newDocCache(cfg.DocumentCacheSize)}
	s.apq.s = s
	s.health = s.newHealth()
	s.slow = s.newSlowLog() // slowlog.go
	s.adm = s.newAdmission()
	if cfg.Tracer != nil {
		s.tracer = cfg.Tracer.Tracer("orgpulse")
	}
	var err error
	s.schema, err = graphql.ParseSchema(schema.String(), res, append([]graphql.SchemaOpt{
		graphql.UseStringDescriptions(),
		graphql.MaxDepth(cfg.MaxDepth + introspectionBackstop),
		graphql.PanicHandler(panicHandler{log: cfg.Logger}),
		// graphql-go gives each subscriber this long to resolve an event;
		// its 1s default is too short for 1,000 subscribers on 2 cores.
		graphql.SubscribeResolverTimeout(cfg.RequestTimeout),
		// A field with arguments the look-ahead could not prefetch (a
		// second Organization.employees under an alias) is loaded by each
		// item of its page concurrently, and the dataloader batches the
		// items that are waiting at once. graphql-go runs at most this many
		// list items at a time (default 10), so a page larger than that
		// would take one statement per 10 items.
		graphql.MaxParallelism(resolvers.MaxPageSize),
	}, limitOptions(&cfg)...)...)
	if err != nil {
		return nil, fmt.Errorf("parse schema: %w", err)
	}
	s.info = newSchemaInfo(s.schema.AST())
	s.graphiql, err = NewGraphiQL(cfg.NodeModules)
	if err != nil {
		return nil, fmt.Errorf("GRAPHIQL_ASSETS: %w", err)
	}
	if cfg.Debug && cfg.GraphiQLToken != "" {
		s.graphiql.WithHeaders(map[string]string{"X-Debug": "1", "Authorization": "Bearer " + cfg.GraphiQLToken})
	}
	return s, nil
}

// Handler returns the HTTP routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/graphql", s.limitInflight(s.serveGraphQL)) // admission.go: MaxInflight
	mux.HandleFunc("/graphiql", s.graphiql.ServePage)
	mux.Handle("/graphiql/assets/", s.graphiql.AssetHandler())
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", s.serveReady)
	if s.cfg.Monitor != nil {
		mux.Handle("/metrics", s.cfg.Monitor.Handler())
	}
	if s.cfg.Debug {
		s.debugRoutes(mux) // debug.go: pprof and live counters, for scripts/bench.sh
	}
	var h http.Handler = mux
	if s.tracer != nil {
		h = s.tracingHandler(mux) // tracing.go
	}
	return s.withReplica(s.withCORS(h))
}

// Drain makes /readyz answer 503 so load balancers stop sending traffic
// before the process stops.
func (s *Server) Drain() { s.draining.Store(true) }

func (s *Server) withReplica(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.ReplicaID != "" {
			w.Header().Set("X-Orgpulse-Replica", s.cfg.ReplicaID)
		}
		next.ServeHTTP(w, r)
	})
}

// request is a GraphQL-over-HTTP request.
type request struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName"`
	Variables     map[string]any `json:"variables"`
	Extensions    map[string]any `json:"extensions"`
	DocumentID    string         `json:"documentId"` // a persisted document's id (persisted.go)
}

// response is a GraphQL response.
type response struct {
	Data       json.RawMessage         `json:"data,omitempty"`
	Errors     []*gqlerrors.QueryError `json:"errors,omitempty"`
	Extensions map[string]any          `json:"extensions,omitempty"`
}

const (
	mediaGraphQLResponse = "application/graphql-response+json"
	mediaJSON            = "application/json"
)

// serveGraphQL is the HTTP transport: it decodes the request and frames
// the answer; serveOperation decides everything else.
func (s *Server) serveGraphQL(w http.ResponseWriter, r *http.Request) {
	if isWebSocket(r) {
		s.serveWebSocket(w, r)
		return
	}
	start := time.Now()
	if r.Method == http.MethodGet && !hasDocument(r.URL.Query()) && acceptsHTML(r) {
		s.graphiql.ServePage(w, r)
		return
	}
	reqID := requestID(r)
	w.Header().Set("X-Request-Id", reqID)
	media := responseMedia(r)

	var req request
	switch r.Method {
	case http.MethodPost:
		if status, err := s.decodePost(w, r, s.cfg.MaxBodyBytes, s.cfg.MaxVariablesBytes, &req); err != nil {
			s.writeError(w, media, status, errorCode(err, CodeBadRequest), err.Error())
			return
		}
	case http.MethodGet:
		s.getHeaders(w.Header()) // httpcache.go
		if err := decodeGet(r.URL.Query(), s.cfg.MaxVariablesBytes, &req); err != nil {
			s.writeError(w, media, errStatus(err), errorCode(err, CodeBadRequest), err.Error())
			return
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		s.writeError(w, media, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "use POST (or GET for queries)")
		return
	}
	if strings.TrimSpace(req.Query) == "" && !req.persisted() {
		s.writeError(w, media, http.StatusBadRequest, CodeBadRequest, "the request has no query")
		return
	}
	s.serveOperation(r.Context(), &call{
		reqID: reqID, transport: transportHTTP, req: &req, media: media,
		credential: r.Header.Get("Authorization"), queryToken: hasQueryToken(r.URL.Query()),
		debug: s.cfg.Debug && r.Header.Get("X-Debug") == "1",
		get:   r.Method == http.MethodGet, cache: true, start: start, ifNoneMatch: r.Header.Get("If-None-Match"),
		respond: func(o *outcome) { s.writeOutcome(r.Context(), w, media, o) },
	})
}

// writeOutcome frames an operation's answer as an HTTP response; a
// response to keep in the cache is stored once it is sent.
func (s *Server) writeOutcome(ctx context.Context, w http.ResponseWriter, media string, o *outcome) {
	for k, v := range o.header {
		w.Header().Set(k, v)
	}
	if o.cache != "" {
		w.Header().Set(headerCache, o.cache)
	}
	s.writeBody(w, media, o.status, o.body)
	if o.store != nil {
		s.storeResponse(ctx, w, *o.store, o.body)
	}
}

// observe reports a finished GraphQL request to the monitor and the log.
// extra are attributes of the log line only (transport, code).
func (s *Server) observe(ctx context.Context, reqID, opName, kind string, status, errs int, elapsed time.Duration, snap monitor.Snapshot, extra ...any) {
	s.cfg.Monitor.ObserveRequest(monitor.Request{ID: reqID, Operation: opName, Kind: kind,
		Status: status, Duration: elapsed, Stats: snap, Errors: errs})
	attrs := []any{"request_id", reqID, "operation", opName, "kind", kind,
		"duration_ms", snap.DurationMs, "sql_count", snap.SQLCount, "sql_ms", snap.SQLMs,
		"cache_hits", snap.CacheHits, "errors", errs}
	attrs = append(attrs, extra...)
	if elapsed >= s.cfg.SlowRequest {
		// At most one line per operation per interval (slowlog.go); the
		// others keep their INFO line below.
		if ok, suppressed := s.slow.Allow(opName, time.Now()); ok {
			s.log.WarnContext(ctx, "slow graphql request", append(attrs, "sql", snap.SQL, "suppressed", suppressed)...)
			return
		}
	}
	s.log.InfoContext(ctx, "graphql", attrs...)
}

// translateErrors is the one place errors become client-facing codes. A
// resolvers.Error passes through; any other resolver error is internal: it
// is logged once with the request id and the client sees neither SQL nor
// driver text.
func (s *Server) translateErrors(ctx context.Context, reqID string, errs []*gqlerrors.QueryError) []*gqlerrors.QueryError {
	for _, e := range errs {
		var coded *resolvers.Error
		var p panicError
		switch {
		case e.ResolverError != nil && errors.As(e.ResolverError, &coded):
			e.Extensions = coded.Extensions()
		case postgres.Classify(e.ResolverError) == postgres.KindUnstorableText:
			s.log.InfoContext(ctx, "unstorable text in the input", "request_id", reqID, "path", e.Path, "err", e.ResolverError)
			e.Message = "a string in the input contains a character that cannot be stored or searched (such as NUL)"
			e.Extensions = map[string]any{"code": resolvers.CodeBadUserInput}
		case postgres.Classify(e.ResolverError) == postgres.KindUnavailable:
			s.log.WarnContext(ctx, "database unavailable", "request_id", reqID, "path", e.Path, "err", e.ResolverError)
			e.Message = "the service is temporarily unavailable: try again shortly"
			e.Extensions = map[string]any{"code": resolvers.CodeServiceUnavailable, "requestId": reqID}
		case isContextError(e, context.DeadlineExceeded):
			// graphql-go answers only this when the request's context
			// ended (the resolvers' own errors are dropped).
			s.log.WarnContext(ctx, "request deadline exceeded", "request_id", reqID)
			e.Message = "the request took longer than its deadline"
			e.Extensions = map[string]any{"code": CodeTimeout, "requestId": reqID}
		case isContextError(e, context.Canceled) || errors.Is(e.ResolverError, context.Canceled):
			s.log.InfoContext(ctx, "request cancelled by the client", "request_id", reqID, "code", CodeCancelled)
			e.Message = "the request was cancelled"
			e.Extensions = map[string]any{"code": CodeCancelled, "requestId": reqID}
		case e.ResolverError != nil && (errors.Is(e.ResolverError, context.DeadlineExceeded) || postgres.Classify(e.ResolverError) == postgres.KindCanceled):
			s.log.WarnContext(ctx, "request deadline exceeded", "request_id", reqID, "path", e.Path, "err", e.ResolverError)
			e.Message = "the request took longer than its deadline"
			e.Extensions = map[string]any{"code": CodeTimeout, "requestId": reqID}
		case e.ResolverError != nil || errors.As(e.Err, &p):
			s.log.ErrorContext(ctx, "internal error", "request_id", reqID, "path", e.Path, "err", errors.Join(e.ResolverError, e.Err))
			e.Message = "internal error (request id " + reqID + ")"
			e.Extensions = map[string]any{"code": resolvers.CodeInternal, "requestId": reqID}
		case e.Rule == "MaxDepthExceeded":
			e.Extensions = map[string]any{"code": CodeDepthLimit}
		case errors.Is(e.Err, graphql.ErrTooManySelections):
			e.Extensions = map[string]any{"code": CodeTooManySels}
		case e.Rule == "" && strings.HasPrefix(e.Message, "query length "):
			e.Extensions = map[string]any{"code": CodeQueryTooLong}
		case e.Rule != "":
			e.Extensions = map[string]any{"code": CodeValidationFailed}
		case strings.HasPrefix(e.Message, "syntax error"):
			e.Extensions = map[string]any{"code": CodeParseFailed}
		default:
			e.Extensions = map[string]any{"code": resolvers.CodeBadUserInput}
		}
		s.cfg.Monitor.CountError(fmt.Sprint(e.Extensions["code"]))
	}
	return errs
}

// panicError marks a recovered resolver panic.
type panicError struct{ value any }

func (p panicError) Error() string { return fmt.Sprintf("panic: %v", p.value) }

type panicHandler struct{ log *slog.Logger }

// MakePanicError implements graphql-go's PanicHandler: the panic fails this
// field of this request only, and its stack goes to the log.
func (h panicHandler) MakePanicError(ctx context.Context, value any) *gqlerrors.QueryError {
	h.log.Error("resolver panic", "value", fmt.Sprint(value), "stack", string(debug.Stack()))
	return &gqlerrors.QueryError{Message: "internal error", Err: panicError{value: value}}
}

func (s *Server) decodePost(w http.ResponseWriter, r *http.Request, limit int64, maxVars int, req *request) (int, error) {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (ct != mediaJSON && ct != mediaGraphQLResponse) {
		return http.StatusUnsupportedMediaType, errors.New("Content-Type must be application/json")
	}
	// The body is read whole and parsed once, by decodeBody: a
	// json.Decoder in front of it scanned every body twice (5% of the
	// server's CPU answering cached responses at c=32).
	buf := bodyBuffers.Get().(*[]byte)
	defer putBodyBuffer(buf)
	body, status, err := s.readBody(w, r, buf, limit) // admission.go: within BodyReadTimeout
	if err != nil {
		return status, err
	}
	return decodeBody(body, maxVars, req) // limits.go; it keeps no reference to the bytes
}

func acceptsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// responseMedia picks application/graphql-response+json when the client
// accepts it, as the GraphQL-over-HTTP spec asks, else application/json.
func responseMedia(r *http.Request) string {
	if strings.Contains(r.Header.Get("Accept"), mediaGraphQLResponse) {
		return mediaGraphQLResponse
	}
	return mediaJSON
}

func (s *Server) writeError(w http.ResponseWriter, media string, status int, code, msg string) {
	s.cfg.Monitor.CountError(code) // refused before the pipeline: counted like its errors
	s.writeJSON(w, media, status, response{Errors: []*gqlerrors.QueryError{{
		Message: msg, Extensions: map[string]any{"code": code},
	}}})
}

func (s *Server) writeJSON(w http.ResponseWriter, media string, status int, v any) {
	s.writeBody(w, media, status, s.encodeJSON(v))
}

// encodeResponse writes an executed response. graphql-go has already
// written data as compact JSON; handing it to encoding/json as a RawMessage
// would re-validate and copy every byte of it (4% of the server's CPU on 50
// employees at concurrency 32), so data is copied as it is and only the
// small extensions object goes through the encoder.
func (s *Server) encodeResponse(out response) []byte {
	if len(out.Errors) > 0 || len(out.Data) == 0 {
		return s.encodeJSON(out)
	}
	var ext []byte
	if out.Extensions != nil {
		ext = s.encodeJSON(out.Extensions)
		ext = ext[:len(ext)-1] // the encoder's newline
	}
	b := make([]byte, 0, len(`{"data":,"extensions":}`)+len(out.Data)+len(ext)+1)
	b = append(b, `{"data":`...)
	b = append(b, out.Data...)
	if ext != nil {
		b = append(b, `,"extensions":`...)
		b = append(b, ext...)
	}
	return append(b, "}\n"...)
}

// encodeJSON encodes a response the one way every response is encoded,
// cached or not: without HTML escaping, with a final newline.
func (s *Server) encodeJSON(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		s.log.Error("encode response", "err", err)
		return []byte(`{"errors":[{"message":"internal error: the response could not be encoded","extensions":{"code":"INTERNAL"}}]}` + "\n")
	}
	return b.Bytes()
}

// writeBody sends a response within ResponseWriteTimeout. Nothing else
// bounds a client that stops reading: once the kernel's buffers are full,
// Write blocks, and the handler, its buffers and a MaxInflight slot with
// it (256 such clients would take every slot). The deadline is the
// connection's, so the body goes out whole within it: an explicit
// Content-Length (no chunk left in net/http's buffer), then a flush, whose
// error tells a cut-off client from one that went away. net/http clears a
// write deadline after each response, so a kept-alive connection does not
// carry it into its next request (an http.Server WriteTimeout instead
// would also cut WebSockets).
func (s *Server) writeBody(w http.ResponseWriter, media string, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", media+"; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.ResponseWriteTimeout))
	w.WriteHeader(status)
	_, err := w.Write(body)
	if err == nil {
		err = rc.Flush()
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		s.adm.writeTimeouts.Add(1) // the connection is closed: net/http cannot finish the response
	}
}

// requestID keeps a sane client-supplied X-Request-Id (so logs correlate
// across a load balancer) or makes a new one.
func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" && len(id) <= 64 && isToken(id) {
		return id
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isNameByte(c) || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
