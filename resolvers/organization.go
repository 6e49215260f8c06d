package resolvers

import (
	"context"
	"fmt"

	graphql "github.com/graph-gophers/graphql-go"

	"orgpulse/auth"
	"orgpulse/cache"
	"orgpulse/db"
)

// OrganizationResolver resolves the fields of Organization.
type OrganizationResolver struct {
	l *loaders
	o db.Organization
}

func (l *loaders) organization(o db.Organization) *OrganizationResolver {
	return &OrganizationResolver{l: l, o: o}
}

func (o *OrganizationResolver) ID() graphql.ID      { return gqlID(o.o.ID) }
func (o *OrganizationResolver) Name() string        { return o.o.Name }
func (o *OrganizationResolver) Industry() string    { return o.o.Industry }
func (o *OrganizationResolver) IsActive() bool      { return o.o.IsActive }
func (o *OrganizationResolver) CreatedAt() DateTime { return dateTime(o.o.CreatedAt) }
func (o *OrganizationResolver) UpdatedAt() DateTime { return dateTime(o.o.UpdatedAt) }

// EmployeeCount counts active employees, for all organizations of the
// request in one statement (or one cache lookup) by the look-ahead.
func (o *OrganizationResolver) EmployeeCount() int32 {
	n, _ := value(o.l, o.l.employeeCount, o.o.ID, "Organization.employeeCount")
	return int32Of(n)
}

// OrganizationEmployeesArgs are the arguments of Organization.employees.
type OrganizationEmployeesArgs struct {
	IsActive *bool
	First    int32
	After    *string
}

// Employees is a keyset page of the organization's employees; every
// organization of the request shares one statement per set of arguments.
// It takes a context, unlike the fields without arguments: a second set
// of arguments under an alias is loaded here, for all sibling
// organizations by the first to ask (loadAmongSiblings).
func (o *OrganizationResolver) Employees(ctx context.Context, args OrganizationEmployeesArgs) (*connection[*EmployeeResolver], error) {
	if err := checkFirst(args.First); err != nil {
		return nil, err
	}
	afterID, err := decodeCursor("employee", args.After)
	if err != nil {
		return nil, err
	}
	l := o.l
	rows, err := loadAmongSiblings(ctx, l, l.orgEmployeesBy(args.IsActive, args.First, afterID), o.o.ID,
		func(loadCtx context.Context, byOrg map[int64][]db.Employee) error {
			return l.prefetchEmployees(loadCtx, lookahead(ctx).under("nodes", "edges.node"), pages(byOrg, args.First), nil)
		})
	if err != nil {
		return nil, err
	}
	count := func(ctx context.Context) (int64, error) {
		return loadAmongSiblings(ctx, l, l.orgEmployeeTotalsBy(args.IsActive), o.o.ID, nil)
	}
	return newConnection(rows, args.First, "employee",
		func(e db.Employee) int64 { return e.ID },
		func(e db.Employee) *EmployeeResolver { return l.employee(e, nil) }, count), nil
}

// Projects lists the organization's projects, optionally of one status.
func (o *OrganizationResolver) Projects(ctx context.Context, args struct{ Status *string }) ([]*ProjectResolver, error) {
	if err := checkOptionalOneOf("status", args.Status, ProjectStatuses); err != nil {
		return nil, err
	}
	l := o.l
	rows, err := loadAmongSiblings(ctx, l, l.orgProjectsBy(args.Status), o.o.ID,
		func(loadCtx context.Context, byOrg map[int64][]projectRow) error {
			return l.prefetchProjects(loadCtx, lookahead(ctx), flatten(byOrg))
		})
	if err != nil {
		return nil, err
	}
	return l.projects(rows), nil
}

// EmployeeStats aggregates the organization's employees in the database,
// for all organizations of the request at once.
func (o *OrganizationResolver) EmployeeStats() *EmployeeStatsResolver {
	row, _ := value(o.l, o.l.employeeStats, o.o.ID, "Organization.employeeStats")
	if row == nil { // no employees: the aggregate of nothing
		return &EmployeeStatsResolver{}
	}
	return &EmployeeStatsResolver{s: db.GetEmployeeStatsRow{
		Total: row.Total, Active: row.Active, Inactive: row.Inactive,
		AverageSalary: row.AverageSalary, MaxSalary: row.MaxSalary, MinSalary: row.MinSalary,
	}}
}

// DepartmentStats groups the organization's employees by department, for
// all organizations of the request at once.
func (o *OrganizationResolver) DepartmentStats() []*DepartmentStatsResolver {
	rows, _ := value(o.l, o.l.departmentStats, o.o.ID, "Organization.departmentStats")
	out := make([]*DepartmentStatsResolver, len(rows))
	for i, row := range rows {
		out[i] = &DepartmentStatsResolver{s: db.ListDepartmentStatsRow{
			Department: row.Department, EmployeeCount: row.EmployeeCount,
			AverageSalary: row.AverageSalary, MinSalary: row.MinSalary, MaxSalary: row.MaxSalary,
		}}
	}
	return out
}

// Organization looks up one organization; an unknown id is null.
func (r *Resolver) Organization(ctx context.Context, args struct{ ID graphql.ID }) (*OrganizationResolver, error) {
	id, err := parseID("id", args.ID)
	if err != nil {
		return nil, err
	}
	o, err := r.q.GetOrganization(ctx, db.GetOrganizationParams{ID: id, Scope: scopeOf(ctx)})
	if notFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get organization: %w", err)
	}
	l := r.loaders(ctx)
	if err := l.prefetchOrganizations(ctx, lookahead(ctx), []db.Organization{o}); err != nil {
		return nil, err
	}
	return l.organization(o), nil
}

// AllOrganizations lists every active organization.
func (r *Resolver) AllOrganizations(ctx context.Context) ([]*OrganizationResolver, error) {
	// Cached per scope: a list cached for one scope is never served to
	// another.
	scope := scopeOf(ctx)
	name := "orgs:active"
	if scope != nil {
		name += ":scope=" + auth.ScopeKey(scope)
	}
	cached, err := cache.Load(ctx, r.cfg.Cache, cache.Key{Name: name, Version: versionOrgs}, r.cfg.CacheTTL,
		func(ctx context.Context) (cachedOrganizations, error) {
			rows, err := r.q.ListActiveOrganizations(ctx, scope)
			if err != nil {
				return nil, fmt.Errorf("list active organizations: %w", err)
			}
			return organizationsToWire(rows), nil
		})
	if err != nil {
		return nil, err
	}
	rows := cached.rows()
	l := r.loaders(ctx)
	if err := l.prefetchOrganizations(ctx, lookahead(ctx), rows); err != nil {
		return nil, err
	}
	out := make([]*OrganizationResolver, len(rows))
	for i, o := range rows {
		out[i] = l.organization(o)
	}
	return out, nil
}

// OrganizationsArgs are the arguments of Query.organizations.
type OrganizationsArgs struct {
	First    int32
	After    *string
	IsActive *bool
}

// Organizations is a keyset page of organizations.
func (r *Resolver) Organizations(ctx context.Context, args OrganizationsArgs) (*connection[*OrganizationResolver], error) {
	if err := checkFirst(args.First); err != nil {
		return nil, err
	}
	afterID, err := decodeCursor("organization", args.After)
	if err != nil {
		return nil, err
	}
	scope := scopeOf(ctx)
	rows, err := r.q.ListOrganizations(ctx, db.ListOrganizationsParams{AfterID: afterID, IsActive: args.IsActive, Scope: scope, LimitCount: args.First + 1})
	if err != nil {
		return nil, fmt.Errorf("list organizations: %w", err)
	}
	page := rows[:min(len(rows), int(args.First))]
	l := r.loaders(ctx)
	if err := l.prefetchOrganizations(ctx, lookahead(ctx).under("nodes", "edges.node"), page); err != nil {
		return nil, err
	}
	count := func(ctx context.Context) (int64, error) {
		n, err := r.q.CountOrganizations(ctx, db.CountOrganizationsParams{IsActive: args.IsActive, Scope: scope})
		if err != nil {
			return 0, fmt.Errorf("count organizations: %w", err)
		}
		return n, nil
	}
	return newConnection(rows, args.First, "organization",
		func(o db.Organization) int64 { return o.ID }, l.organization, count), nil
}

// CreateOrganizationInput is the input of createOrganization.
type CreateOrganizationInput struct {
	Name     string
	Industry *string
	IsActive *bool
}

func checkOrganizationFields(name, industry *string) error {
	return firstError(checkName("name", name), checkText("industry", industry, maxNameLength))
}

// CreateOrganization inserts an organization.
func (r *Resolver) CreateOrganization(ctx context.Context, args struct{ Input CreateOrganizationInput }) (*OrganizationResolver, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	in := args.Input
	if err := checkOrganizationFields(&in.Name, in.Industry); err != nil {
		return nil, err
	}
	p := db.CreateOrganizationParams{Name: in.Name, IsActive: true}
	if in.Industry != nil {
		p.Industry = *in.Industry
	}
	if in.IsActive != nil {
		p.IsActive = *in.IsActive
	}
	var o db.Organization
	err := r.write(ctx, func(ctx context.Context, q *db.Queries) (err error) {
		o, err = q.CreateOrganization(ctx, p)
		return err
	})
	if err != nil {
		return nil, err
	}
	r.invalidate(ctx, Change{Table: TableOrganizations, Op: OpInsert, RowID: o.ID, OrganizationID: o.ID})
	return r.mutatedOrganization(ctx, o)
}

// UpdateOrganizationInput is the input of updateOrganization: fields left
// out keep their value.
type UpdateOrganizationInput struct {
	Name     *string
	Industry *string
	IsActive *bool
}

// UpdateOrganization changes an organization.
func (r *Resolver) UpdateOrganization(ctx context.Context, args struct {
	ID    graphql.ID
	Input UpdateOrganizationInput
}) (*OrganizationResolver, error) {
	id, err := parseID("id", args.ID)
	if err != nil {
		return nil, err
	}
	if err := requireOrg(ctx, "id", id); err != nil {
		return nil, err
	}
	in := args.Input
	if err := checkOrganizationFields(in.Name, in.Industry); err != nil {
		return nil, err
	}
	var o db.Organization
	err = r.write(ctx, func(ctx context.Context, q *db.Queries) (err error) {
		o, err = q.UpdateOrganization(ctx, db.UpdateOrganizationParams{ID: id, Name: in.Name, Industry: in.Industry, IsActive: in.IsActive})
		return missing(err, "id", "organization")
	})
	if err != nil {
		return nil, err
	}
	r.invalidate(ctx, Change{Table: TableOrganizations, Op: OpUpdate, RowID: o.ID, OrganizationID: o.ID})
	return r.mutatedOrganization(ctx, o)
}

// mutatedOrganization is the result of an organization mutation, with what
// its selection asks for loaded after the commit by loaders of its own: a
// mutation's result shows what it committed, never a value an earlier
// field of the same request loaded.
func (r *Resolver) mutatedOrganization(ctx context.Context, o db.Organization) (*OrganizationResolver, error) {
	l := newLoaders(r)
	if err := l.prefetchOrganizations(ctx, lookahead(ctx), []db.Organization{o}); err != nil {
		return nil, fmt.Errorf("load the result: %w", err)
	}
	return l.organization(o), nil
}

func (l *loaders) countEmployees(ctx context.Context, ids []int64, isActive *bool) (map[int64]int64, error) {
	rows, err := l.q.CountEmployeesByOrganizationIDs(ctx, db.CountEmployeesByOrganizationIDsParams{OrganizationIds: ids, IsActive: isActive})
	if err != nil {
		return nil, fmt.Errorf("count employees by organization ids: %w", err)
	}
	m := make(map[int64]int64, len(rows))
	for _, row := range rows {
		m[row.OrganizationID] = row.EmployeeCount
	}
	return m, nil
}

// orgProjectsBy returns the loader of Organization.projects(status).
func (l *loaders) orgProjectsBy(status *string) *batch[[]projectRow] {
	key := ""
	if status != nil {
		key = "=" + *status
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.orgProjects[key]; ok {
		return b
	}
	b := newBatch(l.wait, func(ctx context.Context, ids []int64) (map[int64][]projectRow, error) {
		rows, err := l.q.ListProjectsByOrganizationIDs(ctx, db.ListProjectsByOrganizationIDsParams{OrganizationIds: ids, Status: status})
		if err != nil {
			return nil, fmt.Errorf("list projects by organization ids: %w", err)
		}
		return groupBy(rows, func(r db.ListProjectsByOrganizationIDsRow) (int64, projectRow) {
			return r.Project.OrganizationID, projectRow{project: r.Project, teamSize: r.TeamSize}
		}), nil
	})
	l.orgProjects[key] = b
	return b
}

// orgEmployeesBy returns the loader of Organization.employees for one set
// of arguments. It loads first+1 rows per organization: the extra row only
// says whether a next page exists.
func (l *loaders) orgEmployeesBy(isActive *bool, first int32, afterID int64) *batch[[]db.Employee] {
	key := employeePage{isActive: boolKey(isActive), first: first, afterID: afterID}
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.orgEmployees[key]; ok {
		return b
	}
	b := newBatch(l.wait, func(ctx context.Context, ids []int64) (map[int64][]db.Employee, error) {
		rows, err := l.q.ListEmployeesByOrganizationIDs(ctx, db.ListEmployeesByOrganizationIDsParams{
			OrganizationIds: ids, AfterID: afterID, IsActive: isActive, LimitCount: first + 1,
		})
		if err != nil {
			return nil, fmt.Errorf("list employees by organization ids: %w", err)
		}
		return groupBy(rows, func(r db.Employee) (int64, db.Employee) { return r.OrganizationID, r }), nil
	})
	l.orgEmployees[key] = b
	return b
}

// orgEmployeeTotalsBy returns the loader of
// Organization.employees(isActive).totalCount.
func (l *loaders) orgEmployeeTotalsBy(isActive *bool) *batch[int64] {
	key := boolKey(isActive)
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.orgEmployeeTotals[key]; ok {
		return b
	}
	b := newBatch(l.wait, func(ctx context.Context, ids []int64) (map[int64]int64, error) {
		return l.countEmployees(ctx, ids, isActive)
	})
	l.orgEmployeeTotals[key] = b
	return b
}

// prefetchOrganizations loads, for all orgs at once, every child the query
// selects below them.
func (l *loaders) prefetchOrganizations(ctx context.Context, sel selection, orgs []db.Organization) error {
	if len(orgs) == 0 || len(sel.prefixes) == 0 {
		return nil
	}
	ids := make([]int64, len(orgs))
	for i, o := range orgs {
		ids[i] = o.ID
	}
	if !l.naive && (sel.has("employees") || sel.has("projects")) {
		l.resolvedTogether(ids)
	}
	if sel.has("employeeCount") {
		if _, err := l.employeeCount.prefetch(ctx, ids); err != nil {
			return err
		}
	}
	if sel.has("employeeStats") {
		if _, err := l.employeeStats.prefetch(ctx, ids); err != nil {
			return err
		}
	}
	if sel.has("departmentStats") {
		if _, err := l.departmentStats.prefetch(ctx, ids); err != nil {
			return err
		}
	}
	// Naive loading (benchmark only) leaves the fields with arguments to
	// each organization's own resolver: one statement per organization.
	if sel.has("projects") && !l.naive {
		var args struct{ Status *string }
		sel.args("projects", &args)
		if checkOptionalOneOf("status", args.Status, ProjectStatuses) == nil {
			byOrg, err := l.orgProjectsBy(args.Status).prefetch(ctx, ids)
			if err != nil {
				return err
			}
			if projSel := sel.under("projects"); projSel.selectsProjectChildren() {
				if err := l.prefetchProjects(ctx, projSel, flatten(byOrg)); err != nil {
					return err
				}
			}
		}
	}
	if sel.has("employees") && !l.naive {
		var args struct {
			IsActive *bool
			First    *int32
			After    *string
		}
		sel.args("employees", &args)
		first := int32(50) // the SDL default of Organization.employees(first)
		if args.First != nil {
			first = *args.First
		}
		afterID, err := decodeCursor("employee", args.After)
		if err == nil && checkFirst(first) == nil {
			byOrg, err := l.orgEmployeesBy(args.IsActive, first, afterID).prefetch(ctx, ids)
			if err != nil {
				return err
			}
			if empSel := sel.under("employees.nodes", "employees.edges.node"); empSel.selectsEmployeeChildren() {
				if err := l.prefetchEmployees(ctx, empSel, pages(byOrg, first), nil); err != nil {
					return err
				}
			}
			if sel.has("employees.totalCount") {
				if _, err := l.orgEmployeeTotalsBy(args.IsActive).prefetch(ctx, ids); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// pages collects the employees of every organization's page from rows
// loaded with LIMIT first+1 per organization (the extra row only says a next
// page exists).
func pages(byOrg map[int64][]db.Employee, first int32) []db.Employee {
	n := 0
	for _, rows := range byOrg {
		n += min(len(rows), int(first))
	}
	out := make([]db.Employee, 0, n)
	for _, rows := range byOrg {
		out = append(out, rows[:min(len(rows), int(first))]...)
	}
	return out
}

func (l *loaders) prefetchOrganizationsByID(ctx context.Context, sel selection, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	byID, err := l.orgByID.prefetch(ctx, ids)
	if err != nil {
		return err
	}
	orgs := make([]db.Organization, 0, len(byID))
	for _, o := range byID {
		if o != nil {
			orgs = append(orgs, *o)
		}
	}
	return l.prefetchOrganizations(ctx, sel, orgs)
}

func uniqueOrgs(orgs []db.Organization) []db.Organization {
	seen := map[int64]bool{}
	out := orgs[:0:0]
	for _, o := range orgs {
		if !seen[o.ID] {
			seen[o.ID] = true
			out = append(out, o)
		}
	}
	return out
}
