package postgres_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"orgpulse/postgres"
	"orgpulse/testsupport"
)

// TestClassifyRealErrors provokes each kind on a real PostgreSQL, so a
// driver upgrade that changes how an error arrives fails here, not as an
// INTERNAL answer in production.
func TestClassifyRealErrors(t *testing.T) {
	d := testsupport.MustOpenDB(t)
	ctx := context.Background()
	if _, err := d.Pool.Exec(ctx, `CREATE TABLE classify_check (x int CONSTRAINT classify_positive CHECK (x > 0))`); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		run        func() error
		want       postgres.Kind
		constraint string
	}{
		{"check violation", func() error {
			_, err := d.Pool.Exec(ctx, `INSERT INTO classify_check VALUES (-1)`)
			return err
		}, postgres.KindCheckViolation, "classify_positive"},
		{"out of range", func() error {
			_, err := d.Pool.Exec(ctx, `SELECT 2147483648::int`)
			return err
		}, postgres.KindOutOfRange, ""},
		{"NUL in text", func() error {
			_, err := d.Pool.Exec(ctx, `SELECT $1::text`, "a\x00b")
			return err
		}, postgres.KindUnstorableText, ""},
		{"statement cancelled", func() error {
			tx, err := d.Pool.Begin(ctx)
			if err != nil {
				return err
			}
			defer tx.Rollback(ctx)
			if _, err := tx.Exec(ctx, `SET LOCAL statement_timeout = '20ms'`); err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `SELECT pg_sleep(2)`)
			return err
		}, postgres.KindCanceled, ""},
		{"session terminated", func() error {
			conn, err := pgx.Connect(ctx, d.URL)
			if err != nil {
				return err
			}
			defer conn.Close(ctx)
			_, err = conn.Exec(ctx, `SELECT pg_terminate_backend(pg_backend_pid())`)
			return err
		}, postgres.KindUnavailable, ""},
		{"nothing listening", func() error {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			addr := ln.Addr().String()
			ln.Close()
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			conn, err := pgx.Connect(cctx, "postgres://x@"+addr+"/x?sslmode=disable")
			if err == nil {
				conn.Close(ctx)
			}
			return err
		}, postgres.KindUnavailable, ""},
		{"division by zero", func() error {
			_, err := d.Pool.Exec(ctx, `SELECT 1/0`)
			return err
		}, postgres.KindOther, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			if err == nil {
				t.Fatal("no error")
			}
			wrapped := errors.Join(errors.New("context"), err) // callers wrap on the way up
			if got := postgres.Classify(wrapped); got != tt.want {
				t.Errorf("Classify(%v) = %v, want %v", err, got, tt.want)
			}
			if got := postgres.Constraint(wrapped); got != tt.constraint {
				t.Errorf("Constraint = %q, want %q", got, tt.constraint)
			}
		})
	}
	if got := postgres.Classify(nil); got != postgres.KindOther {
		t.Errorf("Classify(nil) = %v", got)
	}
}
