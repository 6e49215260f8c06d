// Package testsupport holds the helpers every test package shares: real
// PostgreSQL databases (fresh or seeded), Redis, and running servers.
// Tests never mock PostgreSQL or Redis.
package testsupport

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"orgpulse/migrations"
	"orgpulse/postgres"
	"orgpulse/seed"
)

// seedVersion names the sample data in the template database: bump it when
// seed output changes so stale templates are not reused.
const seedVersion = "2"

// seedNow ends the 7-day window of the template's metric samples. It is the
// start of the current UTC day and part of the template's name, so a
// template never holds samples that have aged out of "the last 24 hours".
func seedNow() time.Time { return time.Now().UTC().Truncate(24 * time.Hour) }

// DB is a test database on the server behind DATABASE_URL.
type DB struct {
	Pool *pgxpool.Pool
	URL  string
	Name string
}

// BaseURL returns DATABASE_URL (Main sets it when the environment does not)
// or fails the test.
func BaseURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("DATABASE_URL")
	if u == "" {
		tb.Fatal("DATABASE_URL is not set: the package's TestMain must call testsupport.Main, which provides PostgreSQL and Redis")
	}
	return u
}

func withDatabase(tb testing.TB, base, name string) string {
	tb.Helper()
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("parse DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func adminConn(tb testing.TB, ctx context.Context) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(ctx, withDatabase(tb, BaseURL(tb), "postgres"))
	if err != nil {
		tb.Fatalf("connect to PostgreSQL admin database: %v", err)
	}
	return conn
}

// MustOpenDB creates a new, migrated, empty database and drops it when the
// test ends.
func MustOpenDB(tb testing.TB) *DB {
	tb.Helper()
	return openClone(tb, "")
}

// MustOpenSeededDB creates a new database holding the default sample data
// (seed.Options with Now at the start of today, UTC), cloned from a
// template built once per machine and day.
func MustOpenSeededDB(tb testing.TB) *DB {
	tb.Helper()
	return openClone(tb, mustTemplate(tb))
}

func openClone(tb testing.TB, template string) *DB {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name := "orgpulse_t_" + randomSuffix()
	admin := adminConn(tb, ctx)
	defer admin.Close(context.Background())
	stmt := "CREATE DATABASE " + name
	if template != "" {
		stmt += " TEMPLATE " + template
	}
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		// Another package may be cloning the template at this instant.
		if _, err = admin.Exec(ctx, stmt); err == nil || !strings.Contains(err.Error(), "being accessed by other users") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	db := &DB{Name: name, URL: withDatabase(tb, BaseURL(tb), name)}
	tb.Cleanup(func() {
		if db.Pool != nil {
			db.Pool.Close()
		}
		c := adminConn(tb, context.Background())
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop test database: %v", err)
		}
	})
	db.Pool, err = postgres.Open(ctx, db.URL, postgres.Config{MaxConns: 10})
	if err != nil {
		tb.Fatalf("open test database: %v", err)
	}
	if template == "" {
		m, err := migrations.New(db.Pool)
		if err != nil {
			tb.Fatal(err)
		}
		defer m.Close()
		if err := m.Up(ctx, io.Discard); err != nil {
			tb.Fatal(err)
		}
	}
	return db
}

// templateName hashes the migrations and the seed version, so a template
// built from an older schema is never reused.
func templateName(tb testing.TB) string {
	tb.Helper()
	h := sha256.New()
	err := fs.WalkDir(migrations.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.FS, path)
		h.Write([]byte(path))
		h.Write(b)
		return err
	})
	if err != nil {
		tb.Fatalf("hash migrations: %v", err)
	}
	h.Write([]byte(seedVersion))
	h.Write([]byte(seedNow().Format(time.DateOnly)))
	return "orgpulse_tpl_" + hex.EncodeToString(h.Sum(nil))[:12]
}

// mustTemplate builds the seeded template database once; concurrent test
// processes wait on an advisory lock instead of building it twice.
func mustTemplate(tb testing.TB) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	name := templateName(tb)
	admin := adminConn(tb, ctx)
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock(424242)"); err != nil {
		tb.Fatalf("template lock: %v", err)
	}
	defer admin.Exec(context.Background(), "SELECT pg_advisory_unlock(424242)")

	var ready bool
	err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate)", name).Scan(&ready)
	if err != nil {
		tb.Fatalf("look up template: %v", err)
	}
	if ready {
		return name
	}
	// A half-built template from an interrupted run is not marked as a
	// template yet: drop and rebuild it.
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		tb.Fatalf("drop stale template: %v", err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create template: %v", err)
	}
	pool, err := postgres.Open(ctx, withDatabase(tb, BaseURL(tb), name), postgres.Config{MaxConns: 4})
	if err != nil {
		tb.Fatalf("open template: %v", err)
	}
	m, err := migrations.New(pool)
	if err == nil {
		err = m.Up(ctx, io.Discard)
		m.Close()
	}
	if err == nil {
		_, err = seed.Run(ctx, pool, seed.Options{Now: seedNow()})
	}
	if err == nil {
		_, err = pool.Exec(ctx, "VACUUM ANALYZE")
	}
	pool.Close()
	if err != nil {
		tb.Fatalf("build template %s: %v", name, err)
	}
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+name+" WITH is_template true"); err != nil {
		tb.Fatalf("mark template: %v", err)
	}
	return name
}

// MustExec runs a statement on the test database and fails the test on error.
func (db *DB) MustExec(tb testing.TB, sql string, args ...any) {
	tb.Helper()
	if _, err := db.Pool.Exec(context.Background(), sql, args...); err != nil {
		tb.Fatalf("exec %q: %v", sql, err)
	}
}

// MustQueryInt64 runs a query that returns one integer (typically an
// independent COUNT or SUM used as the expected value of an assertion).
func (db *DB) MustQueryInt64(tb testing.TB, sql string, args ...any) int64 {
	tb.Helper()
	var n int64
	if err := db.Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		tb.Fatalf("query %q: %v", sql, err)
	}
	return n
}
