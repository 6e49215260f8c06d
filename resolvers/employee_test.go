package resolvers_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"orgpulse/testsupport"
)

type employeeJSON struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	Email        string   `json:"email"`
	Department   string   `json:"department"`
	Title        string   `json:"title"`
	Salary       float64  `json:"salary"`
	IsActive     bool     `json:"isActive"`
	HiredAt      string   `json:"hiredAt"`
	CreatedAt    string   `json:"createdAt"`
	UpdatedAt    string   `json:"updatedAt"`
	Organization idName   `json:"organization"`
	Projects     []idName `json:"projects"`
}

type idName struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

const employeeFields = `id name email department title salary isActive hiredAt createdAt updatedAt
	organization { id name } projects { id name }`

// checkEmployee compares every field of e with the employees row, its
// employer and its project memberships, read independently.
func checkEmployee(t *testing.T, db *testsupport.DB, e employeeJSON) {
	t.Helper()
	id := testsupport.ParseID(t, e.ID)
	var name, email, dept, title, orgName string
	var salary float64
	var active bool
	var orgID int64
	var hired, created, updated time.Time
	db.MustScan(t, []any{&name, &email, &dept, &title, &salary, &active, &hired, &created, &updated, &orgID, &orgName}, `
		SELECT e.name, e.email, e.department, e.title, e.salary::float8, e.is_active,
		       e.hired_at, e.created_at, e.updated_at, o.id, o.name
		FROM employees e, organizations o
		WHERE o.id = e.organization_id AND e.id = $1`, id)
	what := "employee " + e.ID
	if e.Name != name || e.Email != email || e.Department != dept || e.Title != title || e.IsActive != active {
		t.Errorf("%s: name/email/department/title/isActive = %q/%q/%q/%q/%v, want %q/%q/%q/%q/%v",
			what, e.Name, e.Email, e.Department, e.Title, e.IsActive, name, email, dept, title, active)
	}
	if e.Salary != salary {
		t.Errorf("%s: salary %v, want %v", what, e.Salary, salary)
	}
	testsupport.AssertTime(t, what+" hiredAt", e.HiredAt, hired)
	testsupport.AssertTime(t, what+" createdAt", e.CreatedAt, created)
	testsupport.AssertTime(t, what+" updatedAt", e.UpdatedAt, updated)
	if e.Organization.ID != strconv.FormatInt(orgID, 10) || e.Organization.Name != orgName {
		t.Errorf("%s: organization %+v, want {%d %s}", what, e.Organization, orgID, orgName)
	}
	got := make([]int64, len(e.Projects))
	for i, p := range e.Projects {
		got[i] = testsupport.ParseID(t, p.ID)
	}
	want := db.MustQueryInt64s(t, "SELECT project_id FROM project_members WHERE employee_id = $1 ORDER BY project_id", id)
	testsupport.AssertIDs(t, what+" projects", testsupport.Sorted(got), want)
}

func TestEmployeeByID(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)

	// A hand-made employee with awkward values: cents in the salary,
	// sub-second timestamps, no projects.
	orgID := db.MustQueryInt64(t, "SELECT min(id) FROM organizations")
	handMade := db.MustQueryInt64(t, `INSERT INTO employees
		(organization_id, name, email, department, title, salary, is_active, hired_at, created_at, updated_at)
		VALUES ($1, 'Zoë O''Test', 'Zoe.OTest@Example.test', 'Engineering', '', 1234567.89, false,
		        '2019-12-31T23:59:59.5+02:00', '2020-01-01T00:00:00Z', '2024-02-29T10:11:12.123456Z')
		RETURNING id`, orgID)

	picks := db.MustQueryInt64s(t, `
		(SELECT min(id) FROM employees)
		UNION (SELECT max(id) FROM employees WHERE id <> $1)
		UNION (SELECT min(id) FROM employees WHERE NOT is_active)
		UNION (SELECT min(e.id) FROM employees e WHERE NOT EXISTS (SELECT 1 FROM project_members m WHERE m.employee_id = e.id))
		UNION (SELECT employee_id FROM project_members GROUP BY employee_id ORDER BY count(*) DESC, employee_id LIMIT 1)
		UNION (SELECT $1::bigint)`, handMade)
	const q = `query($id: ID!) { employee(id: $id) { ` + employeeFields + ` } }`
	for _, id := range picks {
		t.Run(strconv.FormatInt(id, 10), func(t *testing.T) {
			res := srv.Query(t, q, map[string]any{"id": strconv.FormatInt(id, 10)})
			var data struct{ Employee *employeeJSON }
			res.MustDecode(t, &data)
			if data.Employee == nil {
				t.Fatalf("employee(id: %d) is null", id)
			}
			checkEmployee(t, db, *data.Employee)
			// Salary is a JSON number, not a string.
			var raw struct {
				Employee struct{ Salary json.RawMessage }
			}
			_ = json.Unmarshal(res.Data, &raw)
			if s := string(raw.Employee.Salary); strings.HasPrefix(s, `"`) {
				t.Errorf("salary is a string: %s", s)
			}
		})
	}

	t.Run("hand-made values", func(t *testing.T) {
		var data struct{ Employee *employeeJSON }
		srv.Query(t, q, map[string]any{"id": strconv.FormatInt(handMade, 10)}).MustDecode(t, &data)
		e := data.Employee
		if e == nil {
			t.Fatal("null")
		}
		if got, want := e.Salary, 1234567.89; got != want {
			t.Errorf("salary: got %v, want %v", got, want)
		}
		if got, want := e.HiredAt, "2019-12-31T21:59:59.5Z"; got != want {
			t.Errorf("hiredAt: got %q, want %q (RFC 3339 in UTC)", got, want)
		}
		if got, want := e.UpdatedAt, "2024-02-29T10:11:12.123456Z"; got != want {
			t.Errorf("updatedAt: got %q, want %q", got, want)
		}
		if len(e.Projects) != 0 || e.Projects == nil {
			t.Errorf("projects: got %v, want []", e.Projects)
		}
	})

	t.Run("without organization selected", func(t *testing.T) {
		var data struct{ Employee *employeeJSON }
		srv.Query(t, `query($id: ID!) { employee(id: $id) { id name salary hiredAt } }`,
			map[string]any{"id": strconv.FormatInt(handMade, 10)}).MustDecode(t, &data)
		if data.Employee == nil || data.Employee.Name != "Zoë O'Test" || data.Employee.Salary != 1234567.89 {
			t.Errorf("got %+v", data.Employee)
		}
	})

	t.Run("unknown and malformed ids", func(t *testing.T) {
		unknown := db.MustQueryInt64(t, "SELECT max(id) + 1 FROM employees")
		res := srv.Query(t, q, map[string]any{"id": strconv.FormatInt(unknown, 10)})
		if len(res.Errors) > 0 || string(res.Data) != `{"employee":null}` {
			t.Errorf("unknown id: got %s, want data.employee null without errors", res.Raw)
		}
		// Projects selected: loaded alongside the employee, still null.
		res = srv.Query(t, `query($id: ID!) { employee(id: $id) { name projects { name teamSize } } }`, map[string]any{"id": strconv.FormatInt(unknown, 10)})
		if len(res.Errors) > 0 || string(res.Data) != `{"employee":null}` {
			t.Errorf("unknown id with projects: got %s, want data.employee null without errors", res.Raw)
		}
		res = srv.Query(t, q, map[string]any{"id": "abc"})
		if got, want := res.MustError(t, "BAD_USER_INPUT").Field(), "id"; got != want {
			t.Errorf("malformed id: extensions.field %q, want %q", got, want)
		}
	})
}

// employeeWhere builds an independent WHERE clause for the list filters.
func employeeWhere(orgID *int64, dept *string, active *bool) (string, []any) {
	conds, args := []string{"true"}, []any{}
	if orgID != nil {
		args = append(args, *orgID)
		conds = append(conds, fmt.Sprintf("organization_id = $%d", len(args)))
	}
	if dept != nil {
		args = append(args, *dept)
		conds = append(conds, fmt.Sprintf("department = $%d", len(args)))
	}
	if active != nil {
		args = append(args, *active)
		conds = append(conds, fmt.Sprintf("is_active = $%d", len(args)))
	}
	return strings.Join(conds, " AND "), args
}

type employeeFilterCase struct {
	name   string
	orgID  *int64
	dept   *string
	active *bool
}

func (c employeeFilterCase) vars() map[string]any {
	v := map[string]any{}
	if c.orgID != nil {
		v["organizationId"] = strconv.FormatInt(*c.orgID, 10)
	}
	if c.dept != nil {
		v["department"] = *c.dept
	}
	if c.active != nil {
		v["isActive"] = *c.active
	}
	return v
}

func employeeFilterCases(orgID int64) []employeeFilterCase {
	return []employeeFilterCase{
		{name: "no filter"},
		{name: "organization", orgID: &orgID},
		{name: "department", dept: ptr("Engineering")},
		{name: "inactive", active: ptr(false)},
		{name: "active", active: ptr(true)},
		{name: "all filters", orgID: &orgID, dept: ptr("Sales"), active: ptr(true)},
		{name: "unknown department", dept: ptr("Astrology")},
	}
}

func TestAllEmployeesPages(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)
	orgID := db.MustQueryInt64(t, "SELECT min(id) FROM organizations")
	const q = `query($page: Int, $pageSize: Int, $organizationId: ID, $department: String, $isActive: Boolean) {
	  allEmployees(page: $page, pageSize: $pageSize, organizationId: $organizationId, department: $department, isActive: $isActive) {
	    id department isActive organization { id }
	  }
	}`
	type item struct {
		ID           string `json:"id"`
		Department   string `json:"department"`
		IsActive     bool   `json:"isActive"`
		Organization idJSON `json:"organization"`
	}
	for _, fc := range employeeFilterCases(orgID) {
		t.Run(fc.name, func(t *testing.T) {
			where, args := employeeWhere(fc.orgID, fc.dept, fc.active)
			total := int(db.MustQueryInt64(t, "SELECT count(*) FROM employees WHERE "+where, args...))
			// A page size that leaves a short last page.
			size := 7
			for total > 0 && total%size == 0 {
				size++
			}
			last := max(1, (total+size-1)/size)
			for _, page := range []int{1, 2, last, last + 1, last + 10} {
				vars := fc.vars()
				vars["page"], vars["pageSize"] = page, size
				var data struct{ AllEmployees []item }
				res := srv.Query(t, q, vars)
				res.MustDecode(t, &data)
				if data.AllEmployees == nil {
					t.Errorf("page %d: allEmployees is %s, want a list", page, res.Data)
				}
				got := make([]int64, len(data.AllEmployees))
				for i, e := range data.AllEmployees {
					got[i] = testsupport.ParseID(t, e.ID)
					if fc.dept != nil && e.Department != *fc.dept || fc.active != nil && e.IsActive != *fc.active ||
						fc.orgID != nil && e.Organization.ID != strconv.FormatInt(*fc.orgID, 10) {
						t.Errorf("page %d: employee %+v does not match the filter", page, e)
					}
				}
				want := db.MustQueryInt64s(t, fmt.Sprintf("SELECT id FROM employees WHERE %s ORDER BY id OFFSET %d LIMIT %d",
					where, (page-1)*size, size), args...)
				testsupport.AssertIDs(t, fmt.Sprintf("page %d of size %d (%d rows)", page, size, total), got, want)
				switch {
				case page == last && total > 0 && len(got) != total-(last-1)*size:
					t.Errorf("last page %d has %d items, want the short remainder %d", page, len(got), total-(last-1)*size)
				case page > last && len(got) != 0:
					t.Errorf("page %d past the end has %d items, want none", page, len(got))
				}
			}
		})
	}

	t.Run("defaults", func(t *testing.T) {
		var data struct{ AllEmployees []idJSON }
		srv.Query(t, `{ allEmployees { id } }`, nil).MustDecode(t, &data)
		testsupport.AssertIDs(t, "allEmployees with default page and pageSize", ids(t, data.AllEmployees),
			db.MustQueryInt64s(t, "SELECT id FROM employees ORDER BY id LIMIT 20"))
	})

	t.Run("every field of a page", func(t *testing.T) {
		var data struct{ AllEmployees []employeeJSON }
		srv.Query(t, `{ allEmployees(page: 3, pageSize: 25) { `+employeeFields+` } }`, nil).MustDecode(t, &data)
		if len(data.AllEmployees) != 25 {
			t.Fatalf("%d employees, want 25", len(data.AllEmployees))
		}
		for _, e := range data.AllEmployees {
			checkEmployee(t, db, e)
		}
	})
}

func TestEmployeesKeyset(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)
	orgID := db.MustQueryInt64(t, "SELECT max(id) FROM organizations")
	const q = `query($first: Int, $after: String, $organizationId: ID, $department: String, $isActive: Boolean) {
	  employees(first: $first, after: $after, organizationId: $organizationId, department: $department, isActive: $isActive) {
	    totalCount
	    edges { cursor node { id } }
	    nodes { id }
	    pageInfo { hasNextPage endCursor }
	  }
	}`
	for _, fc := range employeeFilterCases(orgID) {
		for _, first := range []int{37, 100} {
			t.Run(fmt.Sprintf("%s first %d", fc.name, first), func(t *testing.T) {
				where, args := employeeWhere(fc.orgID, fc.dept, fc.active)
				want := db.MustQueryInt64s(t, "SELECT id FROM employees WHERE "+where+" ORDER BY id", args...)
				var all []int64
				var after any
				pages := 0
				for {
					vars := fc.vars()
					vars["first"], vars["after"] = first, after
					var data struct{ Employees employeeConnJSON }
					srv.Query(t, q, vars).MustDecode(t, &data)
					c := data.Employees
					pages++
					page := checkConnectionPage(t, fmt.Sprintf("page %d", pages), c, first)
					if c.TotalCount == nil || *c.TotalCount != int64(len(want)) {
						t.Errorf("page %d: totalCount %v, want %d", pages, c.TotalCount, len(want))
					}
					// Each page on its own equals the SQL keyset page.
					lastID := int64(0)
					if len(all) > 0 {
						lastID = all[len(all)-1]
					}
					a := append([]any{}, args...)
					a = append(a, lastID)
					testsupport.AssertIDs(t, fmt.Sprintf("page %d", pages), page, db.MustQueryInt64s(t,
						fmt.Sprintf("SELECT id FROM employees WHERE %s AND id > $%d ORDER BY id LIMIT %d", where, len(a), first), a...))
					all = append(all, page...)
					if !c.PageInfo.HasNextPage {
						break
					}
					if pages > len(want)+1 {
						t.Fatalf("walk does not end after %d pages", pages)
					}
					after = *c.PageInfo.EndCursor
				}
				testsupport.AssertIDs(t, "all pages", all, want)
				if wantPages := max(1, (len(want)+first-1)/first); pages != wantPages {
					t.Errorf("walk took %d pages, want %d", pages, wantPages)
				}
			})
		}
	}

	t.Run("first 0", func(t *testing.T) {
		var data struct{ Employees employeeConnJSON }
		srv.Query(t, q, map[string]any{"first": 0}).MustDecode(t, &data)
		c := data.Employees
		if len(c.Nodes) != 0 || !c.PageInfo.HasNextPage || c.PageInfo.EndCursor != nil {
			t.Errorf("first 0: got %+v, want no items, hasNextPage and a null endCursor", c)
		}
	})

	t.Run("defaults", func(t *testing.T) {
		var data struct{ Employees employeeConnJSON }
		srv.Query(t, `{ employees { nodes { id } pageInfo { hasNextPage endCursor } } }`, nil).MustDecode(t, &data)
		testsupport.AssertIDs(t, "employees with default first", ids(t, data.Employees.Nodes),
			db.MustQueryInt64s(t, "SELECT id FROM employees ORDER BY id LIMIT 20"))
	})
}

func TestEmployeesByOrganization(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)
	type row struct {
		ID   int64  `db:"id"`
		Name string `db:"name"`
	}
	check := func(t *testing.T, got []idName, where string, args ...any) {
		t.Helper()
		want := testsupport.MustQueryRows[row](t, db, "SELECT id, name FROM employees WHERE "+where+" ORDER BY id", args...)
		if len(want) == 0 {
			t.Fatal("the expectation is empty: nothing is tested")
		}
		if len(got) != len(want) {
			t.Errorf("%d employees, want %d", len(got), len(want))
		}
		for i := range min(len(got), len(want)) {
			if got[i].ID != strconv.FormatInt(want[i].ID, 10) || got[i].Name != want[i].Name {
				t.Errorf("item %d: got %+v, want %+v", i, got[i], want[i])
			}
		}
	}

	t.Run("verbatim original example", func(t *testing.T) {
		// The original design's example, verbatim: an integer literal.
		res := srv.Query(t, `{ employeesByOrganization(organizationId: 1) { id name } }`, nil)
		var data struct{ EmployeesByOrganization []idName }
		res.MustDecode(t, &data)
		check(t, data.EmployeesByOrganization, "organization_id = 1")
	})
	t.Run("string id variable", func(t *testing.T) {
		var data struct{ EmployeesByOrganization []idName }
		srv.Query(t, `query($o: ID!) { employeesByOrganization(organizationId: $o) { id name } }`,
			map[string]any{"o": "2"}).MustDecode(t, &data)
		check(t, data.EmployeesByOrganization, "organization_id = 2")
	})
	for _, active := range []bool{true, false} {
		t.Run(fmt.Sprintf("isActive %v", active), func(t *testing.T) {
			var data struct{ EmployeesByOrganization []idName }
			srv.Query(t, fmt.Sprintf(`{ employeesByOrganization(organizationId: 1, isActive: %v) { id name } }`, active), nil).
				MustDecode(t, &data)
			check(t, data.EmployeesByOrganization, "organization_id = 1 AND is_active = $1", active)
		})
	}
	t.Run("unknown organization", func(t *testing.T) {
		res := srv.Query(t, `{ employeesByOrganization(organizationId: 999999) { id name organization { id } } }`, nil)
		if len(res.Errors) > 0 || string(res.Data) != `{"employeesByOrganization":[]}` {
			t.Errorf("got %s, want an empty list", res.Raw)
		}
	})
	t.Run("at most 1,000 in id order", func(t *testing.T) {
		big := db.MustQueryInt64(t, "INSERT INTO organizations (name) VALUES ('Very Large Corp') RETURNING id")
		db.MustExec(t, `INSERT INTO employees (organization_id, name, email, department, salary)
			SELECT $1, 'Clone ' || g, 'clone.' || g || '@large.test', 'Support', 1000 + g FROM generate_series(1, 1001) g`, big)
		var data struct{ EmployeesByOrganization []idName }
		srv.Query(t, `query($o: ID!) { employeesByOrganization(organizationId: $o) { id name } }`,
			map[string]any{"o": strconv.FormatInt(big, 10)}).MustDecode(t, &data)
		got := make([]int64, len(data.EmployeesByOrganization))
		for i, e := range data.EmployeesByOrganization {
			got[i] = testsupport.ParseID(t, e.ID)
		}
		testsupport.AssertIDs(t, "1,001 employees", got,
			db.MustQueryInt64s(t, "SELECT id FROM employees WHERE organization_id = $1 ORDER BY id LIMIT 1000", big))
	})
	t.Run("malformed id", func(t *testing.T) {
		res := srv.Query(t, `{ employeesByOrganization(organizationId: "x1") { id } }`, nil)
		if got, want := res.MustError(t, "BAD_USER_INPUT").Field(), "organizationId"; got != want {
			t.Errorf("extensions.field %q, want %q", got, want)
		}
	})
}

func TestEmployeeListCaps(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)
	var data struct {
		Projects struct{ PageInfo pageInfoJSON }
	}
	srv.Query(t, `{ projects(first: 1) { pageInfo { endCursor } } }`, nil).MustDecode(t, &data)
	projectCursor := *data.Projects.PageInfo.EndCursor

	tests := []struct {
		name      string
		query     string
		wantField string
	}{
		{"allEmployees pageSize 0", `{ allEmployees(pageSize: 0) { id } }`, "pageSize"},
		{"allEmployees pageSize 101", `{ allEmployees(pageSize: 101) { id } }`, "pageSize"},
		{"allEmployees pageSize -5", `{ allEmployees(pageSize: -5) { id } }`, "pageSize"},
		{"allEmployees page 0", `{ allEmployees(page: 0) { id } }`, "page"},
		{"allEmployees page -1", `{ allEmployees(page: -1) { id } }`, "page"},
		{"allEmployees huge page", `{ allEmployees(page: 2147483647, pageSize: 100) { id } }`, "page"},
		{"employees first -1", `{ employees(first: -1) { nodes { id } } }`, "first"},
		{"employees first 101", `{ employees(first: 101) { nodes { id } } }`, "first"},
		{"employees bad cursor", `{ employees(first: 5, after: "garbage") { nodes { id } } }`, "after"},
		{"employees base64 cursor of nothing", `{ employees(first: 5, after: "Zm9vOmJhcg") { nodes { id } } }`, "after"},
		{"employees project cursor", `{ employees(first: 5, after: "` + projectCursor + `") { nodes { id } } }`, "after"},
		{"allEmployees bad organizationId", `{ allEmployees(organizationId: "one") { id } }`, "organizationId"},
		{"employees bad organizationId", `{ employees(organizationId: "-3") { nodes { id } } }`, "organizationId"},
		{"employeeStats bad organizationId", `{ employeeStats(organizationId: "x") { total } }`, "organizationId"},
		{"departmentStats bad organizationId", `{ departmentStats(organizationId: "x") { count } }`, "organizationId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := srv.Query(t, tt.query, nil)
			e := res.MustError(t, "BAD_USER_INPUT")
			if got, want := e.Field(), tt.wantField; got != want {
				t.Errorf("extensions.field: got %q, want %q (%s)", got, want, res.Raw)
			}
			if got, want := res.Status, 200; got != want {
				t.Errorf("status: got %d, want %d", got, want)
			}
		})
	}
}

func TestEmployeeAndDepartmentStats(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)
	orgID := db.MustQueryInt64(t, "SELECT min(id) FROM organizations")
	emptyOrg := db.MustQueryInt64(t, "INSERT INTO organizations (name) VALUES ('No Staff Ltd') RETURNING id")

	for _, tt := range []struct {
		name  string
		orgID *int64
		dept  *string
	}{
		{name: "everyone"},
		{name: "organization", orgID: &orgID},
		{name: "department", dept: ptr("Engineering")},
		{name: "organization and department", orgID: &orgID, dept: ptr("Sales")},
		{name: "unknown department", dept: ptr("Astrology")},
		{name: "organization without employees", orgID: &emptyOrg},
	} {
		t.Run(tt.name, func(t *testing.T) {
			vars := map[string]any{}
			if tt.orgID != nil {
				vars["o"] = strconv.FormatInt(*tt.orgID, 10)
			}
			if tt.dept != nil {
				vars["d"] = *tt.dept
			}
			var data struct {
				EmployeeStats   employeeStatsJSON
				DepartmentStats []departmentStatsJSON
			}
			srv.Query(t, `query($o: ID, $d: String) {
			  employeeStats(organizationId: $o, department: $d) { total active inactive averageSalary maxSalary minSalary }
			  departmentStats(organizationId: $o) { department count averageSalary minSalary maxSalary }
			}`, vars).MustDecode(t, &data)
			where, args := employeeWhere(tt.orgID, tt.dept, nil)
			checkEmployeeStats(t, db, "employeeStats", data.EmployeeStats, where, args...)
			where, args = employeeWhere(tt.orgID, nil, nil)
			checkDepartmentStats(t, db, "departmentStats", data.DepartmentStats, where, args...)
		})
	}
}
