package resolvers

import (
	"context"
	"reflect"
	"testing"

	"orgpulse/db"
)

// TestGroupBy: rows of a batched statement are grouped by parent in their
// order, whether a parent's rows arrive together or interleaved, and no
// group can grow into another's share of the backing array.
func TestGroupBy(t *testing.T) {
	type row struct {
		parent int64
		v      string
	}
	rows := []row{{1, "a"}, {2, "b"}, {1, "c"}, {3, "d"}, {2, "e"}, {1, "f"}}
	got := groupBy(rows, func(r row) (int64, string) { return r.parent, r.v })
	want := map[int64][]string{1: {"a", "c", "f"}, 2: {"b", "e"}, 3: {"d"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("groupBy = %v, want %v", got, want)
	}
	g1 := append(got[1], "x")
	if got[2][0] != "b" || got[3][0] != "d" || len(g1) != 4 {
		t.Fatalf("appending to one group changed another: %v", got)
	}
	if empty := groupBy([]row(nil), func(r row) (int64, string) { return r.parent, r.v }); len(empty) != 0 {
		t.Fatalf("groupBy of no rows = %v", empty)
	}
}

// TestChildFieldsAreSynchronous pins the contract of loaders.go: a child
// field without arguments reads what the look-ahead loaded, so its method
// takes no context and returns no error. One that did would make
// graphql-go resolve every field of every item around it on a goroutine of
// its own (see the comment at the top of loaders.go and BENCHMARKS.md).
// Only the fields with arguments may take a context.
func TestChildFieldsAreSynchronous(t *testing.T) {
	withArguments := map[string]bool{"OrganizationResolver.Employees": true, "OrganizationResolver.Projects": true}
	ctxType := reflect.TypeFor[context.Context]()
	errType := reflect.TypeFor[error]()
	for _, typ := range []reflect.Type{
		reflect.TypeFor[*OrganizationResolver](), reflect.TypeFor[*EmployeeResolver](), reflect.TypeFor[*ProjectResolver](),
		reflect.TypeFor[*EmployeeStatsResolver](), reflect.TypeFor[*DepartmentStatsResolver](),
	} {
		for i := range typ.NumMethod() {
			m := typ.Method(i)
			name := typ.Elem().Name() + "." + m.Name
			async := false
			for j := 1; j < m.Type.NumIn(); j++ {
				async = async || m.Type.In(j) == ctxType
			}
			for j := range m.Type.NumOut() {
				async = async || m.Type.Out(j) == errType
			}
			if async != withArguments[name] {
				t.Errorf("%s takes a context or returns an error: %v; want %v", name, async, withArguments[name])
			}
		}
	}
}

// TestKeepPageTeams: the teams loaded alongside a page are kept for the
// page's projects; a project the page statement returned but the team
// statement did not (the page shifted between their snapshots) is loaded by
// id when its team size says it has a team, and is an empty team when not.
func TestKeepPageTeams(t *testing.T) {
	var fetched [][]int64
	l := &loaders{teamMembers: newBatch(batchOpts{}, func(_ context.Context, ids []int64) (map[int64][]db.Employee, error) {
		fetched = append(fetched, ids)
		out := map[int64][]db.Employee{}
		for _, id := range ids {
			out[id] = []db.Employee{{ID: 100 + id}}
		}
		return out, nil
	})}
	page := []projectRow{
		{project: db.Project{ID: 1}, teamSize: 2},
		{project: db.Project{ID: 2}, teamSize: 0},
		{project: db.Project{ID: 3}, teamSize: 1}, // not in the team statement's page
	}
	teams := map[int64][]db.Employee{
		1: {{ID: 10}, {ID: 11}},
		4: {{ID: 40}}, // in the team statement's page only
	}
	l.keepPageTeams(page, teams)
	got, err := l.teamMembers.prefetch(context.Background(), []int64{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]int64{{3}}; !reflect.DeepEqual(fetched, want) {
		t.Errorf("loaded by id: %v, want %v", fetched, want)
	}
	want := map[int64][]db.Employee{1: {{ID: 10}, {ID: 11}}, 2: nil, 3: {{ID: 103}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("teams = %v, want %v", got, want)
	}
}
