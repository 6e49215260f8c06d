package resolvers_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"orgpulse/testsupport"
)

type projectJSON struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	Description  string   `json:"description"`
	Status       string   `json:"status"`
	Budget       float64  `json:"budget"`
	CreatedAt    string   `json:"createdAt"`
	UpdatedAt    string   `json:"updatedAt"`
	Organization idName   `json:"organization"`
	TeamSize     int64    `json:"teamSize"`
	TeamMembers  []idJSON `json:"teamMembers"`
}

const projectFields = `id name description status budget createdAt updatedAt organization { id name } teamSize teamMembers { id }`

// checkProject compares every field of p with the projects row, its owner
// and its team, read independently.
func checkProject(t *testing.T, db *testsupport.DB, p projectJSON) {
	t.Helper()
	id := testsupport.ParseID(t, p.ID)
	var name, desc, status, orgName string
	var budget float64
	var orgID int64
	var created, updated time.Time
	db.MustScan(t, []any{&name, &desc, &status, &budget, &created, &updated, &orgID, &orgName}, `
		SELECT p.name, p.description, p.status, p.budget::float8, p.created_at, p.updated_at, o.id, o.name
		FROM projects p, organizations o WHERE o.id = p.organization_id AND p.id = $1`, id)
	what := "project " + p.ID
	if p.Name != name || p.Description != desc || p.Status != status || p.Budget != budget {
		t.Errorf("%s: name/description/status/budget = %q/%q/%q/%v, want %q/%q/%q/%v",
			what, p.Name, p.Description, p.Status, p.Budget, name, desc, status, budget)
	}
	testsupport.AssertTime(t, what+" createdAt", p.CreatedAt, created)
	testsupport.AssertTime(t, what+" updatedAt", p.UpdatedAt, updated)
	if p.Organization.ID != strconv.FormatInt(orgID, 10) || p.Organization.Name != orgName {
		t.Errorf("%s: organization %+v, want {%d %s}", what, p.Organization, orgID, orgName)
	}
	// teamSize: an independent count of the join table.
	if got, want := p.TeamSize, db.MustQueryInt64(t, "SELECT count(employee_id) FROM project_members WHERE project_id = $1", id); got != want {
		t.Errorf("%s: teamSize %d, want %d", what, got, want)
	}
	// teamMembers: in employee id order, as the schema promises.
	testsupport.AssertIDs(t, what+" teamMembers", ids(t, p.TeamMembers), db.MustQueryInt64s(t, `
		SELECT e.id FROM employees e WHERE e.id IN (SELECT employee_id FROM project_members WHERE project_id = $1) ORDER BY e.id`, id))
	if len(p.TeamMembers) != int(p.TeamSize) {
		t.Errorf("%s: teamSize %d but %d teamMembers", what, p.TeamSize, len(p.TeamMembers))
	}
}

func TestProjectByID(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)

	orgID := db.MustQueryInt64(t, "SELECT max(id) FROM organizations")
	// A project without a team, and one whose team is larger than usual.
	lonely := db.MustQueryInt64(t, `INSERT INTO projects (organization_id, name, description, status, budget, created_at, updated_at)
		VALUES ($1, 'Lonely', 'No team yet', 'on_hold', 0.01, '2025-06-30T23:59:59.999999Z', '2025-07-01T00:00:00Z') RETURNING id`, orgID)
	crowded := db.MustQueryInt64(t, "SELECT min(id) FROM projects WHERE organization_id = $1", orgID)
	db.MustExec(t, `INSERT INTO project_members (project_id, employee_id, organization_id)
		SELECT $1, e.id, e.organization_id FROM employees e WHERE e.organization_id = $2
		  AND NOT EXISTS (SELECT 1 FROM project_members m WHERE m.project_id = $1 AND m.employee_id = e.id)
		ORDER BY e.id DESC LIMIT 5`, crowded, orgID)

	picks := db.MustQueryInt64s(t, `(SELECT min(id) FROM projects) UNION (SELECT max(id) FROM projects WHERE id <> $1)
		UNION (SELECT min(id) FROM projects WHERE status = 'completed') UNION (SELECT $1::bigint) UNION (SELECT $2::bigint)`, lonely, crowded)
	for _, withOrg := range []bool{true, false} {
		fields := projectFields
		if !withOrg {
			fields = strings.Replace(fields, "organization { id name }", "", 1)
		}
		for _, id := range picks {
			t.Run(fmt.Sprintf("%d organization %v", id, withOrg), func(t *testing.T) {
				var data struct{ Project *projectJSON }
				srv.Query(t, `query($id: ID!) { project(id: $id) { `+fields+` } }`,
					map[string]any{"id": strconv.FormatInt(id, 10)}).MustDecode(t, &data)
				if data.Project == nil {
					t.Fatalf("project(id: %d) is null", id)
				}
				if !withOrg {
					// Fill in what was not asked so checkProject compares the rest.
					var o idName
					var oid int64
					db.MustScan(t, []any{&oid, &o.Name}, "SELECT o.id, o.name FROM organizations o JOIN projects p ON p.organization_id = o.id WHERE p.id = $1", id)
					o.ID = strconv.FormatInt(oid, 10)
					data.Project.Organization = o
				}
				checkProject(t, db, *data.Project)
			})
		}
	}

	t.Run("sizes", func(t *testing.T) {
		var data struct{ L, C *projectJSON }
		srv.Query(t, `query($l: ID!, $c: ID!) { l: project(id: $l) { teamSize teamMembers { id } } c: project(id: $c) { teamSize teamMembers { id } } }`,
			map[string]any{"l": strconv.FormatInt(lonely, 10), "c": strconv.FormatInt(crowded, 10)}).MustDecode(t, &data)
		if data.L.TeamSize != 0 || data.L.TeamMembers == nil || len(data.L.TeamMembers) != 0 {
			t.Errorf("project without a team: teamSize %d, teamMembers %v; want 0 and []", data.L.TeamSize, data.L.TeamMembers)
		}
		if data.C.TeamSize != 13 {
			t.Errorf("project with 8 + 5 members: teamSize %d, want 13", data.C.TeamSize)
		}
	})

	t.Run("unknown and malformed ids", func(t *testing.T) {
		// With teamMembers selected the team is loaded alongside the
		// project; an unknown id is still plain null.
		for _, q := range []string{`{ project(id: "987654321") { id } }`, `{ project(id: "987654321") { id teamMembers { name } } }`} {
			res := srv.Query(t, q, nil)
			if len(res.Errors) > 0 || string(res.Data) != `{"project":null}` {
				t.Errorf("unknown id: got %s, want data.project null without errors", res.Raw)
			}
		}
		res := srv.Query(t, `{ project(id: "p-1") { id } }`, nil)
		if got, want := res.MustError(t, "BAD_USER_INPUT").Field(), "id"; got != want {
			t.Errorf("malformed id: extensions.field %q, want %q", got, want)
		}
	})
}

func TestProjectLists(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)
	orgID := db.MustQueryInt64(t, "SELECT min(id) + 3 FROM organizations")

	type filter struct {
		name   string
		status *string
		orgID  *int64
	}
	filters := []filter{
		{name: "no filter"},
		{name: "status active", status: ptr("active")},
		{name: "status on_hold", status: ptr("on_hold")},
		{name: "organization", orgID: &orgID},
		{name: "organization and status completed", orgID: &orgID, status: ptr("completed")},
		{name: "organization that does not exist", orgID: ptr(int64(424242))},
	}
	where := func(f filter) (string, []any) {
		conds, args := []string{"true"}, []any{}
		if f.status != nil {
			args = append(args, *f.status)
			conds = append(conds, fmt.Sprintf("status = $%d", len(args)))
		}
		if f.orgID != nil {
			args = append(args, *f.orgID)
			conds = append(conds, fmt.Sprintf("organization_id = $%d", len(args)))
		}
		return strings.Join(conds, " AND "), args
	}
	vars := func(f filter) map[string]any {
		v := map[string]any{}
		if f.status != nil {
			v["status"] = *f.status
		}
		if f.orgID != nil {
			v["organizationId"] = strconv.FormatInt(*f.orgID, 10)
		}
		return v
	}

	for _, f := range filters {
		t.Run("allProjects "+f.name, func(t *testing.T) {
			w, args := where(f)
			total := int(db.MustQueryInt64(t, "SELECT count(*) FROM projects WHERE "+w, args...))
			const size = 9
			last := max(1, (total+size-1)/size)
			for _, page := range []int{1, 2, last, last + 1} {
				v := vars(f)
				v["page"], v["pageSize"] = page, size
				var data struct{ AllProjects []projectJSON }
				srv.Query(t, `query($page: Int, $pageSize: Int, $status: String, $organizationId: ID) {
				  allProjects(page: $page, pageSize: $pageSize, status: $status, organizationId: $organizationId) { `+projectFields+` }
				}`, v).MustDecode(t, &data)
				got := make([]int64, len(data.AllProjects))
				for i, p := range data.AllProjects {
					got[i] = testsupport.ParseID(t, p.ID)
					if f.status != nil && p.Status != *f.status {
						t.Errorf("project %s has status %q, filter %q", p.ID, p.Status, *f.status)
					}
					if page == 1 {
						checkProject(t, db, p)
					}
				}
				testsupport.AssertIDs(t, fmt.Sprintf("page %d", page), got, db.MustQueryInt64s(t,
					fmt.Sprintf("SELECT id FROM projects WHERE %s ORDER BY id OFFSET %d LIMIT %d", w, (page-1)*size, size), args...))
			}
		})

		t.Run("projects "+f.name, func(t *testing.T) {
			w, args := where(f)
			want := db.MustQueryInt64s(t, "SELECT id FROM projects WHERE "+w+" ORDER BY id", args...)
			const first = 40
			var all []int64
			var after any
			for pages := 1; ; pages++ {
				v := vars(f)
				v["first"], v["after"] = first, after
				var data struct {
					Projects struct {
						TotalCount int64 `json:"totalCount"`
						Edges      []struct {
							Cursor string      `json:"cursor"`
							Node   projectJSON `json:"node"`
						} `json:"edges"`
						PageInfo pageInfoJSON `json:"pageInfo"`
					}
				}
				srv.Query(t, `query($first: Int, $after: String, $status: String, $organizationId: ID) {
				  projects(first: $first, after: $after, status: $status, organizationId: $organizationId) {
				    totalCount edges { cursor node { id status teamSize } } pageInfo { hasNextPage endCursor }
				  }
				}`, v).MustDecode(t, &data)
				c := data.Projects
				if c.TotalCount != int64(len(want)) {
					t.Errorf("page %d: totalCount %d, want %d", pages, c.TotalCount, len(want))
				}
				for _, e := range c.Edges {
					all = append(all, testsupport.ParseID(t, e.Node.ID))
					if f.status != nil && e.Node.Status != *f.status {
						t.Errorf("project %s has status %q, filter %q", e.Node.ID, e.Node.Status, *f.status)
					}
				}
				if n := len(c.Edges); n > 0 && (c.PageInfo.EndCursor == nil || *c.PageInfo.EndCursor != c.Edges[n-1].Cursor) {
					t.Errorf("page %d: endCursor is not the last edge's cursor", pages)
				}
				if !c.PageInfo.HasNextPage {
					break
				}
				if len(c.Edges) != first || pages > len(want) {
					t.Fatalf("page %d: %d items and hasNextPage", pages, len(c.Edges))
				}
				after = *c.PageInfo.EndCursor
			}
			testsupport.AssertIDs(t, "all pages", all, want)
		})
	}
}

func TestProjectStatusValidation(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)
	tests := []struct {
		name  string
		query string
	}{
		{"allProjects", `{ allProjects(status: "archived") { id } }`},
		{"projects", `{ projects(status: "archived") { nodes { id } } }`},
		{"organization.projects", `{ organization(id: 1) { projects(status: "archived") { id } } }`},
		{"case matters", `{ allProjects(status: "ACTIVE") { id } }`},
		{"empty", `{ allProjects(status: "") { id } }`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := srv.Query(t, tt.query, nil)
			e := res.MustError(t, "BAD_USER_INPUT")
			if got, want := e.Field(), "status"; got != want {
				t.Errorf("extensions.field: got %q, want %q", got, want)
			}
			for _, allowed := range []string{"planning", "active", "completed", "on_hold"} {
				if !strings.Contains(e.Message, allowed) {
					t.Errorf("message %q does not name the allowed value %q", e.Message, allowed)
				}
			}
		})
	}
}
