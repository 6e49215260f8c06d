package tracing

import (
	"fmt"
	"strings"

	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
)

// InstrumentRedis gives every command and pipeline of rdb a client span
// (go-redis's own redisotel). Command arguments are left out: they carry
// cached responses and keys with the rows' ids. Dials and the handshake
// of a new connection (HELLO, AUTH, CLIENT SETINFO) get no span: they
// happen in the pool, outside any request, and would be traces of their
// own.
func InstrumentRedis(rdb redis.UniversalClient, p *Provider) error {
	if !p.Enabled() {
		return nil
	}
	err := redisotel.InstrumentTracing(rdb, redisotel.WithTracerProvider(p.TracerProvider),
		redisotel.WithDBStatement(false), redisotel.WithDialFilter(true),
		// The caller's function and line cost a runtime.Callers per
		// command; the parent span already says which operation it was.
		redisotel.WithCallerEnabled(false),
		redisotel.WithCommandFilter(handshake),
		redisotel.WithCommandsFilter(func(cmds []redis.Cmder) bool {
			for _, c := range cmds {
				if !handshake(c) {
					return false
				}
			}
			return len(cmds) > 0
		}))
	if err != nil {
		return fmt.Errorf("trace Redis: %w", err)
	}
	return nil
}

// handshake says whether cmd is part of setting up a connection.
func handshake(cmd redis.Cmder) bool {
	switch strings.ToLower(cmd.Name()) {
	case "hello", "auth", "client":
		return true
	}
	return false
}
