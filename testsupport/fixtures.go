package testsupport

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Helpers for black-box tests that check GraphQL answers against
// independent SQL written in the test itself.

// MustScan runs a one-row query and scans it into dest, failing the test on
// any error (no rows included).
func (db *DB) MustScan(tb testing.TB, dest []any, sql string, args ...any) {
	tb.Helper()
	if err := db.Pool.QueryRow(context.Background(), sql, args...).Scan(dest...); err != nil {
		tb.Fatalf("query %q %v: %v", sql, args, err)
	}
}

// MustQueryFloat64 runs a query that returns one float (cast in SQL with
// ::float8 where needed).
func (db *DB) MustQueryFloat64(tb testing.TB, sql string, args ...any) float64 {
	tb.Helper()
	var f float64
	db.MustScan(tb, []any{&f}, sql, args...)
	return f
}

// MustQueryInt64s runs a query that returns one integer column, typically
// ids in the order the assertion expects.
func (db *DB) MustQueryInt64s(tb testing.TB, sql string, args ...any) []int64 {
	tb.Helper()
	rows, err := db.Pool.Query(context.Background(), sql, args...)
	if err != nil {
		tb.Fatalf("query %q %v: %v", sql, args, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		tb.Fatalf("query %q %v: %v", sql, args, err)
	}
	if out == nil {
		out = []int64{}
	}
	return out
}

// MustQueryStrings runs a query that returns one text column.
func (db *DB) MustQueryStrings(tb testing.TB, sql string, args ...any) []string {
	tb.Helper()
	rows, err := db.Pool.Query(context.Background(), sql, args...)
	if err != nil {
		tb.Fatalf("query %q %v: %v", sql, args, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		tb.Fatalf("query %q %v: %v", sql, args, err)
	}
	return out
}

// MustQueryRows runs a query and collects every row into T by column name
// (pgx.RowToStructByName: exported fields, `db:"column"` tags).
func MustQueryRows[T any](tb testing.TB, db *DB, sql string, args ...any) []T {
	tb.Helper()
	rows, err := db.Pool.Query(context.Background(), sql, args...)
	if err != nil {
		tb.Fatalf("query %q %v: %v", sql, args, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[T])
	if err != nil {
		tb.Fatalf("query %q %v: %v", sql, args, err)
	}
	return out
}

// MustError asserts that r carries a GraphQL error with extensions.code
// code, and returns the first such error.
func (r *Response) MustError(tb testing.TB, code string) Error {
	tb.Helper()
	for _, e := range r.Errors {
		if c, _ := e.Extensions["code"].(string); c == code {
			return e
		}
	}
	tb.Fatalf("want an error with extensions.code %q; got status %d: %s", code, r.Status, r.Raw)
	return Error{}
}

// Field returns extensions.field of e, or "".
func (e Error) Field() string {
	f, _ := e.Extensions["field"].(string)
	return f
}

// ParseID turns a GraphQL ID of a row into its integer id.
func ParseID(tb testing.TB, id string) int64 {
	tb.Helper()
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		tb.Fatalf("ID %q is not an integer id: %v", id, err)
	}
	return n
}

// ParseIDs is ParseID over a list; it never returns nil.
func ParseIDs(tb testing.TB, ids []string) []int64 {
	tb.Helper()
	out := make([]int64, len(ids))
	for i, id := range ids {
		out[i] = ParseID(tb, id)
	}
	return out
}

// Sorted returns a sorted copy of ids, for comparing sets whose order the
// schema does not promise.
func Sorted(ids []int64) []int64 {
	out := slices.Clone(ids)
	if out == nil {
		out = []int64{}
	}
	slices.Sort(out)
	return out
}

// AssertIDs fails the test when got and want differ (order matters).
func AssertIDs(tb testing.TB, what string, got, want []int64) {
	tb.Helper()
	if !slices.Equal(got, want) {
		tb.Errorf("%s: got %d ids %s, want %d ids %s", what, len(got), shortIDs(got), len(want), shortIDs(want))
	}
}

func shortIDs(ids []int64) string {
	const max = 30
	var b strings.Builder
	b.WriteString("[")
	for i, id := range ids {
		if i == max {
			fmt.Fprintf(&b, " ...(%d more)", len(ids)-max)
			break
		}
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(strconv.FormatInt(id, 10))
	}
	b.WriteString("]")
	return b.String()
}

// AssertClose fails the test when |got-want| > tol.
func AssertClose(tb testing.TB, what string, got, want, tol float64) {
	tb.Helper()
	if math.IsNaN(got) || math.Abs(got-want) > tol {
		tb.Errorf("%s: got %v, want %v (within %v)", what, got, want, tol)
	}
}

// AssertTime fails the test unless got is an RFC 3339 timestamp of the same
// instant as want.
func AssertTime(tb testing.TB, what, got string, want time.Time) {
	tb.Helper()
	t, err := time.Parse(time.RFC3339Nano, got)
	if err != nil {
		tb.Errorf("%s: %q is not RFC 3339: %v", what, got, err)
		return
	}
	if !t.Equal(want) {
		tb.Errorf("%s: got %s, want %s", what, got, want.UTC().Format(time.RFC3339Nano))
	}
}
