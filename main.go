// Command orgpulse serves the orgpulse GraphQL API and manages its database.
//
//	orgpulse [serve]            run the server (default)
//	orgpulse migrate up|down|status
//	orgpulse seed [--reset] [--orgs N ...]
//
// Every flag defaults to an environment variable; `orgpulse <cmd> --help`
// lists both.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	rtdebug "runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"orgpulse/cache"
	"orgpulse/migrations"
	"orgpulse/monitor"
	"orgpulse/postgres"
	"orgpulse/realtime"
	"orgpulse/resolvers"
	"orgpulse/seed"
	"orgpulse/server"
)

const usage = `orgpulse: a GraphQL API over organizations, employees, projects and metrics.

Usage:
  orgpulse [serve] [flags]         run the server (default command)
  orgpulse migrate up|down|status  apply, roll back or list database migrations
  orgpulse seed [flags]            load deterministic sample data
  orgpulse subscribe [flags] DOC   print each event of a subscription as a JSON line

Run 'orgpulse <command> --help' for the flags of a command and the
environment variable behind each.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "orgpulse:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return runServe(ctx, args)
	case "migrate":
		return runMigrate(ctx, args)
	case "seed":
		return runSeed(ctx, args)
	case "subscribe":
		return runSubscribe(ctx, args)
	case "help":
		fmt.Print(usage)
		return nil
	default:
		if cmd == "-h" || cmd == "--help" {
			fmt.Print(usage)
			return nil
		}
		fmt.Fprint(os.Stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

// flags wraps a FlagSet whose every flag is backed by an environment
// variable, named in the help text.
type flags struct{ *flag.FlagSet }

func newFlags(name, summary string) flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: orgpulse %s\n\n%s\n\nFlags (each defaults to its environment variable):\n", name, summary)
		fs.PrintDefaults()
	}
	return flags{fs}
}

func (f flags) string(name, env, def, help string) *string {
	if v, ok := os.LookupEnv(env); ok {
		def = v
	}
	return f.String(name, def, help+" (env "+env+")")
}

func (f flags) int(name, env string, def int, help string) *int {
	if v, ok := os.LookupEnv(env); ok {
		if n, err := strconv.Atoi(v); err == nil {
			def = n
		}
	}
	return f.Int(name, def, help+" (env "+env+")")
}

func (f flags) bool(name, env string, def bool, help string) *bool {
	if v, ok := os.LookupEnv(env); ok {
		if b, err := strconv.ParseBool(v); err == nil {
			def = b
		}
	}
	return f.Bool(name, def, help+" (env "+env+")")
}

func (f flags) float(name, env string, def float64, help string) *float64 {
	if v, ok := os.LookupEnv(env); ok {
		if x, err := strconv.ParseFloat(v, 64); err == nil {
			def = x
		}
	}
	return f.Float64(name, def, help+" (env "+env+")")
}

func (f flags) duration(name, env string, def time.Duration, help string) *time.Duration {
	if v, ok := os.LookupEnv(env); ok {
		if d, err := time.ParseDuration(v); err == nil {
			def = d
		}
	}
	return f.Duration(name, def, help+" (env "+env+")")
}

// dbFlags are the flags every command that talks to PostgreSQL takes.
type dbFlags struct {
	url      *string
	maxConns *int
	stmtTO   *time.Duration
	pageCost *float64
}

func addDBFlags(f flags) dbFlags {
	return dbFlags{
		url:      f.string("database-url", "DATABASE_URL", "", "PostgreSQL connection URL"),
		maxConns: f.int("db-max-conns", "DB_MAX_CONNS", 20, "connections in this process's pool"),
		stmtTO:   f.duration("statement-timeout", "STATEMENT_TIMEOUT", 10*time.Second, "server-side limit for one SQL statement"),
		pageCost: f.float("db-random-page-cost", "DB_RANDOM_PAGE_COST", postgres.DefaultRandomPageCost, "planner cost of a random page read for orgpulse's sessions (data in RAM or on SSD); -1 keeps the server's setting"),
	}
}

func (d dbFlags) open(ctx context.Context) (*postgresPool, error) {
	if *d.url == "" {
		return nil, errors.New("DATABASE_URL is not set: pass --database-url or set DATABASE_URL (scripts/dev.sh sets it up)")
	}
	pool, err := postgres.Open(ctx, *d.url, postgres.Config{MaxConns: int32(*d.maxConns), StatementTimeout: *d.stmtTO, RandomPageCost: *d.pageCost})
	if err != nil {
		return nil, err
	}
	return &postgresPool{pool}, nil
}

// postgresPool is the pool plus the start-up checks main needs.
type postgresPool struct{ *pgxpool.Pool }

// requireMigrated refuses to run against a database whose schema is behind
// the binary, naming the command that fixes it.
func (p *postgresPool) requireMigrated(ctx context.Context) error {
	m, err := migrations.New(p.Pool)
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

func newLogger(format, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "text" {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}

// defaultGCPercent is orgpulse serve's GOGC when the environment sets none.
const defaultGCPercent = 400

func runServe(ctx context.Context, args []string) error {
	f := newFlags("serve", "Serve GraphQL at /graphql, GraphiQL at /graphiql, /healthz, /readyz and Prometheus /metrics.")
	dbf := addDBFlags(f)
	addr := f.string("addr", "ADDR", ":8080", "listen address")
	debug := f.bool("debug", "DEBUG", false, "accept X-Debug: 1 and answer each request's SQL in extensions.debug")
	logFormat := f.string("log-format", "LOG_FORMAT", "json", "log format: json or text")
	logLevel := f.string("log-level", "LOG_LEVEL", "info", "log level: debug, info, warn, error")
	reqTimeout := f.duration("request-timeout", "REQUEST_TIMEOUT", 10*time.Second, "deadline of one GraphQL request")
	maxBody := f.int("max-body-bytes", "MAX_BODY_BYTES", 1<<20, "largest accepted request body")
	maxDepth := f.int("max-depth", "MAX_DEPTH", 10, "deepest accepted query nesting")
	maxQueryLen := f.int("max-query-length", "MAX_QUERY_LENGTH", server.DefaultMaxQueryLength, "longest accepted query text, in bytes")
	maxSels := f.int("max-selections", "MAX_SELECTIONS", server.DefaultMaxSelections, "most selections (fields, fragment spreads, inline fragments; fragments expanded) in one operation")
	maxAliases := f.int("max-aliases", "MAX_ALIASES", server.DefaultMaxAliases, "most aliases in one operation")
	maxCost := f.int("max-cost", "MAX_COST", server.DefaultMaxCost, "highest accepted estimated cost (objects a query may return: page sizes multiplied down the nesting)")
	maxVars := f.int("max-variables-bytes", "MAX_VARIABLES_BYTES", server.DefaultMaxVariablesBytes, "largest accepted variables JSON, in bytes")
	corsOrigins := f.string("cors-origins", "CORS_ORIGINS", "", "comma-separated origins (https://app.example.com, or *) whose browsers may call the API; empty: same-origin only")
	introspection := f.string("introspection", "INTROSPECTION", "", "allow schema introspection: true or false; empty: only with DEBUG")
	loaderWait := f.duration("loader-wait", "LOADER_WAIT", time.Millisecond, "how long a subscription event's batch loader collects its subscribers' keys")
	naive := f.bool("naive-loading", "NAIVE_LOADING", false, "benchmark demonstration only (scripts/bench.sh): no look-ahead, no JOINs, one SQL statement per loaded key (N+1)")
	redisURL := f.string("redis-url", "REDIS_URL", "", "Redis URL for the shared cache and subscriptions (empty: no cache); several comma-separated hosts: Redis Cluster, or Sentinel with ?master_name=")
	redisPrefix := f.string("redis-prefix", "REDIS_PREFIX", "orgpulse:", "prefix of every Redis key and pub/sub channel; replicas of one deployment share it; Redis Cluster needs a hash tag, e.g. {orgpulse}:")
	apiToken := f.string("api-token", "API_TOKEN", "", "bearer token that authorizes mutations (empty: mutations refused)")
	cacheTTL := f.duration("cache-ttl", "CACHE_TTL", 5*time.Minute, "lifetime of cached lists and aggregates (±10% jitter)")
	respCache := f.bool("response-cache", "RESPONSE_CACHE", true, "with REDIS_URL: keep whole query responses, retired by every mutation (X-Orgpulse-Cache says hit or miss)")
	summaryTTL := f.duration("summary-cache-ttl", "SUMMARY_CACHE_TTL", 5*time.Second, "lifetime of cached performanceSummary and endpointStats values")
	wsInit := f.duration("ws-init-timeout", "WS_INIT_TIMEOUT", 3*time.Second, "time a WebSocket client has to send connection_init (then 4408)")
	wsMaxConns := f.int("ws-max-connections", "WS_MAX_CONNECTIONS", 10000, "open WebSockets per replica (one more is closed with 1013)")
	wsMaxSubs := f.int("ws-max-subscriptions", "WS_MAX_SUBSCRIPTIONS", 100, "operations per WebSocket (one more closes it with 1008)")
	nodeModules := f.string("graphiql-assets", "GRAPHIQL_ASSETS", "node_modules", "node_modules directory holding GraphiQL")
	replica := f.string("replica-id", "REPLICA_ID", defaultReplicaID(), "name of this replica, sent as X-Orgpulse-Replica")
	drain := f.duration("drain", "SHUTDOWN_DRAIN", 0, "on SIGTERM, keep serving this long with /readyz at 503 so load balancers notice")
	grace := f.duration("shutdown-timeout", "SHUTDOWN_TIMEOUT", 15*time.Second, "how long in-flight requests may finish on shutdown")
	sampleRate := f.float("metrics-sample-rate", "METRICS_SAMPLE_RATE", 1, "fraction of GraphQL requests recorded in performance_metrics, 0 to 1")
	metricsBuffer := f.int("metrics-buffer", "METRICS_BUFFER", 10000, "performance samples waiting in memory at most; beyond, new ones are dropped and counted")
	metricsFlush := f.duration("metrics-flush-interval", "METRICS_FLUSH_INTERVAL", time.Second, "how often buffered performance samples are written with COPY")
	retention := f.duration("metrics-retention", "METRICS_RETENTION", 168*time.Hour, "how long performance samples are kept (0: forever)")
	retentionEvery := f.duration("retention-interval", "RETENTION_INTERVAL", 10*time.Minute, "how often samples older than the retention are deleted")
	slowMs := f.int("slow-request-ms", "SLOW_REQUEST_MS", 500, "a request at least this slow (milliseconds) is logged at WARN with its SQL")
	if err := f.Parse(args); err != nil {
		return err
	}
	if _, set := os.LookupEnv("GOGC"); !set {
		// The live heap is a few MiB, so Go's default (collect when the
		// heap has grown 100% since the last collection) ran the collector
		// dozens of times a second under load: at concurrency 32 (loadgen
		// http -c 32 on bench/ops/employees50.graphql, uncached, two runs
		// each on 2026-11-26), 400% served 20-30% more requests per second
		// for tens of MiB more heap.
		// GOGC, and GOMEMLIMIT as a cap, still override it.
		rtdebug.SetGCPercent(defaultGCPercent)
	}
	if *sampleRate < 0 || *sampleRate > 1 {
		return fmt.Errorf("METRICS_SAMPLE_RATE must be between 0 and 1, got %v", *sampleRate)
	}
	log := newLogger(*logFormat, *logLevel)
	slog.SetDefault(log)

	db, err := dbf.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.requireMigrated(ctx); err != nil {
		return err
	}
	rcfg := resolvers.Config{LoaderWait: *loaderWait, CacheTTL: *cacheTTL, SummaryTTL: *summaryTTL, NaiveLoading: *naive}
	if *naive {
		log.Warn("NAIVE_LOADING is set: N+1 loading for the benchmark; never use it in production")
	}
	var rdb redis.UniversalClient
	var hub *realtime.Hub
	if *redisURL == "" {
		log.Warn("REDIS_URL is not set: running without the shared cache and without subscriptions across replicas")
	} else {
		rdb, err = openRedis(ctx, *redisURL)
		if err != nil {
			return err
		}
		defer rdb.Close()
		if err := cache.ValidatePrefix(rdb, *redisPrefix); err != nil {
			return err
		}
		rcfg.Cache = cache.New(rdb, cache.Config{Prefix: *redisPrefix, Logger: log, OnResult: countCache})
		hub = realtime.New(rdb, realtime.Config{Prefix: *redisPrefix, Logger: log})
		defer hub.Close()
		rcfg.Events = hub
	}
	if *apiToken == "" {
		log.Warn("API_TOKEN is not set: every mutation will be refused")
	}
	mcfg := monitor.Config{Pool: db.Pool, Cache: rcfg.Cache, Logger: log, SampleRate: *sampleRate,
		Recorder:  monitor.RecorderConfig{BufferSize: *metricsBuffer, FlushInterval: *metricsFlush},
		Retention: *retention, RetentionInterval: *retentionEvery}
	if *sampleRate == 0 {
		mcfg.SampleRate = -1 // record no request (0 means the default in monitor.Config)
	}
	if *retention <= 0 {
		mcfg.Retention = -1 // keep samples forever
	}
	mon := monitor.New(mcfg)
	// Deferred after the pool and Redis, so it runs before they close and
	// after the HTTP server below has stopped: the buffered samples are
	// written on a clean stop.
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := mon.Close(flushCtx); err != nil {
			log.Warn("flush performance samples", "err", err)
		}
	}()
	var allowIntrospection *bool
	if *introspection != "" {
		b, err := strconv.ParseBool(*introspection)
		if err != nil {
			return fmt.Errorf("INTROSPECTION must be true or false, got %q", *introspection)
		}
		allowIntrospection = &b
	}
	var origins []string
	for _, o := range strings.Split(*corsOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			origins = append(origins, o)
		}
	}
	res := resolvers.New(db.Pool, rcfg)
	var responseCache *cache.Cache
	if *respCache {
		responseCache = rcfg.Cache // nil without REDIS_URL
	}
	srv, err := server.New(db.Pool, res, server.Config{
		MaxBodyBytes: int64(*maxBody), RequestTimeout: *reqTimeout, MaxDepth: *maxDepth,
		MaxQueryLength: *maxQueryLen, MaxSelections: *maxSels, MaxAliases: *maxAliases, MaxCost: *maxCost,
		MaxVariablesBytes: *maxVars, Introspection: allowIntrospection, CORSOrigins: origins,
		Debug: *debug, ReplicaID: *replica, NodeModules: *nodeModules, Logger: log,
		APIToken: *apiToken, Redis: rdb,
		Monitor: mon, SlowRequest: time.Duration(*slowMs) * time.Millisecond,
		ResponseCache: responseCache, ResponseCacheTTL: *cacheTTL,
		WS: server.WSConfig{InitTimeout: *wsInit, MaxConnections: *wsMaxConns, MaxSubscriptionsPerConn: *wsMaxSubs,
			AllowedOrigins: origins},
	})
	if err != nil {
		return err
	}
	if hub != nil {
		mon.Metrics.RegisterRealtime(monitor.RealtimeStats{
			Connections:   func() int64 { return srv.WebSocketStats().Connections },
			Subscriptions: func() int64 { return int64(hub.Stats().Subscribers) },
			Published:     func() int64 { return int64(hub.Stats().Published) },
			Delivered:     func() int64 { return int64(hub.Stats().Delivered) },
			Dropped:       func() int64 { return int64(hub.Stats().Dropped) },
			Reconnects:    func() int64 { return int64(hub.Stats().Reconnects) },
		})
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	log.Info("serving", "addr", ln.Addr().String(), "replica", *replica, "debug", *debug)

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "drain", *drain)
	srv.Drain()
	time.Sleep(*drain)
	shutCtx, cancel := context.WithTimeout(context.Background(), *grace)
	defer cancel()
	// Shutdown does not touch upgraded connections: close the sockets
	// with 1001 so their clients reconnect to another replica.
	srv.CloseWebSockets(shutCtx)
	if err := hs.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// countCache attributes cache hits and misses to the request in ctx.
func countCache(ctx context.Context, hits, misses int) {
	monitor.StatsFrom(ctx).AddCache(hits, misses)
}

// openRedis connects to REDIS_URL (see cache.NewRedis for its forms: one
// server, Redis Cluster, Sentinel). A Redis that does not
// answer at start-up is reported but not fatal: the cache falls through to
// PostgreSQL and resumes by itself when Redis answers.
func openRedis(ctx context.Context, url string) (redis.UniversalClient, error) {
	rdb, err := cache.NewRedis(url)
	if err != nil {
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := rdb.Ping(pingCtx).Err(); err != nil {
		slog.Warn("Redis does not answer yet; reads go to PostgreSQL until it does", "err", err)
	}
	return rdb, nil
}

func defaultReplicaID() string {
	h, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", h, os.Getpid())
}

func runMigrate(ctx context.Context, args []string) error {
	f := newFlags("migrate up|down|status", "Apply (up), roll back one (down) or list (status) the embedded migrations.")
	dbf := addDBFlags(f)
	if err := f.Parse(args); err != nil {
		return err
	}
	if f.NArg() != 1 {
		f.Usage()
		return errors.New("migrate needs one of: up, down, status")
	}
	db, err := dbf.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	m, err := migrations.New(db.Pool)
	if err != nil {
		return err
	}
	defer m.Close()
	switch f.Arg(0) {
	case "up":
		return m.Up(ctx, os.Stdout)
	case "down":
		return m.Down(ctx, os.Stdout)
	case "status":
		return m.Status(ctx, os.Stdout)
	default:
		return fmt.Errorf("unknown migrate command %q: use up, down or status", f.Arg(0))
	}
}

func runSeed(ctx context.Context, args []string) error {
	f := newFlags("seed", "Load deterministic sample data with COPY. Skips when data is present unless --reset.")
	dbf := addDBFlags(f)
	orgs := f.int("orgs", "SEED_ORGS", 50, "organizations")
	emps := f.int("employees-per-org", "SEED_EMPLOYEES_PER_ORG", 50, "employees per organization")
	projects := f.int("projects-per-org", "SEED_PROJECTS_PER_ORG", 20, "projects per organization")
	members := f.int("members-per-project", "SEED_MEMBERS_PER_PROJECT", 8, "team members per project, from the same organization")
	metrics := f.int("metrics", "SEED_METRICS", 10000, "performance samples over the last 7 days")
	reset := f.bool("reset", "SEED_RESET", false, "delete all data first")
	redisURL := f.string("redis-url", "REDIS_URL", "", "Redis of the servers using this database: their cache is retired after seeding (empty: none)")
	redisPrefix := f.string("redis-prefix", "REDIS_PREFIX", "orgpulse:", "the servers' Redis prefix")
	if err := f.Parse(args); err != nil {
		return err
	}
	db, err := dbf.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.requireMigrated(ctx); err != nil {
		return err
	}
	res, err := seed.Run(ctx, db.Pool, seed.Options{
		Orgs: *orgs, EmployeesPerOrg: *emps, ProjectsPerOrg: *projects, MembersPerProject: *members,
		Metrics: *metrics, Reset: *reset, Progress: os.Stderr,
	})
	if err != nil || res.Skipped || *redisURL == "" {
		return err
	}
	// The rows changed behind the mutations' back: retire what servers
	// sharing this Redis prefix cached from the old ones.
	rdb, err := openRedis(ctx, *redisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	if err := cache.New(rdb, cache.Config{Prefix: *redisPrefix}).Reset(ctx); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "seed: retired the cache under prefix %q\n", *redisPrefix)
	return nil
}

func runSubscribe(ctx context.Context, args []string) error {
	f := newFlags("subscribe [flags] 'subscription { ... }'",
		"Run a GraphQL operation over WebSocket (graphql-transport-ws) and print each result as a JSON line until the server completes it or Ctrl-C.")
	url := f.string("url", "ORGPULSE_URL", "http://localhost:8080", "server URL (http(s):// or ws(s)://; /graphql is added when missing)")
	varsJSON := f.String("variables", "", "variables as a JSON object")
	if err := f.Parse(args); err != nil {
		return err
	}
	if f.NArg() != 1 {
		f.Usage()
		return errors.New("subscribe needs one GraphQL document")
	}
	var vars map[string]any
	if *varsJSON != "" {
		if err := json.Unmarshal([]byte(*varsJSON), &vars); err != nil {
			return fmt.Errorf("--variables is not a JSON object: %w", err)
		}
	}
	return realtime.RunSubscribe(ctx, *url, f.Arg(0), vars, os.Stdout)
}
