// Package postgres opens the PostgreSQL connection pool with the settings
// every orgpulse process shares.
package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"orgpulse/monitor"
)

// Config tunes the pool. Zero values take the defaults noted on each field.
type Config struct {
	MaxConns         int32         // default 20 per replica
	StatementTimeout time.Duration // default 10s: server-side backstop for a runaway query
}

// Open connects to url and verifies the server answers.
func Open(ctx context.Context, url string, cfg Config) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	} else if pc.MaxConns < 20 {
		pc.MaxConns = 20
	}
	if cfg.StatementTimeout <= 0 {
		cfg.StatementTimeout = 10 * time.Second
	}
	rp := pc.ConnConfig.RuntimeParams
	rp["statement_timeout"] = fmt.Sprint(cfg.StatementTimeout.Milliseconds())
	rp["application_name"] = "orgpulse"
	// plan_cache_mode stays at PostgreSQL's default: which statements are
	// planned for their values every time is Planned's choice (plan.go).
	pc.ConnConfig.Tracer = monitor.Tracer{}

	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("open pool: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	return pool, nil
}
