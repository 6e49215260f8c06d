package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	rtdebug "runtime/debug"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"orgpulse/auth"
	"orgpulse/cache"
	"orgpulse/changefeed"
	"orgpulse/migrations"
	"orgpulse/monitor"
	"orgpulse/postgres"
	"orgpulse/realtime"
	"orgpulse/resolvers"
	"orgpulse/server"
	"orgpulse/tracing"
)

// Service is orgpulse serve's parts, built in order by Build and closed in
// reverse by Close.
type Service struct {
	Config   Config
	Log      *slog.Logger
	Pool     *pgxpool.Pool
	Redis    redis.UniversalClient // nil without REDIS_URL
	Cache    *cache.Cache          // nil without REDIS_URL
	Hub      *realtime.Hub         // nil without REDIS_URL
	Monitor  *monitor.Monitor
	Resolver *resolvers.Resolver
	Relay    *changefeed.Relay // nil without REDIS_URL: nothing to deliver to
	Server   *server.Server
	// Tracing is the OpenTelemetry tracer provider: tracing.Off() without
	// an OTLP endpoint.
	Tracing *tracing.Provider

	closers []func() // in build order; Close runs them backwards
}

// Option changes how Build builds a part; tests use them to share a pool
// or a Redis client and to turn single knobs.
type Option func(*build)

type build struct {
	pool   *pgxpool.Pool
	rdb    redis.UniversalClient
	log    *slog.Logger
	tracer *tracing.Provider
	tweaks []func(*server.Config, *resolvers.Config, *realtime.Config)
}

// WithPool uses pool instead of opening DatabaseURL; Close leaves it open.
func WithPool(pool *pgxpool.Pool) Option { return func(b *build) { b.pool = pool } }

// WithRedis uses rdb instead of dialing RedisURL; Close leaves it open.
func WithRedis(rdb redis.UniversalClient) Option { return func(b *build) { b.rdb = rdb } }

// WithLogger logs to log instead of a logger made from LogFormat and
// LogLevel on standard error.
func WithLogger(log *slog.Logger) Option { return func(b *build) { b.log = log } }

// WithTracing traces into p instead of the provider the OTEL_* settings
// describe (tests: an SDK provider over an in-memory exporter); Close
// leaves it open.
func WithTracing(p *tracing.Provider) Option { return func(b *build) { b.tracer = p } }

// WithTweak changes the server's and the resolvers' configuration after
// Build derived them from Config, for what has no setting (a test clock,
// no cache for statement counts).
func WithTweak(t func(*server.Config, *resolvers.Config)) Option {
	return WithLiveTweak(func(s *server.Config, r *resolvers.Config, _ *realtime.Config) { t(s, r) })
}

// WithLiveTweak is WithTweak that also changes the hub's configuration.
func WithLiveTweak(t func(*server.Config, *resolvers.Config, *realtime.Config)) Option {
	return func(b *build) { b.tweaks = append(b.tweaks, t) }
}

// Build builds the service from cfg: tracing, pool, Redis, cache, hub, monitor,
// resolvers, relay, server. On error, what was built is closed again.
func Build(ctx context.Context, cfg Config, opts ...Option) (svc *Service, err error) {
	var b build
	for _, o := range opts {
		o(&b)
	}
	if err := cfg.check(b.pool == nil); err != nil {
		return nil, err
	}
	s := &Service{Config: cfg, Log: b.log}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.Log == nil {
		s.Log = NewLogger(os.Stderr, cfg.LogFormat, cfg.LogLevel)
	}
	if err := s.openTracing(ctx, b.tracer); err != nil {
		return nil, err
	}
	if err := s.openPool(ctx, b.pool); err != nil {
		return nil, err
	}
	if err := s.openRedis(ctx, b.rdb); err != nil {
		return nil, err
	}
	s.buildMonitor()
	hcfg := realtime.Config{Prefix: cfg.RedisPrefix, Logger: s.Log}
	rcfg := s.resolverConfig()
	scfg, err := s.serverConfig()
	if err != nil {
		return nil, err
	}
	for _, t := range b.tweaks {
		t(&scfg, &rcfg, &hcfg)
	}
	if s.Redis != nil {
		s.Hub = realtime.New(s.Redis, hcfg)
		s.onClose(s.Hub.Close)
		if rcfg.Events == nil {
			rcfg.Events = s.Hub
		}
	}
	s.Resolver = resolvers.New(s.Pool, rcfg)
	if err := s.startRelay(rcfg); err != nil {
		return nil, err
	}
	if s.Server, err = server.New(s.Pool, s.Resolver, scfg); err != nil {
		return nil, err
	}
	s.registerRealtime()
	return s, nil
}

func (s *Service) onClose(f func()) { s.closers = append(s.closers, f) }

// openTracing builds the tracer provider first, so that it closes last:
// the spans of everything else's shutdown are flushed with it. With
// tracing on, log lines written with a span's context carry its ids.
func (s *Service) openTracing(ctx context.Context, given *tracing.Provider) error {
	if given != nil {
		s.Tracing = given
	} else {
		p, err := tracing.New(ctx, s.Config.tracing())
		if err != nil {
			return err
		}
		s.Tracing = p
		s.onClose(func() {
			flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := p.Shutdown(flushCtx); err != nil {
				s.Log.Warn("flush traces", "err", err)
			}
		})
	}
	if s.Tracing.Enabled() {
		s.Log = slog.New(tracing.LogHandler(s.Log.Handler()))
	}
	return nil
}

// tracer is the provider the parts make spans with; nil when tracing is
// off, so that they skip it altogether.
func (s *Service) tracer() trace.TracerProvider {
	if !s.Tracing.Enabled() {
		return nil
	}
	return s.Tracing
}

// startRelay starts this replica's change feed relay (changefeed/): one
// of the replicas' relays is active at a time. Without Redis there is
// neither a cache to retire nor a bus to publish on.
func (s *Service) startRelay(rcfg resolvers.Config) error {
	if s.Redis == nil {
		return nil
	}
	conn := s.Pool.Config().ConnConfig
	if u := s.Config.DatabaseListenURL; u != "" {
		var err error
		if conn, err = pgx.ParseConfig(u); err != nil {
			return fmt.Errorf("DATABASE_LISTEN_URL: %s", redactErr(err))
		}
	}
	s.Relay = changefeed.Start(changefeed.Config{Conn: conn, Cache: rcfg.Cache, Bus: rcfg.Events,
		Logger: s.Log, Keep: s.Config.ReplayWindow, Tracer: s.tracer()})
	s.onClose(s.Relay.Close)
	return s.registerRelay()
}

// registerRelay exports the relay's state: which replica's relay is
// active, how far it delivered, and how often it had to retry.
func (s *Service) registerRelay() error {
	r, m := s.Relay, s.Monitor.Metrics
	active := func() int64 {
		if r.Stats().Active {
			return 1
		}
		return 0
	}
	return errors.Join(
		m.RegisterGaugeFunc(monitor.MetricRelayActive, "1 while this replica's change feed relay is the active one.", active),
		m.RegisterGaugeFunc(monitor.MetricRelayPosition, "The last change log position this replica's relay delivered.",
			func() int64 { return r.Stats().Position }),
		m.RegisterCounterFunc(monitor.MetricRelayChanges, "Change log rows this replica's relay delivered.",
			func() int64 { return int64(r.Stats().Changes) }),
		m.RegisterCounterFunc(monitor.MetricRelayFailures, "Relay steps that failed and were retried (a lost session, Redis not answering).",
			func() int64 { return int64(r.Stats().Failures) }))
}

// Close tears the service down in the reverse order of Build.
func (s *Service) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

func (s *Service) openPool(ctx context.Context, given *pgxpool.Pool) error {
	if given != nil {
		s.Pool = given
		return nil
	}
	pool, err := OpenPool(ctx, s.Config)
	if err != nil {
		return err
	}
	s.Pool = pool
	s.onClose(pool.Close)
	if err := requireMigrated(ctx, pool); err != nil {
		return err
	}
	return nil
}

// OpenPool opens the PostgreSQL pool cfg describes.
func OpenPool(ctx context.Context, cfg Config) (*pgxpool.Pool, error) {
	if cfg.DatabaseURL == "" {
		return nil, errors.New("DATABASE_URL is not set: pass --database-url or set DATABASE_URL (scripts/dev.sh sets it up)")
	}
	return postgres.Open(ctx, cfg.DatabaseURL, postgres.Config{
		MaxConns: int32(cfg.DBMaxConns), StatementTimeout: cfg.StatementTimeout, RandomPageCost: cfg.RandomPageCost})
}

// requireMigrated refuses to run against a database whose schema is behind
// the binary, naming the command that fixes it.
func requireMigrated(ctx context.Context, pool *pgxpool.Pool) error {
	m, err := migrations.New(pool)
	if err != nil {
		return err
	}
	defer m.Close()
	n, err := m.Pending(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("the database has %d pending migration(s): run 'orgpulse migrate up' first", n)
	}
	return nil
}

func (s *Service) openRedis(ctx context.Context, given redis.UniversalClient) error {
	cfg := s.Config
	switch {
	case given != nil:
		s.Redis = given
	case cfg.RedisURL == "":
		s.Log.Warn("REDIS_URL is not set: running without the shared cache and without subscriptions across replicas")
		return nil
	default:
		rdb, err := OpenRedis(ctx, cfg.RedisURL, s.Log)
		if err != nil {
			return err
		}
		s.Redis = rdb
		s.onClose(func() { _ = rdb.Close() })
	}
	if err := cache.ValidatePrefix(s.Redis, cfg.RedisPrefix); err != nil {
		return err
	}
	if err := tracing.InstrumentRedis(s.Redis, s.Tracing); err != nil {
		return err
	}
	s.Cache = cache.New(s.Redis, cache.Config{Prefix: cfg.RedisPrefix, TTL: cfg.CacheTTL, Logger: s.Log, OnResult: countCache})
	return nil
}

// OpenRedis connects to url (see cache.NewRedis for its forms: one server,
// Redis Cluster, Sentinel). A Redis that does not answer at start-up is
// reported but not fatal: the cache falls through to PostgreSQL and
// resumes by itself when Redis answers.
func OpenRedis(ctx context.Context, url string, log *slog.Logger) (redis.UniversalClient, error) {
	rdb, err := cache.NewRedis(url)
	if err != nil {
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := rdb.Ping(pingCtx).Err(); err != nil {
		log.Warn("Redis does not answer yet; reads go to PostgreSQL until it does", "err", err)
	}
	return rdb, nil
}

// countCache attributes cache hits and misses to the request in ctx.
func countCache(ctx context.Context, hits, misses int) {
	monitor.StatsFrom(ctx).AddCache(hits, misses)
}

func (s *Service) buildMonitor() {
	cfg := s.Config
	mcfg := monitor.Config{Pool: s.Pool, Cache: s.Cache, Logger: s.Log, SampleRate: cfg.MetricsSampleRate,
		Recorder:  monitor.RecorderConfig{BufferSize: cfg.MetricsBuffer, FlushInterval: cfg.MetricsFlushInterval},
		Retention: cfg.MetricsRetention, RetentionInterval: cfg.RetentionInterval}
	if cfg.MetricsSampleRate == 0 {
		mcfg.SampleRate = -1 // record no request (0 means the default in monitor.Config)
	}
	if cfg.MetricsRetention <= 0 {
		mcfg.Retention = -1 // keep samples forever
	}
	s.Monitor = monitor.New(mcfg)
	// Closed after the HTTP server has stopped and before the pool and
	// Redis close: the buffered samples are written on a clean stop.
	s.onClose(func() {
		flushCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Monitor.Close(flushCtx); err != nil {
			s.Log.Warn("flush performance samples", "err", err)
		}
	})
}

func (s *Service) resolverConfig() resolvers.Config {
	cfg := s.Config
	rcfg := resolvers.Config{LoaderWait: cfg.LoaderWait, CacheTTL: cfg.CacheTTL, SummaryTTL: cfg.SummaryTTL,
		NaiveLoading: cfg.NaiveLoading, Cache: s.Cache}
	if cfg.NaiveLoading {
		s.Log.Warn("NAIVE_LOADING is set: N+1 loading for the benchmark; never use it in production")
	}
	return rcfg
}

func (s *Service) serverConfig() (server.Config, error) {
	cfg := s.Config
	verifier, err := auth.NewVerifier(auth.VerifierConfig{Secret: cfg.JWTSecret, JWKSFile: cfg.JWTJWKSFile,
		Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience})
	if err != nil {
		return server.Config{}, fmt.Errorf("JWT_JWKS_FILE: %w", err)
	}
	if cfg.APIToken == "" && cfg.JWTSecret == "" && cfg.JWTJWKSFile == "" {
		s.Log.Warn("none of API_TOKEN, JWT_SECRET and JWT_JWKS_FILE is set: only ANONYMOUS_ROLE can reach the API", "anonymous_role", cfg.AnonymousRole)
	}
	scfg := server.Config{
		MaxBodyBytes: int64(cfg.MaxBodyBytes), RequestTimeout: cfg.RequestTimeout, MaxDepth: cfg.MaxDepth,
		MaxQueryLength: cfg.MaxQueryLength, MaxSelections: cfg.MaxSelections, MaxAliases: cfg.MaxAliases,
		MaxCost: cfg.MaxCost, MaxVariablesBytes: cfg.MaxVariablesBytes,
		Introspection: cfg.Introspection, CORSOrigins: cfg.CORSOrigins,
		Debug: cfg.Debug, ReplicaID: cfg.ReplicaID, NodeModules: cfg.GraphiQLAssets, Logger: s.Log,
		APIToken: cfg.APIToken, Verifier: verifier, AnonymousRole: auth.Role(cfg.AnonymousRole), GraphiQLToken: cfg.GraphiQLToken, Redis: s.Redis, Monitor: s.Monitor, SlowRequest: cfg.SlowRequest,
		ResponseCacheTTL: cfg.CacheTTL, Tracer: s.tracer(),
		BodyReadTimeout: cfg.BodyReadTimeout, ResponseWriteTimeout: cfg.ResponseWriteTimeout, MaxInflight: cfg.MaxInflight, ReadyRequiresRedis: cfg.ReadyRequiresRedis,
		WS: server.WSConfig{InitTimeout: cfg.WSInitTimeout, MaxConnections: cfg.WSMaxConnections,
			MaxSubscriptionsPerConn: cfg.WSMaxSubscriptions, AllowedOrigins: cfg.CORSOrigins},
	}
	if cfg.ResponseCache {
		scfg.ResponseCache = s.Cache // nil without REDIS_URL
	}
	if err := persistedConfig(cfg, &scfg); err != nil {
		return server.Config{}, err
	}
	return scfg, nil
}

// registerRealtime exports the WebSocket and hub counters.
func (s *Service) registerRealtime() {
	if s.Hub == nil {
		return
	}
	hub, srv := s.Hub, s.Server
	s.Monitor.Metrics.RegisterRealtime(monitor.RealtimeStats{
		Connections: func() int64 { return srv.WebSocketStats().Connections },
		// Every open subscription, not the hub's subscribers: identical
		// subscriptions share one of those (server/wsshare.go).
		Subscriptions: func() int64 { return srv.WebSocketStats().Subscriptions },
		Published:     func() int64 { return int64(hub.Stats().Published) },
		Delivered:     func() int64 { return int64(hub.Stats().Delivered) },
		SlowConsumers: func() int64 { return int64(srv.WebSocketStats().SlowConsumers) },
		Interrupted:   func() int64 { return int64(s.Resolver.LiveStats().Interrupted) },
		Reconnects:    func() int64 { return int64(hub.Stats().Reconnects) },
	})
}

// Serve builds the service, listens on cfg.Addr until ctx ends, then
// drains and shuts down as the README describes (Graceful shutdown).
func Serve(ctx context.Context, cfg Config) error {
	if cfg.GOGC == "" {
		rtdebug.SetGCPercent(DefaultGCPercent)
	}
	svc, err := Build(ctx, cfg)
	if err != nil {
		return err
	}
	defer svc.Close()
	slog.SetDefault(svc.Log)
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	return svc.serve(ctx, ln)
}

func (s *Service) serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s.Server.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	s.Log.Info("serving", "addr", ln.Addr().String(), "replica", s.Config.ReplicaID, "debug", s.Config.Debug)

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.Log.Info("shutting down", "drain", s.Config.ShutdownDrain)
	s.Server.Drain()
	time.Sleep(s.Config.ShutdownDrain)
	shutCtx, cancel := context.WithTimeout(context.Background(), s.Config.ShutdownTimeout)
	defer cancel()
	// Shutdown does not touch upgraded connections: close the sockets
	// with 1001 so their clients reconnect to another replica.
	s.Server.CloseWebSockets(shutCtx)
	if err := hs.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	s.Log.Info("stopped")
	return nil
}

// NewLogger makes the structured logger LOG_FORMAT and LOG_LEVEL describe.
func NewLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level)) // checked when the setting was bound
	opts := &slog.HandlerOptions{Level: lv}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// persistedConfig sets up persisted operations and the document cache.
func persistedConfig(cfg Config, scfg *server.Config) error {
	scfg.DocumentCacheSize = cfg.DocumentCacheSize
	if scfg.DocumentCacheSize == 0 {
		scfg.DocumentCacheSize = -1 // server.Config's zero is its default
	}
	scfg.CacheControl = cfg.CacheControl
	scfg.Persisted = server.PersistedConfig{RedisPrefix: cfg.RedisPrefix, TTL: cfg.PersistedQueryTTL,
		TrustedOnly: cfg.TrustedDocumentsOnly}
	if cfg.TrustedDocuments != "" {
		m, err := server.LoadManifest(cfg.TrustedDocuments)
		if err != nil {
			return fmt.Errorf("TRUSTED_DOCUMENTS: %w", err)
		}
		scfg.Persisted.Manifest = m
	}
	return nil
}
