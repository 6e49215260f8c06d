// Package resolvers binds orgpulse's GraphQL schema to PostgreSQL. Resolvers
// are thin: each picks a sqlc query, a per-request loader or the cache.
package resolvers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"orgpulse/cache"
	"orgpulse/db"
	"orgpulse/postgres"
)

// Config tunes the resolvers. Zero values take the defaults.
type Config struct {
	// LoaderWait is how long a subscription event's loader collects the
	// keys its subscribers ask for before it runs its batch (default 1ms).
	// Requests do not wait on it: what their look-ahead did not prefetch
	// is loaded for all siblings by the first to ask (siblings.go).
	LoaderWait time.Duration
	// Now returns the current time (tests pin it); default time.Now.
	Now func() time.Time
	// Events publishes committed changes for subscriptions; nil: none.
	Events EventBus
	// Cache is the shared Redis cache; nil caches nothing.
	Cache *cache.Cache
	// CacheTTL is how long aggregates and lists stay cached (default 5m);
	// SummaryTTL bounds performanceSummary and endpointStats, which the
	// service's own traffic keeps changing (default 5s).
	CacheTTL, SummaryTTL time.Duration

	// NaiveLoading exists only for the benchmark (scripts/bench.sh,
	// docs/BENCHMARKS.md): it switches off the foreign key JOIN variants
	// and batching, so every parent's children are loaded by a statement
	// of their own, one after another as an ORM's lazy loading runs them,
	// and a key loaded twice is loaded twice: the same server shows the
	// N+1 behaviour it otherwise avoids. Never set it in production.
	NaiveLoading bool
}

// Resolver is the root resolver: its methods are the fields of Query.
type Resolver struct {
	pool *pgxpool.Pool
	q    *db.Queries
	cfg  Config

	// eventLoaders, when set, are the loaders of one subscription event,
	// shared by every subscriber it is delivered to (see subscription.go).
	eventLoaders *loaders
	// lv is the subscription state: one event-bus subscription per topic
	// and one summary ticker per (metric type, interval) for the process.
	lv *live
}

// Defaults of Config that app.DefaultConfig takes (LOADER_WAIT,
// SUMMARY_TTL; CACHE_TTL is cache.DefaultTTL).
const (
	DefaultLoaderWait = time.Millisecond
	DefaultSummaryTTL = 5 * time.Second
)

// New returns the root resolver over pool.
func New(pool *pgxpool.Pool, cfg Config) *Resolver {
	if cfg.LoaderWait <= 0 {
		cfg.LoaderWait = DefaultLoaderWait
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = cache.DefaultTTL
	}
	if cfg.SummaryTTL <= 0 {
		cfg.SummaryTTL = DefaultSummaryTTL
	}
	r := &Resolver{pool: pool, q: db.New(postgres.Planned(pool)), cfg: cfg}
	r.lv = newLive(r)
	return r
}

// WithLoaders returns ctx carrying a fresh set of per-request loaders. The
// server calls it once per request (and once per subscription event).
func (r *Resolver) WithLoaders(ctx context.Context) context.Context {
	return context.WithValue(ctx, loadersKey{}, newLoaders(r))
}

// ResponseCacheable reports whether the request of ctx (after
// WithLoaders) read only what mutations announce by moving VersionRows, so
// that its whole response may be cached under that version.
func (r *Resolver) ResponseCacheable(ctx context.Context) bool {
	l, ok := ctx.Value(loadersKey{}).(*loaders)
	return ok && !l.uncacheable.Load()
}

// notFound turns pgx's no-rows error into (nil, nil): an unknown id in a
// single lookup is null, not an error.
func notFound(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

// getStep is the pipeline step of a single-row lookup: get runs the
// statement, keep takes its row; a missing row leaves found false.
func getStep[T any](what string, found *bool, get func(*db.Queries) (T, error), keep func(T)) postgres.Step {
	return func(q *db.Queries) error {
		got, err := get(q)
		if notFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		keep(got)
		*found = true
		return nil
	}
}
