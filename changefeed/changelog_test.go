package changefeed_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"orgpulse/db"
	"orgpulse/testsupport"
)

// logRow is a change_log row as the tests compare it.
type logRow struct {
	Table                  string
	Op                     string
	RowID, EmployeeID      int64
	OrgID, OldOrgID        int64
	TeamSize               int32
	HasNew, HasOld, Number bool
}

func logSince(t *testing.T, d *testsupport.DB, afterID int64) []logRow {
	t.Helper()
	rows, err := d.Pool.Query(context.Background(), `
		SELECT table_name, op, row_id, employee_id, organization_id, old_organization_id, team_size,
		       new_row IS NOT NULL, old_row IS NOT NULL, position IS NOT NULL AND committed_at IS NOT NULL
		FROM change_log WHERE id > $1 ORDER BY id`, afterID)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (logRow, error) {
		var l logRow
		err := r.Scan(&l.Table, &l.Op, &l.RowID, &l.EmployeeID, &l.OrgID, &l.OldOrgID, &l.TeamSize, &l.HasNew, &l.HasOld, &l.Number)
		return l, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func lastLogID(t *testing.T, d *testsupport.DB) int64 {
	return d.MustQueryInt64(t, "SELECT COALESCE(max(id), 0) FROM change_log")
}

// TestChangeLogRecordsEveryCommittedChange: plain SQL (as psql would run
// it) on each logged table appends what the relay needs, numbered at
// commit; a rolled-back change leaves nothing; the service's sampled
// metric writes are not logged, recordMetric's insert (CreateMetric) is.
func TestChangeLogRecordsEveryCommittedChange(t *testing.T) {
	d := testsupport.MustOpenSeededDB(t)
	ctx := context.Background()
	orgA := d.MustQueryInt64(t, "SELECT min(id) FROM organizations")
	orgB := d.MustQueryInt64(t, "SELECT max(id) FROM organizations")
	proj := d.MustQueryInt64(t, "SELECT min(project_id) FROM project_members")
	member := d.MustQueryInt64(t, "SELECT min(employee_id) FROM project_members WHERE project_id = $1", proj)
	team := int32(d.MustQueryInt64(t, "SELECT count(*) FROM project_members WHERE project_id = $1", proj))
	projOrg := d.MustQueryInt64(t, "SELECT organization_id FROM projects WHERE id = $1", proj)
	// An employee on no team: one on a team cannot move to another
	// organization without leaving it (migrations/00006).
	emp := d.MustQueryInt64(t, `INSERT INTO employees (organization_id, name, email, department, salary)
		VALUES ($1, 'Mover', 'mover@changelog.example', 'sales', 1) RETURNING id`, orgA)

	start := lastLogID(t, d)
	d.MustExec(t, "UPDATE organizations SET industry = 'x' WHERE id = $1", orgA)
	d.MustExec(t, "UPDATE employees SET organization_id = $1 WHERE id = $2", orgB, emp)
	d.MustExec(t, "DELETE FROM project_members WHERE project_id = $1 AND employee_id = $2", proj, member)
	d.MustExec(t, "UPDATE projects SET budget = budget + 1 WHERE id = $1", proj)
	d.MustExec(t, "INSERT INTO performance_metrics (metric_type, value) VALUES ('database', 1)")
	if _, err := db.New(d.Pool).CreateMetric(ctx, db.CreateMetricParams{MetricType: "database", Value: 2}); err != nil {
		t.Fatal(err)
	}
	tx, err := d.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "UPDATE organizations SET industry = 'rolled back'"); err != nil {
		t.Fatal(err)
	}
	_ = tx.Rollback(ctx)

	got := logSince(t, d, start)
	want := []logRow{
		{Table: "organizations", Op: "UPDATE", RowID: orgA, OrgID: orgA, HasNew: true, HasOld: true, Number: true},
		{Table: "employees", Op: "UPDATE", RowID: emp, OrgID: orgB, OldOrgID: orgA, HasNew: true, HasOld: true, Number: true},
		{Table: "project_members", Op: "DELETE", RowID: proj, EmployeeID: member, OrgID: projOrg, TeamSize: team - 1, HasNew: true, Number: true},
		{Table: "projects", Op: "UPDATE", RowID: proj, OrgID: projOrg, TeamSize: team - 1, HasNew: true, HasOld: true, Number: true},
	}
	if len(got) != len(want)+1 {
		t.Fatalf("logged %d rows, want %d: %+v", len(got), len(want)+1, got)
	}
	for i, w := range want {
		if got[i] != w {
			t.Errorf("row %d: got %+v, want %+v", i, got[i], w)
		}
	}
	if m := got[len(want)]; m.Table != "performance_metrics" || m.Op != "INSERT" || !m.HasNew || !m.Number {
		t.Errorf("CreateMetric logged %+v", m)
	}
}

// TestBulkLoadAndTruncateLogOneReset: a session in bulk mode (seed) and a
// TRUNCATE log one RESET per transaction instead of a row per row.
func TestBulkLoadAndTruncateLogOneReset(t *testing.T) {
	d := testsupport.MustOpenSeededDB(t)
	ctx := context.Background()
	start := lastLogID(t, d)
	tx, err := d.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		"SET LOCAL orgpulse.bulk = 'on'",
		"UPDATE employees SET title = title || ''",
		"UPDATE projects SET budget = budget",
	} {
		if _, err := tx.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	d.MustExec(t, "TRUNCATE project_members")
	got := logSince(t, d, start)
	if len(got) != 2 || got[0].Op != "RESET" || got[1].Op != "RESET" || !got[0].Number || !got[1].Number {
		t.Fatalf("bulk update and TRUNCATE logged %+v, want two numbered RESET rows", got)
	}
}

// TestPositionsFollowCommitOrder: 8 writers whose transactions log their
// rows in one order and commit in another (each sleeps between its UPDATE
// and its COMMIT), and a reader that pages by position as the relay does.
// The reader must never see a position appear below one it already passed:
// every page continues exactly where the previous one stopped, without a
// gap (no transaction rolls back, so positions have none). The same reader
// over the log's insert-time ids counts how often it would have skipped.
func TestPositionsFollowCommitOrder(t *testing.T) {
	d := testsupport.MustOpenSeededDB(t)
	ctx := context.Background()
	const writers, perWriter = 8, 40
	emps := d.MustQueryInt64s(t, "SELECT id FROM employees ORDER BY id LIMIT $1", writers)
	base := d.MustQueryInt64(t, "SELECT COALESCE(max(position), 0) FROM change_log")
	baseID := lastLogID(t, d)

	var wg sync.WaitGroup
	var done atomic.Bool
	var failed atomic.Value
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				err := pgx.BeginFunc(ctx, d.Pool, func(tx pgx.Tx) error {
					if _, err := tx.Exec(ctx, "UPDATE employees SET name = $1 WHERE id = $2", fmt.Sprintf("w%d-%d", w, i), emps[w]); err != nil {
						return err
					}
					time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
					return nil
				})
				if err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	var seen, pages, idSkips int
	last, lastID := base, baseID
	check := func() {
		positions := d.MustQueryInt64s(t, "SELECT position FROM change_log WHERE position > $1 ORDER BY position", last)
		for _, p := range positions {
			if p != last+1 {
				t.Fatalf("after position %d the reader saw %d: a change committed later could take the positions between", last, p)
			}
			last = p
			seen++
		}
		pages++
		ids := d.MustQueryInt64s(t, "SELECT id FROM change_log WHERE id > $1 ORDER BY id", lastID)
		for _, id := range ids {
			if id != lastID+1 {
				idSkips++
			}
			lastID = id
		}
	}
	go func() { wg.Wait(); done.Store(true) }()
	for !done.Load() {
		check()
	}
	check()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatal(err)
	}
	if seen != writers*perWriter {
		t.Fatalf("the reader saw %d changes, want %d", seen, writers*perWriter)
	}
	t.Logf("%d writers x %d commits: the reader read %d pages and saw all %d positions in order; "+
		"paging by insert-time id instead, it would have jumped %d gaps (ids that committed later)", writers, perWriter, pages, seen, idSkips)
}
