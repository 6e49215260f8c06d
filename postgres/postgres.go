package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/multitracer"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"orgpulse/monitor"
	"orgpulse/tracing"
)

// Config tunes the pool. Zero values take the defaults noted on each field.
type Config struct {
	MaxConns         int32         // default 20 per replica
	StatementTimeout time.Duration // default 10s: server-side backstop for a runaway query
	// RandomPageCost is the planner's cost of a random page read for this
	// pool's sessions: default DefaultRandomPageCost, negative keeps the
	// server's setting.
	RandomPageCost float64
}

// DefaultRandomPageCost is the value PostgreSQL's documentation suggests
// when the data is cached in RAM or on SSD, as orgpulse's working set is
// meant to be. The server default, 4, prices an index probe as a seek on a
// spinning disk: on the sample data the planner then hashed all 2,500
// employees to find the 160 members of 20 project teams (1.35 ms) instead
// of probing the primary key 160 times (0.17 ms; EXPLAIN ANALYZE).
const DefaultRandomPageCost = 1.1

// Defaults of Config that app.DefaultConfig takes (DB_MAX_CONNS,
// STATEMENT_TIMEOUT).
const (
	DefaultMaxConns         = 20
	DefaultStatementTimeout = 10 * time.Second
)

// Open connects to url and verifies the server answers.
func Open(ctx context.Context, url string, cfg Config) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	} else if pc.MaxConns < DefaultMaxConns {
		pc.MaxConns = DefaultMaxConns
	}
	if cfg.StatementTimeout <= 0 {
		cfg.StatementTimeout = DefaultStatementTimeout
	}
	rp := pc.ConnConfig.RuntimeParams
	rp["statement_timeout"] = fmt.Sprint(cfg.StatementTimeout.Milliseconds())
	rp["application_name"] = "orgpulse"
	if cfg.RandomPageCost == 0 {
		cfg.RandomPageCost = DefaultRandomPageCost
	}
	if cfg.RandomPageCost > 0 {
		rp["random_page_cost"] = fmt.Sprint(cfg.RandomPageCost)
	}
	// Every named prepared statement runs its generic plan from the first
	// call: Planned (plan.go) sends the statements that need a plan for
	// their values another way, and queries/explain_test.go checks the
	// generic plans of the others. PostgreSQL's own choice (five custom
	// plans, then the generic one if its estimate is not worse) kept
	// planning a page of projects on every call, 0.5 ms each, because a
	// generic LIMIT $n is estimated as a tenth of the table.
	rp["plan_cache_mode"] = "force_generic_plan"
	// pgx has one tracer slot: the statement counter (X-Debug, the N+1
	// tests) and the OpenTelemetry spans share it.
	pc.ConnConfig.Tracer = multitracer.New(monitor.Tracer{}, tracing.PgxTracer{})
	pc.ConnConfig.BuildContextWatcherHandler = cancelStatement // cancel.go
	pc.AfterConnect = func(_ context.Context, conn *pgx.Conn) error {
		conn.TypeMap().RegisterType(&pgtype.Type{Name: "numeric", OID: pgtype.NumericOID, Codec: textNumericCodec{}})
		return nil
	}

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

// textNumericCodec asks PostgreSQL for numeric columns (salaries, budgets)
// as text. sqlc maps numeric to float64, and pgx turns binary numeric into a
// float64 through math/big and a decimal string: on a page of 50 employees
// that was 6% of the server's CPU, where strconv.ParseFloat of the text form
// gives the same float64 for a fraction of it.
type textNumericCodec struct{ pgtype.NumericCodec }

func (textNumericCodec) PreferredFormat() int16 { return pgtype.TextFormatCode }
