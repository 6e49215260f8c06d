package queries_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"orgpulse/db"
	"orgpulse/postgres"
	"orgpulse/seed"
	"orgpulse/testsupport"
)

// captureTracer records the SQL text and arguments of every statement a
// connection runs, so the test can EXPLAIN exactly what the generated code
// sends without copying its unexported SQL constants.
type captureTracer struct {
	mu    sync.Mutex
	calls []pgx.TraceQueryStartData
}

func (c *captureTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, data)
	return ctx
}

func (c *captureTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c *captureTracer) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = nil
}

func (c *captureTracer) first() (pgx.TraceQueryStartData, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.calls) == 0 {
		return pgx.TraceQueryStartData{}, false
	}
	return c.calls[0], true
}

// planNode is the part of EXPLAIN (FORMAT JSON) the assertions read.
type planNode struct {
	NodeType     string     `json:"Node Type"`
	RelationName string     `json:"Relation Name"`
	IndexName    string     `json:"Index Name"`
	Parent       string     `json:"Parent Relationship"`
	SubplanName  string     `json:"Subplan Name"`
	Plans        []planNode `json:"Plans"`
}

func (n planNode) walk(fn func(planNode)) {
	fn(n)
	for _, c := range n.Plans {
		c.walk(fn)
	}
}

// outline renders the plan one node per line, for failure messages and -v.
func (n planNode) outline() string {
	var b strings.Builder
	var rec func(planNode, int)
	rec = func(n planNode, depth int) {
		b.WriteString(strings.Repeat("  ", depth))
		if n.SubplanName != "" {
			b.WriteString(n.SubplanName + ": ")
		}
		b.WriteString(n.NodeType)
		if n.IndexName != "" {
			b.WriteString(" using " + n.IndexName)
		}
		if n.RelationName != "" {
			b.WriteString(" on " + n.RelationName)
		}
		b.WriteString("\n")
		for _, c := range n.Plans {
			rec(c, depth+1)
		}
	}
	rec(n, 0)
	return b.String()
}

// tinyPages is the size up to which reading a whole table beats an index.
const tinyPages = 10

// bigTables must never be read by a sequential scan in the hot queries.
var bigTables = []string{"employees", "projects", "project_members", "performance_metrics"}

// TestExplainHotQueriesUseIndexes seeds a dataset large enough that a
// sequential scan would be chosen wherever no index serves a query, then
// EXPLAINs each hot query exactly as the generated code sends it (captured
// SQL and arguments, custom plans like the production pool) and asserts the
// index that 00001_init.sql created for it appears in the plan.
func TestExplainHotQueriesUseIndexes(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 40,000 employees and 200,000 metrics")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	tdb := testsupport.MustOpenDB(t)
	if _, err := seed.Run(ctx, tdb.Pool, seed.Options{
		Orgs: 400, EmployeesPerOrg: 100, ProjectsPerOrg: 10, MembersPerProject: 5, Metrics: 200000,
	}); err != nil {
		t.Fatalf("seed: %v", err)
	}
	// Statistics and the visibility map as autovacuum would leave them.
	tdb.MustExec(t, "VACUUM ANALYZE")
	for table, min := range map[string]int64{
		"organizations": 400, "employees": 40000, "projects": 4000, "project_members": 20000, "performance_metrics": 200000,
	} {
		if n := tdb.MustQueryInt64(t, "SELECT count(*) FROM "+table); n < min {
			t.Fatalf("%s has %d rows, want at least %d", table, n, min)
		}
	}

	tracer := &captureTracer{}
	cfg, err := pgx.ParseConfig(tdb.URL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Tracer = tracer
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	// Custom plans by default, as postgres.Planned sends the statements
	// whose "$n IS NULL OR col = $n" filters must fold away for the given
	// arguments (explain checks the generic plans of the others).
	if _, err := conn.Exec(ctx, "SET plan_cache_mode = force_custom_plan"); err != nil {
		t.Fatal(err)
	}
	// And the page cost the production pool sets (postgres.Open).
	if _, err := conn.Exec(ctx, fmt.Sprintf("SET random_page_cost = %v", postgres.DefaultRandomPageCost)); err != nil {
		t.Fatal(err)
	}
	q := db.New(conn)

	// Realistic arguments, taken from the data: a page of 10 parents.
	int64s := func(sql string, args ...any) []int64 {
		t.Helper()
		rows, err := tdb.Pool.Query(ctx, sql, args...)
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			t.Fatal(err)
		}
		if len(out) == 0 {
			t.Fatalf("no rows for %q", sql)
		}
		return out
	}
	orgIDs := int64s(`SELECT id FROM organizations ORDER BY id OFFSET 100 LIMIT 10`)
	employeeIDs := int64s(`SELECT id FROM employees WHERE organization_id = $1 ORDER BY id LIMIT 10`, orgIDs[0])
	projectIDs := int64s(`SELECT id FROM projects WHERE organization_id = ANY($1) ORDER BY id LIMIT 10`, orgIDs)
	var department, endpoint string
	var latest time.Time
	// The largest department holding at most 10% of the employees: for the
	// largest (over a quarter of the rows) a sequential scan is rightly
	// cheaper than the department index.
	if err := tdb.Pool.QueryRow(ctx, `
		SELECT department FROM employees GROUP BY 1
		HAVING count(*) <= 0.10 * (SELECT count(*) FROM employees)
		ORDER BY count(*) DESC, 1 LIMIT 1`).Scan(&department); err != nil {
		t.Fatal(err)
	}
	if err := tdb.Pool.QueryRow(ctx, `SELECT max(recorded_at) FROM performance_metrics`).Scan(&latest); err != nil {
		t.Fatal(err)
	}
	const metricType = "api_response"
	if err := tdb.Pool.QueryRow(ctx, `SELECT endpoint FROM performance_metrics WHERE metric_type = $1 GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1`, metricType).Scan(&endpoint); err != nil {
		t.Fatal(err)
	}
	lastHour, lastDay := latest.Add(-time.Hour), latest.Add(-24*time.Hour)
	scope := orgIDs[:3] // a member's org_ids

	tests := []struct {
		name      string // a generated method; the captured SQL must be its statement
		variant   string
		run       func() error
		wantIndex string
		// tinyTable: a sequential scan of this table is accepted instead of
		// wantIndex while the table is at most tinyPages pages, where
		// reading it whole is cheaper than any index probe.
		tinyTable string
	}{
		{"GetEmployee", "", func() error {
			_, err := q.GetEmployee(ctx, db.GetEmployeeParams{ID: employeeIDs[3]})
			return err
		}, "employees_pkey", ""},
		{"ListEmployeesWithOrganization", "first page", func() error {
			_, err := q.ListEmployeesWithOrganization(ctx, db.ListEmployeesWithOrganizationParams{LimitCount: 50})
			return err
		}, "employees_pkey", ""},
		{"ListEmployeesWithOrganization", "page 100", func() error {
			_, err := q.ListEmployeesWithOrganization(ctx, db.ListEmployeesWithOrganizationParams{OffsetCount: 99 * 50, LimitCount: 50})
			return err
		}, "employees_pkey", ""},
		{"ListEmployeesWithOrganization", "organization", func() error {
			_, err := q.ListEmployeesWithOrganization(ctx, db.ListEmployeesWithOrganizationParams{OrganizationID: &orgIDs[0], LimitCount: 50})
			return err
		}, "employees_organization_id_id_idx", ""},
		{"ListEmployees", "department, after id", func() error {
			_, err := q.ListEmployees(ctx, db.ListEmployeesParams{Department: &department, AfterID: employeeIDs[5], LimitCount: 20})
			return err
		}, "employees_pkey|employees_department_salary_idx", ""},
		{"CountEmployees", "organization", func() error {
			_, err := q.CountEmployees(ctx, db.CountEmployeesParams{OrganizationID: &orgIDs[0]})
			return err
		}, "employees_organization_id_id_idx", ""},
		{"ListProjectsWithOrganization", "first page", func() error {
			_, err := q.ListProjectsWithOrganization(ctx, db.ListProjectsWithOrganizationParams{LimitCount: 20})
			return err
		}, "projects_pkey", ""},
		{"ListProjectsWithOrganization", "organization", func() error {
			_, err := q.ListProjectsWithOrganization(ctx, db.ListProjectsWithOrganizationParams{OrganizationID: &orgIDs[0], LimitCount: 20})
			return err
		}, "projects_organization_id_idx", ""},
		{"ListTeamMembersByProjectPage", "first page", func() error {
			_, err := q.ListTeamMembersByProjectPage(ctx, db.ListTeamMembersByProjectPageParams{LimitCount: 20})
			return err
		}, "project_members_pkey", ""},
		{"ListTeamMembersByProjectPage", "organization", func() error {
			_, err := q.ListTeamMembersByProjectPage(ctx, db.ListTeamMembersByProjectPageParams{OrganizationID: &orgIDs[0], LimitCount: 20})
			return err
		}, "projects_organization_id_idx", ""},
		{"ListOrganizations", "first page", func() error {
			_, err := q.ListOrganizations(ctx, db.ListOrganizationsParams{LimitCount: 50})
			return err
		}, "organizations_pkey", ""},
		{"ListOrganizationsByIDs", "one id", func() error {
			_, err := q.ListOrganizationsByIDs(ctx, db.ListOrganizationsByIDsParams{Ids: orgIDs[:1]})
			return err
		}, "organizations_pkey", ""},
		{"ListOrganizationsByIDs", "ten ids", func() error {
			_, err := q.ListOrganizationsByIDs(ctx, db.ListOrganizationsByIDsParams{Ids: orgIDs})
			return err
		}, "organizations_pkey", "organizations"},
		{"ListEmployeesByOrganizationIDs", "", func() error {
			_, err := q.ListEmployeesByOrganizationIDs(ctx, db.ListEmployeesByOrganizationIDsParams{
				OrganizationIds: orgIDs, LimitCount: 10,
			})
			return err
		}, "employees_organization_id_id_idx", ""},
		{"ListEmployeesByOrganizationIDs", "active, after id", func() error {
			_, err := q.ListEmployeesByOrganizationIDs(ctx, db.ListEmployeesByOrganizationIDsParams{
				OrganizationIds: orgIDs, AfterID: employeeIDs[5], IsActive: ptr(true), LimitCount: 10,
			})
			return err
		}, "employees_organization_id_id_idx", ""},
		{"CountEmployeesByOrganizationIDs", "", func() error {
			_, err := q.CountEmployeesByOrganizationIDs(ctx, db.CountEmployeesByOrganizationIDsParams{OrganizationIds: orgIDs})
			return err
		}, "employees_organization_id_id_idx", ""},
		{"CountEmployeesByOrganizationIDs", "active", func() error {
			_, err := q.CountEmployeesByOrganizationIDs(ctx, db.CountEmployeesByOrganizationIDsParams{
				OrganizationIds: orgIDs, IsActive: ptr(true),
			})
			return err
		}, "employees_organization_id_id_idx", ""},
		{"GetEmployeeStats", "organization", func() error {
			_, err := q.GetEmployeeStats(ctx, db.GetEmployeeStatsParams{OrganizationID: &orgIDs[0]})
			return err
		}, "employees_organization_id_id_idx", ""},
		{"GetEmployeeStats", "department", func() error {
			_, err := q.GetEmployeeStats(ctx, db.GetEmployeeStatsParams{Department: &department})
			return err
		}, "employees_department_salary_idx", ""},
		{"GetEmployeeStats", "organization and department", func() error {
			_, err := q.GetEmployeeStats(ctx, db.GetEmployeeStatsParams{OrganizationID: &orgIDs[0], Department: &department})
			return err
		}, "employees_organization_id_id_idx", ""},
		{"ListDepartmentStats", "organization", func() error {
			_, err := q.ListDepartmentStats(ctx, db.ListDepartmentStatsParams{OrganizationID: &orgIDs[0]})
			return err
		}, "employees_organization_id_id_idx", ""},
		{"ListDepartmentStatsByOrganizationIDs", "", func() error {
			_, err := q.ListDepartmentStatsByOrganizationIDs(ctx, orgIDs)
			return err
		}, "employees_organization_id_id_idx", ""},
		{"ListEmployeeStatsByOrganizationIDs", "", func() error {
			_, err := q.ListEmployeeStatsByOrganizationIDs(ctx, orgIDs)
			return err
		}, "employees_organization_id_id_idx", ""},
		{"ListProjectsByOrganizationIDs", "", func() error {
			_, err := q.ListProjectsByOrganizationIDs(ctx, db.ListProjectsByOrganizationIDsParams{OrganizationIds: orgIDs})
			return err
		}, "projects_organization_id_idx", ""},
		{"ListProjectsByOrganizationIDs", "team size", func() error {
			_, err := q.ListProjectsByOrganizationIDs(ctx, db.ListProjectsByOrganizationIDsParams{OrganizationIds: orgIDs})
			return err
		}, "project_members_pkey", ""},
		{"ListProjectsByEmployeeIDs", "", func() error {
			_, err := q.ListProjectsByEmployeeIDs(ctx, db.ListProjectsByEmployeeIDsParams{EmployeeIds: employeeIDs})
			return err
		}, "project_members_employee_id_project_id_idx", ""},
		{"ListTeamMembersByProjectIDs", "", func() error {
			_, err := q.ListTeamMembersByProjectIDs(ctx, db.ListTeamMembersByProjectIDsParams{ProjectIds: projectIDs})
			return err
		}, "project_members_pkey", ""},
		{"GetProject", "team size", func() error {
			_, err := q.GetProject(ctx, db.GetProjectParams{ID: projectIDs[0]})
			return err
		}, "project_members_pkey", ""},
		{"ListSlowestMetrics", "last day", func() error {
			_, err := q.ListSlowestMetrics(ctx, db.ListSlowestMetricsParams{MetricType: metricType, Since: lastDay, LimitCount: 10})
			return err
		}, "performance_metrics_metric_type_value_idx", ""},
		{"ListSlowestMetrics", "everything", func() error {
			_, err := q.ListSlowestMetrics(ctx, db.ListSlowestMetricsParams{MetricType: metricType, Since: latest.Add(-8 * 24 * time.Hour), LimitCount: 10})
			return err
		}, "performance_metrics_metric_type_value_idx", ""},
		{"ListEndpointStats", "last day", func() error {
			_, err := q.ListEndpointStats(ctx, db.ListEndpointStatsParams{MetricType: metricType, Since: lastDay, OrderBy: "p95", LimitCount: 10})
			return err
		}, windowIndexes("performance_metrics_metric_type_recorded_at_idx"), ""},
		{"ListEndpointStats", "last hour, by endpoint", func() error {
			_, err := q.ListEndpointStats(ctx, db.ListEndpointStatsParams{MetricType: metricType, Since: lastHour, OrderBy: "endpoint", LimitCount: 100})
			return err
		}, windowIndexes("performance_metrics_metric_type_recorded_at_idx"), ""},
		{"GetPerformanceSummary", "last hour", func() error {
			_, err := q.GetPerformanceSummary(ctx, db.GetPerformanceSummaryParams{MetricType: metricType, Since: lastHour})
			return err
		}, windowIndexes("performance_metrics_metric_type_recorded_at_idx"), ""},
		{"GetPerformanceSummary", "last hour, endpoint", func() error {
			_, err := q.GetPerformanceSummary(ctx, db.GetPerformanceSummaryParams{MetricType: metricType, Since: lastHour, Endpoint: &endpoint})
			return err
		}, windowIndexes("performance_metrics_metric_type_endpoint_recorded_at_idx"), ""},
		{"GetPerformanceSummary", "last week, endpoint", func() error {
			_, err := q.GetPerformanceSummary(ctx, db.GetPerformanceSummaryParams{MetricType: metricType, Since: latest.Add(-7 * 24 * time.Hour), Endpoint: &endpoint})
			return err
		}, "performance_metrics_metric_type_endpoint_recorded_at_idx", ""},
		// A member's statements: the scope (three organizations, as a
		// token's org_ids, or one) is bound, not folded away as an
		// admin's NULL.
		{"GetEmployee", "member scope", func() error {
			_, err := q.GetEmployee(ctx, db.GetEmployeeParams{ID: employeeIDs[3], Scope: scope})
			return err
		}, "employees_pkey", ""},
		{"ListEmployeesWithOrganization", "member scope, first page", func() error {
			_, err := q.ListEmployeesWithOrganization(ctx, db.ListEmployeesWithOrganizationParams{Scope: scope, LimitCount: 50})
			return err
		}, "employees_organization_id_id_idx", ""},
		{"ListEmployees", "member scope, page 3", func() error {
			_, err := q.ListEmployees(ctx, db.ListEmployeesParams{Scope: scope, OffsetCount: 2 * 50, LimitCount: 50})
			return err
		}, "employees_organization_id_id_idx", ""},
		{"ListEmployeesWithOrganization", "member of one organization", func() error {
			_, err := q.ListEmployeesWithOrganization(ctx, db.ListEmployeesWithOrganizationParams{Scope: scope[1:2], LimitCount: 50})
			return err
		}, "employees_organization_id_id_idx", ""},
		{"ListEmployees", "member of one organization, page 2", func() error {
			_, err := q.ListEmployees(ctx, db.ListEmployeesParams{Scope: scope[1:2], OffsetCount: 20, LimitCount: 20})
			return err
		}, "employees_organization_id_id_idx", ""},
		{"ListProjectsWithOrganization", "member of one organization", func() error {
			_, err := q.ListProjectsWithOrganization(ctx, db.ListProjectsWithOrganizationParams{Scope: scope[1:2], LimitCount: 20})
			return err
		}, "projects_organization_id_idx", ""},
		{"ListTeamMembersByProjectPage", "member of one organization", func() error {
			_, err := q.ListTeamMembersByProjectPage(ctx, db.ListTeamMembersByProjectPageParams{Scope: scope[1:2], LimitCount: 20})
			return err
		}, "projects_organization_id_idx", ""},
		{"CountEmployees", "member scope", func() error {
			_, err := q.CountEmployees(ctx, db.CountEmployeesParams{Scope: scope})
			return err
		}, "employees_organization_id_id_idx", ""},
		{"GetProject", "member scope", func() error {
			_, err := q.GetProject(ctx, db.GetProjectParams{ID: projectIDs[0], Scope: scope})
			return err
		}, "projects_pkey", ""},
		{"ListProjectsWithOrganization", "member scope", func() error {
			_, err := q.ListProjectsWithOrganization(ctx, db.ListProjectsWithOrganizationParams{Scope: scope, LimitCount: 20})
			return err
		}, "projects_organization_id_idx", ""},
		{"CountProjects", "member scope", func() error {
			_, err := q.CountProjects(ctx, db.CountProjectsParams{Scope: scope})
			return err
		}, "projects_organization_id_idx", ""},
		{"ListTeamMembersByProjectPage", "member scope", func() error {
			_, err := q.ListTeamMembersByProjectPage(ctx, db.ListTeamMembersByProjectPageParams{Scope: scope, LimitCount: 20})
			return err
		}, "projects_organization_id_idx", ""},
		{"ListOrganizations", "member scope", func() error {
			_, err := q.ListOrganizations(ctx, db.ListOrganizationsParams{Scope: scope, LimitCount: 50})
			return err
		}, "organizations_pkey", "organizations"},
		{"CountOrganizations", "member scope", func() error {
			_, err := q.CountOrganizations(ctx, db.CountOrganizationsParams{Scope: scope})
			return err
		}, "organizations_pkey", "organizations"},
		{"GetEmployeeStats", "member scope", func() error {
			_, err := q.GetEmployeeStats(ctx, db.GetEmployeeStatsParams{Scope: scope})
			return err
		}, "employees_organization_id_id_idx", ""},
		{"ListDepartmentStats", "member scope", func() error {
			_, err := q.ListDepartmentStats(ctx, db.ListDepartmentStatsParams{Scope: scope})
			return err
		}, "employees_organization_id_id_idx", ""},
		{"ListOrganizationsByIDs", "member scope", func() error {
			_, err := q.ListOrganizationsByIDs(ctx, db.ListOrganizationsByIDsParams{Ids: orgIDs, Scope: scope})
			return err
		}, "organizations_pkey", "organizations"},
		{"ListProjectsByEmployeeIDs", "member scope", func() error {
			_, err := q.ListProjectsByEmployeeIDs(ctx, db.ListProjectsByEmployeeIDsParams{EmployeeIds: employeeIDs, Scope: scope})
			return err
		}, "project_members_employee_id_project_id_idx", ""},
		{"ListTeamMembersByProjectIDs", "member scope", func() error {
			_, err := q.ListTeamMembersByProjectIDs(ctx, db.ListTeamMembersByProjectIDsParams{ProjectIds: projectIDs, Scope: scope})
			return err
		}, "project_members_pkey", ""},
	}
	// sortFree are statements whose own ORDER BY an index order must give:
	// a Sort node outside their subqueries is a regression (the page of
	// projects inside ListTeamMembersByProjectPage may sort its own rows).
	sortFree := map[string]bool{"ListTeamMembersByProjectPage": true, "ListTeamMembersByProjectIDs": true}
	for _, tt := range tests {
		name := tt.name
		if tt.variant != "" {
			name += "/" + tt.variant
		}
		t.Run(name, func(t *testing.T) {
			tracer.reset()
			if err := tt.run(); err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			call, ok := tracer.first()
			if !ok {
				t.Fatal("no statement captured")
			}
			if !strings.HasPrefix(call.SQL, "-- name: "+tt.name+" ") {
				t.Fatalf("captured %q, want the %s statement", firstLine(call.SQL), tt.name)
			}

			// The statement as postgres.Planned sends it: optional filters
			// folded for these arguments. Its custom plan, and unless it is
			// planned for its values on every call (a range over a
			// parameter) the generic plan PostgreSQL may switch to after
			// five calls: both must use the index.
			sql, _ := postgres.Statement(call.SQL, call.Args)
			check := func(generic bool) {
				plan := explain(ctx, t, conn, sql, call.Args, generic)
				t.Logf("generic %v, args %s\n%s", generic, fmtArgs(call.Args), plan.outline())
				assertPlan(ctx, t, tdb, plan, tt.wantIndex, tt.tinyTable)
				// A page of one organization's projects runs its generic
				// plan (the pool forces generic plans; postgres.Planned
				// folds the scope into an equality): that one must not
				// sort. Its custom plan, which never runs, hashes the
				// organization's employees and sorts the teams.
				if sortFree[tt.name] && (generic || tt.variant != "member of one organization") {
					var outer func(planNode)
					outer = func(n planNode) {
						if n.Parent == "InitPlan" || n.Parent == "SubPlan" {
							return
						}
						if strings.Contains(n.NodeType, "Sort") {
							t.Errorf("generic %v: %s node in a plan the index order should serve", generic, n.NodeType)
						}
						for _, c := range n.Plans {
							outer(c)
						}
					}
					outer(plan)
				}
			}
			check(false)
			if !postgres.PlannedPerCall(call.SQL, call.Args) {
				check(true)
			}
		})
	}
}

// explain returns the plan of sql with args: the custom plan, or with
// generic set the plan made without the values (PREPARE, then EXECUTE under
// plan_cache_mode = force_generic_plan; PostgreSQL 15 has no EXPLAIN
// (GENERIC_PLAN)).
func explain(ctx context.Context, t *testing.T, conn *pgx.Conn, sql string, args []any, generic bool) planNode {
	t.Helper()
	var raw []byte
	if !generic {
		if err := conn.QueryRow(ctx, "EXPLAIN (FORMAT JSON)\n"+sql, args...).Scan(&raw); err != nil {
			t.Fatalf("EXPLAIN: %v", err)
		}
	} else {
		// EXECUTE in EXPLAIN takes no bind parameters: the values go in
		// as literals, which take the prepared statement's parameter types.
		params := make([]string, len(args))
		for i, a := range args {
			params[i] = literal(t, a)
		}
		for _, stmt := range []string{"PREPARE explained AS\n" + sql, "SET plan_cache_mode = force_generic_plan"} {
			if _, err := conn.Exec(ctx, stmt); err != nil {
				t.Fatalf("%s: %v", firstLine(stmt), err)
			}
		}
		err := conn.QueryRow(ctx, "EXPLAIN (FORMAT JSON) EXECUTE explained("+strings.Join(params, ", ")+")").Scan(&raw)
		for _, stmt := range []string{"SET plan_cache_mode = force_custom_plan", "DEALLOCATE explained"} {
			if _, err := conn.Exec(ctx, stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
		if err != nil {
			t.Fatalf("EXPLAIN EXECUTE: %v", err)
		}
	}
	var plans []struct {
		Plan planNode `json:"Plan"`
	}
	if err := json.Unmarshal(raw, &plans); err != nil || len(plans) != 1 {
		t.Fatalf("parse EXPLAIN output (%v): %s", err, raw)
	}
	return plans[0].Plan
}

// assertPlan checks plan uses wantIndex (one of "a|b") and scans no big
// table whole; a sequential scan of tinyTable is accepted while it is
// tiny.
func assertPlan(ctx context.Context, t *testing.T, tdb *testsupport.DB, plan planNode, wantIndex, tinyTable string) {
	t.Helper()
	usesIndex, tinySeqScan := false, false
	plan.walk(func(n planNode) {
		if slices.Contains(strings.Split(wantIndex, "|"), n.IndexName) {
			usesIndex = true
		}
		if n.NodeType == "Seq Scan" && tinyTable != "" && n.RelationName == tinyTable {
			tinySeqScan = true
		}
		if n.NodeType == "Seq Scan" {
			for _, big := range bigTables {
				if n.RelationName == big {
					t.Errorf("sequential scan on %s", big)
				}
			}
		}
	})
	if !usesIndex && tinySeqScan {
		pages := tdb.MustQueryInt64(t, `SELECT relpages::bigint FROM pg_class WHERE oid = $1::regclass`, tinyTable)
		if pages <= tinyPages {
			t.Logf("accepted: sequential scan of %s (%d pages) instead of %s", tinyTable, pages, wantIndex)
			return
		}
		t.Errorf("sequential scan of %s (%d pages, more than %d)", tinyTable, pages, tinyPages)
	}
	if !usesIndex {
		t.Errorf("plan does not use %s", wantIndex)
	}
}

// literal writes an argument of the generated code as an SQL literal.
func literal(t *testing.T, v any) string {
	t.Helper()
	quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	switch v := v.(type) {
	case nil:
		return "NULL"
	case *int64:
		if v == nil {
			return "NULL"
		}
		return fmt.Sprint(*v)
	case *string:
		if v == nil {
			return "NULL"
		}
		return quote(*v)
	case *bool:
		if v == nil {
			return "NULL"
		}
		return fmt.Sprint(*v)
	case int64, int32, int, bool:
		return fmt.Sprint(v)
	case string:
		return quote(v)
	case time.Time:
		return quote(v.Format(time.RFC3339Nano))
	case []int64:
		parts := make([]string, len(v))
		for i, n := range v {
			parts[i] = fmt.Sprint(n)
		}
		return quote("{" + strings.Join(parts, ",") + "}")
	}
	t.Fatalf("no SQL literal for %T", v)
	return ""
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func fmtArgs(args []any) string {
	parts := make([]string, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case *int64:
			parts[i] = fmtPtr(v)
		case *string:
			parts[i] = fmtPtr(v)
		case *bool:
			parts[i] = fmtPtr(v)
		default:
			parts[i] = fmt.Sprint(v)
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// windowIndexes accepts, for a short time window, either the covering
// (metric_type, ..., recorded_at) index or the plain recorded_at one: both
// read only the window. Metrics arrive in time order, so which one the
// planner costs lower depends on the visibility map (an index-only scan is
// cheap only after VACUUM has marked the pages), which differs between a
// long-lived server and a fresh test cluster.
func windowIndexes(covering string) string {
	return covering + "|performance_metrics_recorded_at_idx"
}
