package resolvers_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"orgpulse/auth"
	"orgpulse/testsupport"
)

// Helpers of the write-path tests (mutation_test, cache_test, stale_test,
// outage_test). Names start with "wr" so they cannot clash with the read
// tests' helpers.

var wrClient = &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}}

const wrBearer = "Bearer " + testsupport.APIToken

// wrPost sends a GraphQL request with X-Debug: 1 and the given
// Authorization header ("" sends none). It returns errors instead of failing
// the test, so goroutines may call it.
func wrPost(srv *testsupport.Server, auth, query string, vars map[string]any) (*testsupport.Response, error) {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/graphql", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Debug", "1")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := wrClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	out := &testsupport.Response{Status: res.StatusCode, Header: res.Header, Raw: raw}
	if err := json.Unmarshal(raw, out); err != nil {
		return nil, fmt.Errorf("status %d, body is not JSON: %v: %s", res.StatusCode, err, raw)
	}
	return out, nil
}

// wrRun runs a mutation (or query) whose one field is aliased m, with the
// API token, fails the test on any error and returns m.
func wrRun[T any](t testing.TB, srv *testsupport.Server, doc string, vars map[string]any) T {
	t.Helper()
	var out struct {
		M T `json:"m"`
	}
	srv.Mutate(t, doc, vars).MustDecode(t, &out)
	return out.M
}

// wrTables are the tables whose digest proves that nothing was written.
var wrTables = []string{"organizations", "employees", "projects", "project_members", "performance_metrics"}

// wrDigest fingerprints every row of every table: the row count and the sum
// of a 64-bit hash of each row's text (order-independent, no sort).
func wrDigest(t testing.TB, db *testsupport.DB) map[string]string {
	t.Helper()
	parts := make([]string, len(wrTables))
	for i, name := range wrTables {
		parts[i] = `(SELECT count(*)::text || ' rows, hash ' || coalesce(sum(hashtextextended(t::text, 0)::numeric), 0)::text FROM ` + name + ` t)`
	}
	vals := make([]string, len(wrTables))
	dest := make([]any, len(wrTables))
	for i := range vals {
		dest[i] = &vals[i]
	}
	db.MustScan(t, dest, `SELECT `+strings.Join(parts, ", "))
	out := map[string]string{}
	for i, name := range wrTables {
		out[name] = vals[i]
	}
	return out
}

func wrAssertUnchanged(t testing.TB, what string, before, after map[string]string) {
	t.Helper()
	if maps.Equal(before, after) {
		return
	}
	for _, name := range wrTables {
		if before[name] != after[name] {
			t.Errorf("%s wrote to %s: before %s, after %s", what, name, before[name], after[name])
		}
	}
}

// Rows read back with SQL written here, independent of the queries in db/.

type wrOrgRow struct {
	ID        int64     `db:"id"`
	Name      string    `db:"name"`
	Industry  string    `db:"industry"`
	IsActive  bool      `db:"is_active"`
	CreatedAt time.Time `db:"created_at"`
	UpdatedAt time.Time `db:"updated_at"`
}

type wrEmpRow struct {
	ID             int64     `db:"id"`
	OrganizationID int64     `db:"organization_id"`
	Name           string    `db:"name"`
	Email          string    `db:"email"`
	Department     string    `db:"department"`
	Title          string    `db:"title"`
	Salary         float64   `db:"salary"`
	IsActive       bool      `db:"is_active"`
	HiredAt        time.Time `db:"hired_at"`
	CreatedAt      time.Time `db:"created_at"`
	UpdatedAt      time.Time `db:"updated_at"`
}

type wrProjRow struct {
	ID             int64     `db:"id"`
	OrganizationID int64     `db:"organization_id"`
	Name           string    `db:"name"`
	Description    string    `db:"description"`
	Status         string    `db:"status"`
	Budget         float64   `db:"budget"`
	CreatedAt      time.Time `db:"created_at"`
	UpdatedAt      time.Time `db:"updated_at"`
}

type wrMetricRow struct {
	ID         int64     `db:"id"`
	MetricType string    `db:"metric_type"`
	Value      float64   `db:"value"`
	Endpoint   string    `db:"endpoint"`
	StatusCode int32     `db:"status_code"`
	RecordedAt time.Time `db:"recorded_at"`
}

func wrOne[T any](t testing.TB, db *testsupport.DB, sql string, id int64) (T, bool) {
	t.Helper()
	rows := testsupport.MustQueryRows[T](t, db, sql, id)
	if len(rows) > 1 {
		t.Fatalf("%d rows for id %d", len(rows), id)
	}
	if len(rows) == 0 {
		var zero T
		return zero, false
	}
	return rows[0], true
}

func wrOrg(t testing.TB, db *testsupport.DB, id int64) wrOrgRow {
	t.Helper()
	o, ok := wrOne[wrOrgRow](t, db, `SELECT id, name, industry, is_active, created_at, updated_at FROM organizations WHERE id = $1`, id)
	if !ok {
		t.Fatalf("organization %d is not in the database", id)
	}
	return o
}

func wrEmpOK(t testing.TB, db *testsupport.DB, id int64) (wrEmpRow, bool) {
	t.Helper()
	return wrOne[wrEmpRow](t, db, `SELECT id, organization_id, name, email, department, title, salary::float8 AS salary,
		is_active, hired_at, created_at, updated_at FROM employees WHERE id = $1`, id)
}

func wrEmp(t testing.TB, db *testsupport.DB, id int64) wrEmpRow {
	t.Helper()
	e, ok := wrEmpOK(t, db, id)
	if !ok {
		t.Fatalf("employee %d is not in the database", id)
	}
	return e
}

func wrProj(t testing.TB, db *testsupport.DB, id int64) wrProjRow {
	t.Helper()
	p, ok := wrOne[wrProjRow](t, db, `SELECT id, organization_id, name, description, status, budget::float8 AS budget,
		created_at, updated_at FROM projects WHERE id = $1`, id)
	if !ok {
		t.Fatalf("project %d is not in the database", id)
	}
	return p
}

func wrMetric(t testing.TB, db *testsupport.DB, id int64) wrMetricRow {
	t.Helper()
	m, ok := wrOne[wrMetricRow](t, db, `SELECT id, metric_type, value, endpoint, status_code, recorded_at
		FROM performance_metrics WHERE id = $1`, id)
	if !ok {
		t.Fatalf("metric %d is not in the database", id)
	}
	return m
}

// wrTeam is the team of a project by SQL, in employee id order.
func wrTeam(t testing.TB, db *testsupport.DB, projectID int64) []int64 {
	t.Helper()
	return db.MustQueryInt64s(t, `SELECT employee_id FROM project_members WHERE project_id = $1 ORDER BY employee_id`, projectID)
}

// The answers of the mutations.

type wrID struct {
	ID string `json:"id"`
}

type wrOrgJSON struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Industry  string `json:"industry"`
	IsActive  bool   `json:"isActive"`
	CreatedAt string `json:"createdAt"`
	UpdatedAt string `json:"updatedAt"`
}

type wrEmpJSON struct {
	ID           string  `json:"id"`
	Name         string  `json:"name"`
	Email        string  `json:"email"`
	Department   string  `json:"department"`
	Title        string  `json:"title"`
	Salary       float64 `json:"salary"`
	IsActive     bool    `json:"isActive"`
	HiredAt      string  `json:"hiredAt"`
	CreatedAt    string  `json:"createdAt"`
	UpdatedAt    string  `json:"updatedAt"`
	Organization wrID    `json:"organization"`
	Projects     []wrID  `json:"projects"`
}

type wrProjJSON struct {
	ID           string  `json:"id"`
	Name         string  `json:"name"`
	Description  string  `json:"description"`
	Status       string  `json:"status"`
	Budget       float64 `json:"budget"`
	CreatedAt    string  `json:"createdAt"`
	UpdatedAt    string  `json:"updatedAt"`
	Organization wrID    `json:"organization"`
	TeamSize     int     `json:"teamSize"`
	TeamMembers  []wrID  `json:"teamMembers"`
}

type wrMetricJSON struct {
	ID         string  `json:"id"`
	MetricType string  `json:"metricType"`
	Value      float64 `json:"value"`
	Endpoint   string  `json:"endpoint"`
	StatusCode int32   `json:"statusCode"`
	Timestamp  string  `json:"timestamp"`
}

func wrIDs(t testing.TB, items []wrID) []int64 {
	t.Helper()
	out := make([]int64, len(items))
	for i, it := range items {
		out[i] = testsupport.ParseID(t, it.ID)
	}
	return out
}

const (
	wrOrgFields    = `id name industry isActive createdAt updatedAt`
	wrEmpFields    = `id name email department title salary isActive hiredAt createdAt updatedAt organization { id } projects { id }`
	wrProjFields   = `id name description status budget createdAt updatedAt organization { id } teamSize teamMembers { id }`
	wrMetricFields = `id metricType value endpoint statusCode timestamp`

	mCreateOrg     = `mutation($input: CreateOrganizationInput!) { m: createOrganization(input: $input) { ` + wrOrgFields + ` } }`
	mUpdateOrg     = `mutation($id: ID!, $input: UpdateOrganizationInput!) { m: updateOrganization(id: $id, input: $input) { ` + wrOrgFields + ` } }`
	mCreateEmp     = `mutation($input: CreateEmployeeInput!) { m: createEmployee(input: $input) { ` + wrEmpFields + ` } }`
	mUpdateEmp     = `mutation($id: ID!, $input: UpdateEmployeeInput!) { m: updateEmployee(id: $id, input: $input) { ` + wrEmpFields + ` } }`
	mDeleteEmp     = `mutation($id: ID!) { m: deleteEmployee(id: $id) }`
	mCreateProj    = `mutation($input: CreateProjectInput!) { m: createProject(input: $input) { ` + wrProjFields + ` } }`
	mUpdateProj    = `mutation($id: ID!, $input: UpdateProjectInput!) { m: updateProject(id: $id, input: $input) { ` + wrProjFields + ` } }`
	mAddMember     = `mutation($p: ID!, $e: ID!, $role: String) { m: addTeamMember(projectId: $p, employeeId: $e, role: $role) { ` + wrProjFields + ` } }`
	mRemoveMember  = `mutation($p: ID!, $e: ID!) { m: removeTeamMember(projectId: $p, employeeId: $e) { ` + wrProjFields + ` } }`
	mRecordMetric  = `mutation($input: RecordMetricInput!) { m: recordMetric(input: $input) { ` + wrMetricFields + ` } }`
	wrUnknownID    = "987654321"
	wrMaxNameRunes = 200
)

func wrCheckOrg(t testing.TB, what string, got wrOrgJSON, want wrOrgRow) {
	t.Helper()
	if testsupport.ParseID(t, got.ID) != want.ID || got.Name != want.Name || got.Industry != want.Industry || got.IsActive != want.IsActive {
		t.Errorf("%s: answered %+v, database has %+v", what, got, want)
	}
	testsupport.AssertTime(t, what+": createdAt", got.CreatedAt, want.CreatedAt)
	testsupport.AssertTime(t, what+": updatedAt", got.UpdatedAt, want.UpdatedAt)
}

func wrCheckEmp(t testing.TB, what string, got wrEmpJSON, want wrEmpRow) {
	t.Helper()
	if testsupport.ParseID(t, got.ID) != want.ID || got.Name != want.Name || got.Email != want.Email ||
		got.Department != want.Department || got.Title != want.Title || got.Salary != want.Salary ||
		got.IsActive != want.IsActive || testsupport.ParseID(t, got.Organization.ID) != want.OrganizationID {
		t.Errorf("%s: answered %+v, database has %+v", what, got, want)
	}
	testsupport.AssertTime(t, what+": hiredAt", got.HiredAt, want.HiredAt)
	testsupport.AssertTime(t, what+": createdAt", got.CreatedAt, want.CreatedAt)
	testsupport.AssertTime(t, what+": updatedAt", got.UpdatedAt, want.UpdatedAt)
}

func wrCheckProj(t testing.TB, db *testsupport.DB, what string, got wrProjJSON) {
	t.Helper()
	want := wrProj(t, db, testsupport.ParseID(t, got.ID))
	if got.Name != want.Name || got.Description != want.Description || got.Status != want.Status ||
		got.Budget != want.Budget || testsupport.ParseID(t, got.Organization.ID) != want.OrganizationID {
		t.Errorf("%s: answered %+v, database has %+v", what, got, want)
	}
	testsupport.AssertTime(t, what+": createdAt", got.CreatedAt, want.CreatedAt)
	testsupport.AssertTime(t, what+": updatedAt", got.UpdatedAt, want.UpdatedAt)
	team := wrTeam(t, db, want.ID)
	testsupport.AssertIDs(t, what+": teamMembers", wrIDs(t, got.TeamMembers), team)
	if got.TeamSize != len(team) {
		t.Errorf("%s: teamSize %d, database has %d members", what, got.TeamSize, len(team))
	}
}

// wrPicks are rows of the seeded data the mutation tests work on.
type wrPicks struct {
	orgA, orgB int64 // active organizations with employees
	busyA      int64 // an employee of A on at least two teams
	projA      int64 // a project of A with a team
	memberA    int64 // on projA's team
	outsiderA  int64 // an employee of A not on projA's team
	empB       int64 // an employee of B
}

func wrPick(t testing.TB, db *testsupport.DB) wrPicks {
	t.Helper()
	var p wrPicks
	orgs := db.MustQueryInt64s(t, `SELECT id FROM organizations o WHERE is_active
		AND EXISTS (SELECT 1 FROM employees e WHERE e.organization_id = o.id) ORDER BY id LIMIT 2`)
	if len(orgs) != 2 {
		t.Fatalf("seed has %d active organizations with employees", len(orgs))
	}
	p.orgA, p.orgB = orgs[0], orgs[1]
	p.busyA = db.MustQueryInt64(t, `SELECT e.id FROM employees e JOIN project_members m ON m.employee_id = e.id
		WHERE e.organization_id = $1 GROUP BY e.id HAVING count(*) >= 2 ORDER BY e.id LIMIT 1`, p.orgA)
	p.projA = db.MustQueryInt64(t, `SELECT p.id FROM projects p WHERE p.organization_id = $1
		AND EXISTS (SELECT 1 FROM project_members m WHERE m.project_id = p.id) ORDER BY p.id LIMIT 1`, p.orgA)
	p.memberA = db.MustQueryInt64(t, `SELECT employee_id FROM project_members WHERE project_id = $1 ORDER BY employee_id LIMIT 1`, p.projA)
	p.outsiderA = db.MustQueryInt64(t, `SELECT e.id FROM employees e WHERE e.organization_id = $1 AND NOT EXISTS
		(SELECT 1 FROM project_members m WHERE m.project_id = $2 AND m.employee_id = e.id) ORDER BY e.id LIMIT 1`, p.orgA, p.projA)
	p.empB = db.MustQueryInt64(t, `SELECT id FROM employees WHERE organization_id = $1 ORDER BY id LIMIT 1`, p.orgB)
	return p
}

func wrStr(id int64) string { return fmt.Sprint(id) }

func TestMutationOrganizationsSuccess(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)

	t.Run("create with every field", func(t *testing.T) {
		got := wrRun[wrOrgJSON](t, srv, mCreateOrg, map[string]any{"input": map[string]any{
			"name": "  Mutation Test Works  ", "industry": "Testing", "isActive": false}})
		row := wrOrg(t, db, testsupport.ParseID(t, got.ID))
		if row.Name != "Mutation Test Works" || row.Industry != "Testing" || row.IsActive {
			t.Errorf("stored %+v, want the trimmed name, industry Testing, inactive", row)
		}
		wrCheckOrg(t, "createOrganization", got, row)
	})
	t.Run("create with defaults", func(t *testing.T) {
		before := time.Now().Add(-5 * time.Second)
		got := wrRun[wrOrgJSON](t, srv, mCreateOrg, map[string]any{"input": map[string]any{"name": "Defaults Org"}})
		row := wrOrg(t, db, testsupport.ParseID(t, got.ID))
		if row.Industry != "" || !row.IsActive || row.CreatedAt.Before(before) {
			t.Errorf("stored %+v, want industry \"\", active, created now", row)
		}
		wrCheckOrg(t, "createOrganization defaults", got, row)
	})
	t.Run("name of exactly 200 characters, multi-byte", func(t *testing.T) {
		name := strings.Repeat("é", wrMaxNameRunes)
		got := wrRun[wrOrgJSON](t, srv, mCreateOrg, map[string]any{"input": map[string]any{"name": name}})
		if row := wrOrg(t, db, testsupport.ParseID(t, got.ID)); row.Name != name {
			t.Errorf("stored name of %d bytes, want the 200 runes given", len(row.Name))
		}
	})
	t.Run("update a subset of fields", func(t *testing.T) {
		id := db.MustQueryInt64(t, `SELECT id FROM organizations WHERE is_active ORDER BY id LIMIT 1`)
		before := wrOrg(t, db, id)
		got := wrRun[wrOrgJSON](t, srv, mUpdateOrg, map[string]any{"id": wrStr(id), "input": map[string]any{"industry": "Changed Industry"}})
		after := wrOrg(t, db, id)
		if after.Name != before.Name || after.IsActive != before.IsActive || after.Industry != "Changed Industry" ||
			!after.CreatedAt.Equal(before.CreatedAt) || !after.UpdatedAt.After(before.UpdatedAt) {
			t.Errorf("updating industry only: before %+v, after %+v", before, after)
		}
		wrCheckOrg(t, "updateOrganization industry", got, after)

		got = wrRun[wrOrgJSON](t, srv, mUpdateOrg, map[string]any{"id": wrStr(id), "input": map[string]any{"name": " Renamed Org ", "isActive": false}})
		after2 := wrOrg(t, db, id)
		if after2.Name != "Renamed Org" || after2.IsActive || after2.Industry != "Changed Industry" {
			t.Errorf("updating name and isActive: stored %+v", after2)
		}
		wrCheckOrg(t, "updateOrganization name+isActive", got, after2)

		// No fields: nothing changes but updatedAt.
		got = wrRun[wrOrgJSON](t, srv, mUpdateOrg, map[string]any{"id": wrStr(id), "input": map[string]any{}})
		after3 := wrOrg(t, db, id)
		if after3.Name != after2.Name || after3.Industry != after2.Industry || after3.IsActive != after2.IsActive {
			t.Errorf("empty update changed %+v into %+v", after2, after3)
		}
		wrCheckOrg(t, "updateOrganization nothing", got, after3)
	})
}

func TestMutationEmployeesSuccess(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)
	p := wrPick(t, db)

	t.Run("create with every field", func(t *testing.T) {
		got := wrRun[wrEmpJSON](t, srv, mCreateEmp, map[string]any{"input": map[string]any{
			"organizationId": wrStr(p.orgA), "name": "  Ada Mutation ", "email": " Ada.Mutation@Example.COM ",
			"department": "Research", "title": "Principal", "salary": 12345.678, "isActive": false,
			"hiredAt": "2024-05-06T07:08:09.123456Z"}})
		row := wrEmp(t, db, testsupport.ParseID(t, got.ID))
		hired := time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)
		if row.OrganizationID != p.orgA || row.Name != "Ada Mutation" || row.Email != "Ada.Mutation@Example.COM" ||
			row.Department != "Research" || row.Title != "Principal" || row.Salary != 12345.68 || row.IsActive || !row.HiredAt.Equal(hired) {
			t.Errorf("stored %+v", row)
		}
		wrCheckEmp(t, "createEmployee", got, row)
		if len(got.Projects) != 0 {
			t.Errorf("a new employee is on %d teams", len(got.Projects))
		}
	})
	t.Run("create with defaults", func(t *testing.T) {
		before := time.Now().Add(-5 * time.Second)
		got := wrRun[wrEmpJSON](t, srv, mCreateEmp, map[string]any{"input": map[string]any{
			"organizationId": wrStr(p.orgB), "name": "Bo Defaults", "email": "bo.defaults@example.com",
			"department": "Sales", "salary": 0}})
		row := wrEmp(t, db, testsupport.ParseID(t, got.ID))
		after := time.Now().Add(5 * time.Second)
		if !row.IsActive || row.Title != "" || row.Salary != 0 || row.HiredAt.Before(before) || row.HiredAt.After(after) {
			t.Errorf("stored %+v, want active, no title, salary 0, hired now", row)
		}
		wrCheckEmp(t, "createEmployee defaults", got, row)
	})
	t.Run("update a subset of fields", func(t *testing.T) {
		before := wrEmp(t, db, p.empB)
		got := wrRun[wrEmpJSON](t, srv, mUpdateEmp, map[string]any{"id": wrStr(p.empB), "input": map[string]any{"salary": 99999.5}})
		after := wrEmp(t, db, p.empB)
		want := before
		want.Salary, want.UpdatedAt = 99999.5, after.UpdatedAt
		if after != want || !after.UpdatedAt.After(before.UpdatedAt) {
			t.Errorf("updating salary only: before %+v, after %+v", before, after)
		}
		wrCheckEmp(t, "updateEmployee salary", got, after)

		got = wrRun[wrEmpJSON](t, srv, mUpdateEmp, map[string]any{"id": wrStr(p.empB), "input": map[string]any{
			"name": "New Name", "email": "New.Name.Unique@Example.org", "department": "Legal", "title": "",
			"hiredAt": "2020-01-02T03:04:05Z"}})
		after2 := wrEmp(t, db, p.empB)
		if after2.Name != "New Name" || after2.Email != "New.Name.Unique@Example.org" || after2.Department != "Legal" ||
			after2.Title != "" || after2.Salary != 99999.5 || after2.OrganizationID != before.OrganizationID ||
			!after2.HiredAt.Equal(time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)) {
			t.Errorf("updating name/email/department/title/hiredAt: stored %+v", after2)
		}
		wrCheckEmp(t, "updateEmployee several", got, after2)
	})
	t.Run("largest salary numeric(12,2) holds", func(t *testing.T) {
		const most = 9_999_999_999.99
		got := wrRun[wrEmpJSON](t, srv, mUpdateEmp, map[string]any{"id": wrStr(p.empB), "input": map[string]any{"salary": most}})
		if row := wrEmp(t, db, p.empB); row.Salary != most || got.Salary != most {
			t.Errorf("salary %v: stored %v, answered %v", most, row.Salary, got.Salary)
		}
	})
	t.Run("isActive", func(t *testing.T) {
		for _, active := range []bool{false, true} {
			got := wrRun[wrEmpJSON](t, srv, mUpdateEmp, map[string]any{"id": wrStr(p.empB), "input": map[string]any{"isActive": active}})
			row := wrEmp(t, db, p.empB)
			if row.IsActive != active || got.IsActive != active {
				t.Errorf("isActive %v: stored %v, answered %v", active, row.IsActive, got.IsActive)
			}
		}
	})
	t.Run("moving to another organization leaves the old teams", func(t *testing.T) {
		projects := db.MustQueryInt64s(t, `SELECT project_id FROM project_members WHERE employee_id = $1 ORDER BY 1`, p.busyA)
		if len(projects) < 2 {
			t.Fatalf("employee %d is on %d teams", p.busyA, len(projects))
		}
		teams := map[int64][]int64{}
		for _, pid := range projects {
			teams[pid] = wrTeam(t, db, pid)
		}
		allMembers := db.MustQueryInt64(t, `SELECT count(*) FROM project_members`)
		got := wrRun[wrEmpJSON](t, srv, mUpdateEmp, map[string]any{"id": wrStr(p.busyA), "input": map[string]any{
			"organizationId": wrStr(p.orgB), "title": "Transferred"}})
		row := wrEmp(t, db, p.busyA)
		if row.OrganizationID != p.orgB || row.Title != "Transferred" {
			t.Errorf("stored %+v, want organization %d and the new title", row, p.orgB)
		}
		wrCheckEmp(t, "updateEmployee move", got, row)
		if len(got.Projects) != 0 {
			t.Errorf("answered projects %v after the move, want none", wrIDs(t, got.Projects))
		}
		if n := db.MustQueryInt64(t, `SELECT count(*) FROM project_members WHERE employee_id = $1`, p.busyA); n != 0 {
			t.Errorf("the moved employee is still on %d teams", n)
		}
		for _, pid := range projects {
			want := slices.DeleteFunc(slices.Clone(teams[pid]), func(id int64) bool { return id == p.busyA })
			testsupport.AssertIDs(t, fmt.Sprintf("team of project %d after the move", pid), wrTeam(t, db, pid), want)
		}
		if n := db.MustQueryInt64(t, `SELECT count(*) FROM project_members`); n != allMembers-int64(len(projects)) {
			t.Errorf("project_members has %d rows, want %d (only the mover's %d memberships gone)", n, allMembers-int64(len(projects)), len(projects))
		}
	})
	t.Run("organizationId unchanged keeps the teams", func(t *testing.T) {
		n := db.MustQueryInt64(t, `SELECT count(*) FROM project_members WHERE employee_id = $1`, p.memberA)
		wrRun[wrEmpJSON](t, srv, mUpdateEmp, map[string]any{"id": wrStr(p.memberA), "input": map[string]any{"organizationId": wrStr(p.orgA)}})
		if got := db.MustQueryInt64(t, `SELECT count(*) FROM project_members WHERE employee_id = $1`, p.memberA); got != n || n == 0 {
			t.Errorf("memberships %d -> %d after 'moving' to the same organization", n, got)
		}
	})
	t.Run("delete takes the memberships along", func(t *testing.T) {
		victim := db.MustQueryInt64(t, `SELECT employee_id FROM project_members GROUP BY employee_id HAVING count(*) >= 2 ORDER BY employee_id DESC LIMIT 1`)
		projects := db.MustQueryInt64s(t, `SELECT project_id FROM project_members WHERE employee_id = $1`, victim)
		allMembers := db.MustQueryInt64(t, `SELECT count(*) FROM project_members`)
		allEmployees := db.MustQueryInt64(t, `SELECT count(*) FROM employees`)
		if ok := wrRun[bool](t, srv, mDeleteEmp, map[string]any{"id": wrStr(victim)}); !ok {
			t.Errorf("deleteEmployee answered false")
		}
		if _, ok := wrEmpOK(t, db, victim); ok {
			t.Errorf("employee %d is still in the database", victim)
		}
		if n := db.MustQueryInt64(t, `SELECT count(*) FROM project_members WHERE employee_id = $1`, victim); n != 0 {
			t.Errorf("%d memberships of the deleted employee remain", n)
		}
		if n := db.MustQueryInt64(t, `SELECT count(*) FROM project_members`); n != allMembers-int64(len(projects)) {
			t.Errorf("project_members has %d rows, want %d", n, allMembers-int64(len(projects)))
		}
		if n := db.MustQueryInt64(t, `SELECT count(*) FROM employees`); n != allEmployees-1 {
			t.Errorf("employees has %d rows, want %d", n, allEmployees-1)
		}
		res := srv.Mutate(t, mDeleteEmp, map[string]any{"id": wrStr(victim)})
		if e := res.MustError(t, "NOT_FOUND"); e.Field() != "id" {
			t.Errorf("deleting again: field %q, want id", e.Field())
		}
	})
}

func TestMutationProjectsSuccess(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)
	p := wrPick(t, db)

	t.Run("create with every field", func(t *testing.T) {
		got := wrRun[wrProjJSON](t, srv, mCreateProj, map[string]any{"input": map[string]any{
			"organizationId": wrStr(p.orgA), "name": " Apollo ", "description": "To the moon", "status": "on_hold", "budget": 1234567.891}})
		row := wrProj(t, db, testsupport.ParseID(t, got.ID))
		if row.OrganizationID != p.orgA || row.Name != "Apollo" || row.Description != "To the moon" || row.Status != "on_hold" || row.Budget != 1234567.89 {
			t.Errorf("stored %+v", row)
		}
		if got.TeamSize != 0 || len(got.TeamMembers) != 0 {
			t.Errorf("a new project has a team: %+v", got)
		}
		wrCheckProj(t, db, "createProject", got)
	})
	t.Run("largest budget numeric(14,2) holds", func(t *testing.T) {
		const most = 999_999_999_999.99
		got := wrRun[wrProjJSON](t, srv, mCreateProj, map[string]any{"input": map[string]any{"organizationId": wrStr(p.orgA), "name": "Max", "budget": most}})
		if row := wrProj(t, db, testsupport.ParseID(t, got.ID)); row.Budget != most || got.Budget != most {
			t.Errorf("budget %v: stored %v, answered %v", most, row.Budget, got.Budget)
		}
	})
	t.Run("create with defaults", func(t *testing.T) {
		got := wrRun[wrProjJSON](t, srv, mCreateProj, map[string]any{"input": map[string]any{"organizationId": wrStr(p.orgB), "name": "Gemini"}})
		row := wrProj(t, db, testsupport.ParseID(t, got.ID))
		if row.Status != "planning" || row.Budget != 0 || row.Description != "" {
			t.Errorf("stored %+v, want planning, budget 0, no description", row)
		}
		wrCheckProj(t, db, "createProject defaults", got)
	})
	t.Run("update a subset of fields", func(t *testing.T) {
		before := wrProj(t, db, p.projA)
		got := wrRun[wrProjJSON](t, srv, mUpdateProj, map[string]any{"id": wrStr(p.projA), "input": map[string]any{"status": "completed"}})
		after := wrProj(t, db, p.projA)
		want := before
		want.Status, want.UpdatedAt = "completed", after.UpdatedAt
		if after != want || !after.UpdatedAt.After(before.UpdatedAt) {
			t.Errorf("updating status only: before %+v, after %+v", before, after)
		}
		wrCheckProj(t, db, "updateProject status", got)

		got = wrRun[wrProjJSON](t, srv, mUpdateProj, map[string]any{"id": wrStr(p.projA), "input": map[string]any{
			"name": "Renamed Project", "description": "", "budget": 0}})
		after = wrProj(t, db, p.projA)
		if after.Name != "Renamed Project" || after.Description != "" || after.Budget != 0 || after.Status != "completed" {
			t.Errorf("updating name/description/budget: stored %+v", after)
		}
		wrCheckProj(t, db, "updateProject several", got)
	})
	t.Run("add and remove team members", func(t *testing.T) {
		team := wrTeam(t, db, p.projA)
		got := wrRun[wrProjJSON](t, srv, mAddMember, map[string]any{"p": wrStr(p.projA), "e": wrStr(p.outsiderA)})
		wrCheckProj(t, db, "addTeamMember", got)
		if want := testsupport.Sorted(append(slices.Clone(team), p.outsiderA)); !slices.Equal(wrTeam(t, db, p.projA), want) {
			t.Errorf("team after adding %d: %v, want %v", p.outsiderA, wrTeam(t, db, p.projA), want)
		}
		var role string
		db.MustScan(t, []any{&role}, `SELECT role FROM project_members WHERE project_id = $1 AND employee_id = $2`, p.projA, p.outsiderA)
		if role != "member" {
			t.Errorf("default role %q, want member", role)
		}

		other := db.MustQueryInt64(t, `SELECT e.id FROM employees e WHERE e.organization_id = $1 AND NOT EXISTS
			(SELECT 1 FROM project_members m WHERE m.project_id = $2 AND m.employee_id = e.id) ORDER BY e.id LIMIT 1`, p.orgA, p.projA)
		got = wrRun[wrProjJSON](t, srv, mAddMember, map[string]any{"p": wrStr(p.projA), "e": wrStr(other), "role": " Reviewer "})
		wrCheckProj(t, db, "addTeamMember with role", got)
		db.MustScan(t, []any{&role}, `SELECT role FROM project_members WHERE project_id = $1 AND employee_id = $2`, p.projA, other)
		if role != "Reviewer" {
			t.Errorf("role %q, want the trimmed Reviewer", role)
		}

		got = wrRun[wrProjJSON](t, srv, mRemoveMember, map[string]any{"p": wrStr(p.projA), "e": wrStr(p.memberA)})
		wrCheckProj(t, db, "removeTeamMember", got)
		if slices.Contains(wrTeam(t, db, p.projA), p.memberA) {
			t.Errorf("employee %d is still on the team", p.memberA)
		}
		if _, ok := wrEmpOK(t, db, p.memberA); !ok {
			t.Errorf("removing a team member deleted the employee")
		}
		want := testsupport.Sorted(append(slices.DeleteFunc(slices.Clone(team), func(id int64) bool { return id == p.memberA }), p.outsiderA, other))
		testsupport.AssertIDs(t, "final team", wrTeam(t, db, p.projA), want)
	})
}

func TestMutationRecordMetricSuccess(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)

	got := wrRun[wrMetricJSON](t, srv, mRecordMetric, map[string]any{"input": map[string]any{
		"metricType": "database", "value": 12.5, "endpoint": "graphql:test", "statusCode": 503, "timestamp": "2026-03-04T05:06:07.5Z"}})
	row := wrMetric(t, db, testsupport.ParseID(t, got.ID))
	ts := time.Date(2026, 3, 4, 5, 6, 7, 500000000, time.UTC)
	if row.MetricType != "database" || row.Value != 12.5 || row.Endpoint != "graphql:test" || row.StatusCode != 503 || !row.RecordedAt.Equal(ts) {
		t.Errorf("stored %+v", row)
	}
	if got.MetricType != row.MetricType || got.Value != row.Value || got.Endpoint != row.Endpoint || got.StatusCode != row.StatusCode {
		t.Errorf("answered %+v, stored %+v", got, row)
	}
	testsupport.AssertTime(t, "recordMetric timestamp", got.Timestamp, row.RecordedAt)

	before := time.Now().Add(-5 * time.Second)
	got = wrRun[wrMetricJSON](t, srv, mRecordMetric, map[string]any{"input": map[string]any{"metricType": "cache_hit", "value": 0}})
	row = wrMetric(t, db, testsupport.ParseID(t, got.ID))
	if row.MetricType != "cache_hit" || row.Value != 0 || row.Endpoint != "" || row.StatusCode != 0 ||
		row.RecordedAt.Before(before) || row.RecordedAt.After(time.Now().Add(5*time.Second)) {
		t.Errorf("stored %+v, want the defaults (no endpoint, status 0, now)", row)
	}
	testsupport.AssertTime(t, "recordMetric default timestamp", got.Timestamp, row.RecordedAt)
}

// wrCase is one mutation that must fail with a code and a field.
type wrCase struct {
	name  string
	doc   string
	vars  map[string]any
	code  string
	field string
}

func TestMutationValidationErrors(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)
	p := wrPick(t, db)
	a := wrStr(p.orgA)
	orgBName := wrOrg(t, db, p.orgB).Name
	emailA := wrEmp(t, db, p.outsiderA).Email
	long := strings.Repeat("x", wrMaxNameRunes+1)
	longRunes := strings.Repeat("é", wrMaxNameRunes+1)
	huge := json.Number("1e309") // beyond float64: decodes to +Inf

	emp := func(kv ...any) map[string]any {
		in := map[string]any{"organizationId": a, "name": "Valid Name", "email": "valid.unique@example.com", "department": "Sales", "salary": 1000}
		for i := 0; i < len(kv); i += 2 {
			in[kv[i].(string)] = kv[i+1]
		}
		return map[string]any{"input": in}
	}
	updEmp := func(id int64, kv ...any) map[string]any {
		in := map[string]any{}
		for i := 0; i < len(kv); i += 2 {
			in[kv[i].(string)] = kv[i+1]
		}
		return map[string]any{"id": wrStr(id), "input": in}
	}
	proj := func(kv ...any) map[string]any {
		in := map[string]any{"organizationId": a, "name": "Valid Project"}
		for i := 0; i < len(kv); i += 2 {
			in[kv[i].(string)] = kv[i+1]
		}
		return map[string]any{"input": in}
	}
	metric := func(kv ...any) map[string]any {
		in := map[string]any{"metricType": "page_load", "value": 1}
		for i := 0; i < len(kv); i += 2 {
			in[kv[i].(string)] = kv[i+1]
		}
		return map[string]any{"input": in}
	}
	org := func(kv ...any) map[string]any {
		in := map[string]any{"name": "Valid Org"}
		for i := 0; i < len(kv); i += 2 {
			in[kv[i].(string)] = kv[i+1]
		}
		return map[string]any{"input": in}
	}

	const bad, notFound, conflict = "BAD_USER_INPUT", "NOT_FOUND", "CONFLICT"
	cases := []wrCase{
		// createOrganization
		{"org: empty name", mCreateOrg, org("name", ""), bad, "name"},
		{"org: blank name", mCreateOrg, org("name", "   "), bad, "name"},
		{"org: 201-character name", mCreateOrg, org("name", long), bad, "name"},
		{"org: 201-rune multi-byte name", mCreateOrg, org("name", longRunes), bad, "name"},
		{"org: 201-character industry", mCreateOrg, org("industry", long), bad, "industry"},
		{"org: duplicate name", mCreateOrg, org("name", orgBName), conflict, "name"},
		{"org: duplicate name with spaces around", mCreateOrg, org("name", "  "+orgBName+" "), conflict, "name"},
		// updateOrganization
		{"update org: unknown id", mUpdateOrg, map[string]any{"id": wrUnknownID, "input": map[string]any{"industry": "x"}}, notFound, "id"},
		{"update org: malformed id", mUpdateOrg, map[string]any{"id": "abc", "input": map[string]any{"industry": "x"}}, bad, "id"},
		{"update org: empty name", mUpdateOrg, map[string]any{"id": a, "input": map[string]any{"name": ""}}, bad, "name"},
		{"update org: 201-character name", mUpdateOrg, map[string]any{"id": a, "input": map[string]any{"name": long}}, bad, "name"},
		{"update org: another organization's name", mUpdateOrg, map[string]any{"id": a, "input": map[string]any{"name": orgBName}}, conflict, "name"},
		// createEmployee
		{"employee: empty name", mCreateEmp, emp("name", ""), bad, "name"},
		{"employee: 201-character name", mCreateEmp, emp("name", long), bad, "name"},
		{"employee: malformed email", mCreateEmp, emp("email", "not-an-email"), bad, "email"},
		{"employee: email without a dot in the domain", mCreateEmp, emp("email", "ann@localhost"), bad, "email"},
		{"employee: email with a display name", mCreateEmp, emp("email", "Ann <ann@example.com>"), bad, "email"},
		{"employee: empty department", mCreateEmp, emp("department", " "), bad, "department"},
		{"employee: 201-character title", mCreateEmp, emp("title", long), bad, "title"},
		{"employee: negative salary", mCreateEmp, emp("salary", -0.01), bad, "salary"},
		{"employee: salary 1e12", mCreateEmp, emp("salary", 1e12), bad, "salary"},
		{"employee: salary 5e10 (beyond numeric(12,2))", mCreateEmp, emp("salary", 5e10), bad, "salary"},
		{"employee: salary 9999999999.995 (rounds beyond numeric(12,2))", mCreateEmp, emp("salary", 9999999999.995), bad, "salary"},
		{"employee: salary 1e309", mCreateEmp, emp("salary", huge), bad, "salary"},
		{"employee: unknown organization", mCreateEmp, emp("organizationId", wrUnknownID), notFound, "organizationId"},
		{"employee: malformed organization id", mCreateEmp, emp("organizationId", "0"), bad, "organizationId"},
		{"employee: duplicate email in other case", mCreateEmp, emp("email", strings.ToUpper(emailA)), conflict, "email"},
		{"employee: duplicate email with spaces around", mCreateEmp, emp("email", "  "+strings.ToUpper(emailA)+" "), conflict, "email"},
		// updateEmployee
		{"update employee: unknown id", mUpdateEmp, updEmp(987654321, "salary", 1), notFound, "id"},
		{"update employee: malformed email", mUpdateEmp, updEmp(p.empB, "email", "a@b"), bad, "email"},
		{"update employee: empty name", mUpdateEmp, updEmp(p.empB, "name", ""), bad, "name"},
		{"update employee: negative salary", mUpdateEmp, updEmp(p.empB, "salary", -1), bad, "salary"},
		{"update employee: salary 5e10 (beyond numeric(12,2))", mUpdateEmp, updEmp(p.empB, "salary", 5e10), bad, "salary"},
		{"update employee: salary 1e309", mUpdateEmp, updEmp(p.empB, "salary", huge), bad, "salary"},
		{"update employee: another employee's email in other case", mUpdateEmp, updEmp(p.empB, "email", strings.ToUpper(emailA)), conflict, "email"},
		{"update employee: unknown organization", mUpdateEmp, updEmp(p.empB, "organizationId", wrUnknownID), notFound, "organizationId"},
		// deleteEmployee
		{"delete employee: unknown id", mDeleteEmp, map[string]any{"id": wrUnknownID}, notFound, "id"},
		{"delete employee: malformed id", mDeleteEmp, map[string]any{"id": "-3"}, bad, "id"},
		// createProject
		{"project: empty name", mCreateProj, proj("name", ""), bad, "name"},
		{"project: 201-character name", mCreateProj, proj("name", long), bad, "name"},
		{"project: 5001-character description", mCreateProj, proj("description", strings.Repeat("d", 5001)), bad, "description"},
		{"project: unknown status", mCreateProj, proj("status", "cancelled"), bad, "status"},
		{"project: status in other case", mCreateProj, proj("status", "Active"), bad, "status"},
		{"project: negative budget", mCreateProj, proj("budget", -5), bad, "budget"},
		{"project: budget 1e12", mCreateProj, proj("budget", 1e12), bad, "budget"},
		{"project: budget 999999999999.999 (rounds to 1e12)", mCreateProj, proj("budget", 999999999999.999), bad, "budget"},
		{"update project: budget 1e13", mUpdateProj, map[string]any{"id": "1", "input": map[string]any{"budget": 1e13}}, bad, "budget"},
		{"project: unknown organization", mCreateProj, proj("organizationId", wrUnknownID), notFound, "organizationId"},
		// updateProject
		{"update project: unknown id", mUpdateProj, map[string]any{"id": wrUnknownID, "input": map[string]any{"status": "active"}}, notFound, "id"},
		{"update project: unknown status", mUpdateProj, map[string]any{"id": wrStr(p.projA), "input": map[string]any{"status": "done"}}, bad, "status"},
		{"update project: negative budget", mUpdateProj, map[string]any{"id": wrStr(p.projA), "input": map[string]any{"budget": -1}}, bad, "budget"},
		{"update project: empty name", mUpdateProj, map[string]any{"id": wrStr(p.projA), "input": map[string]any{"name": ""}}, bad, "name"},
		// addTeamMember
		{"add member: unknown project", mAddMember, map[string]any{"p": wrUnknownID, "e": wrStr(p.outsiderA)}, notFound, "projectId"},
		{"add member: unknown employee", mAddMember, map[string]any{"p": wrStr(p.projA), "e": wrUnknownID}, notFound, "employeeId"},
		{"add member: employee of another organization", mAddMember, map[string]any{"p": wrStr(p.projA), "e": wrStr(p.empB)}, bad, "employeeId"},
		{"add member: already on the team", mAddMember, map[string]any{"p": wrStr(p.projA), "e": wrStr(p.memberA)}, conflict, "employeeId"},
		{"add member: blank role", mAddMember, map[string]any{"p": wrStr(p.projA), "e": wrStr(p.outsiderA), "role": "  "}, bad, "role"},
		// removeTeamMember
		{"remove member: unknown project", mRemoveMember, map[string]any{"p": wrUnknownID, "e": wrStr(p.memberA)}, notFound, "projectId"},
		{"remove member: not on the team", mRemoveMember, map[string]any{"p": wrStr(p.projA), "e": wrStr(p.outsiderA)}, notFound, "employeeId"},
		{"remove member: malformed employee id", mRemoveMember, map[string]any{"p": wrStr(p.projA), "e": "x1"}, bad, "employeeId"},
		// recordMetric
		{"metric: unknown type", mRecordMetric, metric("metricType", "cpu"), bad, "metricType"},
		{"metric: negative value", mRecordMetric, metric("value", -1), bad, "value"},
		{"metric: value 1e309", mRecordMetric, metric("value", huge), bad, "value"},
		{"metric: status code 1000", mRecordMetric, metric("statusCode", 1000), bad, "statusCode"},
		{"metric: status code -1", mRecordMetric, metric("statusCode", -1), bad, "statusCode"},
		{"metric: 201-character endpoint", mRecordMetric, metric("endpoint", long), bad, "endpoint"},
	}
	before := wrDigest(t, db)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := srv.Mutate(t, c.doc, c.vars)
			if len(res.Errors) == 0 {
				t.Fatalf("no error; answered %s", res.Raw)
			}
			if got, field := res.Code(), res.Errors[0].Field(); got != c.code || field != c.field {
				t.Errorf("extensions code %q field %q, want %q %q: %s", got, field, c.code, c.field, res.Raw)
			}
			if string(res.Data) != "null" {
				t.Errorf("data = %s, want null", res.Data)
			}
			after := wrDigest(t, db)
			wrAssertUnchanged(t, c.name, before, after)
			before = after
		})
	}
}

// Every mutation, with input that is valid, refused without the token
// (ANONYMOUS_ROLE=none, serve's default).
func TestMutationAuthorization(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db, testsupport.Anonymous(auth.RoleNone))
	p := wrPick(t, db)
	removable := db.MustQueryInt64(t, `SELECT employee_id FROM project_members WHERE project_id = $1 ORDER BY employee_id DESC LIMIT 1`, p.projA)
	deletable := db.MustQueryInt64(t, `SELECT id FROM employees WHERE organization_id = $1 ORDER BY id DESC LIMIT 1`, p.orgB)
	mutations := []struct {
		name string
		doc  string
		vars map[string]any
	}{
		{"createOrganization", mCreateOrg, map[string]any{"input": map[string]any{"name": "Unauthorized Org"}}},
		{"updateOrganization", mUpdateOrg, map[string]any{"id": wrStr(p.orgA), "input": map[string]any{"name": "Unauthorized Rename"}}},
		{"createEmployee", mCreateEmp, map[string]any{"input": map[string]any{"organizationId": wrStr(p.orgA), "name": "Eve",
			"email": "eve.unauthorized@example.com", "department": "Sales", "salary": 1}}},
		{"updateEmployee", mUpdateEmp, map[string]any{"id": wrStr(p.empB), "input": map[string]any{"salary": 1, "isActive": false}}},
		{"createProject", mCreateProj, map[string]any{"input": map[string]any{"organizationId": wrStr(p.orgA), "name": "Unauthorized Project"}}},
		{"updateProject", mUpdateProj, map[string]any{"id": wrStr(p.projA), "input": map[string]any{"status": "on_hold"}}},
		{"addTeamMember", mAddMember, map[string]any{"p": wrStr(p.projA), "e": wrStr(p.outsiderA)}},
		{"removeTeamMember", mRemoveMember, map[string]any{"p": wrStr(p.projA), "e": wrStr(removable)}},
		{"deleteEmployee", mDeleteEmp, map[string]any{"id": wrStr(deletable)}},
		{"recordMetric", mRecordMetric, map[string]any{"input": map[string]any{"metricType": "page_load", "value": 1}}},
	}
	headers := []struct{ name, value string }{
		{"no header", ""},
		{"wrong token", "Bearer wrong-token"},
		{"Bearer with an empty token", "Bearer "},
		{"Bearer and nothing else", "Bearer"},
		{"token with a suffix", wrBearer + "x"},
		{"token prefix only", "Bearer " + testsupport.APIToken[:len(testsupport.APIToken)-1]},
		{"token without the scheme", testsupport.APIToken},
		{"Basic scheme", "Basic " + testsupport.APIToken},
	}
	before := wrDigest(t, db)
	for _, h := range headers {
		t.Run(h.name, func(t *testing.T) {
			for _, m := range mutations {
				res, err := wrPost(srv, h.value, m.doc, m.vars)
				if err != nil {
					t.Fatal(err)
				}
				// Refused at the HTTP edge (401, no data) or by the resolver
				// (data null): either way one UNAUTHENTICATED error.
				if res.Code() != "UNAUTHENTICATED" || len(res.Errors) != 1 || (len(res.Data) != 0 && string(res.Data) != "null") {
					t.Errorf("%s: want one UNAUTHENTICATED error and no data, got status %d: %s", m.name, res.Status, res.Raw)
				}
			}
			wrAssertUnchanged(t, h.name, before, wrDigest(t, db))
		})
	}
	// The same requests with the token succeed: the refusals above were
	// about the token alone.
	for _, m := range mutations {
		res, err := wrPost(srv, wrBearer, m.doc, m.vars)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Errors) > 0 {
			t.Errorf("%s with the token: %s", m.name, res.Raw)
		}
	}
	after := wrDigest(t, db)
	for _, name := range wrTables {
		if before[name] == after[name] {
			t.Errorf("the authorized mutations did not change %s", name)
		}
	}
	// Queries need a token too, and the API token is enough.
	if res, err := wrPost(srv, "", `{ allOrganizations { id } }`, nil); err != nil || res.Code() != "UNAUTHENTICATED" || res.Status != 401 {
		t.Errorf("a query without a token: %v %s", err, res.Raw)
	}
	if res, err := wrPost(srv, wrBearer, `{ allOrganizations { id } }`, nil); err != nil || len(res.Errors) > 0 {
		t.Errorf("a query with the API token: %v %s", err, res.Raw)
	}
}

func TestMutationRollback(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)
	p := wrPick(t, db)

	t.Run("move to an unknown organization", func(t *testing.T) {
		before := wrDigest(t, db)
		res := srv.Mutate(t, mUpdateEmp, map[string]any{"id": wrStr(p.busyA), "input": map[string]any{
			"organizationId": wrUnknownID, "name": "Half Written", "salary": 1}})
		if e := res.MustError(t, "NOT_FOUND"); e.Field() != "organizationId" {
			t.Errorf("field %q, want organizationId", e.Field())
		}
		wrAssertUnchanged(t, "updateEmployee to an unknown organization", before, wrDigest(t, db))
	})
	t.Run("add a member already on the team", func(t *testing.T) {
		before := wrDigest(t, db)
		res := srv.Mutate(t, mAddMember, map[string]any{"p": wrStr(p.projA), "e": wrStr(p.memberA), "role": "lead"})
		if e := res.MustError(t, "CONFLICT"); e.Field() != "employeeId" {
			t.Errorf("field %q, want employeeId", e.Field())
		}
		wrAssertUnchanged(t, "duplicate addTeamMember", before, wrDigest(t, db))
	})
	t.Run("create with a duplicate email", func(t *testing.T) {
		before := wrDigest(t, db)
		res := srv.Mutate(t, mCreateEmp, map[string]any{"input": map[string]any{"organizationId": wrStr(p.orgA), "name": "Dup",
			"email": strings.ToUpper(wrEmp(t, db, p.empB).Email), "department": "Sales", "salary": 1}})
		res.MustError(t, "CONFLICT")
		wrAssertUnchanged(t, "duplicate createEmployee", before, wrDigest(t, db))
	})
	t.Run("failure after the employee row was already updated", func(t *testing.T) {
		// A trigger in this test's own database makes the statement that
		// follows the UPDATE of the employee (taking them off their old
		// teams) fail: the UPDATE must be rolled back with it.
		db.MustExec(t, `CREATE FUNCTION wr_refuse_member_delete() RETURNS trigger LANGUAGE plpgsql AS
			$$ BEGIN RAISE EXCEPTION 'rollback probe: membership delete refused'; END $$`)
		db.MustExec(t, `CREATE TRIGGER wr_refuse_member_delete BEFORE DELETE ON project_members
			FOR EACH ROW EXECUTE FUNCTION wr_refuse_member_delete()`)
		before := wrDigest(t, db)
		res := srv.Mutate(t, mUpdateEmp, map[string]any{"id": wrStr(p.busyA), "input": map[string]any{
			"organizationId": wrStr(p.orgB), "name": "Half Moved", "salary": 777}})
		res.MustError(t, "INTERNAL")
		if strings.Contains(string(res.Raw), "rollback probe") {
			t.Errorf("the database error reached the client: %s", res.Raw)
		}
		wrAssertUnchanged(t, "updateEmployee failing after its UPDATE", before, wrDigest(t, db))
		if e := wrEmp(t, db, p.busyA); e.OrganizationID != p.orgA || e.Name == "Half Moved" {
			t.Errorf("employee after the failed move: %+v", e)
		}
		db.MustExec(t, `DROP TRIGGER wr_refuse_member_delete ON project_members`)
		wrRun[wrEmpJSON](t, srv, mUpdateEmp, map[string]any{"id": wrStr(p.busyA), "input": map[string]any{"organizationId": wrStr(p.orgB)}})
		if e := wrEmp(t, db, p.busyA); e.OrganizationID != p.orgB {
			t.Errorf("the same move without the trigger did not happen: %+v", e)
		}
	})
}
