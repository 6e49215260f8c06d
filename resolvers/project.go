package resolvers

import (
	"context"
	"fmt"

	graphql "github.com/graph-gophers/graphql-go"

	"orgpulse/db"
	"orgpulse/postgres"
)

// ProjectResolver resolves the fields of Project.
type ProjectResolver struct {
	l   *loaders
	row projectRow
}

func (l *loaders) project(row projectRow) *ProjectResolver { return &ProjectResolver{l: l, row: row} }

func (l *loaders) projects(rows []projectRow) []*ProjectResolver {
	all := make([]ProjectResolver, len(rows)) // one allocation for the page
	out := make([]*ProjectResolver, len(rows))
	for i := range rows {
		all[i] = ProjectResolver{l: l, row: rows[i]}
		out[i] = &all[i]
	}
	return out
}

func (p *ProjectResolver) ID() graphql.ID      { return gqlID(p.row.project.ID) }
func (p *ProjectResolver) Name() string        { return p.row.project.Name }
func (p *ProjectResolver) Description() string { return p.row.project.Description }
func (p *ProjectResolver) Status() string      { return p.row.project.Status }
func (p *ProjectResolver) Budget() float64     { return p.row.project.Budget }
func (p *ProjectResolver) CreatedAt() DateTime { return dateTime(p.row.project.CreatedAt) }
func (p *ProjectResolver) UpdatedAt() DateTime { return dateTime(p.row.project.UpdatedAt) }

// TeamSize was counted by the statement that loaded the project.
func (p *ProjectResolver) TeamSize() int32 { return p.row.teamSize }

// Organization is the owner: JOINed when the parent statement could,
// otherwise loaded for all projects of the request at once by the
// look-ahead (prefetchProjects).
func (p *ProjectResolver) Organization() *OrganizationResolver {
	if p.row.org != nil {
		return p.l.organization(*p.row.org)
	}
	o, ok := value(p.l, p.l.orgByID, p.row.project.OrganizationID, "Project.organization")
	if !ok || o == nil {
		return nil
	}
	return p.l.organization(*o)
}

// TeamMembers lists the team through the project_members join table,
// loaded for all projects of the request at once by the look-ahead.
func (p *ProjectResolver) TeamMembers() []*EmployeeResolver {
	rows, _ := value(p.l, p.l.teamMembers, p.row.project.ID, "Project.teamMembers")
	return p.l.employees(rows)
}

// Project looks up one project; an unknown id is null.
func (r *Resolver) Project(ctx context.Context, args struct{ ID graphql.ID }) (*ProjectResolver, error) {
	id, err := parseID("id", args.ID)
	if err != nil {
		return nil, err
	}
	sel, l := lookahead(ctx), r.loaders(ctx)
	var row projectRow
	var found bool
	get := r.getProject(ctx, id, sel.has("organization"), &row, &found)
	if sel.has("teamMembers") && !r.cfg.NaiveLoading { // naive: benchmark only
		// The team is keyed by the id the client gave: it goes to the
		// database with the project, not after it (two statements, one
		// round trip).
		var team map[int64][]db.Employee
		err = postgres.Pipeline(ctx, r.pool, get, func(q *db.Queries) (err error) {
			team, err = teamsByProjectIDs(ctx, q, []int64{id}, scopeOf(ctx))
			return err
		})
		if err == nil && found {
			l.teamMembers.keep(team, []int64{id})
		}
	} else {
		err = get(r.q)
	}
	if err != nil || !found {
		return nil, err
	}
	if err := l.prefetchProjects(ctx, sel, []projectRow{row}); err != nil {
		return nil, err
	}
	return l.project(row), nil
}

// getProject is the step that loads one project with its team size, and
// its owner JOINed when withOrganization, into row; found reports whether
// it exists.
func (r *Resolver) getProject(ctx context.Context, id int64, withOrganization bool, row *projectRow, found *bool) postgres.Step {
	if withOrganization && !r.cfg.NaiveLoading { // naive: benchmark only
		return getStep("get project with organization", found,
			func(q *db.Queries) (db.GetProjectWithOrganizationRow, error) {
				return q.GetProjectWithOrganization(ctx, db.GetProjectWithOrganizationParams{ID: id, Scope: scopeOf(ctx)})
			},
			func(got db.GetProjectWithOrganizationRow) {
				*row = projectRow{project: got.Project, teamSize: got.TeamSize, org: &got.Organization}
			})
	}
	return getStep("get project", found,
		func(q *db.Queries) (db.GetProjectRow, error) {
			return q.GetProject(ctx, db.GetProjectParams{ID: id, Scope: scopeOf(ctx)})
		},
		func(got db.GetProjectRow) { *row = projectRow{project: got.Project, teamSize: got.TeamSize} })
}

// projectFilter is what every project list filters on.
type projectFilter struct {
	status         *string
	organizationID *int64
}

func newProjectFilter(status *string, organizationID *graphql.ID) (projectFilter, error) {
	if err := checkOptionalOneOf("status", status, ProjectStatuses); err != nil {
		return projectFilter{}, err
	}
	orgID, err := parseOptionalID("organizationId", organizationID)
	return projectFilter{status: status, organizationID: orgID}, err
}

// listProjects runs one statement for a page of projects, JOINing their
// owners when sel selects organization, then prefetches what sel selects
// below them. A page's teams are found by the same arguments as the page,
// so they go to the database with it (two statements, one round trip).
func (r *Resolver) listProjects(ctx context.Context, sel selection, f projectFilter, afterID int64, limit, offset int32) ([]projectRow, error) {
	var rows []projectRow
	page := r.listProjectPage(ctx, sel, f, afterID, limit, offset, &rows)
	var teams map[int64][]db.Employee
	var err error
	if sel.has("teamMembers") && !r.cfg.NaiveLoading { // naive: benchmark only
		err = postgres.Pipeline(ctx, r.pool, page, func(q *db.Queries) error {
			got, err := q.ListTeamMembersByProjectPage(ctx, db.ListTeamMembersByProjectPageParams{
				AfterID: afterID, Status: f.status, OrganizationID: f.organizationID, Scope: scopeOf(ctx), LimitCount: limit, OffsetCount: offset,
			})
			if err != nil {
				return fmt.Errorf("list team members by project page: %w", err)
			}
			teams = groupBy(got, func(r db.ListTeamMembersByProjectPageRow) (int64, db.Employee) { return r.ProjectID, r.Employee })
			return nil
		})
	} else {
		err = page(r.q)
	}
	if err != nil {
		return nil, err
	}
	l := r.loaders(ctx)
	if teams != nil {
		l.keepPageTeams(rows, teams)
	}
	if err := l.prefetchProjects(ctx, sel, rows); err != nil {
		return nil, err
	}
	return rows, nil
}

// listProjectPage is the step that loads a page of projects into rows.
func (r *Resolver) listProjectPage(ctx context.Context, sel selection, f projectFilter, afterID int64, limit, offset int32, rows *[]projectRow) postgres.Step {
	if sel.has("organization") && !r.cfg.NaiveLoading { // naive: benchmark only
		return func(q *db.Queries) error {
			got, err := q.ListProjectsWithOrganization(ctx, db.ListProjectsWithOrganizationParams{
				AfterID: afterID, Status: f.status, OrganizationID: f.organizationID, Scope: scopeOf(ctx), LimitCount: limit, OffsetCount: offset,
			})
			if err != nil {
				return fmt.Errorf("list projects with organization: %w", err)
			}
			*rows = make([]projectRow, len(got))
			for i := range got {
				(*rows)[i] = projectRow{project: got[i].Project, teamSize: got[i].TeamSize, org: &got[i].Organization}
			}
			return nil
		}
	}
	return func(q *db.Queries) error {
		got, err := q.ListProjects(ctx, db.ListProjectsParams{
			AfterID: afterID, Status: f.status, OrganizationID: f.organizationID, Scope: scopeOf(ctx), LimitCount: limit, OffsetCount: offset,
		})
		if err != nil {
			return fmt.Errorf("list projects: %w", err)
		}
		*rows = make([]projectRow, len(got))
		for i := range got {
			(*rows)[i] = projectRow{project: got[i].Project, teamSize: got[i].TeamSize}
		}
		return nil
	}
}

// AllProjectsArgs are the arguments of Query.allProjects.
type AllProjectsArgs struct {
	Page           int32
	PageSize       int32
	Status         *string
	OrganizationID *graphql.ID
}

// AllProjects is one numbered page of projects.
func (r *Resolver) AllProjects(ctx context.Context, args AllProjectsArgs) ([]*ProjectResolver, error) {
	if err := checkPage(args.Page, args.PageSize); err != nil {
		return nil, err
	}
	f, err := newProjectFilter(args.Status, args.OrganizationID)
	if err != nil {
		return nil, err
	}
	rows, err := r.listProjects(ctx, lookahead(ctx), f, 0, args.PageSize, (args.Page-1)*args.PageSize)
	if err != nil {
		return nil, err
	}
	return r.loaders(ctx).projects(rows), nil
}

// ProjectsArgs are the arguments of Query.projects.
type ProjectsArgs struct {
	First          int32
	After          *string
	Status         *string
	OrganizationID *graphql.ID
}

// Projects is a keyset page of projects.
func (r *Resolver) Projects(ctx context.Context, args ProjectsArgs) (*connection[*ProjectResolver], error) {
	if err := checkFirst(args.First); err != nil {
		return nil, err
	}
	afterID, err := decodeCursor("project", args.After)
	if err != nil {
		return nil, err
	}
	f, err := newProjectFilter(args.Status, args.OrganizationID)
	if err != nil {
		return nil, err
	}
	rows, err := r.listProjects(ctx, lookahead(ctx).under("nodes", "edges.node"), f, afterID, args.First+1, 0)
	if err != nil {
		return nil, err
	}
	count := func(ctx context.Context) (int64, error) {
		n, err := r.q.CountProjects(ctx, db.CountProjectsParams{Status: f.status, OrganizationID: f.organizationID, Scope: scopeOf(ctx)})
		if err != nil {
			return 0, fmt.Errorf("count projects: %w", err)
		}
		return n, nil
	}
	return newConnection(rows, args.First, "project",
		func(p projectRow) int64 { return p.project.ID }, r.loaders(ctx).project, count), nil
}

const maxDescriptionLength = 5000

// projectRows reloads projects with their team sizes inside a mutation's
// transaction, for its answer.
func projectRows(ctx context.Context, q *db.Queries, ids []int64) ([]projectRow, error) {
	out := make([]projectRow, 0, len(ids))
	for _, id := range uniqueIDs(ids) {
		got, err := q.GetProject(ctx, db.GetProjectParams{ID: id})
		if err != nil {
			return nil, fmt.Errorf("reload project %d: %w", id, err)
		}
		out = append(out, projectRow{project: got.Project, teamSize: got.TeamSize})
	}
	return out, nil
}

// CreateProjectInput is the input of createProject.
type CreateProjectInput struct {
	OrganizationID graphql.ID
	Name           string
	Description    *string
	Status         *string
	Budget         *float64
}

// UpdateProjectInput is the input of updateProject: fields left out keep
// their value.
type UpdateProjectInput struct {
	Name        *string
	Description *string
	Status      *string
	Budget      *float64
}

func checkProjectFields(name, description, status *string, budget *float64) error {
	return firstError(checkName("name", name), checkText("description", description, maxDescriptionLength),
		checkOptionalOneOf("status", status, ProjectStatuses), checkAmount("budget", budget, maxBudget))
}

// CreateProject inserts a project.
func (r *Resolver) CreateProject(ctx context.Context, args struct{ Input CreateProjectInput }) (*ProjectResolver, error) {
	in := args.Input
	orgID, err := writableOrgID(ctx, "organizationId", in.OrganizationID)
	if err != nil {
		return nil, err
	}
	if err := checkProjectFields(&in.Name, in.Description, in.Status, in.Budget); err != nil {
		return nil, err
	}
	p := db.CreateProjectParams{OrganizationID: orgID, Name: in.Name, Status: "planning"}
	if in.Description != nil {
		p.Description = *in.Description
	}
	if in.Status != nil {
		p.Status = *in.Status
	}
	if in.Budget != nil {
		p.Budget = *in.Budget
	}
	var row projectRow
	err = r.write(ctx, func(ctx context.Context, q *db.Queries) (err error) {
		row.project, err = q.CreateProject(ctx, p)
		return err
	})
	if err != nil {
		return nil, err
	}
	r.invalidate(ctx, Change{Table: TableProjects, Op: OpInsert, RowID: row.project.ID, OrganizationID: orgID})
	return r.mutatedProject(ctx, row)
}

// UpdateProject changes a project's fields.
func (r *Resolver) UpdateProject(ctx context.Context, args struct {
	ID    graphql.ID
	Input UpdateProjectInput
}) (*ProjectResolver, error) {
	id, err := parseID("id", args.ID)
	if err != nil {
		return nil, err
	}
	in := args.Input
	if err := checkProjectFields(in.Name, in.Description, in.Status, in.Budget); err != nil {
		return nil, err
	}
	return r.changeProject(ctx, id, "id", func(q *db.Queries) error {
		_, err := q.UpdateProject(ctx, db.UpdateProjectParams{ID: id, Name: in.Name, Description: in.Description, Status: in.Status, Budget: in.Budget})
		return missing(err, "id", "project")
	})
}

// changeProject runs change in one transaction, reloads the project with
// its team size and returns it; the relay announces it to projectUpdated
// subscribers from the change log. A project outside the caller's scope is
// not found (field names its id), exactly as an unknown one: checked first,
// by locking it, for every principal but an admin (whose statements stay
// as they were).
func (r *Resolver) changeProject(ctx context.Context, id int64, field string, change func(q *db.Queries) error) (*ProjectResolver, error) {
	var rows []projectRow
	err := r.write(ctx, func(ctx context.Context, q *db.Queries) (err error) {
		if scopeOf(ctx) != nil {
			p, err := q.GetProjectForUpdate(ctx, id)
			if err := ownRow(ctx, err, p.OrganizationID, field, "project"); err != nil {
				return err
			}
		}
		if err := change(q); err != nil {
			return err
		}
		rows, err = projectRows(ctx, q, []int64{id})
		return err
	})
	if err != nil {
		return nil, err
	}
	r.invalidate(ctx, Change{Table: TableProjects, Op: OpUpdate, RowID: id, OrganizationID: rows[0].project.OrganizationID})
	return r.mutatedProject(ctx, rows[0])
}

// mutatedProject is the result of a project mutation, with what its
// selection asks for loaded after the commit by loaders of its own (see
// mutatedOrganization).
func (r *Resolver) mutatedProject(ctx context.Context, row projectRow) (*ProjectResolver, error) {
	l := newLoaders(r)
	if err := l.prefetchProjects(ctx, lookahead(ctx), []projectRow{row}); err != nil {
		return nil, fmt.Errorf("load the result: %w", err)
	}
	return l.project(row), nil
}

// parseTeamIDs parses the two ids every team mutation takes.
func parseTeamIDs(project, employee graphql.ID) (projectID, employeeID int64, err error) {
	if projectID, err = parseID("projectId", project); err != nil {
		return 0, 0, err
	}
	employeeID, err = parseID("employeeId", employee)
	return projectID, employeeID, err
}

// AddTeamMember puts an employee of the project's organization on its team.
func (r *Resolver) AddTeamMember(ctx context.Context, args struct {
	ProjectID  graphql.ID
	EmployeeID graphql.ID
	Role       *string
}) (*ProjectResolver, error) {
	projectID, employeeID, err := parseTeamIDs(args.ProjectID, args.EmployeeID)
	if err != nil {
		return nil, err
	}
	role := "member"
	if args.Role != nil {
		role = *args.Role
		if err := checkName("role", &role); err != nil {
			return nil, err
		}
	}
	return r.changeProject(ctx, projectID, "projectId", func(q *db.Queries) error {
		p, err := q.GetProjectForUpdate(ctx, projectID)
		if err != nil {
			return missing(err, "projectId", "project")
		}
		// Locking the employee too serializes with a concurrent move to
		// another organization.
		e, err := q.GetEmployeeForUpdate(ctx, employeeID)
		if err := ownRow(ctx, err, e.OrganizationID, "employeeId", "employee"); err != nil {
			return err
		}
		if e.OrganizationID != p.OrganizationID {
			return Errorf(CodeBadUserInput, "employeeId",
				"employee %d works for organization %d; project %d belongs to organization %d", e.ID, e.OrganizationID, p.ID, p.OrganizationID)
		}
		return q.AddTeamMember(ctx, db.AddTeamMemberParams{ProjectID: projectID, EmployeeID: employeeID, Role: role, OrganizationID: p.OrganizationID})
	})
}

// RemoveTeamMember takes an employee off a project's team.
func (r *Resolver) RemoveTeamMember(ctx context.Context, args struct {
	ProjectID  graphql.ID
	EmployeeID graphql.ID
}) (*ProjectResolver, error) {
	projectID, employeeID, err := parseTeamIDs(args.ProjectID, args.EmployeeID)
	if err != nil {
		return nil, err
	}
	return r.changeProject(ctx, projectID, "projectId", func(q *db.Queries) error {
		if _, err := q.GetProjectForUpdate(ctx, projectID); err != nil {
			return missing(err, "projectId", "project")
		}
		n, err := q.RemoveTeamMember(ctx, db.RemoveTeamMemberParams{ProjectID: projectID, EmployeeID: employeeID})
		if err != nil {
			return err
		}
		if n == 0 {
			return Errorf(CodeNotFound, "employeeId", "employee %d is not on the team of project %d", employeeID, projectID)
		}
		return nil
	})
}

// prefetchProjects loads, for all projects at once, every child the query
// selects below them. Organizations already JOINed into the rows are not
// loaded again.
func (l *loaders) prefetchProjects(ctx context.Context, sel selection, projects []projectRow) error {
	if len(projects) == 0 || len(sel.prefixes) == 0 {
		return nil
	}
	if sel.has("organization") {
		var joined []db.Organization
		var missing []int64
		for _, p := range projects {
			if p.org != nil {
				joined = append(joined, *p.org)
			} else {
				missing = append(missing, p.project.OrganizationID)
			}
		}
		orgSel := sel.under("organization")
		if err := l.prefetchOrganizations(ctx, orgSel, uniqueOrgs(joined)); err != nil {
			return err
		}
		if err := l.prefetchOrganizationsByID(ctx, orgSel, missing); err != nil {
			return err
		}
	}
	if sel.has("teamMembers") {
		ids := make([]int64, len(projects))
		for i, p := range projects {
			ids[i] = p.project.ID
		}
		byProject, err := l.teamMembers.prefetch(ctx, ids)
		if err != nil {
			return err
		}
		if empSel := sel.under("teamMembers"); empSel.selectsEmployeeChildren() {
			if err := l.prefetchEmployees(ctx, empSel, flatten(byProject), nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// teamsByProjectIDs loads the teams of projects ids, each in id order,
// their members of scope only.
func teamsByProjectIDs(ctx context.Context, q *db.Queries, ids, scope []int64) (map[int64][]db.Employee, error) {
	rows, err := q.ListTeamMembersByProjectIDs(ctx, db.ListTeamMembersByProjectIDsParams{ProjectIds: ids, Scope: scope})
	if err != nil {
		return nil, fmt.Errorf("list team members by project ids: %w", err)
	}
	return groupBy(rows, func(r db.ListTeamMembersByProjectIDsRow) (int64, db.Employee) { return r.ProjectID, r.Employee }), nil
}

// keepPageTeams records the teams ListTeamMembersByProjectPage found for a
// page of projects. That statement and the page's ran in separate
// snapshots (one pipeline, two statements): a project inserted or deleted
// in between shifts the page, so a project of the page whose team it did
// not return, though the page's team_size says there is one, is left for
// prefetchProjects to load by id (a third statement, only then).
func (l *loaders) keepPageTeams(projects []projectRow, teams map[int64][]db.Employee) {
	ids := make([]int64, 0, len(projects))
	m := make(map[int64][]db.Employee, len(projects))
	for _, p := range projects {
		id := p.project.ID
		if team, ok := teams[id]; ok {
			m[id] = team
		} else if p.teamSize != 0 {
			continue
		}
		ids = append(ids, id)
	}
	l.teamMembers.keep(m, ids)
}

// selectsProjectChildren and selectsEmployeeChildren say whether sel, at
// a project or an employee, selects anything prefetchProjects or
// prefetchEmployees would load; when it does not, callers skip collecting
// the rows for them.
func (s selection) selectsProjectChildren() bool {
	return s.has("organization") || s.has("teamMembers")
}
