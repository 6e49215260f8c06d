package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"orgpulse/db"
	"orgpulse/postgres"
	"orgpulse/testsupport"
)

func TestNeedsCustomPlan(t *testing.T) {
	tests := []struct {
		sql  string
		want bool
	}{
		{"SELECT * FROM organizations WHERE id = $1", false},
		{"SELECT * FROM employees WHERE organization_id = ANY($1::bigint[]) ORDER BY id", false},
		{"SELECT * FROM employees WHERE ($1::bigint IS NULL OR organization_id = $1)", false},
		{"SELECT * FROM employees WHERE id > $1 ORDER BY id LIMIT 20", false},
		{"SELECT * FROM employees e WHERE e.id > $1 ORDER BY e.id LIMIT 20", false},
		{"SELECT * FROM employees WHERE organization_id > $1", true},
		{"SELECT * FROM performance_metrics WHERE recorded_at >= $2", true},
		{"DELETE FROM performance_metrics WHERE recorded_at <$1", true},
		{"DELETE FROM project_members WHERE employee_id = $1 AND organization_id <> $2", false},
	}
	for _, tt := range tests {
		if got := postgres.NeedsCustomPlan(tt.sql); got != tt.want {
			t.Errorf("NeedsCustomPlan(%q) = %v, want %v", tt.sql, got, tt.want)
		}
	}
}

func TestStatementFoldsOptionalFilters(t *testing.T) {
	const sql = "SELECT * FROM employees WHERE id > $1" +
		" AND ($2::bigint IS NULL OR organization_id = $2)" +
		" AND ($3::text IS NULL OR department = $3) AND ($2::bigint IS NULL OR true)"
	org, dept := int64(7), "Sales"
	tests := []struct {
		name string
		args []any
		want string
	}{
		{"no filter", []any{int64(0), (*int64)(nil), (*string)(nil)},
			"SELECT * FROM employees WHERE id > $1 AND (TRUE OR organization_id = $2) AND (TRUE OR department = $3) AND (TRUE OR true)"},
		{"organization", []any{int64(0), &org, (*string)(nil)},
			"SELECT * FROM employees WHERE id > $1 AND (FALSE OR organization_id = $2) AND (TRUE OR department = $3) AND (FALSE OR true)"},
		{"both", []any{int64(0), &org, &dept},
			"SELECT * FROM employees WHERE id > $1 AND (FALSE OR organization_id = $2) AND (FALSE OR department = $3) AND (FALSE OR true)"},
		{"untyped nil", []any{int64(0), nil, &dept},
			"SELECT * FROM employees WHERE id > $1 AND (TRUE OR organization_id = $2) AND (FALSE OR department = $3) AND (TRUE OR true)"},
	}
	for _, tt := range tests {
		got, args := postgres.Statement(sql, tt.args)
		if got != tt.want {
			t.Errorf("%s: Statement =\n%s\nwant\n%s", tt.name, got, tt.want)
		}
		if len(args) != len(tt.args) {
			t.Errorf("%s: %d arguments, want %d (a keyset cursor is no reason to plan per call)", tt.name, len(args), len(tt.args))
		}
	}
	// A range over a parameter is still planned with its values.
	_, args := postgres.Statement("SELECT count(*) FROM performance_metrics WHERE recorded_at >= $1", []any{"x"})
	if got, want := len(args), 2; got != want {
		t.Fatalf("range: %d arguments, want %d (the exec mode first)", got, want)
	}
	if got, ok := args[0].(pgx.QueryExecMode); !ok || got != pgx.QueryExecModeCacheDescribe {
		t.Errorf("range: first argument %v, want QueryExecModeCacheDescribe", args[0])
	}
}

// TestPlannedStatements runs a lookup and a list with an optional filter,
// with and without it, through Planned on a one-connection pool, then reads
// that connection's pg_prepared_statements: each is a named statement that
// moved to a generic plan, the list once per combination of given filters
// (so the filtered call never runs the unfiltered call's plan), and the
// aggregate over a time window is planned for its values on every call (the
// unnamed statement, never listed there).
func TestPlannedStatements(t *testing.T) {
	ctx := context.Background()
	tdb := testsupport.MustOpenSeededDB(t)
	pool, err := postgres.Open(ctx, tdb.URL, postgres.Config{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	q := db.New(postgres.Planned(pool))
	orgID := tdb.MustQueryInt64(t, "SELECT min(id) FROM organizations")
	tdb.MustExec(t, "UPDATE organizations SET is_active = false WHERE id = $1", orgID)
	active := true
	for range 8 { // PostgreSQL tries five custom plans before a generic one
		if _, err := q.GetOrganization(ctx, orgID); err != nil {
			t.Fatal(err)
		}
		all, err := q.ListOrganizations(ctx, db.ListOrganizationsParams{LimitCount: 5})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := all[0].ID, orgID; got != want {
			t.Fatalf("unfiltered list starts at %d, want %d", got, want)
		}
		some, err := q.ListOrganizations(ctx, db.ListOrganizationsParams{LimitCount: 5, IsActive: &active})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range some {
			if !o.IsActive {
				t.Fatalf("the active filter returned inactive organization %d", o.ID)
			}
		}
		if _, err := q.GetPerformanceSummary(ctx, db.GetPerformanceSummaryParams{MetricType: "api_response", Since: time.Now().Add(-time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := pool.Query(ctx, "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	generic := map[string]int64{}
	for rows.Next() {
		var stmt string
		var g, c int64
		if err := rows.Scan(&stmt, &g, &c); err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasPrefix(stmt, "-- name: GetOrganization "):
			generic["lookup"] = g
		case strings.HasPrefix(stmt, "-- name: ListOrganizations ") && strings.Contains(stmt, "(TRUE OR is_active = $2)"):
			generic["unfiltered list"] = g
		case strings.HasPrefix(stmt, "-- name: ListOrganizations ") && strings.Contains(stmt, "(FALSE OR is_active = $2)"):
			generic["filtered list"] = g
		case strings.HasPrefix(stmt, "-- name: ListOrganizations "):
			t.Errorf("ListOrganizations prepared unfolded:\n%s", stmt)
		case strings.HasPrefix(stmt, "-- name: GetPerformanceSummary "):
			t.Errorf("GetPerformanceSummary is a named prepared statement (%d generic, %d custom plans): its time window needs a plan per call", g, c)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"lookup", "unfiltered list", "filtered list"} {
		if got, ok := generic[name]; !ok || got <= 0 {
			t.Errorf("%s: prepared %v, %d generic plans after 8 calls, want some", name, ok, got)
		}
	}
}

// TestRandomPageCost: the pool's sessions price random reads as on SSD or
// RAM unless told to keep the server's setting.
func TestRandomPageCost(t *testing.T) {
	ctx := context.Background()
	tdb := testsupport.MustOpenDB(t)
	var server string
	if err := tdb.Pool.QueryRow(ctx, "SELECT boot_val FROM pg_settings WHERE name = 'random_page_cost'").Scan(&server); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		cost float64
		want string
	}{{0, "1.1"}, {2, "2"}, {-1, server}} {
		pool, err := postgres.Open(ctx, tdb.URL, postgres.Config{MaxConns: 1, RandomPageCost: tt.cost})
		if err != nil {
			t.Fatal(err)
		}
		var got string
		err = pool.QueryRow(ctx, "SHOW random_page_cost").Scan(&got)
		pool.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("RandomPageCost %v: SHOW random_page_cost = %s, want %s", tt.cost, got, tt.want)
		}
	}
}
