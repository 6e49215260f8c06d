package resolvers_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"orgpulse/resolvers"
	"orgpulse/testsupport"
)

// SQL only ever sees client strings as bound parameters: classic injection
// strings sent through every string argument change nothing, are matched
// literally, and are stored and read back verbatim.

var injectionStrings = []string{
	`'; DROP TABLE employees; --`,
	`1 OR 1=1`,
	`' OR '1'='1`,
	`" OR ""="`,
	`admin'--`,
	`'); DELETE FROM organizations WHERE (''='`,
	`1; SELECT pg_sleep(3)`,
	`$1`,
	`$$; TRUNCATE projects; $$`,
	`%`,
	`_`,
	`%' OR 'x' LIKE '%`,
	`\'; DROP TABLE projects; --`,
	`\\`,
	`*/ DROP TABLE employees /*`,
	`Robert'); DROP TABLE employees;--`,
	"line\nbreak'\r\n--",
	"tab\there",
	`＇ OR １=１ --`, // fullwidth quote and digits
	"Ω≈ç√∫˜µ≤≥÷ 中文 العربية",
	"💥'--🔥",
	"\u202eRTL override'--",
	"e\u0301 combining",
	"zero\u200bwidth",
}

// injectionTables are every table a client can reach, with a fingerprint of
// their whole content.
var injectionTables = []string{"organizations", "employees", "projects", "project_members", "performance_metrics"}

func fingerprints(t *testing.T, db *testsupport.DB) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, table := range injectionTables {
		var n int64
		var sum string
		db.MustScan(t, []any{&n, &sum}, fmt.Sprintf(
			"SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM %s t", table))
		out[table] = fmt.Sprintf("%d rows, md5 %s", n, sum)
	}
	return out
}

func sameFingerprints(t *testing.T, what string, before, after map[string]string, except ...string) {
	t.Helper()
	for table, fp := range before {
		skip := false
		for _, e := range except {
			skip = skip || e == table
		}
		if !skip && after[table] != fp {
			t.Errorf("%s changed table %s: %s, now %s", what, table, fp, after[table])
		}
	}
}

// noClientLeak fails when a response shows SQL or driver text, or an
// INTERNAL error.
func noClientLeak(t *testing.T, what string, res *testsupport.Response) {
	t.Helper()
	// Not res.Raw: tests send X-Debug, whose extensions.debug lists the SQL.
	errs, _ := json.Marshal(res.Errors)
	body := strings.ToLower(string(res.Data) + string(errs))
	for _, leak := range []string{"sqlstate", "syntax error at", "pgx", "pgconn", "postgres", "relation ", "sqlc"} {
		if strings.Contains(body, leak) {
			t.Errorf("%s: response shows %q: %s", what, leak, res.Raw)
		}
	}
	for _, e := range res.Errors {
		if c, _ := e.Extensions["code"].(string); c == resolvers.CodeInternal || c == "" {
			t.Errorf("%s: error %q: %s", what, c, res.Raw)
		}
	}
}

func TestInjectionThroughReadArguments(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)
	before := fingerprints(t, db)
	orgID := db.MustQueryInt64(t, "SELECT min(id) FROM organizations")

	// Free-text filters: no row has these values, so each matches nothing
	// (a predicate made true by the string would match every row).
	filters := []struct{ name, query string }{
		{"allEmployees(department)", `query($s: String) { allEmployees(department: $s) { id } }`},
		{"employees(department)", `query($s: String) { employees(department: $s) { totalCount nodes { id } } }`},
		{"employeeStats(department)", `query($s: String) { employeeStats(department: $s) { total } }`},
		{"Organization.employees + employeeStats", fmt.Sprintf(`query($s: String) { organization(id: %d) { employeeStats { total } } employeeStats(organizationId: %d, department: $s) { total } }`, orgID, orgID)},
		{"performanceSummary(endpoint)", `query($s: String) { performanceSummary(metricType: "api_response", endpoint: $s) { count } }`},
	}
	for _, s := range injectionStrings {
		for _, f := range filters {
			what := fmt.Sprintf("%s with %q", f.name, s)
			start := time.Now()
			res := srv.Query(t, f.query, map[string]any{"s": s})
			if time.Since(start) > 2*time.Second {
				t.Errorf("%s took %v", what, time.Since(start))
			}
			noClientLeak(t, what, res)
			if len(res.Errors) > 0 {
				t.Errorf("%s: %s", what, res.Raw)
				continue
			}
			raw := string(res.Data)
			if strings.Contains(raw, `"id"`) || strings.Contains(raw, `"total":`) && !strings.Contains(raw, `"total":0`) ||
				strings.Contains(raw, `"count":`) && !strings.Contains(raw, `"count":0`) || strings.Contains(raw, `"totalCount":`) && !strings.Contains(raw, `"totalCount":0`) {
				t.Errorf("%s matched rows: %.300s", what, raw)
			}
		}
		// The same strings written into the document as literals.
		lit, _ := json.Marshal(s)
		res := srv.Query(t, fmt.Sprintf(`{ allEmployees(department: %s) { id } employeeStats(department: %s) { total } }`, lit, lit), nil)
		noClientLeak(t, "literal "+string(lit), res)
		if len(res.Errors) > 0 || strings.Contains(string(res.Data), `"id"`) || !strings.Contains(string(res.Data), `"total":0`) {
			t.Errorf("literal %s: %s", lit, res.Raw)
		}

		// Validated strings: refused as input, never run.
		for _, q := range []string{
			`query($s: String) { allProjects(status: $s) { id } }`,
			`query($s: String) { projects(status: $s) { nodes { id } } }`,
			fmt.Sprintf(`query($s: String) { organization(id: %d) { projects(status: $s) { id } } }`, orgID),
			`query($s: String!) { performanceSummary(metricType: $s) { count } }`,
			`query($s: String) { slowestEndpoints(metricType: $s) { id } }`,
			`query($s: String) { employees(after: $s) { nodes { id } } }`,
			`query($s: String) { organizations(after: $s) { nodes { id } } }`,
			`query($s: String) { projects(after: $s) { nodes { id } } }`,
			`query($s: ID!) { organization(id: $s) { id } }`,
			`query($s: ID!) { employee(id: $s) { id } }`,
			`query($s: ID!) { project(id: $s) { id } }`,
			`query($s: ID!) { employeesByOrganization(organizationId: $s) { id } }`,
			`query($s: ID) { allEmployees(organizationId: $s) { id } }`,
		} {
			res := srv.Query(t, q, map[string]any{"s": s})
			noClientLeak(t, fmt.Sprintf("%s with %q", q, s), res)
			if res.Code() != resolvers.CodeBadUserInput {
				t.Errorf("%s with %q: want BAD_USER_INPUT: %s", q, s, res.Raw)
			}
		}
	}
	// A NUL cannot be stored or compared in PostgreSQL text: the input is
	// refused, not an internal error.
	res := srv.Query(t, `query($s: String) { allEmployees(department: $s) { id } }`, map[string]any{"s": "a\x00'; DROP TABLE employees; --"})
	noClientLeak(t, "NUL", res)
	if res.Code() != resolvers.CodeBadUserInput {
		t.Errorf("NUL in a filter: %s", res.Raw)
	}
	sameFingerprints(t, "reads", before, fingerprints(t, db))
}

func TestInjectionThroughMutationsIsStoredVerbatim(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)
	before := fingerprints(t, db)
	maxIDs := maxIDsOf(t, db)
	orgs, emps, projects, metrics := 0, 0, 0, 0

	for i, s := range injectionStrings {
		// Names are trimmed; make these unique.
		name := fmt.Sprintf("%s #%d", s, i)

		var org struct {
			CreateOrganization struct{ ID, Name, Industry string }
		}
		res := srv.Mutate(t, `mutation($n: String!, $i: String) { createOrganization(input: {name: $n, industry: $i}) { id name industry } }`,
			map[string]any{"n": name, "i": s})
		noClientLeak(t, "createOrganization "+name, res)
		res.MustDecode(t, &org)
		orgs++
		if org.CreateOrganization.Name != strings.TrimSpace(name) || org.CreateOrganization.Industry != s {
			t.Errorf("createOrganization answered name %q industry %q, want %q %q", org.CreateOrganization.Name, org.CreateOrganization.Industry, name, s)
		}
		orgID := testsupport.ParseID(t, org.CreateOrganization.ID)
		if got := db.MustQueryStrings(t, "SELECT name || '|' || industry FROM organizations WHERE id = $1", orgID); len(got) != 1 || got[0] != strings.TrimSpace(name)+"|"+s {
			t.Errorf("stored %q, want %q", got, strings.TrimSpace(name)+"|"+s)
		}
		var back struct {
			Organization struct{ Name, Industry string }
		}
		srv.Query(t, `query($id: ID!) { organization(id: $id) { name industry } }`, map[string]any{"id": org.CreateOrganization.ID}).MustDecode(t, &back)
		if back.Organization.Name != strings.TrimSpace(name) || back.Organization.Industry != s {
			t.Errorf("read back %+v", back.Organization)
		}

		// An employee whose department is the string: the filter then
		// matches exactly that employee.
		var emp struct {
			CreateEmployee struct{ ID, Name, Department, Title string }
		}
		res = srv.Mutate(t, `mutation($in: CreateEmployeeInput!) { createEmployee(input: $in) { id name department title } }`, map[string]any{"in": map[string]any{
			"organizationId": org.CreateOrganization.ID, "name": name, "email": fmt.Sprintf("o'or'1'='1.%d@example.com", i),
			"department": s, "title": s, "salary": 1,
		}})
		noClientLeak(t, "createEmployee "+name, res)
		res.MustDecode(t, &emp)
		emps++
		if emp.CreateEmployee.Department != s || emp.CreateEmployee.Title != s {
			t.Errorf("createEmployee answered %+v", emp.CreateEmployee)
		}
		var found struct {
			AllEmployees  []struct{ ID string }
			EmployeeStats struct{ Total int }
		}
		srv.Query(t, `query($d: String, $o: ID) { allEmployees(department: $d, organizationId: $o) { id } employeeStats(department: $d) { total } }`,
			map[string]any{"d": s, "o": org.CreateOrganization.ID}).MustDecode(t, &found)
		if len(found.AllEmployees) != 1 || found.AllEmployees[0].ID != emp.CreateEmployee.ID || found.EmployeeStats.Total != 1 {
			t.Errorf("department %q matched %+v", s, found)
		}

		var proj struct {
			CreateProject struct{ ID, Name, Description string }
		}
		res = srv.Mutate(t, `mutation($in: CreateProjectInput!) { createProject(input: $in) { id name description } }`, map[string]any{"in": map[string]any{
			"organizationId": org.CreateOrganization.ID, "name": name, "description": s,
		}})
		noClientLeak(t, "createProject "+name, res)
		res.MustDecode(t, &proj)
		projects++
		if proj.CreateProject.Description != s {
			t.Errorf("createProject answered %+v", proj.CreateProject)
		}
		res = srv.Mutate(t, `mutation($p: ID!, $e: ID!, $r: String) { addTeamMember(projectId: $p, employeeId: $e, role: $r) { teamSize } }`,
			map[string]any{"p": proj.CreateProject.ID, "e": emp.CreateEmployee.ID, "r": name})
		noClientLeak(t, "addTeamMember", res)
		if len(res.Errors) > 0 {
			t.Errorf("addTeamMember: %s", res.Raw)
		}
		if got := db.MustQueryStrings(t, "SELECT role FROM project_members WHERE project_id = $1", testsupport.ParseID(t, proj.CreateProject.ID)); len(got) != 1 || got[0] != strings.TrimSpace(name) {
			t.Errorf("role stored as %q", got)
		}

		res = srv.Mutate(t, `mutation($e: String) { recordMetric(input: {metricType: "database", value: 1.5, endpoint: $e}) { endpoint } }`, map[string]any{"e": s})
		noClientLeak(t, "recordMetric", res)
		var m struct{ RecordMetric struct{ Endpoint string } }
		res.MustDecode(t, &m)
		metrics++
		if m.RecordMetric.Endpoint != s {
			t.Errorf("recordMetric endpoint %q, want %q", m.RecordMetric.Endpoint, s)
		}

		// Validated fields refuse the strings.
		for _, q := range []struct {
			query string
			vars  map[string]any
		}{
			{`mutation($s: String) { createProject(input: {organizationId: 1, name: "x", status: $s}) { id } }`, map[string]any{"s": s}},
			{`mutation($s: String!) { recordMetric(input: {metricType: $s, value: 1}) { id } }`, map[string]any{"s": s}},
			{`mutation($s: String!) { createEmployee(input: {organizationId: 1, name: "x", email: $s, department: "d", salary: 1}) { id } }`, map[string]any{"s": s}},
			{`mutation($s: ID!) { deleteEmployee(id: $s) }`, map[string]any{"s": s}},
			{`mutation($s: ID!) { updateOrganization(id: $s, input: {name: "x"}) { id } }`, map[string]any{"s": s}},
		} {
			res := srv.Mutate(t, q.query, q.vars)
			noClientLeak(t, q.query, res)
			if res.Code() != resolvers.CodeBadUserInput && res.Code() != resolvers.CodeNotFound {
				t.Errorf("%s with %q: %s", q.query, s, res.Raw)
			}
		}
	}
	// A NUL in a stored string is refused and nothing is written.
	res := srv.Mutate(t, `mutation($n: String!) { createOrganization(input: {name: $n}) { id } }`, map[string]any{"n": "nul\x00'; DROP TABLE employees; --"})
	noClientLeak(t, "NUL", res)
	if res.Code() != resolvers.CodeBadUserInput {
		t.Errorf("NUL in a name: %s", res.Raw)
	}

	after := fingerprints(t, db)
	for table, added := range map[string]int{"organizations": orgs, "employees": emps, "projects": projects, "project_members": emps, "performance_metrics": metrics} {
		var was, now int
		fmt.Sscanf(before[table], "%d rows", &was)
		fmt.Sscanf(after[table], "%d rows", &now)
		if now != was+added {
			t.Errorf("%s: %d rows, want %d + %d", table, now, was, added)
		}
	}
	// And every row that was there before is unchanged.
	sameFingerprints(t, "mutations", before, fingerprintsUpTo(t, db, maxIDs))
}

// fingerprintsUpTo is fingerprints of the rows that existed when maxIDs
// was taken.
func fingerprintsUpTo(t *testing.T, db *testsupport.DB, maxIDs map[string]int64) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, table := range injectionTables {
		col, max := "id", maxIDs[table]
		if table == "project_members" {
			col, max = "project_id", maxIDs["projects"]
		}
		var n int64
		var sum string
		db.MustScan(t, []any{&n, &sum}, fmt.Sprintf(
			"SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM %s t WHERE %s <= $1", table, col), max)
		out[table] = fmt.Sprintf("%d rows, md5 %s", n, sum)
	}
	return out
}

func maxIDsOf(t *testing.T, db *testsupport.DB) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, table := range injectionTables {
		if table != "project_members" {
			out[table] = db.MustQueryInt64(t, fmt.Sprintf("SELECT coalesce(max(id), 0) FROM %s", table))
		}
	}
	return out
}
