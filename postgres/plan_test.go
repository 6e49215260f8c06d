package postgres_test

import (
	"context"
	"strings"
	"testing"

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
		{"SELECT * FROM employees WHERE ($1::bigint IS NULL OR organization_id = $1)", true},
		{"SELECT * FROM employees WHERE id > $1 ORDER BY id LIMIT 20", true},
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

// TestPlannedStatements runs a lookup and a list with optional filters
// through Planned on a one-connection pool, then reads that connection's
// pg_prepared_statements: the lookup is a named statement that moved to a
// generic plan, the list is planned for its values on each call (the
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
	for range 8 { // PostgreSQL tries five custom plans before a generic one
		if _, err := q.GetOrganization(ctx, orgID); err != nil {
			t.Fatal(err)
		}
		if _, err := q.ListOrganizations(ctx, db.ListOrganizationsParams{LimitCount: 5}); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := pool.Query(ctx, "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var lookupGeneric int64 = -1
	for rows.Next() {
		var stmt string
		var generic, custom int64
		if err := rows.Scan(&stmt, &generic, &custom); err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasPrefix(stmt, "-- name: GetOrganization "):
			lookupGeneric = generic
		case strings.HasPrefix(stmt, "-- name: ListOrganizations "):
			t.Errorf("ListOrganizations is a named prepared statement (%d generic, %d custom plans): its optional filters need a plan per call", generic, custom)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if lookupGeneric <= 0 {
		t.Errorf("GetOrganization: %d generic plans after 8 calls (-1: not prepared), want some", lookupGeneric)
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
