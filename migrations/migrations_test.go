package migrations_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pressly/goose/v3/lock"

	"orgpulse/migrations"
	"orgpulse/testsupport"
)

// appTables are the tables 00001_init.sql creates, sorted.
var appTables = []string{"employees", "organizations", "performance_metrics", "project_members", "projects"}

// appIndexes are every index the schema defines on appTables: the primary
// keys and UNIQUE constraints PostgreSQL names itself, plus the indexes the
// migrations name (00003 replaced employees (organization_id, is_active)).
// Sorted.
var appIndexes = []string{
	"employees_department_salary_idx",
	"employees_lower_email_key",
	"employees_organization_id_id_idx",
	"employees_pkey",
	"organizations_is_active_id_idx",
	"organizations_name_key",
	"organizations_pkey",
	"performance_metrics_metric_type_endpoint_recorded_at_idx",
	"performance_metrics_metric_type_recorded_at_idx",
	"performance_metrics_metric_type_value_idx",
	"performance_metrics_pkey",
	"performance_metrics_recorded_at_idx",
	"project_members_employee_id_project_id_idx",
	"project_members_pkey",
	"projects_organization_id_idx",
	"projects_pkey",
	"projects_status_created_at_idx",
}

func newMigrator(t *testing.T, db *testsupport.DB) *migrations.Migrator {
	t.Helper()
	m, err := migrations.New(db.Pool)
	if err != nil {
		t.Fatalf("migrations.New: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// migrationFiles counts the embedded migrations: Pending after a reset.
func migrationFiles(t *testing.T) int {
	t.Helper()
	files, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no embedded migrations")
	}
	return len(files)
}

// strings1 runs a query returning one text column and collects it.
func strings1(t *testing.T, db *testsupport.DB, sql string, args ...any) []string {
	t.Helper()
	rows, err := db.Pool.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatalf("query %q: %v", sql, err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("query %q: %v", sql, err)
	}
	return out
}

func tablesPresent(t *testing.T, db *testsupport.DB) []string {
	t.Helper()
	return strings1(t, db, `
		SELECT table_name::text FROM information_schema.tables
		WHERE table_schema = 'public' AND table_type = 'BASE TABLE'
		  AND table_name = ANY($1)
		ORDER BY table_name`, appTables)
}

func indexesPresent(t *testing.T, db *testsupport.DB) []string {
	t.Helper()
	return strings1(t, db, `
		SELECT indexname::text FROM pg_indexes
		WHERE schemaname = 'public' AND tablename = ANY($1)
		ORDER BY indexname`, appTables)
}

func assertPending(t *testing.T, m *migrations.Migrator, want int) {
	t.Helper()
	got, err := m.Pending(context.Background())
	if err != nil {
		t.Fatalf("Pending: %v", err)
	}
	if got != want {
		t.Fatalf("Pending = %d, want %d", got, want)
	}
}

func assertSchemaComplete(t *testing.T, db *testsupport.DB) {
	t.Helper()
	if got, want := tablesPresent(t, db), appTables; !slices.Equal(got, want) {
		t.Errorf("tables = %v, want %v", got, want)
	}
	if got, want := indexesPresent(t, db), appIndexes; !slices.Equal(got, want) {
		t.Errorf("indexes = %v, want %v", got, want)
	}
}

func assertSchemaEmpty(t *testing.T, db *testsupport.DB) {
	t.Helper()
	if got := tablesPresent(t, db); len(got) != 0 {
		t.Errorf("tables left after rollback: %v", got)
	}
	if got := indexesPresent(t, db); len(got) != 0 {
		t.Errorf("indexes left after rollback: %v", got)
	}
}

// statusLines returns Status output lines that mention migration file.
func statusLines(t *testing.T, m *migrations.Migrator) []string {
	t.Helper()
	var buf bytes.Buffer
	if err := m.Status(context.Background(), &buf); err != nil {
		t.Fatalf("Status: %v", err)
	}
	return strings.Split(strings.TrimSpace(buf.String()), "\n")
}

func assertStatus(t *testing.T, m *migrations.Migrator, state string) {
	t.Helper()
	lines := statusLines(t, m)
	if got, want := len(lines), migrationFiles(t); got != want {
		t.Fatalf("Status printed %d lines, want one per migration (%d):\n%s", got, want, strings.Join(lines, "\n"))
	}
	found := false
	for _, l := range lines {
		if strings.Contains(l, "00001_init.sql") {
			found = true
			if !strings.HasPrefix(l, state+" ") {
				t.Errorf("Status line %q: want state %q", l, state)
			}
		}
	}
	if !found {
		t.Errorf("Status does not list 00001_init.sql:\n%s", strings.Join(lines, "\n"))
	}
}

func TestMigrationsUpToDate(t *testing.T) {
	t.Parallel()
	db := testsupport.MustOpenDB(t)
	m := newMigrator(t, db)

	assertPending(t, m, 0)
	assertStatus(t, m, "applied")
	assertSchemaComplete(t, db)

	// Up on an up-to-date database is a no-op that says so.
	var buf bytes.Buffer
	if err := m.Up(context.Background(), &buf); err != nil {
		t.Fatalf("Up: %v", err)
	}
	if got := buf.String(); !strings.Contains(got, "up to date") {
		t.Errorf("Up output = %q, want it to say the database is up to date", got)
	}
	assertPending(t, m, 0)
}

func TestMigrationsResetThenUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testsupport.MustOpenDB(t)
	m := newMigrator(t, db)

	if err := m.Reset(ctx); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	assertSchemaEmpty(t, db)
	assertPending(t, m, migrationFiles(t))
	assertStatus(t, m, "pending")

	var buf bytes.Buffer
	if err := m.Up(ctx, &buf); err != nil {
		t.Fatalf("Up after Reset: %v", err)
	}
	if got := buf.String(); !strings.Contains(got, "applied 00001_init.sql") {
		t.Errorf("Up output = %q, want it to report 00001_init.sql applied", got)
	}
	assertSchemaComplete(t, db)
	assertPending(t, m, 0)
	assertStatus(t, m, "applied")
}

func TestMigrationsDownThenUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testsupport.MustOpenDB(t)
	m := newMigrator(t, db)
	files, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("embedded migrations: %v %v", files, err)
	}
	sort.Strings(files)

	// Each Down rolls back the newest applied migration, one at a time.
	downAll := func() {
		t.Helper()
		for i := len(files) - 1; i >= 0; i-- {
			var buf bytes.Buffer
			if err := m.Down(ctx, &buf); err != nil {
				t.Fatalf("Down %s: %v", files[i], err)
			}
			if got, want := buf.String(), "rolled back "+files[i]; !strings.Contains(got, want) {
				t.Errorf("Down output = %q, want it to contain %q", got, want)
			}
		}
	}
	downAll()
	assertSchemaEmpty(t, db)
	assertPending(t, m, len(files))

	if err := m.Up(ctx, io.Discard); err != nil {
		t.Fatalf("Up after Down: %v", err)
	}
	assertSchemaComplete(t, db)
	assertPending(t, m, 0)

	// The cycle is repeatable: a second Down/Up leaves the same schema.
	downAll()
	assertSchemaEmpty(t, db)
	if err := m.Up(ctx, io.Discard); err != nil {
		t.Fatalf("second Up: %v", err)
	}
	assertSchemaComplete(t, db)
}

func TestSchemaConstraints(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testsupport.MustOpenDB(t)

	var orgID, empID, projectID int64
	if err := db.Pool.QueryRow(ctx,
		`INSERT INTO organizations (name) VALUES ('Acme') RETURNING id`).Scan(&orgID); err != nil {
		t.Fatal(err)
	}
	if err := db.Pool.QueryRow(ctx, `
		INSERT INTO employees (organization_id, name, email, department, salary)
		VALUES ($1, 'Ann', 'a@x.example', 'engineering', 1000) RETURNING id`, orgID).Scan(&empID); err != nil {
		t.Fatal(err)
	}
	if err := db.Pool.QueryRow(ctx, `
		INSERT INTO projects (organization_id, name, status) VALUES ($1, 'Apollo', 'active') RETURNING id`,
		orgID).Scan(&projectID); err != nil {
		t.Fatal(err)
	}
	db.MustExec(t, `INSERT INTO project_members (project_id, employee_id, organization_id) VALUES ($1, $2, $3)`, projectID, empID, orgID)
	db.MustExec(t, `INSERT INTO performance_metrics (metric_type, value) VALUES ('api_response', 12.5)`)
	// Another organization with an employee: no team may mix the two
	// (migrations/00006).
	otherOrgID := db.MustQueryInt64(t, `INSERT INTO organizations (name) VALUES ('Globex') RETURNING id`)
	otherEmpID := db.MustQueryInt64(t, `
		INSERT INTO employees (organization_id, name, email, department, salary)
		VALUES ($1, 'Gus', 'g@y.example', 'sales', 1000) RETURNING id`, otherOrgID)

	tests := []struct {
		name           string
		sql            string
		args           []any
		wantCode       string
		wantConstraint string
	}{
		{
			name:           "negative salary",
			sql:            `INSERT INTO employees (organization_id, name, email, department, salary) VALUES ($1, 'Bob', 'b@x.example', 'sales', -1)`,
			args:           []any{orgID},
			wantCode:       "23514", // check_violation
			wantConstraint: "employees_salary_check",
		},
		{
			name:           "negative salary on update",
			sql:            `UPDATE employees SET salary = -0.01 WHERE id = $1`,
			args:           []any{empID},
			wantCode:       "23514",
			wantConstraint: "employees_salary_check",
		},
		{
			name:           "unknown project status",
			sql:            `INSERT INTO projects (organization_id, name, status) VALUES ($1, 'Gemini', 'cancelled')`,
			args:           []any{orgID},
			wantCode:       "23514",
			wantConstraint: "projects_status_check",
		},
		{
			name:           "project status is case sensitive",
			sql:            `INSERT INTO projects (organization_id, name, status) VALUES ($1, 'Gemini', 'Active')`,
			args:           []any{orgID},
			wantCode:       "23514",
			wantConstraint: "projects_status_check",
		},
		{
			name:           "negative project budget",
			sql:            `INSERT INTO projects (organization_id, name, budget) VALUES ($1, 'Gemini', -5)`,
			args:           []any{orgID},
			wantCode:       "23514",
			wantConstraint: "projects_budget_check",
		},
		{
			name:           "unknown metric_type",
			sql:            `INSERT INTO performance_metrics (metric_type, value) VALUES ('cpu', 1)`,
			wantCode:       "23514",
			wantConstraint: "performance_metrics_metric_type_check",
		},
		{
			name:           "email differing only in case",
			sql:            `INSERT INTO employees (organization_id, name, email, department, salary) VALUES ($1, 'Ann Two', 'A@x.example', 'sales', 1)`,
			args:           []any{orgID},
			wantCode:       "23505", // unique_violation
			wantConstraint: "employees_lower_email_key",
		},
		{
			name:           "same email",
			sql:            `INSERT INTO employees (organization_id, name, email, department, salary) VALUES ($1, 'Ann Two', 'a@x.example', 'sales', 1)`,
			args:           []any{orgID},
			wantCode:       "23505",
			wantConstraint: "employees_lower_email_key",
		},
		{
			name:           "duplicate organization name",
			sql:            `INSERT INTO organizations (name) VALUES ('Acme')`,
			wantCode:       "23505",
			wantConstraint: "organizations_name_key",
		},
		{
			name:           "duplicate team member",
			sql:            `INSERT INTO project_members (project_id, employee_id, role, organization_id) VALUES ($1, $2, 'lead', $3)`,
			args:           []any{projectID, empID, orgID},
			wantCode:       "23505",
			wantConstraint: "project_members_pkey",
		},
		{
			name:           "team member of another organization",
			sql:            `INSERT INTO project_members (project_id, employee_id, organization_id) VALUES ($1, $2, $3)`,
			args:           []any{projectID, otherEmpID, orgID},
			wantCode:       "23503",
			wantConstraint: "project_members_employee_same_organization_fkey",
		},
		{
			name:           "team member claiming the employee's organization",
			sql:            `INSERT INTO project_members (project_id, employee_id, organization_id) VALUES ($1, $2, $3)`,
			args:           []any{projectID, otherEmpID, otherOrgID},
			wantCode:       "23503",
			wantConstraint: "project_members_project_same_organization_fkey",
		},
		{
			name:           "employee moved with their team memberships",
			sql:            `UPDATE employees SET organization_id = $2 WHERE id = $1`,
			args:           []any{empID, otherOrgID},
			wantCode:       "23503",
			wantConstraint: "project_members_employee_same_organization_fkey",
		},
		{
			name:           "project moved with its team",
			sql:            `UPDATE projects SET organization_id = $2 WHERE id = $1`,
			args:           []any{projectID, otherOrgID},
			wantCode:       "23503",
			wantConstraint: "project_members_project_same_organization_fkey",
		},
		{
			name:           "employee of unknown organization",
			sql:            `INSERT INTO employees (organization_id, name, email, department, salary) VALUES ($1, 'Eve', 'e@x.example', 'sales', 1)`,
			args:           []any{orgID + 1000},
			wantCode:       "23503", // foreign_key_violation
			wantConstraint: "employees_organization_id_fkey",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := db.Pool.Exec(ctx, tt.sql, tt.args...)
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) {
				t.Fatalf("err = %v, want a PostgreSQL error %s", err, tt.wantCode)
			}
			if got, want := pgErr.Code, tt.wantCode; got != want {
				t.Errorf("code = %s (%s), want %s", got, pgErr.Message, want)
			}
			if got, want := pgErr.ConstraintName, tt.wantConstraint; got != want {
				t.Errorf("constraint = %q, want %q", got, want)
			}
		})
	}

	// The rejected statements changed nothing.
	for _, c := range []struct {
		sql  string
		want int64
	}{
		{`SELECT count(*) FROM organizations`, 2},
		{`SELECT count(*) FROM employees`, 2},
		{`SELECT count(*) FROM projects`, 1},
		{`SELECT count(*) FROM project_members`, 1},
		{`SELECT count(*) FROM performance_metrics`, 1},
		{`SELECT count(*) FROM employees WHERE salary = 1000`, 2},
		{`SELECT count(*) FROM project_members m JOIN employees e ON e.id = m.employee_id JOIN projects p ON p.id = m.project_id
			WHERE e.organization_id = p.organization_id`, 1},
	} {
		if got := db.MustQueryInt64(t, c.sql); got != c.want {
			t.Errorf("%s = %d, want %d", c.sql, got, c.want)
		}
	}
}

// Reading the migration status takes no lock: while another session holds
// the migration lock (a replica migrating, or a lock PgBouncer left held
// on one of its server connections), a replica starting up still learns
// at once whether the schema is current.
func TestStatusTakesNoLock(t *testing.T) {
	t.Parallel()
	db := testsupport.MustOpenDB(t)
	m := newMigrator(t, db)
	conn, err := db.Pool.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(context.Background(), "SELECT pg_advisory_lock($1)", lock.DefaultLockID); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", lock.DefaultLockID) //nolint:errcheck
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if n, err := m.Pending(ctx); err != nil || n != 0 {
		t.Fatalf("Pending under a held migration lock = %d, %v; want 0 at once", n, err)
	}
	if err := m.Status(ctx, io.Discard); err != nil {
		t.Fatalf("Status under a held migration lock: %v", err)
	}
}
