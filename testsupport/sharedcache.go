package testsupport

import (
	"context"

	"github.com/redis/go-redis/v9"

	"orgpulse/cache"
	"orgpulse/monitor"
	"orgpulse/resolvers"
	"orgpulse/server"
)

// SharedCache is a MustStartServer tweak that caches in rdb under prefix
// instead of under the server's own unique prefix. Servers started on the
// same database with the same rdb and prefix are replicas sharing one
// cache. opts adjust the cache.Config (logger, error log interval...).
func SharedCache(rdb redis.UniversalClient, prefix string, opts ...func(*cache.Config)) func(*server.Config, *resolvers.Config) {
	return func(s *server.Config, r *resolvers.Config) {
		cfg := cache.Config{Prefix: prefix, Logger: s.Logger,
			OnResult: func(ctx context.Context, hits, misses int) { monitor.StatsFrom(ctx).AddCache(hits, misses) }}
		for _, o := range opts {
			o(&cfg)
		}
		s.Redis = rdb
		r.Cache = cache.New(rdb, cfg)
	}
}

// CaptureCache is a MustStartServer tweak that stores the server's cache in
// *dst, so a test can read its Stats. Put it after any tweak that replaces
// the cache.
func CaptureCache(dst **cache.Cache) func(*server.Config, *resolvers.Config) {
	return func(_ *server.Config, r *resolvers.Config) { *dst = r.Cache }
}
