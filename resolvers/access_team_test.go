package resolvers_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// A team is of its project's organization, whoever writes it. The
// database refuses a cross-organization membership written out of band
// (migrations/00006); and should one be there anyway (constraints
// bypassed, as a restore with session_replication_role = replica does),
// the statements behind Project.teamMembers, Employee.projects and the
// organization loader take the caller's scope too: a member of 3 sees
// nothing of organization 4 through them.
func TestOutOfBandCrossOrganizationTeam(t *testing.T) {
	f := newACFixture(t)
	ctx := context.Background()
	proj4 := f.db.MustQueryInt64(t, `SELECT min(project_id) FROM project_members pm JOIN projects p ON p.id = pm.project_id WHERE p.organization_id = 4`)

	// psql, as anyone would write it: refused whichever organization the
	// row claims.
	for _, org := range []int64{f.org3, f.org4} {
		_, err := f.db.Pool.Exec(ctx, `INSERT INTO project_members (project_id, employee_id, organization_id) VALUES ($1, $2, $3)`, f.proj3, f.emp4, org)
		if pgErr := (*pgconn.PgError)(nil); !errors.As(err, &pgErr) || pgErr.Code != "23503" {
			t.Fatalf("an employee of 4 on a team of 3 (claiming %d): err = %v, want a foreign key violation", org, err)
		}
	}

	// Written anyway, with the constraints bypassed: employee 4 on a team
	// of 3, employee 3 on a team of 4.
	tx, err := f.db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	for _, q := range []string{
		`SET LOCAL session_replication_role = replica`,
		fmt.Sprintf(`INSERT INTO project_members (project_id, employee_id, organization_id) VALUES (%d, %d, 3)`, f.proj3, f.emp4),
		fmt.Sprintf(`INSERT INTO project_members (project_id, employee_id, organization_id) VALUES (%d, %d, 3)`, proj4, f.emp3),
	} {
		if _, err := tx.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	docs := []string{
		fmt.Sprintf(`{ project(id: %d) { teamMembers { id organization { oid: id } projects { organization { oid: id } } } } }`, f.proj3),
		fmt.Sprintf(`{ employee(id: %d) { projects { organization { oid: id } teamMembers { organization { oid: id } } } } }`, f.emp3),
		`{ allProjects(pageSize: 100) { teamMembers { organization { oid: id } projects { organization { oid: id } } } } }`,
		`{ projects(first: 100) { nodes { teamMembers { organization { oid: id } } } } }`,
		`{ allEmployees(pageSize: 100) { projects { organization { oid: id } teamMembers { organization { oid: id } } } } }`,
		`{ organization(id: 3) { oid: id employees(first: 100) { nodes { projects { organization { oid: id } teamMembers { organization { oid: id } } } } }
			projects { teamMembers { organization { oid: id } projects { organization { oid: id } } } } } }`,
	}
	for _, doc := range docs {
		res := f.srv.QueryAs(t, f.member3.token, doc, nil)
		if len(res.Errors) > 0 {
			t.Fatalf("%s: %s", doc, res.Raw)
		}
		oids := acOIDs(t, res.Data)
		if len(oids) == 0 {
			t.Errorf("member of 3 reached no organization (the query is wrong): %s", res.Raw)
		}
		if i := slices.IndexFunc(oids, func(id int64) bool { return id != f.org3 }); i >= 0 {
			t.Errorf("member of 3 reached organization %d: %s\n%s", oids[i], doc, res.Raw)
		}
	}
	// The rows are there: an admin sees them, so the test can fail.
	res := f.srv.QueryAs(t, f.admin.token, docs[0], nil)
	if oids := acOIDs(t, res.Data); !slices.Contains(oids, f.org4) {
		t.Fatalf("admin does not see the out-of-band member: %s", res.Raw)
	}
}
