package migrations

import (
	"context"
	"database/sql"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// Migrator applies the embedded migrations to one database. Concurrent
// replicas migrating at once are serialized by a PostgreSQL advisory lock.
type Migrator struct {
	db       *sql.DB
	provider *goose.Provider
	// reader reads the applied versions without the lock (Status,
	// Pending): a read needs no serializing, and the lock is a session
	// lock, which PgBouncer in transaction mode cannot keep: its unlock can
	// reach another server connection, leaving the lock held there, and
	// every replica starting after that (serve checks Pending) waited for
	// it, then failed with "failed to unlock session" (scale test,
	// PgBouncer mode).
	reader *goose.Provider
}

// New returns a Migrator for the database behind pool.
func New(pool *pgxpool.Pool) (*Migrator, error) {
	db := stdlib.OpenDBFromPool(pool)
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, FS,
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	r, err := goose.NewProvider(goose.DialectPostgres, db, FS, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return &Migrator{db: db, provider: p, reader: r}, nil
}

// Close releases the migrator's handle; the pool stays open.
func (m *Migrator) Close() error { return m.db.Close() }

// Up applies every pending migration and reports each one to w.
func (m *Migrator) Up(ctx context.Context, w io.Writer) error {
	results, err := m.provider.Up(ctx)
	for _, r := range results {
		fmt.Fprintf(w, "applied %s (%s)\n", r.Source.Path, r.Duration.Round(1e6))
	}
	if err != nil {
		return fmt.Errorf("migrate up: %w", err)
	}
	if len(results) == 0 {
		fmt.Fprintln(w, "database is up to date")
	}
	return nil
}

// Down rolls back the most recent migration.
func (m *Migrator) Down(ctx context.Context, w io.Writer) error {
	r, err := m.provider.Down(ctx)
	if r != nil {
		fmt.Fprintf(w, "rolled back %s (%s)\n", r.Source.Path, r.Duration.Round(1e6))
	}
	if err != nil {
		return fmt.Errorf("migrate down: %w", err)
	}
	return nil
}

// Reset rolls back every migration (tests and seed --reset use it).
func (m *Migrator) Reset(ctx context.Context) error {
	if _, err := m.provider.DownTo(ctx, 0); err != nil {
		return fmt.Errorf("migrate reset: %w", err)
	}
	return nil
}

// Status writes one line per migration: applied (with time) or pending.
func (m *Migrator) Status(ctx context.Context, w io.Writer) error {
	st, err := m.reader.Status(ctx)
	if err != nil {
		return fmt.Errorf("migration status: %w", err)
	}
	for _, s := range st {
		if s.State == goose.StateApplied {
			fmt.Fprintf(w, "applied  %s  %s\n", s.AppliedAt.Format("2006-01-02 15:04:05"), s.Source.Path)
		} else {
			fmt.Fprintf(w, "pending  %-19s  %s\n", "", s.Source.Path)
		}
	}
	return nil
}

// Pending reports how many migrations are not applied yet.
func (m *Migrator) Pending(ctx context.Context) (int, error) {
	st, err := m.reader.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("migration status: %w", err)
	}
	n := 0
	for _, s := range st {
		if s.State != goose.StateApplied {
			n++
		}
	}
	return n, nil
}
