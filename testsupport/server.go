package testsupport

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"orgpulse/app"
	"orgpulse/changefeed"
	"orgpulse/client"
	"orgpulse/monitor"
	"orgpulse/resolvers"
	"orgpulse/server"
)

// Server is an orgpulse HTTP server on a loopback port, over a test database.
type Server struct {
	URL  string
	DB   *DB
	HTTP *httptest.Server
	// Relay is the server's change feed relay (one of the replicas'
	// relays is active at a time).
	Relay *changefeed.Relay
	logs  *lockedWriter
	stop  sync.Once
	close func()
}

// Close stops the server as its replica shutting down would (test
// cleanup does it otherwise): its relay lock is freed for another replica.
func (s *Server) Close() { s.stop.Do(s.close) }

// WaitDelivered waits until the active relay has delivered every change
// committed so far. A mutation retires the cache before it answers and
// the relay retires the same versions again moments later: tests that
// count cache hits right after a mutation wait for that second one.
func (s *Server) WaitDelivered(tb testing.TB) {
	tb.Helper()
	waitDelivered(tb, s.DB)
}

// Logs returns everything the server logged so far (JSON lines).
func (s *Server) Logs() string {
	s.logs.mu.Lock()
	defer s.logs.mu.Unlock()
	return s.logs.w.(*bytes.Buffer).String()
}

// repoRoot finds the checkout from this file's location, so tests in any
// package find node_modules.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// APIToken is the token test servers accept for mutations.
const APIToken = "test-token"

// NoCache is a MustStartServer tweak that runs without the Redis cache, so
// every read reaches PostgreSQL (statement-count tests need that).
func NoCache(_ *server.Config, r *resolvers.Config) { r.Cache = nil }

// WithResponseCache is a MustStartServer tweak that turns on the
// whole-response cache over the server's Redis cache (as RESPONSE_CACHE
// does). Put it after any tweak that replaces the cache.
func WithResponseCache(s *server.Config, r *resolvers.Config) { s.ResponseCache = r.Cache }

// MustStartServer serves db with the given config tweaks and stops when the
// test ends. It builds the service as serve does (app.Build), over the
// test's database and a Redis prefix of its own, with Debug on so tests can
// read extensions.debug, no whole-response cache (WithResponseCache turns
// it on) and no recorded samples of its own traffic.
func MustStartServer(tb testing.TB, db *DB, tweaks ...func(*server.Config, *resolvers.Config)) *Server {
	tb.Helper()
	return MustStartServerOn(tb, db, nil, tweaks...)
}

// MustStartServerWith is MustStartServer with app options of the test's
// own (app.WithTracing: a tracer provider over an in-memory exporter).
func MustStartServerWith(tb testing.TB, db *DB, opts []app.Option, tweaks ...func(*server.Config, *resolvers.Config)) *Server {
	tb.Helper()
	return startServer(tb, db, nil, opts, tweaks)
}

// MustStartServerOn is MustStartServer with its listener wrapped by wrap
// (nil: as it is), for tests that change the accepted connections, such
// as their socket buffers.
func MustStartServerOn(tb testing.TB, db *DB, wrap func(net.Listener) net.Listener, tweaks ...func(*server.Config, *resolvers.Config)) *Server {
	tb.Helper()
	return startServer(tb, db, wrap, nil, tweaks)
}

func startServer(tb testing.TB, db *DB, wrap func(net.Listener) net.Listener, opts []app.Option, tweaks []func(*server.Config, *resolvers.Config)) *Server {
	tb.Helper()
	logs := &lockedWriter{w: &bytes.Buffer{}}
	rdb, prefix := MustRedisClient(tb)
	svc := mustBuild(tb, db, rdb, prefix, "test", slog.New(slog.NewJSONHandler(logs, nil)), tweaks, opts...)
	hs := httptest.NewUnstartedServer(svc.Server.Handler())
	if wrap != nil {
		hs.Listener = wrap(hs.Listener)
	}
	hs.Start()
	s := &Server{URL: hs.URL, DB: db, HTTP: hs, Relay: svc.Relay, logs: logs, close: func() {
		hs.Close()
		svc.Close()
	}}
	tb.Cleanup(s.Close)
	return s
}

// TestConfig is the configuration of test servers: serve's defaults, with
// Debug on, the test token and JWT secret, no whole-response cache, and
// neither recorded samples nor retention, so tests see only the rows they
// write. As in serve, every request needs a token (ANONYMOUS_ROLE=none):
// the clients below send the API token (admin) unless told otherwise
// (QueryAs, ReadAs, an Authorization header of the test's own).
func TestConfig(prefix, replica string) app.Config {
	cfg := app.DefaultConfig()
	cfg.Debug = true
	cfg.ReplicaID = replica
	cfg.APIToken = APIToken
	cfg.JWTSecret = JWTSecret
	cfg.AnonymousRole = "none"
	cfg.RedisPrefix = prefix
	cfg.ResponseCache = false
	cfg.MetricsSampleRate = 0
	cfg.MetricsRetention = 0
	return cfg
}

// mustBuild builds the service over the test's pool and Redis client.
func mustBuild(tb testing.TB, db *DB, rdb redis.UniversalClient, prefix, replica string, log *slog.Logger,
	tweaks []func(*server.Config, *resolvers.Config), opts ...app.Option) *app.Service {
	tb.Helper()
	opts = append(opts, app.WithPool(db.Pool), app.WithRedis(rdb), app.WithLogger(log))
	for _, t := range tweaks {
		opts = append(opts, app.WithTweak(t))
	}
	svc, err := app.Build(context.Background(), TestConfig(prefix, replica), opts...)
	if err != nil {
		tb.Fatalf("start server: %v", err)
	}
	waitDelivered(tb, db)
	return svc
}

// waitDelivered waits until the active relay (this server's or another
// replica's) has delivered every change committed before now: the rows a
// test wrote before starting its servers are announced before the test
// goes on, not to the subscribers it is about to open.
func waitDelivered(tb testing.TB, db *DB) {
	tb.Helper()
	latest := db.MustQueryInt64(tb, "SELECT COALESCE(max(position), 0) FROM change_log")
	Eventually(tb, 10*time.Second, "the relay delivers the changes made before the server started", func() bool {
		return db.MustQueryInt64(tb, "SELECT position FROM change_relay") >= latest
	})
}

// Response is a decoded GraphQL response with its HTTP status and headers.
type Response struct {
	Status     int
	Header     http.Header
	Data       json.RawMessage `json:"data"`
	Errors     []Error         `json:"errors"`
	Extensions struct {
		Debug *monitor.Snapshot `json:"debug"`
	} `json:"extensions"`
	Raw []byte
}

// Error is one GraphQL error, with helpers for tests.
type Error client.Error

// Code returns extensions.code of the first error, or "".
func (r *Response) Code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// SQLCount is the number of SQL statements the request ran.
func (r *Response) SQLCount(tb testing.TB) int {
	tb.Helper()
	if r.Extensions.Debug == nil {
		tb.Fatalf("response has no extensions.debug: %s", r.Raw)
	}
	return r.Extensions.Debug.SQLCount
}

// MustDecode fails the test on any GraphQL error, then decodes data into dst.
func (r *Response) MustDecode(tb testing.TB, dst any) {
	tb.Helper()
	if len(r.Errors) > 0 {
		tb.Fatalf("GraphQL errors: %s", r.Raw)
	}
	if err := json.Unmarshal(r.Data, dst); err != nil {
		tb.Fatalf("decode data: %v: %s", err, r.Raw)
	}
}

// Query POSTs a GraphQL request with X-Debug: 1 and the API token.
func (s *Server) Query(tb testing.TB, query string, vars map[string]any) *Response {
	tb.Helper()
	return s.post(tb, query, vars, APIToken)
}

// Mutate is Query with the API token, for mutations.
func (s *Server) Mutate(tb testing.TB, query string, vars map[string]any) *Response {
	tb.Helper()
	return s.post(tb, query, vars, APIToken)
}

// Read POSTs a query as a client does, with the API token and without
// X-Debug: the request may be answered from the whole-response cache.
func (s *Server) Read(tb testing.TB, query string, vars map[string]any) *Response {
	tb.Helper()
	return s.send(tb, query, vars, APIToken, false)
}

func (s *Server) post(tb testing.TB, query string, vars map[string]any, token string) *Response {
	tb.Helper()
	return s.send(tb, query, vars, token, true)
}

func (s *Server) send(tb testing.TB, query string, vars map[string]any, token string, debug bool) *Response {
	tb.Helper()
	c := s.client(tb)
	if debug {
		c = c.WithHeader("X-Debug", "1")
	}
	if token != "" {
		c = c.WithHeader("Authorization", "Bearer "+token)
	}
	res, err := c.Do(context.Background(), client.Request{Query: query, Variables: vars})
	return decoded(tb, "POST "+c.URL(), res, err)
}

// Do sends req and decodes the GraphQL response. A request without an
// Authorization header gets the API token's; to send none, set the
// header to "" (NoToken).
func (s *Server) Do(tb testing.TB, req *http.Request) *Response {
	tb.Helper()
	if _, ok := req.Header["Authorization"]; !ok {
		req.Header.Set("Authorization", "Bearer "+APIToken)
	} else if req.Header.Get("Authorization") == "" {
		req.Header.Del("Authorization")
	}
	res, err := s.client(tb).Send(req)
	return decoded(tb, req.Method+" "+req.URL.String(), res, err)
}

// client is the GraphQL client of the server's endpoint.
func (s *Server) client(tb testing.TB) *client.Client {
	tb.Helper()
	c, err := client.New(s.URL, client.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// decoded is res with extensions.debug decoded; a request that got no
// GraphQL result fails the test.
func decoded(tb testing.TB, what string, res *client.Response, err error) *Response {
	tb.Helper()
	if err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
	out := &Response{Status: res.Status, Header: res.Header, Data: res.Data, Raw: res.Raw}
	for _, e := range res.Errors {
		out.Errors = append(out.Errors, Error(e))
	}
	if len(res.Extensions) > 0 {
		if err := json.Unmarshal(res.Extensions, &out.Extensions); err != nil {
			tb.Fatalf("%s: extensions: %v: %s", what, err, res.Raw)
		}
	}
	return out
}
