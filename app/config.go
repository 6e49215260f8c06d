// Package app is orgpulse's composition root: the typed configuration of
// every command, and the one place that builds the service from it (tracing, pool,
// Redis, cache, hub, monitor, resolvers, server) and tears it down in
// reverse. main.go parses the command line into a Config and calls it;
// testsupport builds its servers with it too.
package app

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"orgpulse/auth"
	"orgpulse/cache"
	"orgpulse/changefeed"
	"orgpulse/monitor"
	"orgpulse/postgres"
	"orgpulse/resolvers"
	"orgpulse/server"
	"orgpulse/tracing"
)

// Config is every setting of `orgpulse serve` (and the subset `migrate`
// and `seed` read). DefaultConfig is the only source of defaults: the
// packages it builds take these values as given.
type Config struct {
	// PostgreSQL
	DatabaseURL string
	// DatabaseListenURL is the relay's own session (LISTEN and its
	// advisory lock need one); empty: DatabaseURL.
	DatabaseListenURL string
	DBMaxConns        int
	StatementTimeout  time.Duration
	RandomPageCost    float64 // negative: keep the server's setting

	// HTTP edge
	Addr           string
	Debug          bool
	LogFormat      string
	LogLevel       string
	RequestTimeout time.Duration
	ReplicaID      string
	CORSOrigins    []string
	Introspection  *bool // nil: allowed only with Debug
	GraphiQLAssets string
	APIToken       string
	// Authentication and access (auth package)
	JWTSecret     string
	JWTJWKSFile   string
	JWTIssuer     string
	JWTAudience   string
	AnonymousRole string
	GraphiQLToken string
	// Slow clients and overload
	BodyReadTimeout      time.Duration
	ResponseWriteTimeout time.Duration
	MaxInflight          int
	ReadyRequiresRedis   bool

	// Query limits
	MaxBodyBytes      int
	MaxVariablesBytes int
	MaxQueryLength    int
	MaxDepth          int
	MaxSelections     int
	MaxAliases        int
	MaxCost           int

	// Loading and caching
	LoaderWait    time.Duration
	NaiveLoading  bool
	RedisURL      string
	RedisPrefix   string
	CacheTTL      time.Duration
	ResponseCache bool
	SummaryTTL    time.Duration

	// Persisted operations and the document cache
	DocumentCacheSize    int
	TrustedDocuments     string // manifest file; empty: none
	TrustedDocumentsOnly bool
	PersistedQueryTTL    time.Duration
	CacheControl         string

	// Change feed
	ReplayWindow time.Duration // how long delivered changes stay in the log

	// WebSocket
	WSInitTimeout      time.Duration
	WSMaxConnections   int
	WSMaxSubscriptions int

	// Shutdown
	ShutdownDrain   time.Duration
	ShutdownTimeout time.Duration

	// Self-monitoring
	MetricsSampleRate    float64
	MetricsBuffer        int
	MetricsFlushInterval time.Duration
	MetricsRetention     time.Duration // 0: keep samples forever
	RetentionInterval    time.Duration
	SlowRequest          time.Duration

	// OpenTelemetry tracing: the standard OTEL_* variables (tracing
	// package); no endpoint, no tracing.
	OTelEndpoint           string
	OTelTracesEndpoint     string
	OTelProtocol           string
	OTelServiceName        string
	OTelSampler            string
	OTelSamplerArg         float64
	OTelResourceAttributes string

	// Go runtime (read by the runtime itself; checked here because it
	// ignores a bad value silently).
	GOGC       string
	GOMEMLIMIT string
}

// DefaultGCPercent is serve's GOGC when the environment sets none: the
// live heap is a few MiB, so Go's default (collect when the heap has grown
// 100% since the last collection) ran the collector dozens of times a
// second under load. At concurrency 32 (loadgen http -c 32 on
// bench/ops/employees50.graphql, uncached, two runs each on 2026-11-26),
// 400% served 20-30% more requests per second for tens of MiB more heap.
const DefaultGCPercent = 400

// DefaultConfig returns every setting's default.
func DefaultConfig() Config {
	return Config{
		DBMaxConns:       postgres.DefaultMaxConns,
		StatementTimeout: postgres.DefaultStatementTimeout,
		RandomPageCost:   postgres.DefaultRandomPageCost,

		Addr:           ":8080",
		LogFormat:      "json",
		LogLevel:       "info",
		RequestTimeout: server.DefaultRequestTimeout,
		ReplicaID:      defaultReplicaID(),
		AnonymousRole:  string(auth.RoleNone),

		BodyReadTimeout:      server.DefaultBodyReadTimeout,
		ResponseWriteTimeout: server.DefaultResponseWriteTimeout,
		MaxInflight:          server.DefaultMaxInflight,

		MaxBodyBytes:      server.DefaultMaxBodyBytes,
		MaxVariablesBytes: server.DefaultMaxVariablesBytes,
		MaxQueryLength:    server.DefaultMaxQueryLength,
		MaxDepth:          server.DefaultMaxDepth,
		MaxSelections:     server.DefaultMaxSelections,
		MaxAliases:        server.DefaultMaxAliases,
		MaxCost:           server.DefaultMaxCost,

		LoaderWait:    resolvers.DefaultLoaderWait,
		RedisPrefix:   "orgpulse:",
		CacheTTL:      cache.DefaultTTL,
		ResponseCache: true,
		SummaryTTL:    resolvers.DefaultSummaryTTL,

		DocumentCacheSize: server.DefaultDocumentCacheSize,
		PersistedQueryTTL: server.DefaultPersistedTTL,
		CacheControl:      server.DefaultCacheControl,

		ReplayWindow: changefeed.DefaultKeep,

		WSInitTimeout:      server.DefaultWSInitTimeout,
		WSMaxConnections:   server.DefaultWSMaxConnections,
		WSMaxSubscriptions: server.DefaultWSMaxSubscriptions,

		ShutdownTimeout: 15 * time.Second,

		MetricsSampleRate:    1,
		MetricsBuffer:        monitor.DefaultBufferSize,
		MetricsFlushInterval: monitor.DefaultFlushInterval,
		MetricsRetention:     monitor.DefaultRetention,
		RetentionInterval:    monitor.DefaultRetentionInterval,
		SlowRequest:          server.DefaultSlowRequest,

		OTelProtocol:    tracing.ProtocolHTTP,
		OTelServiceName: "orgpulse",
		OTelSampler:     "parentbased_always_on",
		OTelSamplerArg:  1,
	}
}

func defaultReplicaID() string {
	h, _ := os.Hostname()
	return checkedOr(fmt.Sprintf("%s-%d", h, os.Getpid()), fmt.Sprintf("replica-%d", os.Getpid()), checkReplicaID)
}

func checkedOr(v, fallback string, check func(string) error) string {
	if check(v) != nil {
		return fallback
	}
	return v
}

// A setting is one variable: its flag, its environment variable, what it
// means, and the field of Config it sets.
type setting struct {
	flag, env, help string
	value           func(c *Config) flag.Value
}

const day = 24 * time.Hour

// dbSettings are the settings of every command that opens PostgreSQL.
var dbSettings = []setting{
	{"database-url", "DATABASE_URL", "PostgreSQL connection URL (required)",
		func(c *Config) flag.Value { return stringValue{&c.DatabaseURL, checkDatabaseURL} }},
	{"database-listen-url", "DATABASE_LISTEN_URL", "direct PostgreSQL URL of the change feed relay's session (LISTEN, advisory lock); not through PgBouncer in transaction mode (default DATABASE_URL)",
		func(c *Config) flag.Value { return stringValue{&c.DatabaseListenURL, checkDatabaseURL} }},
	{"db-max-conns", "DB_MAX_CONNS", "connections in this process's pool",
		func(c *Config) flag.Value { return intValue{&c.DBMaxConns, 1, 10000} }},
	{"statement-timeout", "STATEMENT_TIMEOUT", "server-side limit of one SQL statement",
		func(c *Config) flag.Value { return durationValue{&c.StatementTimeout, time.Millisecond, day} }},
	{"db-random-page-cost", "DB_RANDOM_PAGE_COST", "planner cost of a random page read for orgpulse's sessions (data in RAM or on SSD); -1 keeps the server's setting",
		func(c *Config) flag.Value { return floatValue{&c.RandomPageCost, 0.01, 1000, []float64{-1}} }},
}

// redisSettings are the settings of every command that talks to Redis.
var redisSettings = []setting{
	{"redis-url", "REDIS_URL", "Redis URL for the shared cache and subscriptions (empty: no cache); several comma-separated hosts: Redis Cluster, or Sentinel with ?master_name=",
		func(c *Config) flag.Value { return stringValue{&c.RedisURL, checkRedisURL} }},
	{"redis-prefix", "REDIS_PREFIX", "prefix of every Redis key and pub/sub channel; replicas of one deployment share it; Redis Cluster needs a hash tag, e.g. {orgpulse}:",
		func(c *Config) flag.Value { return stringValue{&c.RedisPrefix, nonEmpty} }},
}

// serveSettings are serve's own settings, besides dbSettings and
// redisSettings.
var serveSettings = []setting{
	{"addr", "ADDR", "listen address",
		func(c *Config) flag.Value { return stringValue{&c.Addr, checkAddr} }},
	{"debug", "DEBUG", "accept X-Debug: 1 and answer each request's SQL in extensions.debug",
		func(c *Config) flag.Value { return boolValue{&c.Debug} }},
	{"log-format", "LOG_FORMAT", "log format: json or text",
		func(c *Config) flag.Value { return stringValue{&c.LogFormat, oneOf("json", "text")} }},
	{"log-level", "LOG_LEVEL", "log level: debug, info, warn, error",
		func(c *Config) flag.Value { return stringValue{&c.LogLevel, checkLogLevel} }},
	{"request-timeout", "REQUEST_TIMEOUT", "deadline of one GraphQL request",
		func(c *Config) flag.Value { return durationValue{&c.RequestTimeout, time.Millisecond, time.Hour} }},
	{"body-read-timeout", "BODY_READ_TIMEOUT", "time a client has to send a request body (then 408 and the connection is closed)",
		func(c *Config) flag.Value { return durationValue{&c.BodyReadTimeout, time.Millisecond, time.Hour} }},
	{"response-write-timeout", "RESPONSE_WRITE_TIMEOUT", "time a client has to take an HTTP response (then the connection is closed; WebSocket messages have their own 10s bound)",
		func(c *Config) flag.Value { return durationValue{&c.ResponseWriteTimeout, time.Millisecond, time.Hour} }},
	{"max-inflight", "MAX_INFLIGHT", "GraphQL HTTP requests handled at once by this replica (one more: 503 with Retry-After); WebSockets are bounded by WS_MAX_CONNECTIONS",
		func(c *Config) flag.Value { return intValue{&c.MaxInflight, 1, 1_000_000} }},
	{"ready-requires-redis", "READY_REQUIRES_REDIS", "answer /readyz 503 while Redis does not answer (default: 200 with \"degraded: redis\", since the replica serves without it)",
		func(c *Config) flag.Value { return boolValue{&c.ReadyRequiresRedis} }},
	{"max-body-bytes", "MAX_BODY_BYTES", "largest accepted request body",
		func(c *Config) flag.Value { return intValue{&c.MaxBodyBytes, 1 << 10, 1 << 30} }},
	{"max-variables-bytes", "MAX_VARIABLES_BYTES", "largest accepted variables JSON, in bytes",
		func(c *Config) flag.Value { return intValue{&c.MaxVariablesBytes, 2, 1 << 30} }},
	{"max-query-length", "MAX_QUERY_LENGTH", "longest accepted query text, in bytes",
		func(c *Config) flag.Value { return intValue{&c.MaxQueryLength, 16, 1 << 30} }},
	{"max-depth", "MAX_DEPTH", "deepest accepted query nesting",
		func(c *Config) flag.Value { return intValue{&c.MaxDepth, 1, 100} }},
	{"max-selections", "MAX_SELECTIONS", "most selections (fields, fragment spreads, inline fragments; fragments expanded) in one operation",
		func(c *Config) flag.Value { return intValue{&c.MaxSelections, 1, 1 << 20} }},
	{"max-aliases", "MAX_ALIASES", "most aliases in one operation",
		func(c *Config) flag.Value { return intValue{&c.MaxAliases, 0, 1 << 20} }},
	{"max-cost", "MAX_COST", "highest accepted estimated cost (objects a query may return: page sizes multiplied down the nesting)",
		func(c *Config) flag.Value { return intValue{&c.MaxCost, 1, math.MaxInt32} }},
	{"cors-origins", "CORS_ORIGINS", "comma-separated origins (https://app.example.com, or *) whose browsers may call the API; empty: same-origin only",
		func(c *Config) flag.Value { return listValue{&c.CORSOrigins, checkOrigin} }},
	{"introspection", "INTROSPECTION", "allow schema introspection: true or false; empty: only with DEBUG",
		func(c *Config) flag.Value { return optionalBool{&c.Introspection} }},
	{"loader-wait", "LOADER_WAIT", "how long a subscription event's batch loader collects its subscribers' keys",
		func(c *Config) flag.Value { return durationValue{&c.LoaderWait, 0, time.Second} }},
	{"naive-loading", "NAIVE_LOADING", "benchmark demonstration only (scripts/bench.sh): no look-ahead, no JOINs, one SQL statement per loaded key (N+1)",
		func(c *Config) flag.Value { return boolValue{&c.NaiveLoading} }},
	{"api-token", "API_TOKEN", "static bearer token of the admin role, for scripts and the benchmark (empty: none)",
		func(c *Config) flag.Value { return stringValue{&c.APIToken, nil} }},
	{"jwt-secret", "JWT_SECRET", "HS256 key of bearer JWTs, at least 32 bytes (empty: no HS256 tokens); `orgpulse token` signs with it",
		func(c *Config) flag.Value { return stringValue{&c.JWTSecret, checkJWTSecret} }},
	{"jwt-jwks-file", "JWT_JWKS_FILE", "JWKS JSON file of an identity provider's public keys, for RS256/ES256 bearer JWTs (empty: none)",
		func(c *Config) flag.Value { return stringValue{&c.JWTJWKSFile, checkJWKSFile} }},
	{"jwt-issuer", "JWT_ISSUER", "required iss claim of bearer JWTs (empty: not checked)",
		func(c *Config) flag.Value { return stringValue{&c.JWTIssuer, checkClaim} }},
	{"jwt-audience", "JWT_AUDIENCE", "required aud claim of bearer JWTs (empty: not checked)",
		func(c *Config) flag.Value { return stringValue{&c.JWTAudience, checkClaim} }},
	{"graphiql-token", "GRAPHIQL_TOKEN", "with DEBUG only: a bearer token pre-filled in GraphiQL's headers editor (dev.sh: an admin token); never set it on a server others reach",
		func(c *Config) flag.Value { return stringValue{&c.GraphiQLToken, checkBearer} }},
	{"anonymous-role", "ANONYMOUS_ROLE", "role of a request without a bearer token: none (refused with 401), admin, manager or member (scoped to no organization)",
		func(c *Config) flag.Value { return stringValue{&c.AnonymousRole, checkAnonymousRole} }},
	{"cache-ttl", "CACHE_TTL", "lifetime of cached lists, aggregates and whole responses (±10% jitter)",
		func(c *Config) flag.Value { return durationValue{&c.CacheTTL, time.Second, 30 * day} }},
	{"response-cache", "RESPONSE_CACHE", "with REDIS_URL: keep whole query responses, retired by every mutation (X-Orgpulse-Cache says hit or miss)",
		func(c *Config) flag.Value { return boolValue{&c.ResponseCache} }},
	{"summary-cache-ttl", "SUMMARY_CACHE_TTL", "lifetime of cached performanceSummary and endpointStats values",
		func(c *Config) flag.Value { return durationValue{&c.SummaryTTL, time.Millisecond, day} }},
	{"document-cache-size", "DOCUMENT_CACHE_SIZE", "documents kept parsed and checked per replica, by SHA-256 (an LRU; also APQ's store in front of Redis); 0: none",
		func(c *Config) flag.Value { return intValue{&c.DocumentCacheSize, 0, 1_000_000} }},
	{"trusted-documents", "TRUSTED_DOCUMENTS", "JSON manifest of trusted documents, {\"<sha256>\": \"<document>\"} (GraphQL Codegen's persisted-documents.json, Relay's ids; orgpulse documents writes one), runnable by hash (empty: none)",
		func(c *Config) flag.Value { return stringValue{&c.TrustedDocuments, checkManifest} }},
	{"trusted-documents-only", "TRUSTED_DOCUMENTS_ONLY", "run only TRUSTED_DOCUMENTS' documents: any other is refused with PERSISTED_QUERY_REQUIRED (introspection still runs where INTROSPECTION allows it)",
		func(c *Config) flag.Value { return boolValue{&c.TrustedDocumentsOnly} }},
	{"persisted-query-ttl", "PERSISTED_QUERY_TTL", "lifetime in Redis of a document registered by automatic persisted queries (APQ)",
		func(c *Config) flag.Value { return durationValue{&c.PersistedQueryTTL, time.Second, 365 * day} }},
	{"cache-control", "CACHE_CONTROL", "Cache-Control of answers to GET: private, no-cache, no-store, must-revalidate, max-age=N (never public: answers depend on credentials)",
		func(c *Config) flag.Value { return stringValue{&c.CacheControl, checkCacheControl} }},
	{"replay-window", "REPLAY_WINDOW", "how long delivered changes stay in the change log before the relay prunes them",
		func(c *Config) flag.Value { return durationValue{&c.ReplayWindow, time.Minute, 30 * day} }},
	{"ws-init-timeout", "WS_INIT_TIMEOUT", "time a WebSocket client has to send connection_init (then 4408)",
		func(c *Config) flag.Value { return durationValue{&c.WSInitTimeout, time.Millisecond, time.Hour} }},
	{"ws-max-connections", "WS_MAX_CONNECTIONS", "open WebSockets per replica (one more is closed with 1013)",
		func(c *Config) flag.Value { return intValue{&c.WSMaxConnections, 1, 10_000_000} }},
	{"ws-max-subscriptions", "WS_MAX_SUBSCRIPTIONS", "operations per WebSocket (one more closes it with 1008)",
		func(c *Config) flag.Value { return intValue{&c.WSMaxSubscriptions, 1, 100000} }},
	{"graphiql-assets", "GRAPHIQL_ASSETS", "node_modules directory to serve GraphiQL from instead of the copy built into the binary (empty: built in)",
		func(c *Config) flag.Value { return stringValue{&c.GraphiQLAssets, nil} }},
	{"replica-id", "REPLICA_ID", "name of this replica, sent as X-Orgpulse-Replica (default host-pid)",
		func(c *Config) flag.Value { return stringValue{&c.ReplicaID, checkReplicaID} }},
	{"drain", "SHUTDOWN_DRAIN", "on SIGTERM, keep serving this long with /readyz at 503 so load balancers notice",
		func(c *Config) flag.Value { return durationValue{&c.ShutdownDrain, 0, time.Hour} }},
	{"shutdown-timeout", "SHUTDOWN_TIMEOUT", "how long in-flight requests may finish on shutdown",
		func(c *Config) flag.Value { return durationValue{&c.ShutdownTimeout, time.Millisecond, time.Hour} }},
	{"metrics-sample-rate", "METRICS_SAMPLE_RATE", "fraction of GraphQL requests recorded in performance_metrics, 0 to 1",
		func(c *Config) flag.Value { return floatValue{&c.MetricsSampleRate, 0, 1, nil} }},
	{"metrics-buffer", "METRICS_BUFFER", "performance samples waiting in memory at most; beyond, new ones are dropped and counted",
		func(c *Config) flag.Value { return intValue{&c.MetricsBuffer, 1, 10_000_000} }},
	{"metrics-flush-interval", "METRICS_FLUSH_INTERVAL", "how often buffered performance samples are written with COPY",
		func(c *Config) flag.Value { return durationValue{&c.MetricsFlushInterval, time.Millisecond, time.Hour} }},
	{"metrics-retention", "METRICS_RETENTION", "how long performance samples are kept (0: forever)",
		func(c *Config) flag.Value { return durationValue{&c.MetricsRetention, 0, 100 * 365 * day} }},
	{"retention-interval", "RETENTION_INTERVAL", "how often samples older than the retention are deleted",
		func(c *Config) flag.Value { return durationValue{&c.RetentionInterval, time.Second, 30 * day} }},
	{"slow-request-ms", "SLOW_REQUEST_MS", "a request at least this slow (milliseconds) is logged at WARN with its SQL",
		func(c *Config) flag.Value { return millisValue{&c.SlowRequest, 1, 3_600_000} }},
	{"", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTLP collector base URL for traces, e.g. http://localhost:4318 (empty: no tracing)",
		func(c *Config) flag.Value { return emptyIsUnset{stringValue{&c.OTelEndpoint, tracing.CheckEndpoint}} }},
	{"", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTLP URL for traces, used as given (wins over OTEL_EXPORTER_OTLP_ENDPOINT)",
		func(c *Config) flag.Value {
			return emptyIsUnset{stringValue{&c.OTelTracesEndpoint, tracing.CheckEndpoint}}
		}},
	{"", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTLP transport: http/protobuf or grpc",
		func(c *Config) flag.Value {
			return emptyIsUnset{stringValue{&c.OTelProtocol, oneOf(tracing.ProtocolHTTP, tracing.ProtocolGRPC)}}
		}},
	{"", "OTEL_SERVICE_NAME", "service.name of the traces",
		func(c *Config) flag.Value { return emptyIsUnset{stringValue{&c.OTelServiceName, nonEmpty}} }},
	{"", "OTEL_TRACES_SAMPLER", "which traces are sampled: " + strings.Join(tracing.Samplers, ", "),
		func(c *Config) flag.Value {
			return emptyIsUnset{stringValue{&c.OTelSampler, oneOf(tracing.Samplers...)}}
		}},
	{"", "OTEL_TRACES_SAMPLER_ARG", "the traceidratio samplers' ratio, 0 to 1",
		func(c *Config) flag.Value { return emptyIsUnset{floatValue{&c.OTelSamplerArg, 0, 1, nil}} }},
	{"", "OTEL_RESOURCE_ATTRIBUTES", "more resource attributes of the traces: key=value,key=value",
		func(c *Config) flag.Value {
			return emptyIsUnset{stringValue{&c.OTelResourceAttributes, checkResourceAttributes}}
		}},
	{"", "GOGC", "Go's garbage collector target percentage (serve's default: 400)",
		func(c *Config) flag.Value { return stringValue{&c.GOGC, checkGOGC} }},
	{"", "GOMEMLIMIT", "Go's soft memory limit, e.g. 512MiB (default: none)",
		func(c *Config) flag.Value { return stringValue{&c.GOMEMLIMIT, checkGOMEMLIMIT} }},
}

// ServeSettings, DBSettings: which settings a command binds.
func serveAll() []setting {
	return append(append(append([]setting{}, dbSettings...), redisSettings...), serveSettings...)
}

// Bind registers the settings on fs, each flag defaulting to its
// environment variable (looked up with env), and applies the environment
// to cfg at once. A value that does not parse, or is out of range, is an
// error naming the variable and the accepted form.
func bind(fs *flag.FlagSet, cfg *Config, env func(string) (string, bool), settings []setting) error {
	var errs []error
	for _, s := range settings {
		v := s.value(cfg)
		if raw, ok := env(s.env); ok {
			if err := v.Set(raw); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", s.env, err))
			}
		}
		if s.flag != "" {
			fs.Var(v, s.flag, s.help+" (env "+s.env+")")
		}
	}
	return errors.Join(errs...)
}

// check refuses combinations no single setting can judge.
func (c *Config) check(needDB bool) error {
	var errs []error
	if needDB && c.DatabaseURL == "" {
		errs = append(errs, errors.New("DATABASE_URL is not set: pass --database-url or set DATABASE_URL (scripts/dev.sh sets it up)"))
	}
	if c.GraphiQLToken != "" && !c.Debug {
		errs = append(errs, errors.New("GRAPHIQL_TOKEN is set without DEBUG: it would hand a token to anyone who opens /graphiql; want it only with DEBUG (scripts/dev.sh)"))
	}
	if c.TrustedDocumentsOnly && c.TrustedDocuments == "" {
		errs = append(errs, errors.New("TRUSTED_DOCUMENTS_ONLY is set without TRUSTED_DOCUMENTS: it would refuse every operation; want TRUSTED_DOCUMENTS=manifest.json (orgpulse documents writes one)"))
	}
	if c.MaxVariablesBytes > c.MaxBodyBytes {
		errs = append(errs, fmt.Errorf("MAX_VARIABLES_BYTES (%d) is larger than MAX_BODY_BYTES (%d): variables travel in the body", c.MaxVariablesBytes, c.MaxBodyBytes))
	}
	return errors.Join(errs...)
}

func checkDatabaseURL(s string) error {
	if s == "" {
		return nil // required only where a command opens the database
	}
	if _, err := pgxpool.ParseConfig(s); err != nil {
		return fmt.Errorf("want a PostgreSQL URL such as postgres://user@host:5432/db or key=value settings: %v", redactErr(err))
	}
	return nil
}

func checkRedisURL(s string) error {
	if s == "" {
		return nil
	}
	if _, err := cache.ParseRedisURL(s); err != nil {
		return fmt.Errorf("want redis://host:6379[/db], comma-separated cluster hosts, or ?master_name= for Sentinel: %v", err)
	}
	return nil
}

// minJWTSecret is the shortest HS256 key accepted: 256 bits, the hash's
// size (RFC 7518 section 3.2).
const minJWTSecret = 32

func checkJWTSecret(s string) error {
	if s != "" && len(s) < minJWTSecret {
		return fmt.Errorf("want a secret of at least %d bytes (e.g. openssl rand -hex 32), got %d bytes", minJWTSecret, len(s))
	}
	return nil
}

func checkJWKSFile(s string) error {
	if s == "" {
		return nil
	}
	_, err := auth.LoadJWKS(s)
	return err
}

func checkManifest(s string) error {
	if s == "" {
		return nil
	}
	_, err := server.LoadManifest(s)
	return err
}

// checkCacheControl accepts the directives that keep an answer out of
// shared caches' reuse for others: never public or s-maxage, since the
// answers depend on the credentials.
func checkCacheControl(s string) error {
	for _, d := range strings.Split(s, ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		switch {
		case d == "private", d == "no-cache", d == "no-store", d == "must-revalidate":
		case strings.HasPrefix(d, "max-age=") && isDigits(strings.TrimPrefix(d, "max-age=")):
		default:
			return fmt.Errorf("want comma-separated private, no-cache, no-store, must-revalidate or max-age=N (never public: answers depend on credentials), got %q", d)
		}
	}
	return nil
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != "" && len(s) < 10
}

func checkClaim(s string) error {
	if s != strings.TrimSpace(s) || len(s) > 1000 {
		return fmt.Errorf("want the claim's exact value, without surrounding spaces, got %q", s)
	}
	return nil
}

func checkBearer(s string) error {
	for _, r := range s {
		if !strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~+/=", r) {
			return fmt.Errorf("want a bearer token (letters, digits and -._~+/=), got a value with %q", r)
		}
	}
	return nil
}

// tracing is the tracing package's view of the OTEL_* settings.
func (c *Config) tracing() tracing.Config {
	return tracing.Config{Endpoint: c.OTelEndpoint, TracesEndpoint: c.OTelTracesEndpoint, Protocol: c.OTelProtocol,
		ServiceName: c.OTelServiceName, Sampler: c.OTelSampler, SamplerArg: c.OTelSamplerArg,
		ResourceAttributes: c.OTelResourceAttributes, InstanceID: c.ReplicaID}
}

func checkResourceAttributes(s string) error {
	_, err := tracing.ParseResourceAttributes(s)
	return err
}

func checkAnonymousRole(s string) error {
	_, err := auth.ParseRole(s, true)
	return err
}

// redactErr drops what a parse error may quote of a password: pgx's
// errors name the offending part of the URL.
func redactErr(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "cannot parse `"); i >= 0 {
		return msg[:i] + "cannot parse the URL"
	}
	return msg
}

// Variables lists the environment variables serve reads, in the order of
// its help.
func Variables() []string {
	var names []string
	for _, s := range serveAll() {
		names = append(names, s.env)
	}
	return names
}
