package resolvers_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"orgpulse/testsupport"
)

// Shapes of the JSON answers, shared by the tests of this package.

type pageInfoJSON struct {
	HasNextPage bool    `json:"hasNextPage"`
	EndCursor   *string `json:"endCursor"`
}

type employeeStatsJSON struct {
	Total         int64   `json:"total"`
	Active        int64   `json:"active"`
	Inactive      int64   `json:"inactive"`
	AverageSalary float64 `json:"averageSalary"`
	MaxSalary     float64 `json:"maxSalary"`
	MinSalary     float64 `json:"minSalary"`
}

type departmentStatsJSON struct {
	Department    string  `json:"department"`
	Count         int64   `json:"count"`
	AverageSalary float64 `json:"averageSalary"`
	MinSalary     float64 `json:"minSalary"`
	MaxSalary     float64 `json:"maxSalary"`
}

type idJSON struct {
	ID string `json:"id"`
}

// employeeConnJSON is an EmployeeConnection with ids only.
type employeeConnJSON struct {
	TotalCount *int64 `json:"totalCount"`
	Edges      []struct {
		Cursor string `json:"cursor"`
		Node   idJSON `json:"node"`
	} `json:"edges"`
	Nodes    []idJSON     `json:"nodes"`
	PageInfo pageInfoJSON `json:"pageInfo"`
}

func ids(tb testing.TB, items []idJSON) []int64 {
	tb.Helper()
	out := make([]int64, len(items))
	for i, it := range items {
		out[i] = testsupport.ParseID(tb, it.ID)
	}
	return out
}

// checkConnectionPage checks the invariants of one keyset page: edges and
// nodes agree, endCursor is the last edge's cursor (null on an empty page),
// and the page is no larger than first. It returns the page's ids.
func checkConnectionPage(t *testing.T, what string, c employeeConnJSON, first int) []int64 {
	t.Helper()
	got := ids(t, c.Nodes)
	edgeIDs := make([]idJSON, len(c.Edges))
	for i, e := range c.Edges {
		edgeIDs[i] = e.Node
		if e.Cursor == "" {
			t.Errorf("%s: edge %d has an empty cursor", what, i)
		}
	}
	testsupport.AssertIDs(t, what+": edges vs nodes", ids(t, edgeIDs), got)
	if len(got) > first {
		t.Errorf("%s: %d items, more than first: %d", what, len(got), first)
	}
	switch {
	case len(c.Edges) == 0 && c.PageInfo.EndCursor != nil:
		t.Errorf("%s: empty page has endCursor %q, want null", what, *c.PageInfo.EndCursor)
	case len(c.Edges) > 0 && (c.PageInfo.EndCursor == nil || *c.PageInfo.EndCursor != c.Edges[len(c.Edges)-1].Cursor):
		t.Errorf("%s: endCursor %v is not the last edge's cursor %q", what, c.PageInfo.EndCursor, c.Edges[len(c.Edges)-1].Cursor)
	}
	return got
}

// wantEmployeeStats computes head counts and salary figures of the employees
// matching where, independently: the average is checked as sum / count.
func checkEmployeeStats(t *testing.T, db *testsupport.DB, what string, got employeeStatsJSON, where string, args ...any) {
	t.Helper()
	var total, active int64
	var sum, maxS, minS float64
	db.MustScan(t, []any{&total, &active, &sum, &maxS, &minS}, `
		SELECT count(*),
		       coalesce(sum(CASE WHEN is_active THEN 1 ELSE 0 END), 0),
		       coalesce(sum(salary), 0)::float8,
		       coalesce((SELECT salary FROM employees WHERE `+where+` ORDER BY salary DESC LIMIT 1), 0)::float8,
		       coalesce((SELECT salary FROM employees WHERE `+where+` ORDER BY salary ASC LIMIT 1), 0)::float8
		FROM employees WHERE `+where, args...)
	if got.Total != total || got.Active != active || got.Inactive != total-active {
		t.Errorf("%s: total/active/inactive = %d/%d/%d, want %d/%d/%d", what, got.Total, got.Active, got.Inactive, total, active, total-active)
	}
	wantAvg := 0.0
	if total > 0 {
		wantAvg = sum / float64(total)
	}
	testsupport.AssertClose(t, what+": averageSalary", got.AverageSalary, wantAvg, 0.01)
	testsupport.AssertClose(t, what+": maxSalary", got.MaxSalary, maxS, 0.001)
	testsupport.AssertClose(t, what+": minSalary", got.MinSalary, minS, 0.001)
}

// checkDepartmentStats compares per-department figures with an independent
// GROUP BY over the employees matching where. The schema promises no order,
// so departments are matched by name, each exactly once.
func checkDepartmentStats(t *testing.T, db *testsupport.DB, what string, got []departmentStatsJSON, where string, args ...any) {
	t.Helper()
	type dept struct {
		Department string  `db:"department"`
		N          int64   `db:"n"`
		Sum        float64 `db:"total"`
		Min        float64 `db:"lo"`
		Max        float64 `db:"hi"`
	}
	want := testsupport.MustQueryRows[dept](t, db, `
		SELECT department, count(*) AS n, sum(salary)::float8 AS total,
		       min(salary)::float8 AS lo, max(salary)::float8 AS hi
		FROM employees WHERE `+where+` GROUP BY department`, args...)
	byName := map[string]departmentStatsJSON{}
	for _, g := range got {
		if _, dup := byName[g.Department]; dup {
			t.Errorf("%s: department %q listed twice", what, g.Department)
		}
		byName[g.Department] = g
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d departments, want %d", what, len(got), len(want))
	}
	for _, w := range want {
		g, ok := byName[w.Department]
		if !ok {
			t.Errorf("%s: department %q missing", what, w.Department)
			continue
		}
		if g.Count != w.N {
			t.Errorf("%s: %s count %d, want %d", what, w.Department, g.Count, w.N)
		}
		testsupport.AssertClose(t, what+": "+w.Department+" averageSalary", g.AverageSalary, w.Sum/float64(w.N), 0.01)
		testsupport.AssertClose(t, what+": "+w.Department+" minSalary", g.MinSalary, w.Min, 0.001)
		testsupport.AssertClose(t, what+": "+w.Department+" maxSalary", g.MaxSalary, w.Max, 0.001)
	}
}

const organizationQuery = `query($id: ID!) {
  organization(id: $id) {
    id name industry isActive createdAt updatedAt employeeCount
    employeeStats { total active inactive averageSalary maxSalary minSalary }
    departmentStats { department count averageSalary minSalary maxSalary }
    all: projects { id status }
    planning: projects(status: "planning") { id status }
    active: projects(status: "active") { id status }
    completed: projects(status: "completed") { id status }
    onHold: projects(status: "on_hold") { id status }
  }
}`

type projectStatusJSON struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

type organizationJSON struct {
	ID              string                `json:"id"`
	Name            string                `json:"name"`
	Industry        string                `json:"industry"`
	IsActive        bool                  `json:"isActive"`
	CreatedAt       string                `json:"createdAt"`
	UpdatedAt       string                `json:"updatedAt"`
	EmployeeCount   int64                 `json:"employeeCount"`
	EmployeeStats   employeeStatsJSON     `json:"employeeStats"`
	DepartmentStats []departmentStatsJSON `json:"departmentStats"`
	All             []projectStatusJSON   `json:"all"`
	Planning        []projectStatusJSON   `json:"planning"`
	Active          []projectStatusJSON   `json:"active"`
	Completed       []projectStatusJSON   `json:"completed"`
	OnHold          []projectStatusJSON   `json:"onHold"`
}

func TestOrganizationByID(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)

	// An organization without employees or projects: every aggregate is
	// the aggregate of nothing.
	emptyID := db.MustQueryInt64(t, `INSERT INTO organizations (name, industry, is_active, created_at, updated_at)
		VALUES ('Empty Test Org', 'Testing', false, '2020-02-29T12:34:56.789Z', '2021-03-01T00:00:00Z') RETURNING id`)

	orgIDs := db.MustQueryInt64s(t, "SELECT id FROM organizations ORDER BY id")
	if len(orgIDs) != 51 {
		t.Fatalf("seeded database has %d organizations (with the empty one), want 51", len(orgIDs))
	}
	for _, id := range orgIDs {
		t.Run(strconv.FormatInt(id, 10), func(t *testing.T) {
			var data struct{ Organization *organizationJSON }
			srv.Query(t, organizationQuery, map[string]any{"id": strconv.FormatInt(id, 10)}).MustDecode(t, &data)
			o := data.Organization
			if o == nil {
				t.Fatalf("organization(id: %d) is null", id)
			}

			var name, industry string
			var active bool
			var created, updated time.Time
			db.MustScan(t, []any{&name, &industry, &active, &created, &updated},
				"SELECT name, industry, is_active, created_at, updated_at FROM organizations WHERE id = $1", id)
			if got, want := o.ID, strconv.FormatInt(id, 10); got != want {
				t.Errorf("id: got %q, want %q", got, want)
			}
			if o.Name != name || o.Industry != industry || o.IsActive != active {
				t.Errorf("name/industry/isActive: got %q/%q/%v, want %q/%q/%v", o.Name, o.Industry, o.IsActive, name, industry, active)
			}
			testsupport.AssertTime(t, "createdAt", o.CreatedAt, created)
			testsupport.AssertTime(t, "updatedAt", o.UpdatedAt, updated)

			if got, want := o.EmployeeCount, db.MustQueryInt64(t,
				"SELECT count(*) FROM employees WHERE organization_id = $1 AND is_active", id); got != want {
				t.Errorf("employeeCount: got %d, want %d active employees", got, want)
			}
			checkEmployeeStats(t, db, "employeeStats", o.EmployeeStats, "organization_id = $1", id)
			checkDepartmentStats(t, db, "departmentStats", o.DepartmentStats, "organization_id = $1", id)

			for _, tt := range []struct {
				status string
				got    []projectStatusJSON
			}{
				{"", o.All}, {"planning", o.Planning}, {"active", o.Active}, {"completed", o.Completed}, {"on_hold", o.OnHold},
			} {
				got := make([]int64, len(tt.got))
				for i, p := range tt.got {
					got[i] = testsupport.ParseID(t, p.ID)
					if tt.status != "" && p.Status != tt.status {
						t.Errorf("projects(status: %q) returned project %s with status %q", tt.status, p.ID, p.Status)
					}
				}
				want := db.MustQueryInt64s(t, `SELECT id FROM projects
					WHERE organization_id = $1 AND ($2 = '' OR status = $2) ORDER BY id`, id, tt.status)
				testsupport.AssertIDs(t, fmt.Sprintf("projects(status: %q)", tt.status), testsupport.Sorted(got), want)
			}
		})
	}

	t.Run("empty organization", func(t *testing.T) {
		var data struct{ Organization *organizationJSON }
		srv.Query(t, organizationQuery, map[string]any{"id": strconv.FormatInt(emptyID, 10)}).MustDecode(t, &data)
		o := data.Organization
		if o == nil {
			t.Fatal("organization is null")
		}
		if o.EmployeeCount != 0 || o.EmployeeStats != (employeeStatsJSON{}) || len(o.DepartmentStats) != 0 || len(o.All) != 0 {
			t.Errorf("got %+v, want zero counts, zero stats and empty lists", *o)
		}
		if o.CreatedAt != "2020-02-29T12:34:56.789Z" {
			t.Errorf("createdAt: got %q, want 2020-02-29T12:34:56.789Z", o.CreatedAt)
		}
	})
}

func TestOrganizationNotFoundAndMalformedID(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)
	const q = `query($id: ID!) { organization(id: $id) { id name } }`

	unknown := db.MustQueryInt64(t, "SELECT max(id) + 1000 FROM organizations")
	res := srv.Query(t, q, map[string]any{"id": strconv.FormatInt(unknown, 10)})
	if len(res.Errors) > 0 {
		t.Fatalf("unknown id: errors %s", res.Raw)
	}
	if got, want := string(res.Data), `{"organization":null}`; got != want {
		t.Errorf("unknown id: data %s, want %s", got, want)
	}

	for _, id := range []string{"abc", "0", "-1", "1.5", "", "99999999999999999999"} {
		t.Run(fmt.Sprintf("%q", id), func(t *testing.T) {
			res := srv.Query(t, q, map[string]any{"id": id})
			e := res.MustError(t, "BAD_USER_INPUT")
			if got, want := e.Field(), "id"; got != want {
				t.Errorf("extensions.field: got %q, want %q", got, want)
			}
			if got, want := res.Status, 200; got != want {
				t.Errorf("status: got %d, want %d", got, want)
			}
			if got, want := string(res.Data), `{"organization":null}`; got != want {
				t.Errorf("data: got %s, want %s", got, want)
			}
		})
	}
}

func TestOrganizationEmployeesCursorWalk(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)
	const q = `query($id: ID!, $first: Int, $after: String, $isActive: Boolean) {
	  organization(id: $id) {
	    employees(first: $first, after: $after, isActive: $isActive) {
	      totalCount
	      edges { cursor node { id } }
	      nodes { id }
	      pageInfo { hasNextPage endCursor }
	    }
	  }
	}`
	// An organization with both active and inactive employees.
	orgID := db.MustQueryInt64(t, `SELECT organization_id FROM employees GROUP BY organization_id
		HAVING bool_or(is_active) AND bool_or(NOT is_active) ORDER BY organization_id LIMIT 1`)

	for _, tt := range []struct {
		first    int
		isActive *bool
	}{
		{7, nil}, {10, nil}, {50, nil}, {100, nil}, {7, ptr(true)}, {7, ptr(false)}, {3, ptr(false)},
	} {
		name := fmt.Sprintf("first %d isActive %s", tt.first, boolName(tt.isActive))
		t.Run(name, func(t *testing.T) {
			where, args := "organization_id = $1", []any{orgID}
			if tt.isActive != nil {
				where, args = where+" AND is_active = $2", append(args, *tt.isActive)
			}
			want := db.MustQueryInt64s(t, "SELECT id FROM employees WHERE "+where+" ORDER BY id", args...)
			if tt.isActive == nil && len(want) != 50 {
				t.Fatalf("organization %d has %d employees, want 50", orgID, len(want))
			}

			var all []int64
			var after any // nil: the first page
			seen := map[int64]bool{}
			pages := 0
			for {
				vars := map[string]any{"id": strconv.FormatInt(orgID, 10), "first": tt.first, "after": after}
				if tt.isActive != nil {
					vars["isActive"] = *tt.isActive
				}
				var data struct {
					Organization struct{ Employees employeeConnJSON }
				}
				srv.Query(t, q, vars).MustDecode(t, &data)
				c := data.Organization.Employees
				pages++
				page := checkConnectionPage(t, fmt.Sprintf("page %d", pages), c, tt.first)
				for _, id := range page {
					if seen[id] {
						t.Errorf("page %d: employee %d seen on an earlier page", pages, id)
					}
					seen[id] = true
				}
				all = append(all, page...)
				if c.TotalCount == nil || *c.TotalCount != int64(len(want)) {
					t.Errorf("page %d: totalCount %v, want %d", pages, c.TotalCount, len(want))
				}
				if !c.PageInfo.HasNextPage {
					break
				}
				if len(page) != tt.first {
					t.Errorf("page %d: %d items and hasNextPage, want a full page of %d", pages, len(page), tt.first)
				}
				if pages > len(want)+1 {
					t.Fatalf("walk does not end after %d pages", pages)
				}
				after = *c.PageInfo.EndCursor
			}
			testsupport.AssertIDs(t, "all pages", all, want)
			if wantPages := max(1, (len(want)+tt.first-1)/tt.first); pages != wantPages {
				t.Errorf("walk took %d pages, want %d", pages, wantPages)
			}
		})
	}
}

func TestAllOrganizations(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)
	var data struct {
		AllOrganizations []struct {
			ID       string `json:"id"`
			IsActive bool   `json:"isActive"`
		}
	}
	srv.Query(t, `{ allOrganizations { id isActive } }`, nil).MustDecode(t, &data)
	got := make([]int64, len(data.AllOrganizations))
	for i, o := range data.AllOrganizations {
		got[i] = testsupport.ParseID(t, o.ID)
		if !o.IsActive {
			t.Errorf("allOrganizations lists inactive organization %s", o.ID)
		}
	}
	want := db.MustQueryInt64s(t, "SELECT id FROM organizations WHERE is_active ORDER BY id")
	if n := db.MustQueryInt64(t, "SELECT count(*) FROM organizations WHERE NOT is_active"); n == 0 {
		t.Fatal("the sample data has no inactive organization: the filter is not exercised")
	}
	testsupport.AssertIDs(t, "allOrganizations", got, want)
}

func TestOrganizationsKeysetWalk(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)
	const q = `query($first: Int, $after: String, $isActive: Boolean) {
	  organizations(first: $first, after: $after, isActive: $isActive) {
	    totalCount
	    edges { cursor node { id isActive } }
	    nodes { id }
	    pageInfo { hasNextPage endCursor }
	  }
	}`
	for _, tt := range []struct {
		first    int
		isActive *bool
	}{
		{9, nil}, {10, nil}, {9, ptr(true)}, {4, ptr(false)},
	} {
		t.Run(fmt.Sprintf("first %d isActive %s", tt.first, boolName(tt.isActive)), func(t *testing.T) {
			where, args := "true", []any{}
			if tt.isActive != nil {
				where, args = "is_active = $1", []any{*tt.isActive}
			}
			want := db.MustQueryInt64s(t, "SELECT id FROM organizations WHERE "+where+" ORDER BY id", args...)
			if tt.isActive == nil && len(want) != 50 {
				t.Fatalf("%d organizations, want 50", len(want))
			}
			var all []int64
			var after any
			pages := 0
			for {
				vars := map[string]any{"first": tt.first, "after": after}
				if tt.isActive != nil {
					vars["isActive"] = *tt.isActive
				}
				var data struct {
					Organizations struct {
						TotalCount int64 `json:"totalCount"`
						Edges      []struct {
							Cursor string `json:"cursor"`
							Node   struct {
								ID       string `json:"id"`
								IsActive bool   `json:"isActive"`
							} `json:"node"`
						} `json:"edges"`
						Nodes    []idJSON     `json:"nodes"`
						PageInfo pageInfoJSON `json:"pageInfo"`
					}
				}
				srv.Query(t, q, vars).MustDecode(t, &data)
				c := data.Organizations
				pages++
				page := ids(t, c.Nodes)
				if len(page) != len(c.Edges) {
					t.Fatalf("page %d: %d nodes, %d edges", pages, len(page), len(c.Edges))
				}
				for i, e := range c.Edges {
					if testsupport.ParseID(t, e.Node.ID) != page[i] {
						t.Errorf("page %d: edge %d is %s, node is %d", pages, i, e.Node.ID, page[i])
					}
					if tt.isActive != nil && e.Node.IsActive != *tt.isActive {
						t.Errorf("page %d: organization %s isActive %v, filter %v", pages, e.Node.ID, e.Node.IsActive, *tt.isActive)
					}
				}
				if len(page) > 0 && (c.PageInfo.EndCursor == nil || *c.PageInfo.EndCursor != c.Edges[len(c.Edges)-1].Cursor) {
					t.Errorf("page %d: endCursor is not the last edge's cursor", pages)
				}
				if c.TotalCount != int64(len(want)) {
					t.Errorf("page %d: totalCount %d, want %d", pages, c.TotalCount, len(want))
				}
				all = append(all, page...)
				if !c.PageInfo.HasNextPage {
					break
				}
				if len(page) != tt.first {
					t.Errorf("page %d: %d items and hasNextPage, want %d", pages, len(page), tt.first)
				}
				if pages > len(want)+1 {
					t.Fatalf("walk does not end after %d pages", pages)
				}
				after = *c.PageInfo.EndCursor
			}
			testsupport.AssertIDs(t, "all pages", all, want)
			if wantPages := max(1, (len(want)+tt.first-1)/tt.first); pages != wantPages {
				t.Errorf("walk took %d pages, want %d", pages, wantPages)
			}
		})
	}

	t.Run("bad cursors", func(t *testing.T) {
		var data struct {
			Employees struct{ PageInfo pageInfoJSON }
		}
		srv.Query(t, `{ employees(first: 1) { pageInfo { endCursor } } }`, nil).MustDecode(t, &data)
		employeeCursor := *data.Employees.PageInfo.EndCursor
		for _, after := range []string{"not a cursor", "!!!", employeeCursor} {
			res := srv.Query(t, q, map[string]any{"first": 5, "after": after})
			if got, want := res.MustError(t, "BAD_USER_INPUT").Field(), "after"; got != want {
				t.Errorf("after %q: extensions.field %q, want %q", after, got, want)
			}
		}
	})
}

func TestOrganizationEmployeesFirstCap(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)
	for _, first := range []int{-1, 101} {
		res := srv.Query(t, `query($first: Int) { organization(id: 1) { employees(first: $first) { nodes { id } } } }`,
			map[string]any{"first": first})
		e := res.MustError(t, "BAD_USER_INPUT")
		if got, want := e.Field(), "first"; got != want {
			t.Errorf("first %d: extensions.field %q, want %q", first, got, want)
		}
		if !strings.Contains(e.Message, "100") {
			t.Errorf("first %d: message %q does not state the bound", first, e.Message)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func boolName(b *bool) string {
	if b == nil {
		return "null"
	}
	return strconv.FormatBool(*b)
}
