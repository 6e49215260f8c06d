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
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
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
	"orgpulse/resolvers"
	"orgpulse/seed"
	"orgpulse/server"
)

const usage = `orgpulse: a GraphQL API over organizations, employees, projects and metrics.

Usage:
  orgpulse [serve] [flags]         run the server (default command)
  orgpulse migrate up|down|status  apply, roll back or list database migrations
  orgpulse seed [flags]            load deterministic sample data

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
}

func addDBFlags(f flags) dbFlags {
	return dbFlags{
		url:      f.string("database-url", "DATABASE_URL", "", "PostgreSQL connection URL"),
		maxConns: f.int("db-max-conns", "DB_MAX_CONNS", 20, "connections in this process's pool"),
		stmtTO:   f.duration("statement-timeout", "STATEMENT_TIMEOUT", 10*time.Second, "server-side limit for one SQL statement"),
	}
}

func (d dbFlags) open(ctx context.Context) (*postgresPool, error) {
	if *d.url == "" {
		return nil, errors.New("DATABASE_URL is not set: pass --database-url or set DATABASE_URL (scripts/dev.sh sets it up)")
	}
	pool, err := postgres.Open(ctx, *d.url, postgres.Config{MaxConns: int32(*d.maxConns), StatementTimeout: *d.stmtTO})
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

func runServe(ctx context.Context, args []string) error {
	f := newFlags("serve", "Serve GraphQL at /graphql, GraphiQL at /graphiql, /healthz and /readyz.")
	dbf := addDBFlags(f)
	addr := f.string("addr", "ADDR", ":8080", "listen address")
	debug := f.bool("debug", "DEBUG", false, "accept X-Debug: 1 and answer each request's SQL in extensions.debug")
	logFormat := f.string("log-format", "LOG_FORMAT", "json", "log format: json or text")
	logLevel := f.string("log-level", "LOG_LEVEL", "info", "log level: debug, info, warn, error")
	reqTimeout := f.duration("request-timeout", "REQUEST_TIMEOUT", 10*time.Second, "deadline of one GraphQL request")
	maxBody := f.int("max-body-bytes", "MAX_BODY_BYTES", 1<<20, "largest accepted request body")
	maxDepth := f.int("max-depth", "MAX_DEPTH", 10, "deepest accepted query nesting")
	loaderWait := f.duration("loader-wait", "LOADER_WAIT", time.Millisecond, "how long a batch loader collects keys the look-ahead did not prefetch")
	redisURL := f.string("redis-url", "REDIS_URL", "", "Redis URL for the shared cache and subscriptions (empty: no cache)")
	apiToken := f.string("api-token", "API_TOKEN", "", "bearer token that authorizes mutations (empty: mutations refused)")
	cacheTTL := f.duration("cache-ttl", "CACHE_TTL", 5*time.Minute, "lifetime of cached lists and aggregates (±10% jitter)")
	summaryTTL := f.duration("summary-cache-ttl", "SUMMARY_CACHE_TTL", 5*time.Second, "lifetime of cached performanceSummary values")
	nodeModules := f.string("graphiql-assets", "GRAPHIQL_ASSETS", "node_modules", "node_modules directory holding GraphiQL")
	replica := f.string("replica-id", "REPLICA_ID", defaultReplicaID(), "name of this replica, sent as X-Orgpulse-Replica")
	drain := f.duration("drain", "SHUTDOWN_DRAIN", 0, "on SIGTERM, keep serving this long with /readyz at 503 so load balancers notice")
	grace := f.duration("shutdown-timeout", "SHUTDOWN_TIMEOUT", 15*time.Second, "how long in-flight requests may finish on shutdown")
	if err := f.Parse(args); err != nil {
		return err
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
	rcfg := resolvers.Config{LoaderWait: *loaderWait, CacheTTL: *cacheTTL, SummaryTTL: *summaryTTL}
	var rdb redis.UniversalClient
	if *redisURL == "" {
		log.Warn("REDIS_URL is not set: running without the shared cache")
	} else {
		rdb, err = openRedis(ctx, *redisURL)
		if err != nil {
			return err
		}
		defer rdb.Close()
		rcfg.Cache = cache.New(rdb, cache.Config{Logger: log, OnResult: countCache})
	}
	if *apiToken == "" {
		log.Warn("API_TOKEN is not set: every mutation will be refused")
	}
	res := resolvers.New(db.Pool, rcfg)
	srv, err := server.New(db.Pool, res, server.Config{
		MaxBodyBytes: int64(*maxBody), RequestTimeout: *reqTimeout, MaxDepth: *maxDepth,
		Debug: *debug, ReplicaID: *replica, NodeModules: *nodeModules, Logger: log,
		APIToken: *apiToken, Redis: rdb,
	})
	if err != nil {
		return err
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

// openRedis connects to a redis:// or rediss:// URL. A Redis that does not
// answer at start-up is reported but not fatal: the cache falls through to
// PostgreSQL and resumes by itself when Redis answers.
func openRedis(ctx context.Context, url string) (redis.UniversalClient, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("parse REDIS_URL: %w", err)
	}
	rdb := redis.NewClient(opt)
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
	_, err = seed.Run(ctx, db.Pool, seed.Options{
		Orgs: *orgs, EmployeesPerOrg: *emps, ProjectsPerOrg: *projects, MembersPerProject: *members,
		Metrics: *metrics, Reset: *reset, Progress: os.Stderr,
	})
	return err
}
