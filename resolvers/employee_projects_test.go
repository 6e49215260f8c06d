package resolvers_test

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"orgpulse/testsupport"
)

// TestEmployeeProjectsTeamSizeOnlyWhenSelected: Employee.projects counts
// each project's team only when teamSize is selected below it (the count
// was most of the time of a nested page, docs/BENCHMARKS.md), and the
// count is right however it is selected: directly, through a fragment,
// under one of two aliases, on a prefetched list and on a single lookup.
func TestEmployeeProjectsTeamSizeOnlyWhenSelected(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db, testsupport.NoCache)
	// Teams of different sizes, so a missing count cannot pass by chance.
	empID := db.MustQueryInt64(t, "SELECT min(employee_id) FROM project_members")
	projectID := db.MustQueryInt64(t, "SELECT min(project_id) FROM project_members WHERE employee_id = $1", empID)
	db.MustExec(t, "DELETE FROM project_members WHERE project_id = $1 AND employee_id <> $2 AND employee_id IN (SELECT employee_id FROM project_members WHERE project_id = $1 ORDER BY employee_id DESC LIMIT 3)", projectID, empID)
	want := map[string]int64{}
	for _, id := range db.MustQueryInt64s(t, "SELECT project_id FROM project_members WHERE employee_id = $1", empID) {
		want[itoa(id)] = db.MustQueryInt64(t, "SELECT count(*) FROM project_members WHERE project_id = $1", id)
	}
	if len(want) < 2 {
		t.Fatalf("employee %d is on %d teams; want at least 2", empID, len(want))
	}

	type project struct {
		ID       string `json:"id"`
		TeamSize *int64 `json:"teamSize"`
	}
	check := func(what string, got []project, sized bool) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d projects, want %d", what, len(got), len(want))
		}
		for _, p := range got {
			if !sized {
				continue
			}
			if p.TeamSize == nil {
				t.Errorf("%s: project %s has no teamSize, want %d", what, p.ID, want[p.ID])
			} else if *p.TeamSize != want[p.ID] {
				t.Errorf("%s: project %s teamSize %d, want %d", what, p.ID, *p.TeamSize, want[p.ID])
			}
		}
	}
	run := func(query string, vars map[string]any, statement string) json.RawMessage {
		t.Helper()
		res := srv.Query(t, query, vars)
		if len(res.Errors) > 0 {
			t.Fatalf("%s: %s", query, res.Raw)
		}
		if list := statementList(res); !strings.Contains(list, "/* "+statement+" */") {
			t.Errorf("%s: want statement %s; ran:\n%s", query, statement, list)
		}
		return res.Data
	}
	vars := map[string]any{"id": itoa(empID)}

	var single struct {
		Employee struct{ Projects []project } `json:"employee"`
	}
	mustUnmarshal(t, run(`query($id: ID!) { employee(id: $id) { projects { id teamSize } } }`, vars, "ListProjectsByEmployeeIDs"), &single)
	check("single, teamSize selected", single.Employee.Projects, true)
	mustUnmarshal(t, run(`query($id: ID!) { employee(id: $id) { projects { id } } }`, vars, "ListProjectsByEmployeeIDsWithoutTeamSize"), &single)
	check("single, teamSize not selected", single.Employee.Projects, false)
	mustUnmarshal(t, run(`query($id: ID!) { employee(id: $id) { projects { id ...on Project { teamSize } } } }`, vars, "ListProjectsByEmployeeIDs"), &single)
	check("single, teamSize in a fragment", single.Employee.Projects, true)

	var aliases struct {
		Employee struct {
			A []project `json:"a"`
			B []project `json:"b"`
		} `json:"employee"`
	}
	mustUnmarshal(t, run(`query($id: ID!) { employee(id: $id) { a: projects { id } b: projects { id teamSize } } }`, vars, "ListProjectsByEmployeeIDs"), &aliases)
	check("alias without teamSize", aliases.Employee.A, false)
	check("alias with teamSize", aliases.Employee.B, true)

	var list struct {
		Employees struct {
			Nodes []struct {
				ID       string    `json:"id"`
				Projects []project `json:"projects"`
			} `json:"nodes"`
		} `json:"employees"`
	}
	mustUnmarshal(t, run(`query($after: String) { employees(first: 3, after: $after) { nodes { id projects { id teamSize } } } }`,
		map[string]any{"after": cursorBefore(empID)}, "ListProjectsByEmployeeIDs"), &list)
	if len(list.Employees.Nodes) == 0 || list.Employees.Nodes[0].ID != itoa(empID) {
		t.Fatalf("the page does not start at employee %d: %+v", empID, list.Employees.Nodes)
	}
	check("prefetched list", list.Employees.Nodes[0].Projects, true)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// cursorBefore is the keyset cursor whose page starts at employee id
// (resolvers/scalars.go: base64url of "employee:<id>", unpadded).
func cursorBefore(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("employee:" + itoa(id-1)))
}

func mustUnmarshal(t *testing.T, raw json.RawMessage, dst any) {
	t.Helper()
	if err := json.Unmarshal(raw, dst); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
}
