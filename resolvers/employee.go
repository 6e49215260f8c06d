package resolvers

import (
	"context"
	"fmt"

	graphql "github.com/graph-gophers/graphql-go"

	"orgpulse/db"
	"orgpulse/postgres"
)

// EmployeeResolver resolves the fields of Employee.
type EmployeeResolver struct {
	l   *loaders
	e   *db.Employee
	org *OrganizationResolver // the employer JOINed by the statement that loaded e, if it did
}

func (l *loaders) employee(e db.Employee, org *db.Organization) *EmployeeResolver {
	r := &EmployeeResolver{l: l, e: &e}
	if org != nil {
		r.org = l.organization(*org)
	}
	return r
}

// employees builds the resolvers of a page: one allocation for all of
// them, each pointing at its row (a page is up to 100 rows; copying each
// row again showed in the allocation profile).
func (l *loaders) employees(rows []db.Employee) []*EmployeeResolver {
	all := make([]EmployeeResolver, len(rows))
	out := make([]*EmployeeResolver, len(rows))
	for i := range rows {
		all[i] = EmployeeResolver{l: l, e: &rows[i]}
		out[i] = &all[i]
	}
	return out
}

func (e *EmployeeResolver) ID() graphql.ID      { return gqlID(e.e.ID) }
func (e *EmployeeResolver) Name() string        { return e.e.Name }
func (e *EmployeeResolver) Email() string       { return e.e.Email }
func (e *EmployeeResolver) Department() string  { return e.e.Department }
func (e *EmployeeResolver) Title() string       { return e.e.Title }
func (e *EmployeeResolver) Salary() float64     { return e.e.Salary }
func (e *EmployeeResolver) IsActive() bool      { return e.e.IsActive }
func (e *EmployeeResolver) HiredAt() DateTime   { return dateTime(e.e.HiredAt) }
func (e *EmployeeResolver) CreatedAt() DateTime { return dateTime(e.e.CreatedAt) }
func (e *EmployeeResolver) UpdatedAt() DateTime { return dateTime(e.e.UpdatedAt) }

// Organization is the employer: JOINed when the parent statement could,
// otherwise loaded for all employees of the request at once by the
// look-ahead (prefetchEmployees).
func (e *EmployeeResolver) Organization() *OrganizationResolver {
	if e.org != nil {
		return e.org
	}
	o, ok := value(e.l, e.l.orgByID, e.e.OrganizationID, "Employee.organization")
	if !ok || o == nil {
		return nil
	}
	return e.l.organization(*o)
}

// Projects lists the projects whose team the employee is on, loaded for
// all employees of the request at once by the look-ahead: with each
// project's team size when the selection has teamSize.
func (e *EmployeeResolver) Projects() []*ProjectResolver {
	rows, ok := e.l.employeeProjects.cached(e.e.ID)
	if !ok {
		rows, ok = e.l.employeeProjectsBare.cached(e.e.ID)
	}
	if !ok {
		rows, _ = value(e.l, e.l.employeeProjects, e.e.ID, "Employee.projects")
	}
	return e.l.projects(rows)
}

// EmployeeStatsResolver resolves EmployeeStats.
type EmployeeStatsResolver struct{ s db.GetEmployeeStatsRow }

func (s *EmployeeStatsResolver) Total() int32           { return int32Of(s.s.Total) }
func (s *EmployeeStatsResolver) Active() int32          { return int32Of(s.s.Active) }
func (s *EmployeeStatsResolver) Inactive() int32        { return int32Of(s.s.Inactive) }
func (s *EmployeeStatsResolver) AverageSalary() float64 { return s.s.AverageSalary }
func (s *EmployeeStatsResolver) MaxSalary() float64     { return s.s.MaxSalary }
func (s *EmployeeStatsResolver) MinSalary() float64     { return s.s.MinSalary }

// DepartmentStatsResolver resolves DepartmentStats.
type DepartmentStatsResolver struct{ s db.ListDepartmentStatsRow }

func (s *DepartmentStatsResolver) Department() string     { return s.s.Department }
func (s *DepartmentStatsResolver) Count() int32           { return int32Of(s.s.EmployeeCount) }
func (s *DepartmentStatsResolver) AverageSalary() float64 { return s.s.AverageSalary }
func (s *DepartmentStatsResolver) MinSalary() float64     { return s.s.MinSalary }
func (s *DepartmentStatsResolver) MaxSalary() float64     { return s.s.MaxSalary }

// Employee looks up one employee; an unknown id is null.
func (r *Resolver) Employee(ctx context.Context, args struct{ ID graphql.ID }) (*EmployeeResolver, error) {
	id, err := parseID("id", args.ID)
	if err != nil {
		return nil, err
	}
	sel, l := lookahead(ctx), r.loaders(ctx)
	var row employeeRow
	var found bool
	get := r.getEmployee(ctx, id, sel.has("organization"), &row, &found)
	if sel.has("projects") && !r.cfg.NaiveLoading { // naive: benchmark only
		// The projects are keyed by the id the client gave: they go to the
		// database with the employee, not after (one round trip).
		teamSize := sel.has("projects.teamSize")
		var projects map[int64][]projectRow
		err = postgres.Pipeline(ctx, r.pool, get, func(q *db.Queries) (err error) {
			projects, err = projectsByEmployeeIDs(ctx, q, []int64{id}, scopeOf(ctx), teamSize)
			return err
		})
		if err == nil && found {
			l.employeeProjectsFor(teamSize).keep(projects, []int64{id})
		}
	} else {
		err = get(r.q)
	}
	if err != nil || !found {
		return nil, err
	}
	if err := l.prefetchEmployees(ctx, sel, []db.Employee{row.employee}, orgList(row.org)); err != nil {
		return nil, err
	}
	return l.employee(row.employee, row.org), nil
}

// employeeRow is an employee and, when JOINed, their employer.
type employeeRow struct {
	employee db.Employee
	org      *db.Organization
}

// getEmployee is the step that loads one employee, and their employer
// JOINed when withOrganization, into row; found reports whether they exist.
func (r *Resolver) getEmployee(ctx context.Context, id int64, withOrganization bool, row *employeeRow, found *bool) postgres.Step {
	if withOrganization && !r.cfg.NaiveLoading { // naive: benchmark only
		return getStep("get employee with organization", found,
			func(q *db.Queries) (db.GetEmployeeWithOrganizationRow, error) {
				return q.GetEmployeeWithOrganization(ctx, db.GetEmployeeWithOrganizationParams{ID: id, Scope: scopeOf(ctx)})
			},
			func(got db.GetEmployeeWithOrganizationRow) {
				*row = employeeRow{employee: got.Employee, org: &got.Organization}
			})
	}
	return getStep("get employee", found,
		func(q *db.Queries) (db.Employee, error) {
			return q.GetEmployee(ctx, db.GetEmployeeParams{ID: id, Scope: scopeOf(ctx)})
		},
		func(got db.Employee) { *row = employeeRow{employee: got} })
}

func orgList(org *db.Organization) []db.Organization {
	if org == nil {
		return nil
	}
	return []db.Organization{*org}
}

// employeeFilter is what every employee list filters on.
type employeeFilter struct {
	organizationID *int64
	department     *string
	isActive       *bool
}

func newEmployeeFilter(organizationID *graphql.ID, department *string, isActive *bool) (employeeFilter, error) {
	orgID, err := parseOptionalID("organizationId", organizationID)
	return employeeFilter{organizationID: orgID, department: department, isActive: isActive}, err
}

// listEmployees runs one statement for a page of employees, JOINing their
// employers when sel selects organization, then prefetches what sel selects
// below them.
func (r *Resolver) listEmployees(ctx context.Context, sel selection, f employeeFilter, afterID int64, limit, offset int32) ([]*EmployeeResolver, error) {
	l := r.loaders(ctx)
	var out []*EmployeeResolver
	var emps []db.Employee
	var orgs []db.Organization
	if sel.has("organization") && !r.cfg.NaiveLoading { // naive: benchmark only
		rows, err := r.q.ListEmployeesWithOrganization(ctx, db.ListEmployeesWithOrganizationParams{
			AfterID: afterID, OrganizationID: f.organizationID, Department: f.department, IsActive: f.isActive,
			Scope: scopeOf(ctx), LimitCount: limit, OffsetCount: offset,
		})
		if err != nil {
			return nil, fmt.Errorf("list employees with organization: %w", err)
		}
		// One allocation per slice, not one per row: a page is up to 100
		// rows and this is the hottest list of the API.
		emps, orgs = make([]db.Employee, len(rows)), make([]db.Organization, len(rows))
		for i := range rows {
			emps[i], orgs[i] = rows[i].Employee, rows[i].Organization
		}
		out = l.employees(emps)
		// One resolver per employer, shared by its employees on the page.
		byID := make(map[int64]*OrganizationResolver)
		for i := range out {
			o, ok := byID[orgs[i].ID]
			if !ok {
				o = l.organization(orgs[i])
				byID[orgs[i].ID] = o
			}
			out[i].org = o
		}
	} else {
		rows, err := r.q.ListEmployees(ctx, db.ListEmployeesParams{
			AfterID: afterID, OrganizationID: f.organizationID, Department: f.department, IsActive: f.isActive,
			Scope: scopeOf(ctx), LimitCount: limit, OffsetCount: offset,
		})
		if err != nil {
			return nil, fmt.Errorf("list employees: %w", err)
		}
		out, emps = l.employees(rows), rows
	}
	if err := l.prefetchEmployees(ctx, sel, emps, orgs); err != nil {
		return nil, err
	}
	return out, nil
}

// AllEmployeesArgs are the arguments of Query.allEmployees.
type AllEmployeesArgs struct {
	Page           int32
	PageSize       int32
	OrganizationID *graphql.ID
	Department     *string
	IsActive       *bool
}

// AllEmployees is one numbered page of employees.
func (r *Resolver) AllEmployees(ctx context.Context, args AllEmployeesArgs) ([]*EmployeeResolver, error) {
	if err := checkPage(args.Page, args.PageSize); err != nil {
		return nil, err
	}
	f, err := newEmployeeFilter(args.OrganizationID, args.Department, args.IsActive)
	if err != nil {
		return nil, err
	}
	return r.listEmployees(ctx, lookahead(ctx), f, 0, args.PageSize, (args.Page-1)*args.PageSize)
}

// EmployeesArgs are the arguments of Query.employees.
type EmployeesArgs struct {
	First          int32
	After          *string
	OrganizationID *graphql.ID
	Department     *string
	IsActive       *bool
}

// Employees is a keyset page of employees.
func (r *Resolver) Employees(ctx context.Context, args EmployeesArgs) (*connection[*EmployeeResolver], error) {
	if err := checkFirst(args.First); err != nil {
		return nil, err
	}
	afterID, err := decodeCursor("employee", args.After)
	if err != nil {
		return nil, err
	}
	f, err := newEmployeeFilter(args.OrganizationID, args.Department, args.IsActive)
	if err != nil {
		return nil, err
	}
	rows, err := r.listEmployees(ctx, lookahead(ctx).under("nodes", "edges.node"), f, afterID, args.First+1, 0)
	if err != nil {
		return nil, err
	}
	count := func(ctx context.Context) (int64, error) {
		n, err := r.q.CountEmployees(ctx, db.CountEmployeesParams{OrganizationID: f.organizationID, Department: f.department, IsActive: f.isActive, Scope: scopeOf(ctx)})
		if err != nil {
			return 0, fmt.Errorf("count employees: %w", err)
		}
		return n, nil
	}
	return newConnection(rows, args.First, "employee",
		func(e *EmployeeResolver) int64 { return e.e.ID },
		func(e *EmployeeResolver) *EmployeeResolver { return e }, count), nil
}

// maxEmployeesByOrganization bounds employeesByOrganization, which has no
// page arguments in the original design.
const maxEmployeesByOrganization = 1000

// EmployeesByOrganization lists the employees of one organization.
func (r *Resolver) EmployeesByOrganization(ctx context.Context, args struct {
	OrganizationID graphql.ID
	IsActive       *bool
}) ([]*EmployeeResolver, error) {
	orgID, err := parseID("organizationId", args.OrganizationID)
	if err != nil {
		return nil, err
	}
	f := employeeFilter{organizationID: &orgID, isActive: args.IsActive}
	return r.listEmployees(ctx, lookahead(ctx), f, 0, maxEmployeesByOrganization, 0)
}

// EmployeeStats aggregates employees in the database.
func (r *Resolver) EmployeeStats(ctx context.Context, args struct {
	OrganizationID *graphql.ID
	Department     *string
}) (*EmployeeStatsResolver, error) {
	orgID, err := parseOptionalID("organizationId", args.OrganizationID)
	if err != nil {
		return nil, err
	}
	s, err := r.q.GetEmployeeStats(ctx, db.GetEmployeeStatsParams{OrganizationID: orgID, Department: args.Department, Scope: scopeOf(ctx)})
	if err != nil {
		return nil, fmt.Errorf("get employee stats: %w", err)
	}
	return &EmployeeStatsResolver{s: s}, nil
}

// DepartmentStats groups employees by department in the database.
func (r *Resolver) DepartmentStats(ctx context.Context, args struct{ OrganizationID *graphql.ID }) ([]*DepartmentStatsResolver, error) {
	orgID, err := parseOptionalID("organizationId", args.OrganizationID)
	if err != nil {
		return nil, err
	}
	rows, err := r.q.ListDepartmentStats(ctx, db.ListDepartmentStatsParams{OrganizationID: orgID, Scope: scopeOf(ctx)})
	if err != nil {
		return nil, fmt.Errorf("list department stats: %w", err)
	}
	out := make([]*DepartmentStatsResolver, len(rows))
	for i, row := range rows {
		out[i] = &DepartmentStatsResolver{s: row}
	}
	return out, nil
}

// CreateEmployeeInput is the input of createEmployee.
type CreateEmployeeInput struct {
	OrganizationID graphql.ID
	Name           string
	Email          string
	Department     string
	Title          *string
	Salary         float64
	IsActive       *bool
	HiredAt        *DateTime
}

// UpdateEmployeeInput is the input of updateEmployee: fields left out keep
// their value. A new organizationId moves the employee, taking them off
// every team of their former organization's projects.
type UpdateEmployeeInput struct {
	OrganizationID *graphql.ID
	Name           *string
	Email          *string
	Department     *string
	Title          *string
	Salary         *float64
	IsActive       *bool
	HiredAt        *DateTime
}

func checkEmployeeFields(name, email, department, title *string, salary *float64) error {
	return firstError(checkName("name", name), checkEmail(email), checkName("department", department),
		checkText("title", title, maxNameLength), checkAmount("salary", salary, maxSalary))
}

// CreateEmployee inserts an employee.
func (r *Resolver) CreateEmployee(ctx context.Context, args struct{ Input CreateEmployeeInput }) (*EmployeeResolver, error) {
	in := args.Input
	orgID, err := writableOrgID(ctx, "organizationId", in.OrganizationID)
	if err != nil {
		return nil, err
	}
	if err := checkEmployeeFields(&in.Name, &in.Email, &in.Department, in.Title, &in.Salary); err != nil {
		return nil, err
	}
	p := db.CreateEmployeeParams{
		OrganizationID: orgID, Name: in.Name, Email: in.Email, Department: in.Department,
		Salary: in.Salary, IsActive: true,
	}
	if in.Title != nil {
		p.Title = *in.Title
	}
	if in.IsActive != nil {
		p.IsActive = *in.IsActive
	}
	if in.HiredAt != nil {
		p.HiredAt = &in.HiredAt.Time
	}
	var e db.Employee
	var org db.Organization
	err = r.write(ctx, func(ctx context.Context, q *db.Queries) (err error) {
		if e, err = q.CreateEmployee(ctx, p); err != nil {
			return err
		}
		org, err = q.GetOrganization(ctx, db.GetOrganizationParams{ID: e.OrganizationID})
		return err
	})
	if err != nil {
		return nil, err
	}
	r.invalidate(ctx, Change{Table: TableEmployees, Op: OpInsert, RowID: e.ID, OrganizationID: e.OrganizationID})
	return r.mutatedEmployee(ctx, e, &org)
}

// UpdateEmployee changes an employee, possibly moving them to another
// organization.
func (r *Resolver) UpdateEmployee(ctx context.Context, args struct {
	ID    graphql.ID
	Input UpdateEmployeeInput
}) (*EmployeeResolver, error) {
	id, err := parseID("id", args.ID)
	if err != nil {
		return nil, err
	}
	in := args.Input
	newOrgID, err := parseOptionalID("organizationId", in.OrganizationID)
	if err != nil {
		return nil, err
	}
	if newOrgID != nil {
		if err := requireOrg(ctx, "organizationId", *newOrgID); err != nil {
			return nil, err
		}
	}
	if err := checkEmployeeFields(in.Name, in.Email, in.Department, in.Title, in.Salary); err != nil {
		return nil, err
	}
	p := db.UpdateEmployeeParams{
		ID: id, OrganizationID: newOrgID, Name: in.Name, Email: in.Email, Department: in.Department,
		Title: in.Title, Salary: in.Salary, IsActive: in.IsActive,
	}
	if in.HiredAt != nil {
		p.HiredAt = &in.HiredAt.Time
	}
	var before, e db.Employee
	var orgs []db.Organization
	var removedFrom []int64
	err = r.write(ctx, func(ctx context.Context, q *db.Queries) (err error) {
		before, err = q.GetEmployeeForUpdate(ctx, id)
		if err := ownRow(ctx, err, before.OrganizationID, "id", "employee"); err != nil {
			return err
		}
		if e, err = q.UpdateEmployee(ctx, p); err != nil {
			return err
		}
		if e.OrganizationID != before.OrganizationID {
			removedFrom, err = q.DeleteMembershipsOutsideOrganization(ctx, db.DeleteMembershipsOutsideOrganizationParams{
				EmployeeID: e.ID, OrganizationID: e.OrganizationID,
			})
			if err != nil {
				return err
			}
		}
		orgs, err = q.ListOrganizationsByIDs(ctx, db.ListOrganizationsByIDsParams{
			Ids: uniqueIDs([]int64{before.OrganizationID, e.OrganizationID}), Scope: scopeOf(ctx),
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	changes := []Change{{Table: TableEmployees, Op: OpUpdate, RowID: e.ID, OrganizationID: e.OrganizationID, OldOrganizationID: before.OrganizationID}}
	if len(removedFrom) > 0 {
		changes = append(changes, Change{Table: TableProjectMembers, Op: OpDelete})
	}
	r.invalidate(ctx, changes...)
	var org *db.Organization
	for i := range orgs {
		if orgs[i].ID == e.OrganizationID {
			org = &orgs[i]
		}
	}
	return r.mutatedEmployee(ctx, e, org)
}

// mutatedEmployee is the result of an employee mutation, with what its
// selection asks for loaded after the commit by loaders of its own (see mutatedOrganization).
func (r *Resolver) mutatedEmployee(ctx context.Context, e db.Employee, org *db.Organization) (*EmployeeResolver, error) {
	l := newLoaders(r)
	if err := l.prefetchEmployees(ctx, lookahead(ctx), []db.Employee{e}, orgList(org)); err != nil {
		return nil, fmt.Errorf("load the result: %w", err)
	}
	return l.employee(e, org), nil
}

// DeleteEmployee removes an employee and their team memberships.
func (r *Resolver) DeleteEmployee(ctx context.Context, args struct{ ID graphql.ID }) (bool, error) {
	id, err := parseID("id", args.ID)
	if err != nil {
		return false, err
	}
	var e db.Employee
	err = r.write(ctx, func(ctx context.Context, q *db.Queries) (err error) {
		// The cascade removes the team memberships; the change log has
		// their project updates (before it, this read the projects and
		// the organization again for the events it published).
		e, err = q.DeleteEmployee(ctx, id)
		return ownRow(ctx, err, e.OrganizationID, "id", "employee") // outside the scope: rolled back
	})
	if err != nil {
		return false, err
	}
	r.invalidate(ctx, Change{Table: TableEmployees, Op: OpDelete, RowID: e.ID, OrganizationID: e.OrganizationID},
		Change{Table: TableProjectMembers, Op: OpDelete})
	return true, nil
}

// employeeProjectsFor is the loader of Employee.projects: counting every
// project's team costs one index probe per membership row, so it runs only
// when the selection below projects has teamSize.
func (l *loaders) employeeProjectsFor(teamSize bool) *batch[[]projectRow] {
	if teamSize {
		return l.employeeProjects
	}
	return l.employeeProjectsBare
}

// prefetchEmployees loads, for all emps at once, every child the query
// selects below them. joined holds the employers when the statement that
// loaded emps JOINed them; they are not loaded again.
func (l *loaders) prefetchEmployees(ctx context.Context, sel selection, emps []db.Employee, joined []db.Organization) error {
	if len(emps) == 0 || len(sel.prefixes) == 0 {
		return nil
	}
	if sel.has("organization") && joined != nil {
		if err := l.prefetchOrganizations(ctx, sel.under("organization"), uniqueOrgs(joined)); err != nil {
			return err
		}
	} else if sel.has("organization") {
		ids := make([]int64, len(emps))
		for i, e := range emps {
			ids[i] = e.OrganizationID
		}
		if err := l.prefetchOrganizationsByID(ctx, sel.under("organization"), ids); err != nil {
			return err
		}
	}
	if sel.has("projects") {
		ids := make([]int64, len(emps))
		for i, e := range emps {
			ids[i] = e.ID
		}
		byEmp, err := l.employeeProjectsFor(sel.has("projects.teamSize")).prefetch(ctx, ids)
		if err != nil {
			return err
		}
		if projSel := sel.under("projects"); projSel.selectsProjectChildren() {
			if err := l.prefetchProjects(ctx, projSel, flatten(byEmp)); err != nil {
				return err
			}
		}
	}
	return nil
}

// projectsByEmployeeIDs loads the projects of employees ids, each in id
// order, with each project's team size only when teamSize.
func projectsByEmployeeIDs(ctx context.Context, q *db.Queries, ids, scope []int64, teamSize bool) (map[int64][]projectRow, error) {
	if !teamSize {
		rows, err := q.ListProjectsByEmployeeIDsWithoutTeamSize(ctx, db.ListProjectsByEmployeeIDsWithoutTeamSizeParams{EmployeeIds: ids, Scope: scope})
		if err != nil {
			return nil, fmt.Errorf("list projects by employee ids: %w", err)
		}
		return groupBy(rows, func(r db.ListProjectsByEmployeeIDsWithoutTeamSizeRow) (int64, projectRow) {
			return r.EmployeeID, projectRow{project: r.Project}
		}), nil
	}
	rows, err := q.ListProjectsByEmployeeIDs(ctx, db.ListProjectsByEmployeeIDsParams{EmployeeIds: ids, Scope: scope})
	if err != nil {
		return nil, fmt.Errorf("list projects by employee ids: %w", err)
	}
	return groupBy(rows, func(r db.ListProjectsByEmployeeIDsRow) (int64, projectRow) {
		return r.EmployeeID, projectRow{project: r.Project, teamSize: r.TeamSize}
	}), nil
}

func (s selection) selectsEmployeeChildren() bool {
	return s.has("organization") || s.has("projects")
}
