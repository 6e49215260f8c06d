package seed_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"orgpulse/monitor"
	"orgpulse/seed"
	"orgpulse/testsupport"
)

// now is the fixed end of the metrics window in these tests.
var now = time.Date(2026, 3, 14, 15, 0, 0, 0, time.UTC)

func mustRun(t *testing.T, d *testsupport.DB, opts seed.Options) seed.Result {
	t.Helper()
	res, err := seed.Run(context.Background(), d.Pool, opts)
	if err != nil {
		t.Fatalf("seed.Run(%+v): %v", opts, err)
	}
	return res
}

// tableCounts counts every table with independent SQL.
func tableCounts(t *testing.T, d *testsupport.DB) seed.Result {
	t.Helper()
	return seed.Result{
		Organizations: d.MustQueryInt64(t, "SELECT count(*) FROM organizations"),
		Employees:     d.MustQueryInt64(t, "SELECT count(*) FROM employees"),
		Projects:      d.MustQueryInt64(t, "SELECT count(*) FROM projects"),
		Members:       d.MustQueryInt64(t, "SELECT count(*) FROM project_members"),
		Metrics:       d.MustQueryInt64(t, "SELECT count(*) FROM performance_metrics"),
	}
}

func TestRunDefaults(t *testing.T) {
	t.Parallel()
	d := testsupport.MustOpenDB(t)
	var out bytes.Buffer
	res := mustRun(t, d, seed.Options{Now: now, Progress: &out})

	want := seed.Result{Organizations: 50, Employees: 2500, Projects: 1000, Members: 8000, Metrics: 10000}
	if res != want {
		t.Errorf("Result = %+v, want %+v", res, want)
	}
	if got := tableCounts(t, d); got != want {
		t.Errorf("table counts = %+v, want %+v", got, want)
	}

	zero := []struct{ name, sql string }{
		{"members outside their project's organization", `
			SELECT count(*) FROM project_members pm
			JOIN projects p ON p.id = pm.project_id
			JOIN employees e ON e.id = pm.employee_id
			WHERE e.organization_id <> p.organization_id`},
		{"projects without exactly 8 members and one lead", `
			SELECT count(*) FROM projects p
			WHERE (SELECT count(*) FROM project_members m WHERE m.project_id = p.id) <> 8
			   OR (SELECT count(*) FROM project_members m WHERE m.project_id = p.id AND m.role = 'lead') <> 1`},
		{"organizations without exactly 50 employees", `
			SELECT count(*) FROM organizations o
			WHERE (SELECT count(*) FROM employees e WHERE e.organization_id = o.id) <> 50`},
		{"emails duplicated case-insensitively", `SELECT count(*) - count(DISTINCT lower(email)) FROM employees`},
		{"malformed emails", `SELECT count(*) FROM employees WHERE email !~ '^[a-z]+\.[a-z]+\.[0-9]+@[a-z0-9]+\.example$'`},
		{"duplicate organization names", `SELECT count(*) - count(DISTINCT name) FROM organizations`},
		{"implausible salaries", `SELECT count(*) FROM employees WHERE salary < 45000 OR salary > 220000 OR salary <> round(salary, 2)`},
		{"hired after the base time or before the organization existed", `
			SELECT count(*) FROM employees e JOIN organizations o ON o.id = e.organization_id
			WHERE e.hired_at > '2026-01-01T00:00:00Z' OR e.hired_at < o.created_at OR e.updated_at < e.created_at`},
		{"negative budgets", `SELECT count(*) FROM projects WHERE budget < 0`},
		{"unknown roles", `SELECT count(*) FROM project_members WHERE role NOT IN ('lead', 'developer', 'analyst', 'designer', 'member')`},
		{"metrics outside [now-6d, now]", `
			SELECT count(*) FROM performance_metrics
			WHERE recorded_at < $1::timestamptz - interval '6 days' OR recorded_at > $1::timestamptz`},
		{"negative metric values or cache_hit beyond 100%", `
			SELECT count(*) FROM performance_metrics
			WHERE value < 0 OR (metric_type = 'cache_hit' AND value > 100)`},
		{"metric ids out of recorded_at order", `
			SELECT count(*) FROM (
				SELECT recorded_at < lag(recorded_at) OVER (ORDER BY id) AS backwards FROM performance_metrics
			) x WHERE backwards`},
	}
	for _, c := range zero {
		if n := queryInt64(t, d, c.sql); n != 0 {
			t.Errorf("%s: %d, want 0", c.name, n)
		}
	}

	// Realistic mixes, with generous bounds.
	between := []struct {
		name   string
		sql    string
		lo, hi int64
	}{
		{"active employees (%)", `SELECT (100 * count(*) FILTER (WHERE is_active) / count(*)) FROM employees`, 85, 95},
		{"active organizations", `SELECT count(*) FILTER (WHERE is_active) FROM organizations`, 38, 50},
		{"departments", `SELECT count(DISTINCT department) FROM employees`, 10, 10},
		{"industries", `SELECT count(DISTINCT industry) FROM organizations`, 5, 10},
		{"project statuses", `SELECT count(DISTINCT status) FROM projects`, 4, 4},
		{"metric types", `SELECT count(DISTINCT metric_type) FROM performance_metrics`, 4, 4},
		{"HTTP 200 among requests (%)", `
			SELECT 100 * count(*) FILTER (WHERE status_code = 200) / count(*) FROM performance_metrics
			WHERE metric_type IN ('page_load', 'api_response')`, 88, 97},
		{"HTTP 4xx/5xx among requests", `
			SELECT count(*) FROM performance_metrics
			WHERE metric_type IN ('page_load', 'api_response') AND status_code >= 400`, 100, 1000},
		{"median api_response (ms)", `
			SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY value)::bigint FROM performance_metrics
			WHERE metric_type = 'api_response'`, 10, 100},
		{"p99/p50 of api_response (long tail)", `
			SELECT (percentile_cont(0.99) WITHIN GROUP (ORDER BY value) / percentile_cont(0.5) WITHIN GROUP (ORDER BY value))::bigint
			FROM performance_metrics WHERE metric_type = 'api_response'`, 4, 100},
		{"median cache_hit (%)", `
			SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY value)::bigint FROM performance_metrics
			WHERE metric_type = 'cache_hit'`, 75, 98},
		{"days with metrics", `
			SELECT count(DISTINCT least(5, floor(extract(epoch FROM $1::timestamptz - recorded_at) / 86400)))
			FROM performance_metrics`, 6, 6},
	}
	for _, c := range between {
		if n := queryInt64(t, d, c.sql); n < c.lo || n > c.hi {
			t.Errorf("%s = %d, want %d..%d", c.name, n, c.lo, c.hi)
		}
	}

	for _, line := range []string{
		"seed: organizations 50/50 (100%)",
		"seed: employees 2500/2500 (100%)",
		"seed: performance_metrics 10000/10000 (100%)",
		"seed: done in ",
		"rows/s)",
	} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("progress output lacks %q:\n%s", line, out.String())
		}
	}
}

// queryInt64 runs a query returning one integer, passing now as $1 when
// the query uses it.
func queryInt64(t *testing.T, d *testsupport.DB, sql string) int64 {
	t.Helper()
	if strings.Contains(sql, "$1") {
		return d.MustQueryInt64(t, sql, now)
	}
	return d.MustQueryInt64(t, sql)
}

// digests fingerprints every table in SQL.
func digests(t *testing.T, d *testsupport.DB) map[string]string {
	t.Helper()
	order := map[string]string{
		"organizations":       "id",
		"employees":           "id",
		"projects":            "id",
		"project_members":     "project_id, employee_id",
		"performance_metrics": "id",
	}
	out := map[string]string{}
	for table, by := range order {
		var s string
		sql := "SELECT md5(string_agg(t::text, ',' ORDER BY " + by + ")) FROM " + table + " t"
		if err := d.Pool.QueryRow(context.Background(), sql).Scan(&s); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		out[table] = s
	}
	return out
}

func TestRunDeterministic(t *testing.T) {
	t.Parallel()
	// Metrics spans two COPY chunks.
	opts := seed.Options{Metrics: 60001, Now: now}
	a, b := testsupport.MustOpenDB(t), testsupport.MustOpenDB(t)
	mustRun(t, a, opts)
	mustRun(t, b, opts)
	da, db := digests(t, a), digests(t, b)
	for table, want := range da {
		if db[table] != want {
			t.Errorf("%s differs between two runs with the same options: %s vs %s", table, want, db[table])
		}
	}

	// Now moves the metrics and nothing else.
	opts.Now = now.Add(time.Hour)
	c := testsupport.MustOpenDB(t)
	mustRun(t, c, opts)
	dc := digests(t, c)
	for table, want := range da {
		if same := dc[table] == want; same != (table != "performance_metrics") {
			t.Errorf("%s: digest equal = %v after moving Now", table, same)
		}
	}
}

func TestRunIdempotent(t *testing.T) {
	t.Parallel()
	d := testsupport.MustOpenDB(t)
	small := seed.Options{Orgs: 3, EmployeesPerOrg: 5, ProjectsPerOrg: 2, MembersPerProject: 3, Metrics: 10, Now: now}
	first := mustRun(t, d, small)
	want := seed.Result{Organizations: 3, Employees: 15, Projects: 6, Members: 18, Metrics: 10}
	if first != want {
		t.Fatalf("first run = %+v, want %+v", first, want)
	}

	// Without Reset, even with other sizes, nothing changes.
	var out bytes.Buffer
	bigger := small
	bigger.Orgs, bigger.Progress = 7, &out
	second := mustRun(t, d, bigger)
	skipped := want
	skipped.Skipped = true
	if second != skipped {
		t.Errorf("second run = %+v, want %+v", second, skipped)
	}
	if got := tableCounts(t, d); got != want {
		t.Errorf("counts after skipped run = %+v, want %+v", got, want)
	}
	if msg := "seed: database already has 3 organizations; skipping (use --reset to reload)"; !strings.Contains(out.String(), msg) {
		t.Errorf("output %q lacks %q", out.String(), msg)
	}

	// The application adds rows of its own between seeds.
	d.MustExec(t, "INSERT INTO performance_metrics (metric_type, value) VALUES ('database', 1)")

	// Reset reloads from scratch.
	bigger.Reset = true
	third := mustRun(t, d, bigger)
	want = seed.Result{Organizations: 7, Employees: 35, Projects: 14, Members: 42, Metrics: 10}
	if third != want {
		t.Errorf("reset run = %+v, want %+v", third, want)
	}
	if got := tableCounts(t, d); got != want {
		t.Errorf("counts after reset = %+v, want %+v", got, want)
	}
	if n := d.MustQueryInt64(t, "SELECT min(id) FROM performance_metrics"); n != 1 {
		t.Errorf("first metric id after reset = %d, want 1 (identity restarted)", n)
	}

	// The identities were advanced past the explicit ids.
	ids := []struct {
		table, insert string
		want          int64
	}{
		{"organizations", "INSERT INTO organizations (name) VALUES ('Added Later Inc.') RETURNING id", 8},
		{"employees", "INSERT INTO employees (organization_id, name, email, department, salary) VALUES (1, 'Added Later', 'added.later@example.com', 'Support', 50000) RETURNING id", 36},
		{"projects", "INSERT INTO projects (organization_id, name) VALUES (1, 'Added Later') RETURNING id", 15},
		{"performance_metrics", "INSERT INTO performance_metrics (metric_type, value) VALUES ('database', 1) RETURNING id", 11},
	}
	for _, c := range ids {
		if got := d.MustQueryInt64(t, c.insert); got != c.want {
			t.Errorf("%s: new id = %d, want %d", c.table, got, c.want)
		}
	}
}

func TestRunManyOrganizations(t *testing.T) {
	t.Parallel()
	d := testsupport.MustOpenDB(t)
	res := mustRun(t, d, seed.Options{Orgs: 2000, EmployeesPerOrg: 1, ProjectsPerOrg: 1, MembersPerProject: 1, Metrics: 1, Now: now})
	if res.Organizations != 2000 || res.Employees != 2000 || res.Members != 2000 {
		t.Errorf("Result = %+v", res)
	}
	if n := d.MustQueryInt64(t, "SELECT count(DISTINCT name) FROM organizations"); n != 2000 {
		t.Errorf("distinct organization names = %d, want 2000", n)
	}
}

func TestRunInvalidOptions(t *testing.T) {
	t.Parallel()
	d := testsupport.MustOpenDB(t)
	cases := []struct {
		name string
		opts seed.Options
		want string // in the error
	}{
		{"negative orgs", seed.Options{Orgs: -1}, "Orgs must not be negative"},
		{"negative employees", seed.Options{EmployeesPerOrg: -5}, "EmployeesPerOrg must not be negative"},
		{"negative projects", seed.Options{ProjectsPerOrg: -1}, "ProjectsPerOrg must not be negative"},
		{"negative members", seed.Options{MembersPerProject: -1}, "MembersPerProject must not be negative"},
		{"negative metrics", seed.Options{Metrics: -10}, "Metrics must not be negative"},
		{"team larger than the default organization", seed.Options{MembersPerProject: 51}, "MembersPerProject (51) exceeds EmployeesPerOrg (50)"},
		{"default team larger than the organization", seed.Options{EmployeesPerOrg: 5}, "MembersPerProject (8) exceeds EmployeesPerOrg (5)"},
		{"too large", seed.Options{Orgs: 1 << 30, EmployeesPerOrg: 1 << 30}, "too large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := seed.Run(context.Background(), d.Pool, c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Run(%+v) error = %v, want one containing %q", c.opts, err, c.want)
			}
		})
	}
	if got := tableCounts(t, d); got != (seed.Result{}) {
		t.Errorf("invalid options loaded rows: %+v", got)
	}

	// The boundary is fine: every employee on every team.
	res := mustRun(t, d, seed.Options{Orgs: 2, EmployeesPerOrg: 4, ProjectsPerOrg: 3, MembersPerProject: 4, Metrics: 5, Now: now})
	if res.Members != 24 {
		t.Errorf("members = %d, want 24", res.Members)
	}
}

func TestRunCanceled(t *testing.T) {
	t.Parallel()
	d := testsupport.MustOpenDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := seed.Run(ctx, d.Pool, seed.Options{Now: now}); err == nil {
		t.Fatal("Run with a canceled context succeeded")
	}
	if got := tableCounts(t, d); got != (seed.Result{}) {
		t.Errorf("canceled run left rows: %+v", got)
	}
}

// TestDefaultWindowInsideRetention seeds with the clock's Now, as `orgpulse
// seed` does, and runs the retention purge with the default
// METRICS_RETENTION (168h): no fresh sample may be old enough to go.
func TestDefaultWindowInsideRetention(t *testing.T) {
	t.Parallel()
	d := testsupport.MustOpenDB(t)
	mustRun(t, d, seed.Options{Orgs: 1, EmployeesPerOrg: 1, ProjectsPerOrg: 1, MembersPerProject: 1})
	const defaultRetention = 168 * time.Hour
	res, err := monitor.PurgeMetrics(context.Background(), d.Pool, time.Now().Add(-defaultRetention), 1000, 0)
	if err != nil {
		t.Fatalf("PurgeMetrics: %v", err)
	}
	if got, want := res.Deleted, int64(0); got != want {
		t.Errorf("retention deleted %d freshly seeded samples, want %d", got, want)
	}
	if got, want := d.MustQueryInt64(t, "SELECT count(*) FROM performance_metrics"), int64(seed.DefaultMetrics); got != want {
		t.Errorf("%d samples after the purge, want %d", got, want)
	}
}
