// Package queries_test checks every generated query in orgpulse/db against
// the seeded sample data. Each expected value comes from an independent
// source: a plain snapshot of the table filtered, sorted and aggregated in
// Go, or SQL written differently from the query under test.
package queries_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"orgpulse/db"
	"orgpulse/testsupport"
)

// Sizes of the default sample data (seed.Options{}).
const (
	seedMembersPerProject = 8
)

// metricTypes are the values the performance_metrics CHECK allows.
var metricTypes = []string{"page_load", "api_response", "database", "cache_hit"}

// projectStatuses are the values the projects CHECK allows.
var projectStatuses = []string{"planning", "active", "completed", "on_hold"}

type fixture struct {
	ctx context.Context
	tdb *testsupport.DB
	q   *db.Queries

	orgs      []db.Organization // by id
	employees []db.Employee     // by id
	projects  []db.Project      // by id
	orgByID   map[int64]db.Organization
	empByID   map[int64]db.Employee
	projByID  map[int64]db.Project
	teamSize  map[int64]int32 // project id -> members, from a plain scan of project_members
}

// setup opens a seeded database for one top-level test and snapshots the
// small tables with plain SELECTs (no filter, no ORDER BY), sorted in Go.
func setup(t *testing.T) *fixture {
	t.Helper()
	tdb := testsupport.MustOpenSeededDB(t)
	f := &fixture{ctx: context.Background(), tdb: tdb, q: db.New(tdb.Pool)}

	f.orgs = collect(t, tdb, pgx.RowToStructByPos[db.Organization],
		`SELECT id, name, industry, is_active, created_at, updated_at FROM organizations`)
	f.employees = collect(t, tdb, pgx.RowToStructByPos[db.Employee],
		`SELECT id, organization_id, name, email, department, title, salary, is_active, hired_at, created_at, updated_at FROM employees`)
	f.projects = collect(t, tdb, pgx.RowToStructByPos[db.Project],
		`SELECT id, organization_id, name, description, status, budget, created_at, updated_at FROM projects`)
	slices.SortFunc(f.orgs, func(a, b db.Organization) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(f.employees, func(a, b db.Employee) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(f.projects, func(a, b db.Project) int { return cmp.Compare(a.ID, b.ID) })
	if len(f.orgs) == 0 || len(f.employees) == 0 || len(f.projects) == 0 {
		t.Fatalf("seeded database is empty: %d organizations, %d employees, %d projects",
			len(f.orgs), len(f.employees), len(f.projects))
	}
	f.orgByID = byID(f.orgs, func(o db.Organization) int64 { return o.ID })
	f.empByID = byID(f.employees, func(e db.Employee) int64 { return e.ID })
	f.projByID = byID(f.projects, func(p db.Project) int64 { return p.ID })

	f.teamSize = map[int64]int32{}
	for _, m := range collect(t, tdb, pgx.RowToStructByPos[db.ProjectMember],
		`SELECT project_id, employee_id, role, joined_at, organization_id FROM project_members`) {
		f.teamSize[m.ProjectID]++
	}
	return f
}

func collect[T any](t *testing.T, tdb *testsupport.DB, fn pgx.RowToFunc[T], sql string, args ...any) []T {
	t.Helper()
	rows, err := tdb.Pool.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatalf("query %q: %v", sql, err)
	}
	out, err := pgx.CollectRows(rows, fn)
	if err != nil {
		t.Fatalf("query %q: %v", sql, err)
	}
	return out
}

func byID[T any](xs []T, id func(T) int64) map[int64]T {
	m := make(map[int64]T, len(xs))
	for _, x := range xs {
		m[id(x)] = x
	}
	return m
}

func ptr[T any](v T) *T { return &v }

func fmtPtr[T any](p *T) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprint(*p)
}

// sameRows compares two result slices; nil and empty are the same.
func sameRows[T any](a, b []T) bool {
	return len(a) == len(b) && (len(a) == 0 || reflect.DeepEqual(a, b))
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// relNear compares floats with a relative tolerance for sums computed in a
// different order.
func relNear(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

func ids[T any](xs []T, id func(T) int64) []int64 {
	out := make([]int64, len(xs))
	for i, x := range xs {
		out[i] = id(x)
	}
	return out
}

func empID(e db.Employee) int64     { return e.ID }
func orgID(o db.Organization) int64 { return o.ID }

// page returns xs[off:off+n] clipped to xs.
func page[T any](xs []T, off, n int) []T {
	if off >= len(xs) {
		return nil
	}
	return xs[off:min(off+n, len(xs))]
}

// unknownID is larger than any id in the sample data.
const unknownID = int64(1) << 40

// pick returns the first, second, middle and last elements (deduplicated).
func pick[T any](xs []T) []T {
	idx := []int{0, 1, len(xs) / 2, len(xs) - 1}
	var out []T
	seen := map[int]bool{}
	for _, i := range idx {
		if i >= 0 && i < len(xs) && !seen[i] {
			seen[i] = true
			out = append(out, xs[i])
		}
	}
	return out
}

// ---------------------------------------------------------------------------
// Organizations

func TestGetOrganization(t *testing.T) {
	f := setup(t)
	for _, want := range pick(f.orgs) {
		t.Run(fmt.Sprint(want.ID), func(t *testing.T) {
			got, err := f.q.GetOrganization(f.ctx, db.GetOrganizationParams{ID: want.ID})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("GetOrganization(%d) = %+v, want %+v", want.ID, got, want)
			}
		})
	}
	t.Run("unknown", func(t *testing.T) {
		if _, err := f.q.GetOrganization(f.ctx, db.GetOrganizationParams{ID: unknownID}); !errors.Is(err, pgx.ErrNoRows) {
			t.Errorf("GetOrganization(unknown) err = %v, want pgx.ErrNoRows", err)
		}
	})
}

func TestListOrganizationsByIDs(t *testing.T) {
	f := setup(t)
	first, mid, last := f.orgs[0], f.orgs[len(f.orgs)/2], f.orgs[len(f.orgs)-1]
	tests := []struct {
		name string
		ids  []int64
		want []db.Organization
	}{
		{"known and unknown", []int64{last.ID, -1, first.ID, unknownID, mid.ID}, []db.Organization{first, mid, last}},
		{"duplicates", []int64{first.ID, first.ID, first.ID}, []db.Organization{first}},
		{"all", ids(f.orgs, orgID), f.orgs},
		{"only unknown", []int64{unknownID, unknownID + 1}, nil},
		{"empty", []int64{}, nil},
		{"nil", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.q.ListOrganizationsByIDs(f.ctx, db.ListOrganizationsByIDsParams{Ids: tt.ids})
			if err != nil {
				t.Fatal(err)
			}
			// The loader matches rows by id: order is not part of the contract.
			slices.SortFunc(got, func(a, b db.Organization) int { return cmp.Compare(a.ID, b.ID) })
			if !sameRows(got, tt.want) {
				t.Errorf("ListOrganizationsByIDs(%v) ids = %v, want %v", tt.ids, ids(got, orgID), ids(tt.want, orgID))
			}
		})
	}
}

func TestListActiveOrganizations(t *testing.T) {
	f := setup(t)
	var want []db.Organization
	for _, o := range f.orgs {
		if o.IsActive {
			want = append(want, o)
		}
	}
	got, err := f.q.ListActiveOrganizations(f.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !sameRows(got, want) {
		t.Errorf("ListActiveOrganizations ids = %v, want %v", ids(got, orgID), ids(want, orgID))
	}
	if len(want) == 0 {
		t.Error("sample data has no active organization: the test proves nothing")
	}
}

func orgFilters() []struct {
	name     string
	isActive *bool
} {
	return []struct {
		name     string
		isActive *bool
	}{
		{"all", nil},
		{"active", ptr(true)},
		{"inactive", ptr(false)},
	}
}

func filterOrgs(orgs []db.Organization, isActive *bool) []db.Organization {
	var out []db.Organization
	for _, o := range orgs {
		if isActive == nil || o.IsActive == *isActive {
			out = append(out, o)
		}
	}
	return out
}

func TestListOrganizations(t *testing.T) {
	f := setup(t)
	const size = 7
	for _, tt := range orgFilters() {
		t.Run(tt.name, func(t *testing.T) {
			want := filterOrgs(f.orgs, tt.isActive)
			if len(want) == 0 {
				t.Logf("sample data has no %s organizations", tt.name)
			}
			var got []db.Organization
			after := int64(0)
			for pages := 0; ; pages++ {
				if pages > len(f.orgs)/size+2 {
					t.Fatalf("keyset paging does not terminate after %d pages", pages)
				}
				rows, err := f.q.ListOrganizations(f.ctx, db.ListOrganizationsParams{
					AfterID: after, IsActive: tt.isActive, LimitCount: size,
				})
				if err != nil {
					t.Fatal(err)
				}
				if len(rows) > size {
					t.Fatalf("page after %d has %d rows, limit %d", after, len(rows), size)
				}
				got = append(got, rows...)
				if len(rows) < size {
					break
				}
				after = rows[len(rows)-1].ID
			}
			// Every matching organization exactly once, in id order.
			if !sameRows(got, want) {
				t.Errorf("paged ids = %v, want %v", ids(got, orgID), ids(want, orgID))
			}
		})
	}
}

func TestCountOrganizations(t *testing.T) {
	f := setup(t)
	counts := map[string]int64{}
	for _, tt := range orgFilters() {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.q.CountOrganizations(f.ctx, db.CountOrganizationsParams{IsActive: tt.isActive})
			if err != nil {
				t.Fatal(err)
			}
			if want := int64(len(filterOrgs(f.orgs, tt.isActive))); got != want {
				t.Errorf("CountOrganizations(%s) = %d, want %d", fmtPtr(tt.isActive), got, want)
			}
			counts[tt.name] = got
		})
	}
	if counts["all"] != counts["active"]+counts["inactive"] {
		t.Errorf("all %d != active %d + inactive %d", counts["all"], counts["active"], counts["inactive"])
	}
}

// ---------------------------------------------------------------------------
// Employees

// sampleEmployees returns first, second, middle, last and the first
// inactive employee.
func (f *fixture) sampleEmployees() []db.Employee {
	out := pick(f.employees)
	for _, e := range f.employees {
		if !e.IsActive {
			out = append(out, e)
			break
		}
	}
	return out
}

func TestGetEmployee(t *testing.T) {
	f := setup(t)
	for _, want := range f.sampleEmployees() {
		t.Run(fmt.Sprint(want.ID), func(t *testing.T) {
			got, err := f.q.GetEmployee(f.ctx, db.GetEmployeeParams{ID: want.ID})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("GetEmployee(%d) = %+v, want %+v", want.ID, got, want)
			}
		})
	}
	t.Run("unknown", func(t *testing.T) {
		if _, err := f.q.GetEmployee(f.ctx, db.GetEmployeeParams{ID: unknownID}); !errors.Is(err, pgx.ErrNoRows) {
			t.Errorf("GetEmployee(unknown) err = %v, want pgx.ErrNoRows", err)
		}
	})
}

func TestGetEmployeeWithOrganization(t *testing.T) {
	f := setup(t)
	for _, want := range f.sampleEmployees() {
		t.Run(fmt.Sprint(want.ID), func(t *testing.T) {
			got, err := f.q.GetEmployeeWithOrganization(f.ctx, db.GetEmployeeWithOrganizationParams{ID: want.ID})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Employee, want) {
				t.Errorf("employee = %+v, want %+v", got.Employee, want)
			}
			org, err := f.q.GetOrganization(f.ctx, db.GetOrganizationParams{ID: want.OrganizationID})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Organization, org) {
				t.Errorf("organization = %+v, want GetOrganization(%d) = %+v", got.Organization, want.OrganizationID, org)
			}
			if !reflect.DeepEqual(got.Organization, f.orgByID[want.OrganizationID]) {
				t.Errorf("organization = %+v, want %+v", got.Organization, f.orgByID[want.OrganizationID])
			}
		})
	}
	t.Run("unknown", func(t *testing.T) {
		if _, err := f.q.GetEmployeeWithOrganization(f.ctx, db.GetEmployeeWithOrganizationParams{ID: unknownID}); !errors.Is(err, pgx.ErrNoRows) {
			t.Errorf("err = %v, want pgx.ErrNoRows", err)
		}
	})
}

type employeeFilter struct {
	name           string
	organizationID *int64
	department     *string
	isActive       *bool
}

func (ef employeeFilter) match(e db.Employee) bool {
	return (ef.organizationID == nil || e.OrganizationID == *ef.organizationID) &&
		(ef.department == nil || e.Department == *ef.department) &&
		(ef.isActive == nil || e.IsActive == *ef.isActive)
}

func (f *fixture) filterEmployees(ef employeeFilter) []db.Employee {
	var out []db.Employee
	for _, e := range f.employees {
		if ef.match(e) {
			out = append(out, e)
		}
	}
	return out
}

// departments returns the departments in the sample data, largest first.
func (f *fixture) departments() []string {
	n := map[string]int{}
	for _, e := range f.employees {
		n[e.Department]++
	}
	var out []string
	for d := range n {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b string) int {
		return cmp.Or(cmp.Compare(n[b], n[a]), cmp.Compare(a, b))
	})
	return out
}

func (f *fixture) employeeFilters() []employeeFilter {
	org := f.orgs[1%len(f.orgs)].ID
	dept := f.departments()[0]
	return []employeeFilter{
		{name: "none"},
		{name: "organization", organizationID: &org},
		{name: "department", department: &dept},
		{name: "active", isActive: ptr(true)},
		{name: "inactive", isActive: ptr(false)},
		{name: "organization+department", organizationID: &org, department: &dept},
		{name: "organization+department+active", organizationID: &org, department: &dept, isActive: ptr(true)},
		{name: "unknown organization", organizationID: ptr(unknownID)},
		{name: "unknown department", department: ptr("no such department")},
	}
}

func TestListEmployees(t *testing.T) {
	f := setup(t)
	const size, pageNo = 20, 3
	for _, ef := range f.employeeFilters() {
		t.Run(ef.name, func(t *testing.T) {
			want := f.filterEmployees(ef)
			list := func(after int64, offset int32) []db.Employee {
				t.Helper()
				rows, err := f.q.ListEmployees(f.ctx, db.ListEmployeesParams{
					AfterID: after, OrganizationID: ef.organizationID, Department: ef.department,
					IsActive: ef.isActive, OffsetCount: offset, LimitCount: size,
				})
				if err != nil {
					t.Fatal(err)
				}
				if len(rows) > size {
					t.Fatalf("%d rows, limit %d", len(rows), size)
				}
				return rows
			}

			// Page 3 by keyset: follow after_id through pages 1 and 2.
			var keyset []db.Employee
			after := int64(0)
			for p := 1; p <= pageNo; p++ {
				keyset = list(after, 0)
				if len(keyset) > 0 {
					after = keyset[len(keyset)-1].ID
				}
			}
			// Page 3 by number: after_id 0, offset (page-1)*size.
			numbered := list(0, (pageNo-1)*size)
			wantPage := page(want, (pageNo-1)*size, size)

			if !sameRows(keyset, wantPage) {
				t.Errorf("keyset page %d ids = %v, want %v", pageNo, ids(keyset, empID), ids(wantPage, empID))
			}
			if !sameRows(numbered, wantPage) {
				t.Errorf("offset page %d ids = %v, want %v", pageNo, ids(numbered, empID), ids(wantPage, empID))
			}
			if !sameRows(keyset, numbered) {
				t.Errorf("keyset and offset page %d differ: %v vs %v", pageNo, ids(keyset, empID), ids(numbered, empID))
			}

			// Walking every keyset page returns every match exactly once.
			var all []db.Employee
			after = 0
			for {
				rows := list(after, 0)
				all = append(all, rows...)
				if len(rows) < size {
					break
				}
				after = rows[len(rows)-1].ID
			}
			if !sameRows(all, want) {
				t.Errorf("walked %d rows, want %d (ids %v...)", len(all), len(want), ids(page(want, 0, 10), empID))
			}
		})
	}
}

func TestListEmployeesWithOrganization(t *testing.T) {
	f := setup(t)
	const size = 20
	for _, ef := range f.employeeFilters() {
		for _, pg := range []struct {
			name   string
			after  func(want []db.Employee) int64
			offset int32
		}{
			{"first page", func([]db.Employee) int64 { return 0 }, 0},
			{"offset page 3", func([]db.Employee) int64 { return 0 }, 2 * size},
			{"after the 30th", func(want []db.Employee) int64 {
				if len(want) < 30 {
					return 0
				}
				return want[29].ID
			}, 0},
		} {
			t.Run(ef.name+"/"+pg.name, func(t *testing.T) {
				all := f.filterEmployees(ef)
				after := pg.after(all)
				var want []db.Employee
				for _, e := range all {
					if e.ID > after {
						want = append(want, e)
					}
				}
				want = page(want, int(pg.offset), size)

				got, err := f.q.ListEmployeesWithOrganization(f.ctx, db.ListEmployeesWithOrganizationParams{
					AfterID: after, OrganizationID: ef.organizationID, Department: ef.department,
					IsActive: ef.isActive, OffsetCount: pg.offset, LimitCount: size,
				})
				if err != nil {
					t.Fatal(err)
				}
				var gotEmps []db.Employee
				for _, r := range got {
					gotEmps = append(gotEmps, r.Employee)
					if !reflect.DeepEqual(r.Organization, f.orgByID[r.Employee.OrganizationID]) {
						t.Errorf("employee %d: organization = %+v, want %+v",
							r.Employee.ID, r.Organization, f.orgByID[r.Employee.OrganizationID])
					}
				}
				if !sameRows(gotEmps, want) {
					t.Errorf("ids = %v, want %v", ids(gotEmps, empID), ids(want, empID))
				}

				// Same page as ListEmployees with the same arguments.
				plain, err := f.q.ListEmployees(f.ctx, db.ListEmployeesParams{
					AfterID: after, OrganizationID: ef.organizationID, Department: ef.department,
					IsActive: ef.isActive, OffsetCount: pg.offset, LimitCount: size,
				})
				if err != nil {
					t.Fatal(err)
				}
				if !sameRows(gotEmps, plain) {
					t.Errorf("differs from ListEmployees: %v vs %v", ids(gotEmps, empID), ids(plain, empID))
				}
			})
		}
	}
}

func TestCountEmployees(t *testing.T) {
	f := setup(t)
	for _, ef := range f.employeeFilters() {
		t.Run(ef.name, func(t *testing.T) {
			got, err := f.q.CountEmployees(f.ctx, db.CountEmployeesParams{
				OrganizationID: ef.organizationID, Department: ef.department, IsActive: ef.isActive,
			})
			if err != nil {
				t.Fatal(err)
			}
			if want := int64(len(f.filterEmployees(ef))); got != want {
				t.Errorf("CountEmployees = %d, want %d", got, want)
			}
		})
	}
	if got, want := int64(len(f.employees)), f.tdb.MustQueryInt64(t, `SELECT sum(1) FROM employees`); got != want {
		t.Errorf("snapshot holds %d employees, table %d", got, want)
	}
}

// groupEmployees splits rows by organization, keeping their order.
func groupEmployees(rows []db.Employee) map[int64][]int64 {
	m := map[int64][]int64{}
	for _, e := range rows {
		m[e.OrganizationID] = append(m[e.OrganizationID], e.ID)
	}
	return m
}

func TestListEmployeesByOrganizationIDs(t *testing.T) {
	f := setup(t)
	a, b, c := f.orgs[0].ID, f.orgs[len(f.orgs)/2].ID, f.orgs[len(f.orgs)-1].ID
	orgIDs := []int64{b, a, unknownID, c}

	// An after_id in the middle of organization a's employees.
	aEmps := f.filterEmployees(employeeFilter{organizationID: &a})
	midA := aEmps[len(aEmps)/2].ID

	tests := []struct {
		name     string
		orgIDs   []int64
		afterID  int64
		isActive *bool
		limit    int32
	}{
		{"limit 5", orgIDs, 0, nil, 5},
		{"limit 5 active", orgIDs, 0, ptr(true), 5},
		{"limit 5 inactive", orgIDs, 0, ptr(false), 5},
		{"limit above org size", orgIDs, 0, nil, 10000},
		{"after id", orgIDs, midA, nil, 5},
		{"after id, all", orgIDs, midA, nil, 10000},
		{"every org limit 3", ids(f.orgs, orgID), 0, nil, 3},
		{"limit 0", orgIDs, 0, nil, 0},
		{"only unknown", []int64{unknownID}, 0, nil, 5},
		{"empty", []int64{}, 0, nil, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.q.ListEmployeesByOrganizationIDs(f.ctx, db.ListEmployeesByOrganizationIDsParams{
				OrganizationIds: tt.orgIDs, AfterID: tt.afterID, IsActive: tt.isActive, LimitCount: tt.limit,
			})
			if err != nil {
				t.Fatal(err)
			}
			// Independent SQL, one organization at a time.
			want := map[int64][]int64{}
			for _, org := range tt.orgIDs {
				sql := `SELECT id FROM employees WHERE organization_id = $1 AND id > $2`
				args := []any{org, tt.afterID}
				if tt.isActive != nil {
					sql += ` AND is_active = $3`
					args = append(args, *tt.isActive)
				}
				sql += fmt.Sprintf(` ORDER BY id LIMIT %d`, tt.limit)
				if w := collect(t, f.tdb, pgx.RowTo[int64], sql, args...); len(w) > 0 {
					want[org] = w
				}
			}
			if gotG := groupEmployees(got); !reflect.DeepEqual(gotG, want) {
				t.Errorf("per-organization ids:\n got %v\nwant %v", gotG, want)
			}
			for _, e := range got {
				if !reflect.DeepEqual(e, f.empByID[e.ID]) {
					t.Errorf("row %+v, want %+v", e, f.empByID[e.ID])
				}
			}
		})
	}
}

func TestCountEmployeesByOrganizationIDs(t *testing.T) {
	f := setup(t)
	some := []int64{f.orgs[len(f.orgs)-1].ID, unknownID, f.orgs[0].ID, f.orgs[1].ID}
	for _, set := range []struct {
		name string
		ids  []int64
	}{{"some", some}, {"all", ids(f.orgs, orgID)}, {"empty", []int64{}}} {
		for _, of := range orgFilters() {
			t.Run(set.name+"/"+of.name, func(t *testing.T) {
				rows, err := f.q.CountEmployeesByOrganizationIDs(f.ctx, db.CountEmployeesByOrganizationIDsParams{
					OrganizationIds: set.ids, IsActive: of.isActive,
				})
				if err != nil {
					t.Fatal(err)
				}
				got := map[int64]int64{}
				for _, r := range rows {
					if _, dup := got[r.OrganizationID]; dup {
						t.Errorf("organization %d appears twice", r.OrganizationID)
					}
					got[r.OrganizationID] = r.EmployeeCount
				}
				want := map[int64]int64{}
				asked := map[int64]bool{}
				for _, id := range set.ids {
					asked[id] = true
				}
				for _, e := range f.employees {
					if asked[e.OrganizationID] && (of.isActive == nil || e.IsActive == *of.isActive) {
						want[e.OrganizationID]++
					}
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("counts = %v, want %v", got, want)
				}
			})
		}
	}
}

func TestListTeamMembersByProjectIDs(t *testing.T) {
	f := setup(t)
	tests := []struct {
		name string
		ids  []int64
	}{
		{"some and unknown", append(ids(pick(f.projects), func(p db.Project) int64 { return p.ID }), unknownID)},
		{"every project", ids(f.projects, func(p db.Project) int64 { return p.ID })},
		{"only unknown", []int64{unknownID}},
		{"empty", []int64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.q.ListTeamMembersByProjectIDs(f.ctx, db.ListTeamMembersByProjectIDsParams{ProjectIds: tt.ids})
			if err != nil {
				t.Fatal(err)
			}
			// Sorted by (project_id, employee id).
			if !slices.IsSortedFunc(got, func(a, b db.ListTeamMembersByProjectIDsRow) int {
				return cmp.Or(cmp.Compare(a.ProjectID, b.ProjectID), cmp.Compare(a.Employee.ID, b.Employee.ID))
			}) {
				t.Error("rows are not ordered by project_id, employee id")
			}
			gotTeams := map[int64][]int64{}
			for _, r := range got {
				gotTeams[r.ProjectID] = append(gotTeams[r.ProjectID], r.Employee.ID)
				if !reflect.DeepEqual(r.Employee, f.empByID[r.Employee.ID]) {
					t.Errorf("project %d member = %+v, want %+v", r.ProjectID, r.Employee, f.empByID[r.Employee.ID])
				}
				if p := f.projByID[r.ProjectID]; r.Employee.OrganizationID != p.OrganizationID {
					t.Errorf("project %d (organization %d) has member %d from organization %d",
						p.ID, p.OrganizationID, r.Employee.ID, r.Employee.OrganizationID)
				}
			}
			want := map[int64][]int64{}
			for _, id := range tt.ids {
				team := collect(t, f.tdb, pgx.RowTo[int64],
					`SELECT employee_id FROM project_members WHERE project_id = $1`, id)
				slices.Sort(team)
				if len(team) > 0 {
					want[id] = team
				}
			}
			if !reflect.DeepEqual(gotTeams, want) {
				t.Errorf("teams:\n got %v\nwant %v", gotTeams, want)
			}
			for pid, team := range gotTeams {
				if len(team) != seedMembersPerProject {
					t.Errorf("project %d has %d members, sample data puts %d in every team", pid, len(team), seedMembersPerProject)
				}
			}
		})
	}
}

// empAgg is an aggregate over employees computed in Go.
type empAgg struct {
	total, active, inactive int64
	sum, min, max           float64
}

func (a *empAgg) add(e db.Employee) {
	if a.total == 0 || e.Salary < a.min {
		a.min = e.Salary
	}
	if a.total == 0 || e.Salary > a.max {
		a.max = e.Salary
	}
	a.total++
	if e.IsActive {
		a.active++
	} else {
		a.inactive++
	}
	a.sum += e.Salary
}

func (a empAgg) avg() float64 {
	if a.total == 0 {
		return 0
	}
	return a.sum / float64(a.total)
}

func checkEmployeeStats(t *testing.T, got db.GetEmployeeStatsRow, want empAgg) {
	t.Helper()
	if got.Total != got.Active+got.Inactive {
		t.Errorf("total %d != active %d + inactive %d", got.Total, got.Active, got.Inactive)
	}
	if got.Total != want.total || got.Active != want.active || got.Inactive != want.inactive {
		t.Errorf("total/active/inactive = %d/%d/%d, want %d/%d/%d",
			got.Total, got.Active, got.Inactive, want.total, want.active, want.inactive)
	}
	if !near(got.AverageSalary, want.avg(), 0.01) {
		t.Errorf("average salary = %v, want sum/count = %v", got.AverageSalary, want.avg())
	}
	if !near(got.MinSalary, want.min, 0.001) || !near(got.MaxSalary, want.max, 0.001) {
		t.Errorf("min/max salary = %v/%v, want %v/%v", got.MinSalary, got.MaxSalary, want.min, want.max)
	}
}

func TestGetEmployeeStats(t *testing.T) {
	f := setup(t)
	for _, ef := range f.employeeFilters() {
		if ef.isActive != nil {
			continue // GetEmployeeStats has no active filter
		}
		t.Run(ef.name, func(t *testing.T) {
			got, err := f.q.GetEmployeeStats(f.ctx, db.GetEmployeeStatsParams{
				OrganizationID: ef.organizationID, Department: ef.department,
			})
			if err != nil {
				t.Fatal(err)
			}
			var want empAgg
			for _, e := range f.filterEmployees(ef) {
				want.add(e)
			}
			checkEmployeeStats(t, got, want)

			// Independent SQL: the average as sum/count in numeric.
			where, args := []string{"true"}, []any{}
			if ef.organizationID != nil {
				args = append(args, *ef.organizationID)
				where = append(where, fmt.Sprintf("organization_id = $%d", len(args)))
			}
			if ef.department != nil {
				args = append(args, *ef.department)
				where = append(where, fmt.Sprintf("department = $%d", len(args)))
			}
			var n int64
			var sum float64
			err = f.tdb.Pool.QueryRow(f.ctx, `SELECT count(salary), COALESCE(sum(salary), 0)::float8 FROM employees WHERE `+
				strings.Join(where, " AND "), args...).Scan(&n, &sum)
			if err != nil {
				t.Fatal(err)
			}
			if n != got.Total {
				t.Errorf("total = %d, independent count = %d", got.Total, n)
			}
			if n > 0 && !near(got.AverageSalary, sum/float64(n), 0.01) {
				t.Errorf("average salary = %v, independent sum/count = %v", got.AverageSalary, sum/float64(n))
			}
		})
	}
}

func TestListEmployeeStatsByOrganizationIDs(t *testing.T) {
	f := setup(t)
	orgIDs := append(ids(f.orgs, orgID), unknownID)
	rows, err := f.q.ListEmployeeStatsByOrganizationIDs(f.ctx, orgIDs)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int64]*empAgg{}
	for _, e := range f.employees {
		if want[e.OrganizationID] == nil {
			want[e.OrganizationID] = &empAgg{}
		}
		want[e.OrganizationID].add(e)
	}
	if got, want := len(rows), len(want); got != want {
		t.Errorf("%d rows, want one per organization with employees (%d)", got, want)
	}
	seen := map[int64]bool{}
	for _, r := range rows {
		if seen[r.OrganizationID] {
			t.Errorf("organization %d appears twice", r.OrganizationID)
		}
		seen[r.OrganizationID] = true
		w := want[r.OrganizationID]
		if w == nil {
			t.Errorf("row for organization %d without employees", r.OrganizationID)
			continue
		}
		stats := db.GetEmployeeStatsRow{Total: r.Total, Active: r.Active, Inactive: r.Inactive,
			AverageSalary: r.AverageSalary, MaxSalary: r.MaxSalary, MinSalary: r.MinSalary}
		t.Run(fmt.Sprint(r.OrganizationID), func(t *testing.T) {
			checkEmployeeStats(t, stats, *w)
		})
	}
	// Per organization, the batch equals GetEmployeeStats exactly.
	for _, id := range []int64{f.orgs[0].ID, f.orgs[len(f.orgs)-1].ID} {
		one, err := f.q.GetEmployeeStats(f.ctx, db.GetEmployeeStatsParams{OrganizationID: ptr(id)})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.OrganizationID == id {
				if got := (db.GetEmployeeStatsRow{Total: r.Total, Active: r.Active, Inactive: r.Inactive,
					AverageSalary: r.AverageSalary, MaxSalary: r.MaxSalary, MinSalary: r.MinSalary}); got != one {
					t.Errorf("organization %d: batch %+v, GetEmployeeStats %+v", id, got, one)
				}
			}
		}
	}
	empty, err := f.q.ListEmployeeStatsByOrganizationIDs(f.ctx, []int64{unknownID})
	if err != nil {
		t.Fatal(err)
	}
	if len(empty) != 0 {
		t.Errorf("unknown organization: %d rows, want none", len(empty))
	}
}

// deptAggs aggregates the employees matching keep by department, in Go.
func (f *fixture) deptAggs(keep func(db.Employee) bool) map[string]*empAgg {
	m := map[string]*empAgg{}
	for _, e := range f.employees {
		if !keep(e) {
			continue
		}
		if m[e.Department] == nil {
			m[e.Department] = &empAgg{}
		}
		m[e.Department].add(e)
	}
	return m
}

func checkDeptStats(t *testing.T, dept string, count int64, avg, minS, maxS float64, want *empAgg) {
	t.Helper()
	if want == nil {
		t.Errorf("department %q: unexpected row", dept)
		return
	}
	if count != want.total {
		t.Errorf("department %q: count %d, want %d", dept, count, want.total)
	}
	if !near(avg, want.avg(), 0.01) {
		t.Errorf("department %q: average %v, want sum/count %v", dept, avg, want.avg())
	}
	if !near(minS, want.min, 0.001) || !near(maxS, want.max, 0.001) {
		t.Errorf("department %q: min/max %v/%v, want %v/%v", dept, minS, maxS, want.min, want.max)
	}
}

func TestListDepartmentStats(t *testing.T) {
	f := setup(t)
	for _, tt := range []struct {
		name string
		org  *int64
	}{
		{"all", nil},
		{"first organization", ptr(f.orgs[0].ID)},
		{"last organization", ptr(f.orgs[len(f.orgs)-1].ID)},
		{"unknown organization", ptr(unknownID)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.q.ListDepartmentStats(f.ctx, db.ListDepartmentStatsParams{OrganizationID: tt.org})
			if err != nil {
				t.Fatal(err)
			}
			want := f.deptAggs(func(e db.Employee) bool { return tt.org == nil || e.OrganizationID == *tt.org })
			if len(got) != len(want) {
				t.Errorf("%d departments, want %d", len(got), len(want))
			}
			var gotDepts []string
			for _, r := range got {
				gotDepts = append(gotDepts, r.Department)
				checkDeptStats(t, r.Department, r.EmployeeCount, r.AverageSalary, r.MinSalary, r.MaxSalary, want[r.Department])
			}
			// Order: the database's own ordering of the distinct names.
			sql := `SELECT DISTINCT department FROM employees ORDER BY 1`
			var args []any
			if tt.org != nil {
				sql = `SELECT DISTINCT department FROM employees WHERE organization_id = $1 ORDER BY 1`
				args = append(args, *tt.org)
			}
			if wantDepts := collect(t, f.tdb, pgx.RowTo[string], sql, args...); !sameRows(gotDepts, wantDepts) {
				t.Errorf("departments = %v, want %v", gotDepts, wantDepts)
			}
		})
	}
}

func TestListDepartmentStatsByOrganizationIDs(t *testing.T) {
	f := setup(t)
	a, b, c := f.orgs[0].ID, f.orgs[1].ID, f.orgs[len(f.orgs)-1].ID
	orgIDs := []int64{c, unknownID, a, b}
	got, err := f.q.ListDepartmentStatsByOrganizationIDs(f.ctx, orgIDs)
	if err != nil {
		t.Fatal(err)
	}
	// Ordered by organization, then department, and each organization's
	// rows equal ListDepartmentStats for it alone.
	var want []db.ListDepartmentStatsByOrganizationIDsRow
	for _, org := range []int64{a, b, c} {
		one, err := f.q.ListDepartmentStats(f.ctx, db.ListDepartmentStatsParams{OrganizationID: ptr(org)})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range one {
			want = append(want, db.ListDepartmentStatsByOrganizationIDsRow{
				OrganizationID: org, Department: r.Department, EmployeeCount: r.EmployeeCount,
				AverageSalary: r.AverageSalary, MinSalary: r.MinSalary, MaxSalary: r.MaxSalary,
			})
		}
	}
	if !sameRows(got, want) {
		t.Errorf("rows:\n got %+v\nwant %+v", got, want)
	}
	// And against Go aggregates.
	for _, r := range got {
		aggs := f.deptAggs(func(e db.Employee) bool { return e.OrganizationID == r.OrganizationID })
		checkDeptStats(t, fmt.Sprintf("%d/%s", r.OrganizationID, r.Department),
			r.EmployeeCount, r.AverageSalary, r.MinSalary, r.MaxSalary, aggs[r.Department])
	}
	var total int64
	for _, r := range got {
		total += r.EmployeeCount
	}
	if want := int64(len(f.filterEmployees(employeeFilter{organizationID: &a})) +
		len(f.filterEmployees(employeeFilter{organizationID: &b})) +
		len(f.filterEmployees(employeeFilter{organizationID: &c}))); total != want {
		t.Errorf("department counts sum to %d, want %d employees", total, want)
	}
}

// ---------------------------------------------------------------------------
// Projects

func projID(p db.Project) int64 { return p.ID }

func TestGetProject(t *testing.T) {
	f := setup(t)
	for _, want := range pick(f.projects) {
		t.Run(fmt.Sprint(want.ID), func(t *testing.T) {
			got, err := f.q.GetProject(f.ctx, db.GetProjectParams{ID: want.ID})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Project, want) {
				t.Errorf("project = %+v, want %+v", got.Project, want)
			}
			if got.TeamSize != f.teamSize[want.ID] {
				t.Errorf("team size = %d, want %d", got.TeamSize, f.teamSize[want.ID])
			}
		})
	}
	t.Run("unknown", func(t *testing.T) {
		if _, err := f.q.GetProject(f.ctx, db.GetProjectParams{ID: unknownID}); !errors.Is(err, pgx.ErrNoRows) {
			t.Errorf("err = %v, want pgx.ErrNoRows", err)
		}
	})
	// A project without members reports team size 0.
	t.Run("empty team", func(t *testing.T) {
		p := f.projects[0]
		tx, err := f.tdb.Pool.Begin(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(f.ctx)
		if _, err := tx.Exec(f.ctx, `DELETE FROM project_members WHERE project_id = $1`, p.ID); err != nil {
			t.Fatal(err)
		}
		got, err := f.q.WithTx(tx).GetProject(f.ctx, db.GetProjectParams{ID: p.ID})
		if err != nil {
			t.Fatal(err)
		}
		if got.TeamSize != 0 {
			t.Errorf("team size = %d, want 0", got.TeamSize)
		}
	})
}

func TestGetProjectWithOrganization(t *testing.T) {
	f := setup(t)
	for _, want := range pick(f.projects) {
		t.Run(fmt.Sprint(want.ID), func(t *testing.T) {
			got, err := f.q.GetProjectWithOrganization(f.ctx, db.GetProjectWithOrganizationParams{ID: want.ID})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Project, want) {
				t.Errorf("project = %+v, want %+v", got.Project, want)
			}
			org, err := f.q.GetOrganization(f.ctx, db.GetOrganizationParams{ID: want.OrganizationID})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Organization, org) {
				t.Errorf("organization = %+v, want %+v", got.Organization, org)
			}
			if got.TeamSize != f.teamSize[want.ID] {
				t.Errorf("team size = %d, want %d", got.TeamSize, f.teamSize[want.ID])
			}
			plain, err := f.q.GetProject(f.ctx, db.GetProjectParams{ID: want.ID})
			if err != nil {
				t.Fatal(err)
			}
			if plain.TeamSize != got.TeamSize {
				t.Errorf("team size %d differs from GetProject's %d", got.TeamSize, plain.TeamSize)
			}
		})
	}
	t.Run("unknown", func(t *testing.T) {
		if _, err := f.q.GetProjectWithOrganization(f.ctx, db.GetProjectWithOrganizationParams{ID: unknownID}); !errors.Is(err, pgx.ErrNoRows) {
			t.Errorf("err = %v, want pgx.ErrNoRows", err)
		}
	})
}

type projectFilter struct {
	name           string
	status         *string
	organizationID *int64
}

func (f *fixture) projectFilters() []projectFilter {
	org := f.orgs[1%len(f.orgs)].ID
	out := []projectFilter{{name: "none"}, {name: "organization", organizationID: &org}}
	for _, s := range projectStatuses {
		out = append(out, projectFilter{name: s, status: ptr(s)})
	}
	out = append(out,
		projectFilter{name: "organization+active", organizationID: &org, status: ptr("active")},
		projectFilter{name: "unknown status", status: ptr("cancelled")},
		projectFilter{name: "unknown organization", organizationID: ptr(unknownID)},
	)
	return out
}

func (f *fixture) filterProjects(pf projectFilter) []db.Project {
	var out []db.Project
	for _, p := range f.projects {
		if (pf.status == nil || p.Status == *pf.status) && (pf.organizationID == nil || p.OrganizationID == *pf.organizationID) {
			out = append(out, p)
		}
	}
	return out
}

func TestListProjects(t *testing.T) {
	f := setup(t)
	const size = 25
	for _, pf := range f.projectFilters() {
		t.Run(pf.name, func(t *testing.T) {
			want := f.filterProjects(pf)
			list := func(after int64, offset int32) []db.ListProjectsRow {
				t.Helper()
				rows, err := f.q.ListProjects(f.ctx, db.ListProjectsParams{
					AfterID: after, Status: pf.status, OrganizationID: pf.organizationID,
					OffsetCount: offset, LimitCount: size,
				})
				if err != nil {
					t.Fatal(err)
				}
				if len(rows) > size {
					t.Fatalf("%d rows, limit %d", len(rows), size)
				}
				for _, r := range rows {
					if r.TeamSize != f.teamSize[r.Project.ID] {
						t.Errorf("project %d: team size %d, want %d", r.Project.ID, r.TeamSize, f.teamSize[r.Project.ID])
					}
				}
				return rows
			}
			projects := func(rows []db.ListProjectsRow) []db.Project {
				var out []db.Project
				for _, r := range rows {
					out = append(out, r.Project)
				}
				return out
			}

			var all []db.Project
			var keyset2 []db.Project
			after := int64(0)
			for p := 1; ; p++ {
				rows := projects(list(after, 0))
				if p == 2 {
					keyset2 = rows
				}
				all = append(all, rows...)
				if len(rows) < size {
					break
				}
				after = rows[len(rows)-1].ID
			}
			if !sameRows(all, want) {
				t.Errorf("walked ids = %v, want %v", ids(all, projID), ids(want, projID))
			}
			numbered2 := projects(list(0, size))
			if wantPage := page(want, size, size); !sameRows(numbered2, wantPage) || !sameRows(keyset2, wantPage) {
				t.Errorf("page 2: offset ids %v, keyset ids %v, want %v",
					ids(numbered2, projID), ids(keyset2, projID), ids(wantPage, projID))
			}
		})
	}
}

func TestListProjectsWithOrganization(t *testing.T) {
	f := setup(t)
	const size = 25
	for _, pf := range f.projectFilters() {
		for _, off := range []int32{0, size} {
			t.Run(fmt.Sprintf("%s/offset %d", pf.name, off), func(t *testing.T) {
				want := page(f.filterProjects(pf), int(off), size)
				got, err := f.q.ListProjectsWithOrganization(f.ctx, db.ListProjectsWithOrganizationParams{
					Status: pf.status, OrganizationID: pf.organizationID, OffsetCount: off, LimitCount: size,
				})
				if err != nil {
					t.Fatal(err)
				}
				var gotProjects []db.Project
				for _, r := range got {
					gotProjects = append(gotProjects, r.Project)
					if !reflect.DeepEqual(r.Organization, f.orgByID[r.Project.OrganizationID]) {
						t.Errorf("project %d: organization %+v, want %+v", r.Project.ID, r.Organization, f.orgByID[r.Project.OrganizationID])
					}
					if r.TeamSize != f.teamSize[r.Project.ID] {
						t.Errorf("project %d: team size %d, want %d", r.Project.ID, r.TeamSize, f.teamSize[r.Project.ID])
					}
				}
				if !sameRows(gotProjects, want) {
					t.Errorf("ids = %v, want %v", ids(gotProjects, projID), ids(want, projID))
				}
			})
		}
	}
}

func TestCountProjects(t *testing.T) {
	f := setup(t)
	var sum int64
	for _, pf := range f.projectFilters() {
		t.Run(pf.name, func(t *testing.T) {
			got, err := f.q.CountProjects(f.ctx, db.CountProjectsParams{Status: pf.status, OrganizationID: pf.organizationID})
			if err != nil {
				t.Fatal(err)
			}
			if want := int64(len(f.filterProjects(pf))); got != want {
				t.Errorf("CountProjects = %d, want %d", got, want)
			}
			if pf.status != nil && pf.organizationID == nil && slices.Contains(projectStatuses, *pf.status) {
				sum += got
			}
		})
	}
	if want := f.tdb.MustQueryInt64(t, `SELECT sum(1) FROM projects`); sum != want {
		t.Errorf("counts per status sum to %d, want %d projects", sum, want)
	}
}

func TestListProjectsByOrganizationIDs(t *testing.T) {
	f := setup(t)
	a, b, c := f.orgs[0].ID, f.orgs[len(f.orgs)/2].ID, f.orgs[len(f.orgs)-1].ID
	for _, tt := range []struct {
		name   string
		orgIDs []int64
		status *string
	}{
		{"some", []int64{c, unknownID, a, b}, nil},
		{"some active", []int64{c, unknownID, a, b}, ptr("active")},
		{"all completed", ids(f.orgs, orgID), ptr("completed")},
		{"all", ids(f.orgs, orgID), nil},
		{"unknown status", []int64{a}, ptr("cancelled")},
		{"empty", []int64{}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.q.ListProjectsByOrganizationIDs(f.ctx, db.ListProjectsByOrganizationIDsParams{
				OrganizationIds: tt.orgIDs, Status: tt.status,
			})
			if err != nil {
				t.Fatal(err)
			}
			asked := map[int64]bool{}
			for _, id := range tt.orgIDs {
				asked[id] = true
			}
			var want []db.Project
			for _, p := range f.projects {
				if asked[p.OrganizationID] && (tt.status == nil || p.Status == *tt.status) {
					want = append(want, p)
				}
			}
			slices.SortStableFunc(want, func(x, y db.Project) int {
				return cmp.Or(cmp.Compare(x.OrganizationID, y.OrganizationID), cmp.Compare(x.ID, y.ID))
			})
			var gotProjects []db.Project
			for _, r := range got {
				gotProjects = append(gotProjects, r.Project)
				if r.TeamSize != f.teamSize[r.Project.ID] {
					t.Errorf("project %d: team size %d, want %d", r.Project.ID, r.TeamSize, f.teamSize[r.Project.ID])
				}
			}
			if !sameRows(gotProjects, want) {
				t.Errorf("ids = %v, want %v", ids(gotProjects, projID), ids(want, projID))
			}
		})
	}
}

func TestListProjectsByEmployeeIDs(t *testing.T) {
	f := setup(t)
	// Employees with the most memberships, and one without any if the
	// sample data has one.
	busy := collect(t, f.tdb, pgx.RowTo[int64], `
		SELECT employee_id FROM project_members
		GROUP BY employee_id ORDER BY count(*) DESC, employee_id LIMIT 3`)
	idle := collect(t, f.tdb, pgx.RowTo[int64], `
		SELECT e.id FROM employees e
		WHERE NOT EXISTS (SELECT 1 FROM project_members m WHERE m.employee_id = e.id)
		ORDER BY e.id LIMIT 1`)
	if len(busy) == 0 {
		t.Fatal("sample data has no project members")
	}
	type pair struct{ employee, project int64 }
	for _, tt := range []struct {
		name string
		ids  []int64
	}{
		{"busy, idle and unknown", append(append([]int64{unknownID}, idle...), busy...)},
		{"every employee of one organization", ids(f.filterEmployees(employeeFilter{organizationID: &f.orgs[0].ID}), empID)},
		{"only unknown", []int64{unknownID}},
		{"empty", []int64{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.q.ListProjectsByEmployeeIDs(f.ctx, db.ListProjectsByEmployeeIDsParams{EmployeeIds: tt.ids})
			if err != nil {
				t.Fatal(err)
			}
			var gotPairs []pair
			for _, r := range got {
				gotPairs = append(gotPairs, pair{r.EmployeeID, r.Project.ID})
				if !reflect.DeepEqual(r.Project, f.projByID[r.Project.ID]) {
					t.Errorf("project = %+v, want %+v", r.Project, f.projByID[r.Project.ID])
				}
				if r.TeamSize != f.teamSize[r.Project.ID] {
					t.Errorf("project %d: team size %d, want %d", r.Project.ID, r.TeamSize, f.teamSize[r.Project.ID])
				}
				if e := f.empByID[r.EmployeeID]; e.OrganizationID != r.Project.OrganizationID {
					t.Errorf("employee %d (organization %d) on project %d of organization %d",
						e.ID, e.OrganizationID, r.Project.ID, r.Project.OrganizationID)
				}
			}
			wantPairs := collect(t, f.tdb, func(row pgx.CollectableRow) (pair, error) {
				var p pair
				err := row.Scan(&p.employee, &p.project)
				return p, err
			}, `SELECT employee_id, project_id FROM project_members WHERE employee_id = ANY($1)`, tt.ids)
			slices.SortFunc(wantPairs, func(x, y pair) int {
				return cmp.Or(cmp.Compare(x.employee, y.employee), cmp.Compare(x.project, y.project))
			})
			if !sameRows(gotPairs, wantPairs) {
				t.Errorf("(employee, project) = %v, want %v", gotPairs, wantPairs)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Performance metrics

type metricsFixture struct {
	*fixture
	metrics []db.PerformanceMetric
	latest  time.Time // newest recorded_at in the sample data
	oldest  time.Time
}

// setupMetrics snapshots performance_metrics. Windows are anchored at the
// newest sample, not the clock, so a template seeded days ago still works.
func setupMetrics(t *testing.T) *metricsFixture {
	t.Helper()
	f := setup(t)
	m := &metricsFixture{fixture: f}
	m.metrics = collect(t, f.tdb, pgx.RowToStructByPos[db.PerformanceMetric],
		`SELECT id, metric_type, value, endpoint, status_code, recorded_at FROM performance_metrics`)
	if len(m.metrics) == 0 {
		t.Fatal("seeded database has no performance metrics")
	}
	m.latest, m.oldest = m.metrics[0].RecordedAt, m.metrics[0].RecordedAt
	for _, x := range m.metrics {
		if x.RecordedAt.After(m.latest) {
			m.latest = x.RecordedAt
		}
		if x.RecordedAt.Before(m.oldest) {
			m.oldest = x.RecordedAt
		}
	}
	return m
}

func (m *metricsFixture) filter(metricType string, since time.Time, endpoint *string) []db.PerformanceMetric {
	var out []db.PerformanceMetric
	for _, x := range m.metrics {
		if x.MetricType == metricType && !x.RecordedAt.Before(since) && (endpoint == nil || x.Endpoint == *endpoint) {
			out = append(out, x)
		}
	}
	return out
}

// topEndpoint returns the endpoint with the most samples of metricType.
func (m *metricsFixture) topEndpoint(metricType string) string {
	n := map[string]int{}
	for _, x := range m.metrics {
		if x.MetricType == metricType {
			n[x.Endpoint]++
		}
	}
	best, bestN := "", -1
	for e, c := range n {
		if c > bestN || (c == bestN && e < best) {
			best, bestN = e, c
		}
	}
	return best
}

type window struct {
	name  string
	since time.Time
}

func (m *metricsFixture) windows() []window {
	return []window{
		{"everything", m.oldest},
		{"last day", m.latest.Add(-24 * time.Hour)},
		{"last hour", m.latest.Add(-time.Hour)},
		{"future", m.latest.Add(time.Second)},
	}
}

// percentileCont interpolates linearly between the two closest ranks, the
// definition of PostgreSQL's percentile_cont, over sorted values.
func percentileCont(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	pos := p * float64(len(sorted)-1)
	lo, hi := math.Floor(pos), math.Ceil(pos)
	a, b := sorted[int(lo)], sorted[int(hi)]
	return a + (pos-lo)*(b-a)
}

func TestGetPerformanceSummary(t *testing.T) {
	m := setupMetrics(t)
	type tcase struct {
		name       string
		metricType string
		since      time.Time
		endpoint   *string
	}
	var tests []tcase
	for _, mt := range metricTypes {
		for _, w := range m.windows() {
			tests = append(tests, tcase{mt + "/" + w.name, mt, w.since, nil})
		}
		ep := m.topEndpoint(mt)
		tests = append(tests,
			tcase{mt + "/endpoint " + ep + "/everything", mt, m.oldest, &ep},
			tcase{mt + "/endpoint " + ep + "/last day", mt, m.latest.Add(-24 * time.Hour), &ep},
			tcase{mt + "/unknown endpoint", mt, m.oldest, ptr("/no/such/endpoint")},
		)
	}
	tests = append(tests, tcase{"unknown metric type", "cpu", m.oldest, nil})

	nonEmpty := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := m.q.GetPerformanceSummary(m.ctx, db.GetPerformanceSummaryParams{
				MetricType: tt.metricType, Since: tt.since, Endpoint: tt.endpoint,
			})
			if err != nil {
				t.Fatal(err)
			}
			rows := m.filter(tt.metricType, tt.since, tt.endpoint)
			values := make([]float64, len(rows))
			var sum float64
			for i, r := range rows {
				values[i] = r.Value
				sum += r.Value
			}
			slices.Sort(values)

			if got, want := got.SampleCount, int64(len(values)); got != want {
				t.Fatalf("sample count = %d, want %d", got, want)
			}
			if len(values) == 0 {
				if got != (db.GetPerformanceSummaryRow{}) {
					t.Errorf("no samples: summary = %+v, want all zero", got)
				}
				return
			}
			nonEmpty++
			if got, want := got.MinValue, values[0]; got != want {
				t.Errorf("min = %v, want %v", got, want)
			}
			if got, want := got.MaxValue, values[len(values)-1]; got != want {
				t.Errorf("max = %v, want %v", got, want)
			}
			if got, want := got.AverageValue, sum/float64(len(values)); !relNear(got, want) {
				t.Errorf("average = %v, want sum/count = %v", got, want)
			}
			for _, p := range []struct {
				name string
				got  float64
				q    float64
			}{{"p50", got.P50, 0.5}, {"p95", got.P95, 0.95}, {"p99", got.P99, 0.99}} {
				if want := percentileCont(values, p.q); !relNear(p.got, want) {
					t.Errorf("%s = %v, want %v", p.name, p.got, want)
				}
			}
			if !(got.MinValue <= got.P50 && got.P50 <= got.P95 && got.P95 <= got.P99 && got.P99 <= got.MaxValue) {
				t.Errorf("want min <= p50 <= p95 <= p99 <= max, got %v, %v, %v, %v, %v",
					got.MinValue, got.P50, got.P95, got.P99, got.MaxValue)
			}

			// The median also lies between the two middle samples chosen by
			// independent SQL (ORDER BY ... OFFSET).
			sql := `SELECT value FROM performance_metrics WHERE metric_type = $1 AND recorded_at >= $2`
			args := []any{tt.metricType, tt.since}
			if tt.endpoint != nil {
				sql += ` AND endpoint = $3`
				args = append(args, *tt.endpoint)
			}
			n := len(values)
			var lo, hi float64
			if err := m.tdb.Pool.QueryRow(m.ctx, sql+fmt.Sprintf(` ORDER BY value OFFSET %d LIMIT 1`, (n-1)/2), args...).Scan(&lo); err != nil {
				t.Fatal(err)
			}
			if err := m.tdb.Pool.QueryRow(m.ctx, sql+fmt.Sprintf(` ORDER BY value OFFSET %d LIMIT 1`, n/2), args...).Scan(&hi); err != nil {
				t.Fatal(err)
			}
			if got.P50 < lo || got.P50 > hi {
				t.Errorf("p50 = %v, want within the middle samples [%v, %v]", got.P50, lo, hi)
			}
		})
	}
	if nonEmpty == 0 {
		t.Error("every summary was empty: the test proves nothing")
	}
}

func TestListSlowestMetrics(t *testing.T) {
	m := setupMetrics(t)
	for _, mt := range append(slices.Clone(metricTypes), "cpu") {
		for _, w := range m.windows() {
			for _, limit := range []int32{1, 10, 100} {
				t.Run(fmt.Sprintf("%s/%s/limit %d", mt, w.name, limit), func(t *testing.T) {
					got, err := m.q.ListSlowestMetrics(m.ctx, db.ListSlowestMetricsParams{
						MetricType: mt, Since: w.since, LimitCount: limit,
					})
					if err != nil {
						t.Fatal(err)
					}
					matching := m.filter(mt, w.since, nil)
					slices.SortStableFunc(matching, func(a, b db.PerformanceMetric) int { return cmp.Compare(b.Value, a.Value) })
					want := page(matching, 0, int(limit))

					if len(got) != len(want) {
						t.Fatalf("%d rows, want %d", len(got), len(want))
					}
					if !slices.IsSortedFunc(got, func(a, b db.PerformanceMetric) int { return cmp.Compare(b.Value, a.Value) }) {
						t.Error("rows are not sorted by value descending")
					}
					seen := map[int64]bool{}
					for i, r := range got {
						// Ties may come back in any order: compare values by
						// rank and each row with the snapshot.
						if r.Value != want[i].Value {
							t.Errorf("rank %d: value %v, want %v", i, r.Value, want[i].Value)
						}
						if seen[r.ID] {
							t.Errorf("metric %d returned twice", r.ID)
						}
						seen[r.ID] = true
						if r.MetricType != mt || r.RecordedAt.Before(w.since) {
							t.Errorf("metric %d (%s at %v) is outside %s since %v", r.ID, r.MetricType, r.RecordedAt, mt, w.since)
						}
					}
					snap := byID(m.metrics, func(x db.PerformanceMetric) int64 { return x.ID })
					for _, r := range got {
						if !reflect.DeepEqual(r, snap[r.ID]) {
							t.Errorf("row %+v, want %+v", r, snap[r.ID])
						}
					}
				})
			}
		}
	}

	// since matters: among a window's top values there is nothing older
	// than since, even when older samples are slower.
	t.Run("since excludes slower older samples", func(t *testing.T) {
		found := false
		for _, mt := range metricTypes {
			all := m.filter(mt, m.oldest, nil)
			if len(all) == 0 {
				continue
			}
			slowest := slices.MaxFunc(all, func(a, b db.PerformanceMetric) int { return cmp.Compare(a.Value, b.Value) })
			since := slowest.RecordedAt.Add(time.Microsecond)
			if len(m.filter(mt, since, nil)) == 0 {
				continue
			}
			found = true
			got, err := m.q.ListSlowestMetrics(m.ctx, db.ListSlowestMetricsParams{MetricType: mt, Since: since, LimitCount: 5})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range got {
				if r.ID == slowest.ID || r.RecordedAt.Before(since) {
					t.Errorf("%s since %v returned metric %d recorded at %v", mt, since, r.ID, r.RecordedAt)
				}
			}
		}
		if !found {
			t.Skip("no metric type has samples after its slowest one")
		}
	})
}
