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
		{"SELECT count(*) FROM performance_metrics /* plan: generic */ WHERE recorded_at >= $1", false},
	}
	for _, tt := range tests {
		if got := postgres.NeedsCustomPlan(tt.sql); got != tt.want {
			t.Errorf("NeedsCustomPlan(%q) = %v, want %v", tt.sql, got, tt.want)
		}
	}
}

// A page under a given scope array of several organizations is planned
// per call (the generic plan cannot know how many it holds); one of a
// single organization is folded into an equality that a generic plan
// serves by the organization index; an admin's NULL scope and a statement
// without LIMIT stay as they were.
func TestPlannedPerCallForScopedPages(t *testing.T) {
	const page = "SELECT * FROM employees WHERE id > $1 AND ($2::bigint[] IS NULL OR organization_id = ANY($2)) ORDER BY id LIMIT $3"
	const count = "SELECT count(*) FROM employees WHERE ($1::bigint[] IS NULL OR organization_id = ANY($1))"
	const filtered = "SELECT * FROM employees WHERE id > $1 AND ($2::bigint IS NULL OR organization_id = $2) ORDER BY id LIMIT $3"
	var none []int64
	tests := []struct {
		sql  string
		args []any
		want bool
	}{
		{page, []any{int64(0), []int64{3, 4}, 20}, true},
		{page, []any{int64(0), []int64{}, 20}, true},
		{page, []any{int64(0), []int64{3}, 20}, false},
		{page, []any{int64(0), none, 20}, false},
		{count, []any{[]int64{3}}, false},
		{filtered, []any{int64(0), ptr(int64(3)), 20}, false},
	}
	for _, tt := range tests {
		if got := postgres.PlannedPerCall(tt.sql, tt.args); got != tt.want {
			t.Errorf("PlannedPerCall(%q, %v) = %v, want %v", tt.sql, tt.args, got, tt.want)
		}
	}
	got, _ := postgres.Statement(page, []any{int64(0), []int64{3}, 20})
	if want := "WHERE id > $1 AND (FALSE OR organization_id = ($2::bigint[])[1]) ORDER BY id LIMIT $3"; !strings.HasSuffix(got, want) {
		t.Errorf("one organization's page: %q, want it to end %q", got, want)
	}
	if got, _ := postgres.Statement(count, []any{[]int64{3}}); got != "SELECT count(*) FROM employees WHERE (FALSE OR organization_id = ANY($1))" {
		t.Errorf("one organization's count: %q", got)
	}
}

func ptr[T any](v T) *T { return &v }

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
	if got, ok := args[0].(pgx.QueryExecMode); !ok || got != pgx.QueryExecModeSimpleProtocol {
		t.Errorf("range: first argument %v, want QueryExecModeSimpleProtocol", args[0])
	}
}

// TestPlannedStatements runs lookups and lists, one with an optional
// filter given and not, through Planned on a one-connection pool, then
// reads that connection's pg_prepared_statements: each is a named statement
// that ran its generic plan from the first call (never planned again), the
// filtered list once per combination of given filters (so the filtered call
// never runs the unfiltered call's plan), and so is the summary over a
// time window that a covering index serves; the list of the slowest samples
// of a window is planned for its values on every call (sent with its
// values, never prepared).
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
	const calls = 8
	for range calls {
		if _, err := q.GetOrganization(ctx, db.GetOrganizationParams{ID: orgID}); err != nil {
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
		// PostgreSQL's own choice kept planning this one on every call.
		if _, err := q.ListProjectsWithOrganization(ctx, db.ListProjectsWithOrganizationParams{LimitCount: 20}); err != nil {
			t.Fatal(err)
		}
		sum, err := q.GetPerformanceSummary(ctx, db.GetPerformanceSummaryParams{MetricType: "api_response", Since: time.Now().Add(-24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if sum.SampleCount == 0 {
			t.Fatal("performance summary of the seeded day counted no samples")
		}
		slowest, err := q.ListSlowestMetrics(ctx, db.ListSlowestMetricsParams{MetricType: "api_response", Since: time.Now().Add(-24 * time.Hour), LimitCount: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(slowest) == 0 {
			t.Fatal("no slowest metrics in the seeded day")
		}
	}
	rows, err := pool.Query(ctx, "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type plans struct{ generic, custom int64 }
	got := map[string]plans{}
	for rows.Next() {
		var stmt string
		var p plans
		if err := rows.Scan(&stmt, &p.generic, &p.custom); err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasPrefix(stmt, "-- name: GetOrganization "):
			got["lookup"] = p
		case strings.HasPrefix(stmt, "-- name: ListOrganizations ") && strings.Contains(stmt, "(TRUE OR is_active = $2)"):
			got["unfiltered list"] = p
		case strings.HasPrefix(stmt, "-- name: ListOrganizations ") && strings.Contains(stmt, "(FALSE OR is_active = $2)"):
			got["filtered list"] = p
		case strings.HasPrefix(stmt, "-- name: ListOrganizations "):
			t.Errorf("ListOrganizations prepared unfolded:\n%s", stmt)
		case strings.HasPrefix(stmt, "-- name: ListProjectsWithOrganization "):
			got["page of projects"] = p
		case strings.HasPrefix(stmt, "-- name: GetPerformanceSummary "):
			got["window over a covering index"] = p
		case strings.HasPrefix(stmt, "-- name: ListSlowestMetrics "):
			t.Errorf("ListSlowestMetrics is a named prepared statement (%d generic, %d custom plans): its time window needs a plan per call", p.generic, p.custom)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"lookup", "unfiltered list", "filtered list", "page of projects", "window over a covering index"} {
		p, ok := got[name]
		if !ok {
			t.Errorf("%s: not a prepared statement", name)
			continue
		}
		if p.generic != calls || p.custom != 0 {
			t.Errorf("%s: %d generic and %d custom plans after %d calls, want %d and 0", name, p.generic, p.custom, calls, calls)
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
