package resolvers_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"orgpulse/resolvers"
	"orgpulse/server"
	"orgpulse/testsupport"
)

// Tests of the shared Redis cache through HTTP: what is served from it, and
// that every mutation's next read reflects it.

const wrOrgAggQuery = `query($id: ID!) { organization(id: $id) { id employeeCount
	employeeStats { total active inactive averageSalary maxSalary minSalary }
	departmentStats { department count averageSalary minSalary maxSalary } } }`

type wrStatsJSON struct {
	Total         int64   `json:"total"`
	Active        int64   `json:"active"`
	Inactive      int64   `json:"inactive"`
	AverageSalary float64 `json:"averageSalary"`
	MaxSalary     float64 `json:"maxSalary"`
	MinSalary     float64 `json:"minSalary"`
}

type wrDeptJSON struct {
	Department    string  `json:"department"`
	Count         int64   `json:"count"`
	AverageSalary float64 `json:"averageSalary"`
	MinSalary     float64 `json:"minSalary"`
	MaxSalary     float64 `json:"maxSalary"`
}

type wrOrgAgg struct {
	EmployeeCount   int64        `json:"employeeCount"`
	EmployeeStats   wrStatsJSON  `json:"employeeStats"`
	DepartmentStats []wrDeptJSON `json:"departmentStats"`
}

// wrWantOrgAgg computes an organization's aggregates with SQL written here;
// averages are sum / count.
func wrWantOrgAgg(t testing.TB, db *testsupport.DB, orgID int64) wrOrgAgg {
	t.Helper()
	var w wrOrgAgg
	var sum float64
	db.MustScan(t, []any{&w.EmployeeStats.Total, &w.EmployeeStats.Active, &sum, &w.EmployeeStats.MaxSalary, &w.EmployeeStats.MinSalary}, `
		SELECT count(*), count(*) FILTER (WHERE is_active), coalesce(sum(salary), 0)::float8,
		       coalesce(max(salary), 0)::float8, coalesce(min(salary), 0)::float8
		FROM employees WHERE organization_id = $1`, orgID)
	w.EmployeeCount = w.EmployeeStats.Active
	w.EmployeeStats.Inactive = w.EmployeeStats.Total - w.EmployeeStats.Active
	if w.EmployeeStats.Total > 0 {
		w.EmployeeStats.AverageSalary = sum / float64(w.EmployeeStats.Total)
	}
	type dept struct {
		Department string  `db:"department"`
		N          int64   `db:"n"`
		Sum        float64 `db:"total"`
		Lo         float64 `db:"lo"`
		Hi         float64 `db:"hi"`
	}
	for _, d := range testsupport.MustQueryRows[dept](t, db, `SELECT department, count(*) AS n, sum(salary)::float8 AS total,
		min(salary)::float8 AS lo, max(salary)::float8 AS hi FROM employees WHERE organization_id = $1
		GROUP BY department ORDER BY department`, orgID) {
		w.DepartmentStats = append(w.DepartmentStats, wrDeptJSON{Department: d.Department, Count: d.N,
			AverageSalary: d.Sum / float64(d.N), MinSalary: d.Lo, MaxSalary: d.Hi})
	}
	return w
}

func wrCompareOrgAgg(t testing.TB, what string, got, want wrOrgAgg) {
	t.Helper()
	gs, ws := got.EmployeeStats, want.EmployeeStats
	if got.EmployeeCount != want.EmployeeCount || gs.Total != ws.Total || gs.Active != ws.Active || gs.Inactive != ws.Inactive ||
		gs.MaxSalary != ws.MaxSalary || gs.MinSalary != ws.MinSalary || math.Abs(gs.AverageSalary-ws.AverageSalary) > 0.01 {
		t.Errorf("%s: employeeCount %d stats %+v; the database has %d %+v", what, got.EmployeeCount, gs, want.EmployeeCount, ws)
	}
	gd := slices.Clone(got.DepartmentStats)
	slices.SortFunc(gd, func(a, b wrDeptJSON) int { return strings.Compare(a.Department, b.Department) })
	ok := len(gd) == len(want.DepartmentStats)
	for i := 0; ok && i < len(gd); i++ {
		g, w := gd[i], want.DepartmentStats[i]
		ok = g.Department == w.Department && g.Count == w.Count && g.MinSalary == w.MinSalary && g.MaxSalary == w.MaxSalary &&
			math.Abs(g.AverageSalary-w.AverageSalary) <= 0.01
	}
	if !ok {
		t.Errorf("%s: departmentStats %+v; the database has %+v", what, gd, want.DepartmentStats)
	}
}

// wrCounts are the debug figures of one request.
type wrCounts struct{ sql, hits, misses int }

func wrCountsOf(t testing.TB, res *testsupport.Response) wrCounts {
	t.Helper()
	return wrCounts{res.SQLCount(t), res.Extensions.Debug.CacheHits, res.Extensions.Debug.CacheMisses}
}

// Organization aggregates: 1 statement for the organization itself, plus one
// per aggregate the cache misses (employeeCount, employeeStats,
// departmentStats).
var (
	wrAggCold = wrCounts{sql: 4, hits: 0, misses: 3}
	wrAggWarm = wrCounts{sql: 1, hits: 3, misses: 0}
)

// wrCheckOrgAgg reads an organization's aggregates, compares them with the
// database and the request's statement and cache counts with want.
func wrCheckOrgAgg(t testing.TB, srv *testsupport.Server, orgID int64, want wrCounts, what string) {
	t.Helper()
	res := srv.Query(t, wrOrgAggQuery, map[string]any{"id": wrStr(orgID)})
	var out struct {
		Organization wrOrgAgg `json:"organization"`
	}
	res.MustDecode(t, &out)
	wrCompareOrgAgg(t, fmt.Sprintf("%s: organization %d", what, orgID), out.Organization, wrWantOrgAgg(t, srv.DB, orgID))
	if got := wrCountsOf(t, res); got != want {
		t.Errorf("%s: organization %d read with %+v, want %+v", what, orgID, got, want)
	}
}

const wrAllOrgsQuery = `{ allOrganizations { id name industry isActive } }`

// wrCheckAllOrgs reads allOrganizations, compares it with the database and
// the request's counts with want.
func wrCheckAllOrgs(t testing.TB, srv *testsupport.Server, want wrCounts, what string) {
	t.Helper()
	res := srv.Query(t, wrAllOrgsQuery, nil)
	var out struct {
		AllOrganizations []wrOrgJSON `json:"allOrganizations"`
	}
	res.MustDecode(t, &out)
	rows := testsupport.MustQueryRows[wrOrgRow](t, srv.DB, `SELECT id, name, industry, is_active, created_at, updated_at
		FROM organizations WHERE is_active ORDER BY id`)
	ok := len(rows) == len(out.AllOrganizations)
	for i := 0; ok && i < len(rows); i++ {
		g := out.AllOrganizations[i]
		ok = testsupport.ParseID(t, g.ID) == rows[i].ID && g.Name == rows[i].Name && g.Industry == rows[i].Industry && g.IsActive
	}
	if !ok {
		t.Errorf("%s: allOrganizations (%d) differs from the active organizations in the database (%d): %s", what, len(out.AllOrganizations), len(rows), res.Raw)
	}
	if got := wrCountsOf(t, res); got != want {
		t.Errorf("%s: allOrganizations read with %+v, want %+v", what, got, want)
	}
}

const wrSummaryQuery = `query($type: String!, $since: DateTime!) { performanceSummary(metricType: $type, since: $since) {
	metricType count averageValue minValue maxValue p50 p95 p99 } }`

type wrSummaryJSON struct {
	MetricType   string  `json:"metricType"`
	Count        int64   `json:"count"`
	AverageValue float64 `json:"averageValue"`
	MinValue     float64 `json:"minValue"`
	MaxValue     float64 `json:"maxValue"`
	P50          float64 `json:"p50"`
	P95          float64 `json:"p95"`
	P99          float64 `json:"p99"`
}

// wrWantSummary computes a summary from the raw values (percentiles by
// linear interpolation, as percentile_cont does).
func wrWantSummary(t testing.TB, db *testsupport.DB, metricType string, since time.Time) wrSummaryJSON {
	t.Helper()
	rows, err := db.Pool.Query(context.Background(), `SELECT value FROM performance_metrics
		WHERE metric_type = $1 AND recorded_at >= $2 ORDER BY value`, metricType, since)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := pgx.CollectRows(rows, pgx.RowTo[float64])
	if err != nil {
		t.Fatal(err)
	}
	w := wrSummaryJSON{MetricType: metricType, Count: int64(len(vals))}
	if len(vals) == 0 {
		return w
	}
	sum := 0.0
	for _, v := range vals {
		sum += v
	}
	pct := func(p float64) float64 {
		pos := p * float64(len(vals)-1)
		lo := int(math.Floor(pos))
		if lo+1 >= len(vals) {
			return vals[lo]
		}
		return vals[lo] + (pos-float64(lo))*(vals[lo+1]-vals[lo])
	}
	w.AverageValue, w.MinValue, w.MaxValue = sum/float64(len(vals)), vals[0], vals[len(vals)-1]
	w.P50, w.P95, w.P99 = pct(0.5), pct(0.95), pct(0.99)
	return w
}

func wrCheckSummary(t testing.TB, srv *testsupport.Server, metricType string, since time.Time, want wrCounts, what string) wrSummaryJSON {
	t.Helper()
	res := srv.Query(t, wrSummaryQuery, map[string]any{"type": metricType, "since": since.Format(time.RFC3339)})
	var out struct {
		PerformanceSummary wrSummaryJSON `json:"performanceSummary"`
	}
	res.MustDecode(t, &out)
	g, w := out.PerformanceSummary, wrWantSummary(t, srv.DB, metricType, since)
	const tol = 1e-6
	if g.MetricType != w.MetricType || g.Count != w.Count || math.Abs(g.AverageValue-w.AverageValue) > tol ||
		g.MinValue != w.MinValue || g.MaxValue != w.MaxValue ||
		math.Abs(g.P50-w.P50) > tol || math.Abs(g.P95-w.P95) > tol || math.Abs(g.P99-w.P99) > tol {
		t.Errorf("%s: performanceSummary %+v, the database has %+v", what, g, w)
	}
	if got := wrCountsOf(t, res); got != want {
		t.Errorf("%s: performanceSummary read with %+v, want %+v", what, got, want)
	}
	return g
}

// wrLongSummaryTTL keeps summaries cached for the whole test (the default
// 5s could expire between two reads on a slow machine).
func wrLongSummaryTTL(_ *server.Config, r *resolvers.Config) { r.SummaryTTL = time.Minute }

func TestCacheServesRepeatedReads(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db, wrLongSummaryTTL)
	orgID := db.MustQueryInt64(t, `SELECT id FROM organizations WHERE is_active ORDER BY id LIMIT 1`)
	active := int(db.MustQueryInt64(t, `SELECT count(*) FROM organizations WHERE is_active`))

	// allOrganizations: one statement when cold, none when warm.
	wrCheckAllOrgs(t, srv, wrCounts{sql: 1, misses: 1}, "cold")
	wrCheckAllOrgs(t, srv, wrCounts{sql: 0, hits: 1}, "warm")

	// With employeeCount: the list is a hit, the counts one statement.
	const withCounts = `{ allOrganizations { id employeeCount } }`
	res := srv.Query(t, withCounts, nil)
	if got, want := wrCountsOf(t, res), (wrCounts{sql: 1, hits: 1, misses: active}); got != want {
		t.Errorf("allOrganizations with employeeCount, counts cold: %+v, want %+v", got, want)
	}
	res = srv.Query(t, withCounts, nil)
	if got, want := wrCountsOf(t, res), (wrCounts{sql: 0, hits: 1 + active}); got != want {
		t.Errorf("allOrganizations with employeeCount, warm: %+v, want %+v", got, want)
	}

	// organization(id): the organization row is always read; its employeeCount
	// is warm already, employeeStats and departmentStats are not.
	wrCheckOrgAgg(t, srv, orgID, wrCounts{sql: 3, hits: 1, misses: 2}, "first read")
	wrCheckOrgAgg(t, srv, orgID, wrAggWarm, "second read")
	wrCheckOrgAgg(t, srv, orgID, wrAggWarm, "third read")
	other := db.MustQueryInt64(t, `SELECT id FROM organizations WHERE NOT is_active ORDER BY id LIMIT 1`)
	wrCheckOrgAgg(t, srv, other, wrAggCold, "inactive organization, first read")
	wrCheckOrgAgg(t, srv, other, wrAggWarm, "inactive organization, second read")

	// performanceSummary.
	since := time.Now().Add(-24 * time.Hour).UTC().Truncate(time.Second)
	s := wrCheckSummary(t, srv, "api_response", since, wrCounts{sql: 1, misses: 1}, "summary cold")
	if s.Count == 0 {
		t.Fatalf("no api_response samples in the last 24 hours: the test proves nothing")
	}
	wrCheckSummary(t, srv, "api_response", since, wrCounts{sql: 0, hits: 1}, "summary warm")
	wrCheckSummary(t, srv, "database", since, wrCounts{sql: 1, misses: 1}, "another metric type")
}

func TestCacheInvalidationOrganizationAggregates(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db, wrLongSummaryTTL)
	p := wrPick(t, db)
	a, b := p.orgA, p.orgB
	empA := db.MustQueryInt64(t, `SELECT id FROM employees WHERE organization_id = $1 AND is_active ORDER BY id DESC LIMIT 1`, a)

	// Warm both.
	for _, org := range []int64{a, b} {
		wrCheckOrgAgg(t, srv, org, wrAggCold, "warm-up")
		wrCheckOrgAgg(t, srv, org, wrAggWarm, "warm-up")
	}
	var created wrEmpJSON
	steps := []struct {
		name    string
		mutate  func(t *testing.T)
		changed []int64 // organizations whose aggregates must be read afresh
	}{
		{"createEmployee (active) in A", func(t *testing.T) {
			created = wrRun[wrEmpJSON](t, srv, mCreateEmp, map[string]any{"input": map[string]any{"organizationId": wrStr(a),
				"name": "Cache Probe", "email": "cache.probe@example.com", "department": "Cache Lab", "salary": 150000.25}})
		}, []int64{a}},
		{"createEmployee (inactive) in B", func(t *testing.T) {
			wrRun[wrEmpJSON](t, srv, mCreateEmp, map[string]any{"input": map[string]any{"organizationId": wrStr(b),
				"name": "Cache Sleeper", "email": "cache.sleeper@example.com", "department": "Sales", "salary": 10, "isActive": false}})
		}, []int64{b}},
		{"updateEmployee salary in A", func(t *testing.T) {
			wrRun[wrEmpJSON](t, srv, mUpdateEmp, map[string]any{"id": wrStr(empA), "input": map[string]any{"salary": 999999.99}})
		}, []int64{a}},
		{"updateEmployee isActive=false in A", func(t *testing.T) {
			wrRun[wrEmpJSON](t, srv, mUpdateEmp, map[string]any{"id": wrStr(empA), "input": map[string]any{"isActive": false}})
		}, []int64{a}},
		{"updateEmployee isActive=true in A", func(t *testing.T) {
			wrRun[wrEmpJSON](t, srv, mUpdateEmp, map[string]any{"id": wrStr(empA), "input": map[string]any{"isActive": true}})
		}, []int64{a}},
		{"updateEmployee department in A", func(t *testing.T) {
			wrRun[wrEmpJSON](t, srv, mUpdateEmp, map[string]any{"id": wrStr(empA), "input": map[string]any{"department": "Cache Lab"}})
		}, []int64{a}},
		{"updateEmployee moves from A to B", func(t *testing.T) {
			wrRun[wrEmpJSON](t, srv, mUpdateEmp, map[string]any{"id": wrStr(empA), "input": map[string]any{"organizationId": wrStr(b)}})
		}, []int64{a, b}},
		{"updateEmployee moves the new employee from A to B", func(t *testing.T) {
			wrRun[wrEmpJSON](t, srv, mUpdateEmp, map[string]any{"id": created.ID, "input": map[string]any{"organizationId": wrStr(b), "salary": 1}})
		}, []int64{a, b}},
		{"deleteEmployee in B", func(t *testing.T) {
			wrRun[bool](t, srv, mDeleteEmp, map[string]any{"id": wrStr(empA)})
		}, []int64{b}},
		{"updateEmployee title only in B", func(t *testing.T) {
			wrRun[wrEmpJSON](t, srv, mUpdateEmp, map[string]any{"id": wrStr(p.empB), "input": map[string]any{"title": "Unchanged aggregates"}})
		}, []int64{b}},
		// Mutations that do not touch employees leave the aggregates cached.
		{"updateOrganization renames A", func(t *testing.T) {
			wrRun[wrOrgJSON](t, srv, mUpdateOrg, map[string]any{"id": wrStr(a), "input": map[string]any{"name": "Renamed For Cache"}})
		}, nil},
		{"createProject and addTeamMember in A", func(t *testing.T) {
			pr := wrRun[wrProjJSON](t, srv, mCreateProj, map[string]any{"input": map[string]any{"organizationId": wrStr(a), "name": "Cache Project"}})
			wrRun[wrProjJSON](t, srv, mAddMember, map[string]any{"p": pr.ID, "e": wrStr(p.outsiderA)})
		}, nil},
		{"recordMetric", func(t *testing.T) {
			wrRun[wrMetricJSON](t, srv, mRecordMetric, map[string]any{"input": map[string]any{"metricType": "database", "value": 3}})
		}, nil},
		// A failed mutation invalidates nothing.
		{"failed createEmployee in A (duplicate email)", func(t *testing.T) {
			srv.Mutate(t, mCreateEmp, map[string]any{"input": map[string]any{"organizationId": wrStr(a),
				"name": "Dup", "email": strings.ToUpper(wrEmp(t, db, p.outsiderA).Email), "department": "Sales", "salary": 1}}).MustError(t, "CONFLICT")
		}, nil},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.mutate(t)
			srv.WaitDelivered(t)
			for _, org := range []int64{a, b} {
				want := wrAggWarm
				if slices.Contains(st.changed, org) {
					want = wrAggCold
				}
				wrCheckOrgAgg(t, srv, org, want, "next read")
				wrCheckOrgAgg(t, srv, org, wrAggWarm, "read after that")
			}
		})
	}
}

func TestCacheInvalidationAllOrganizations(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)
	p := wrPick(t, db)
	cold, warm := wrCounts{sql: 1, misses: 1}, wrCounts{sql: 0, hits: 1}
	wrCheckAllOrgs(t, srv, cold, "warm-up")
	wrCheckAllOrgs(t, srv, warm, "warm-up")

	var created wrOrgJSON
	steps := []struct {
		name   string
		mutate func(t *testing.T)
		fresh  bool
	}{
		{"createOrganization (active)", func(t *testing.T) {
			created = wrRun[wrOrgJSON](t, srv, mCreateOrg, map[string]any{"input": map[string]any{"name": "Cache Newcomer"}})
		}, true},
		{"createOrganization (inactive)", func(t *testing.T) {
			wrRun[wrOrgJSON](t, srv, mCreateOrg, map[string]any{"input": map[string]any{"name": "Cache Dormant", "isActive": false}})
		}, true},
		{"updateOrganization renames", func(t *testing.T) {
			wrRun[wrOrgJSON](t, srv, mUpdateOrg, map[string]any{"id": created.ID, "input": map[string]any{"name": "Cache Newcomer Renamed"}})
		}, true},
		{"updateOrganization industry of a seeded organization", func(t *testing.T) {
			wrRun[wrOrgJSON](t, srv, mUpdateOrg, map[string]any{"id": wrStr(p.orgA), "input": map[string]any{"industry": "Cache Studies"}})
		}, true},
		{"updateOrganization deactivates", func(t *testing.T) {
			wrRun[wrOrgJSON](t, srv, mUpdateOrg, map[string]any{"id": wrStr(p.orgB), "input": map[string]any{"isActive": false}})
		}, true},
		{"updateOrganization reactivates", func(t *testing.T) {
			wrRun[wrOrgJSON](t, srv, mUpdateOrg, map[string]any{"id": wrStr(p.orgB), "input": map[string]any{"isActive": true}})
		}, true},
		{"createEmployee leaves the list cached", func(t *testing.T) {
			wrRun[wrEmpJSON](t, srv, mCreateEmp, map[string]any{"input": map[string]any{"organizationId": wrStr(p.orgA),
				"name": "List Bystander", "email": "list.bystander@example.com", "department": "Sales", "salary": 1}})
		}, false},
		{"failed updateOrganization (duplicate name) leaves the list cached", func(t *testing.T) {
			srv.Mutate(t, mUpdateOrg, map[string]any{"id": wrStr(p.orgA), "input": map[string]any{"name": wrOrg(t, db, p.orgB).Name}}).MustError(t, "CONFLICT")
		}, false},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.mutate(t)
			srv.WaitDelivered(t)
			if st.fresh {
				wrCheckAllOrgs(t, srv, cold, "next read")
			} else {
				wrCheckAllOrgs(t, srv, warm, "next read")
			}
			wrCheckAllOrgs(t, srv, warm, "read after that")
		})
	}
}

func TestCacheInvalidationPerformanceSummary(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db, wrLongSummaryTTL)
	since := time.Now().Add(-24 * time.Hour).UTC().Truncate(time.Second)
	cold, warm := wrCounts{sql: 1, misses: 1}, wrCounts{sql: 0, hits: 1}
	before := wrCheckSummary(t, srv, "api_response", since, cold, "warm-up")
	wrCheckSummary(t, srv, "api_response", since, warm, "warm-up")

	m := wrRun[wrMetricJSON](t, srv, mRecordMetric, map[string]any{"input": map[string]any{"metricType": "api_response", "value": 987654.5, "endpoint": "graphql:cacheTest"}})
	srv.WaitDelivered(t)
	after := wrCheckSummary(t, srv, "api_response", since, cold, "after recordMetric")
	if after.Count != before.Count+1 || after.MaxValue != m.Value {
		t.Errorf("after recording %v: count %d -> %d, max %v", m.Value, before.Count, after.Count, after.MaxValue)
	}
	wrCheckSummary(t, srv, "api_response", since, warm, "read after that")

	// Every recorded sample retires every cached summary.
	wrRun[wrMetricJSON](t, srv, mRecordMetric, map[string]any{"input": map[string]any{"metricType": "page_load", "value": 1}})
	srv.WaitDelivered(t)
	wrCheckSummary(t, srv, "api_response", since, cold, "after recording another metric type")

	// A refused sample does not.
	srv.Mutate(t, mRecordMetric, map[string]any{"input": map[string]any{"metricType": "api_response", "value": -1}}).MustError(t, "BAD_USER_INPUT")
	wrCheckSummary(t, srv, "api_response", since, warm, "after a refused recordMetric")
}

// 100 identical requests against a cold cache: one reaches PostgreSQL.
func TestCacheSingleflight(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db) // a prefix of its own: cold
	const n = 100
	type result struct {
		res *testsupport.Response
		err error
	}
	results := make([]result, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			res, err := wrPost(srv, wrBearer, `{ allOrganizations { id name } }`, nil)
			results[i] = result{res, err}
		})
	}
	close(start)
	wg.Wait()
	sql, hits, misses := 0, 0, 0
	var first string
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("request %d: %v", i, r.err)
		}
		if len(r.res.Errors) > 0 {
			t.Fatalf("request %d: %s", i, r.res.Raw)
		}
		if i == 0 {
			first = string(r.res.Data)
		} else if string(r.res.Data) != first {
			t.Errorf("request %d answered differently from request 0", i)
		}
		c := wrCountsOf(t, r.res)
		sql, hits, misses = sql+c.sql, hits+c.hits, misses+c.misses
	}
	t.Logf("%d requests: %d statements, %d cache hits, %d misses", n, sql, hits, misses)
	if sql != 1 {
		t.Errorf("%d concurrent identical requests on a cold cache ran %d statements, want 1", n, sql)
	}
	if hits+misses != n {
		t.Errorf("hits %d + misses %d != %d requests", hits, misses, n)
	}
}
