package testsupport

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"orgpulse/cache"
)

// MustRedisClient connects to REDIS_URL and returns the client and a key
// prefix no other test uses, so tests share one Redis without seeing each
// other's keys. Keys under the prefix are deleted when the test ends.
func MustRedisClient(tb testing.TB) (redis.UniversalClient, string) {
	tb.Helper()
	u := os.Getenv("REDIS_URL")
	if u == "" {
		tb.Fatal("REDIS_URL is not set: the package's TestMain must call testsupport.Main, which provides PostgreSQL and Redis")
	}
	rdb, err := cache.NewRedis(u)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		tb.Fatalf("connect to Redis at %s: %v", u, err)
	}
	prefix := "orgpulse:test:" + randomSuffix() + ":"
	tb.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		rdb.Close()
	})
	return rdb, prefix
}
