package tracing

import (
	"fmt"

	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
)

// InstrumentRedis gives every command and pipeline of rdb a client span
// (go-redis's own redisotel). Command arguments are left out: they carry
// cached responses and keys with the rows' ids. Dials get no span: they
// happen outside any request, in the pool.
func InstrumentRedis(rdb redis.UniversalClient, p *Provider) error {
	if !p.Enabled() {
		return nil
	}
	err := redisotel.InstrumentTracing(rdb, redisotel.WithTracerProvider(p.TracerProvider),
		redisotel.WithDBStatement(false), redisotel.WithDialFilter(true),
		// The caller's function and line cost a runtime.Callers per
		// command; the parent span already says which operation it was.
		redisotel.WithCallerEnabled(false))
	if err != nil {
		return fmt.Errorf("trace Redis: %w", err)
	}
	return nil
}
