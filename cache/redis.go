package cache

import (
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// NewRedis returns a client for a redis:// or rediss:// URL with timeouts
// fit for a cache that must never slow a request down: a Redis that hangs
// costs a request at most about half a second before it reads from
// PostgreSQL instead. Timeouts given in the URL (read_timeout=...) win.
func NewRedis(url string) (redis.UniversalClient, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("parse REDIS_URL: %w", err)
	}
	// Without this, go-redis ignores context deadlines on commands.
	opt.ContextTimeoutEnabled = true
	if opt.DialTimeout == 0 {
		opt.DialTimeout = time.Second
	}
	if opt.ReadTimeout == 0 {
		opt.ReadTimeout = 500 * time.Millisecond
	}
	if opt.WriteTimeout == 0 {
		opt.WriteTimeout = 500 * time.Millisecond
	}
	if opt.PoolTimeout == 0 {
		opt.PoolTimeout = time.Second
	}
	if opt.MaxRetries == 0 {
		opt.MaxRetries = 1
	}
	return redis.NewClient(opt), nil
}
