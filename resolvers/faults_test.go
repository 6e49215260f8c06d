package resolvers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"orgpulse/resolvers"
	"orgpulse/server"
	"orgpulse/testsupport"
)

// Outages and interruptions: PostgreSQL going away and coming back, and
// mutations cut short by the client or the deadline.

func faultGet(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestPostgresOutage(t *testing.T) {
	pg := testsupport.MustStartPostgres(t)
	db := pg.MustOpenDB(t)
	db.MustExec(t, "INSERT INTO organizations (name, industry) VALUES ('Acme', 'tools')")
	const timeout = 2 * time.Second
	srv := testsupport.MustStartServer(t, db, testsupport.NoCache, func(c *server.Config, _ *resolvers.Config) {
		c.RequestTimeout = timeout
	})
	const q = `{ allOrganizations { name employeeCount } organizations(first: 5) { nodes { name } } }`
	if res := srv.Query(t, q, nil); len(res.Errors) > 0 {
		t.Fatalf("before the outage: %s", res.Raw)
	}
	if status, body := faultGet(t, srv.URL+"/readyz"); status != http.StatusOK {
		t.Fatalf("/readyz before the outage: %d %s", status, body)
	}

	pg.Stop()
	for i, req := range []struct {
		query string
		vars  map[string]any
		token bool
	}{
		{q, nil, false},
		{q, nil, false}, // again: the pool's connections are gone now, this one dials
		{`{ employee(id: 1) { name } }`, nil, false},
		{`mutation { createOrganization(input: {name: "During the outage"}) { id } }`, nil, true},
	} {
		start := time.Now()
		var res *testsupport.Response
		if req.token {
			res = srv.Mutate(t, req.query, req.vars)
		} else {
			res = srv.Query(t, req.query, req.vars)
		}
		if elapsed := time.Since(start); elapsed > timeout+time.Second {
			t.Errorf("request %d took %v during the outage (deadline %v)", i, elapsed, timeout)
		}
		e := res.MustError(t, resolvers.CodeServiceUnavailable)
		if e.Extensions["requestId"] != res.Header.Get("X-Request-Id") {
			t.Errorf("request %d: SERVICE_UNAVAILABLE without the request id: %s", i, res.Raw)
		}
		for _, e := range res.Errors {
			if c := e.Extensions["code"]; c != resolvers.CodeServiceUnavailable {
				t.Errorf("request %d: an error %v besides SERVICE_UNAVAILABLE: %s", i, c, res.Raw)
			}
		}
		errs, _ := json.Marshal(res.Errors)
		for _, leak := range []string{"dial", "connect", "refused", "127.0.0.1", "sqlstate", "pgx", "postgres", "eof"} {
			if strings.Contains(strings.ToLower(string(errs)), leak) {
				t.Errorf("request %d shows %q: %s", i, leak, errs)
			}
		}
	}
	if status, _ := faultGet(t, srv.URL+"/readyz"); status != http.StatusServiceUnavailable {
		t.Errorf("/readyz during the outage: %d, want 503", status)
	}
	if strings.Contains(srv.Logs(), `"msg":"internal error"`) {
		t.Errorf("the outage was logged as internal errors:\n%s", srv.Logs())
	}

	pg.Start()
	deadline := time.Now().Add(15 * time.Second)
	for {
		res := srv.Query(t, q, nil)
		if len(res.Errors) == 0 {
			break
		}
		if c := res.Code(); c != resolvers.CodeServiceUnavailable {
			t.Fatalf("while PostgreSQL comes back: %s", res.Raw)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the service did not recover within 15s of PostgreSQL's return: %s", res.Raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if status, body := faultGet(t, srv.URL+"/readyz"); status != http.StatusOK {
		t.Errorf("/readyz after the outage: %d %s", status, body)
	}
	if n := db.MustQueryInt64(t, "SELECT count(*) FROM organizations"); n != 1 {
		t.Errorf("%d organizations, want 1: the mutation during the outage wrote", n)
	}
}

// interruptibleMove prepares an employee move whose transaction blocks
// after its first statements: a second session holds the employee's team
// memberships, which the move deletes after updating the employee.
type interruptibleMove struct {
	db                   *testsupport.DB
	employee, org, other int64
	employeeRow          string
	memberships          int64
	locker               pgx.Tx
}

func newInterruptibleMove(t *testing.T, db *testsupport.DB) *interruptibleMove {
	t.Helper()
	m := &interruptibleMove{db: db}
	m.employee = db.MustQueryInt64(t, "SELECT min(employee_id) FROM project_members")
	m.org = db.MustQueryInt64(t, "SELECT organization_id FROM employees WHERE id = $1", m.employee)
	m.other = db.MustQueryInt64(t, "SELECT min(id) FROM organizations WHERE id <> $1", m.org)
	m.employeeRow = m.row(t)
	m.memberships = db.MustQueryInt64(t, "SELECT count(*) FROM project_members WHERE employee_id = $1", m.employee)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db.URL+"&application_name=locker")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	m.locker, err = conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.locker.Exec(ctx, "SELECT 1 FROM project_members WHERE employee_id = $1 FOR UPDATE", m.employee); err != nil {
		t.Fatal(err)
	}
	return m
}

func (m *interruptibleMove) row(t *testing.T) string {
	t.Helper()
	return m.db.MustQueryStrings(t, "SELECT e::text FROM employees e WHERE id = $1", m.employee)[0]
}

func (m *interruptibleMove) request(t *testing.T, ctx context.Context, srv *testsupport.Server) *http.Request {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"query":     `mutation($id: ID!, $org: ID!) { updateEmployee(id: $id, input: {organizationId: $org, title: "moved"}) { id } }`,
		"variables": map[string]any{"id": fmt.Sprint(m.employee), "org": fmt.Sprint(m.other)},
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/graphql", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testsupport.APIToken)
	return req
}

// serverSessions counts the server's sessions matching cond.
func (m *interruptibleMove) serverSessions(t *testing.T, cond string) int64 {
	t.Helper()
	n, err := m.countSessions(cond)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (m *interruptibleMove) countSessions(cond string) (n int64, err error) {
	// pg_stat_activity is read once per transaction unless cleared.
	if _, err := m.locker.Exec(context.Background(), "SELECT pg_stat_clear_snapshot()"); err != nil {
		return 0, err
	}
	err = m.locker.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = 'orgpulse' AND `+cond).Scan(&n)
	return n, err
}

// dump logs the server's sessions, for a failure message.
func (m *interruptibleMove) dump(t *testing.T) {
	t.Helper()
	_, _ = m.locker.Exec(context.Background(), "SELECT pg_stat_clear_snapshot()")
	rows, err := m.locker.Query(context.Background(), `SELECT application_name, state, wait_event_type, wait_event, left(query, 100), now() - xact_start
		FROM pg_stat_activity WHERE datname = current_database()`)
	if err != nil {
		t.Logf("pg_stat_activity: %v", err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		v, _ := rows.Values()
		t.Logf("session %v", v)
	}
}

func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// blocked: the move updated the employee and now waits on the memberships.
const blockedOnMemberships = "wait_event_type = 'Lock' AND query ILIKE '%DELETE FROM project_members%'"

// inTransaction: a session of the server still holds a transaction open.
const inTransaction = "(xact_start IS NOT NULL AND backend_type = 'client backend')"

// finish releases the lock and checks nothing of the move was written.
func (m *interruptibleMove) finish(t *testing.T) {
	t.Helper()
	if !waitUntil(10*time.Second, func() bool { return m.serverSessions(t, inTransaction) == 0 }) {
		m.dump(t)
		t.Fatalf("the server's transaction did not end")
	}
	if err := m.locker.Rollback(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // a transaction left behind would commit now
	if got := m.row(t); got != m.employeeRow {
		t.Errorf("the employee changed:\n  before %s\n  after  %s", m.employeeRow, got)
	}
	if n := m.db.MustQueryInt64(t, "SELECT count(*) FROM project_members WHERE employee_id = $1", m.employee); n != m.memberships {
		t.Errorf("memberships: %d, want %d", n, m.memberships)
	}
}

func TestMutationInterruptedByClientRollsBack(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db, testsupport.NoCache)
	m := newInterruptibleMove(t, db)

	ctx, cancel := context.WithCancel(context.Background())
	req := m.request(t, ctx, srv)
	done := make(chan error, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
			err = fmt.Errorf("status %d", res.StatusCode)
		}
		done <- err
	}()
	if !waitUntil(10*time.Second, func() bool { return m.serverSessions(t, blockedOnMemberships) == 1 }) {
		m.dump(t)
		t.Fatal("the move never blocked after updating the employee")
	}
	cancel() // the client goes away mid-transaction
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("the request was not cancelled: %v", err)
	}
	m.finish(t)
	if !strings.Contains(srv.Logs(), "cancel") {
		t.Errorf("the cancellation was not logged:\n%s", srv.Logs())
	}
}

func TestMutationInterruptedByDeadlineRollsBack(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db, testsupport.NoCache, func(c *server.Config, _ *resolvers.Config) {
		c.RequestTimeout = 1500 * time.Millisecond
	})
	m := newInterruptibleMove(t, db)
	blocked := make(chan bool, 1)
	go func() {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if n, err := m.countSessions(blockedOnMemberships); err != nil || n > 0 {
				if err != nil {
					t.Logf("pg_stat_activity: %v", err)
				}
				blocked <- err == nil
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		blocked <- false
	}()
	start := time.Now()
	res := srv.Do(t, m.request(t, context.Background(), srv))
	if !<-blocked {
		t.Fatalf("the move never blocked after updating the employee: %s", res.Raw)
	}
	if elapsed := time.Since(start); elapsed > 4*time.Second {
		t.Errorf("the mutation took %v with a 1.5s deadline", elapsed)
	}
	res.MustError(t, "TIMEOUT")
	m.finish(t)
	// The service is fine afterwards, and the move works once unblocked
	// (a few tries: the deadline is short for a loaded test machine).
	for try := 0; ; try++ {
		res = srv.Do(t, m.request(t, context.Background(), srv))
		if len(res.Errors) == 0 {
			break
		}
		if try == 5 || res.Code() != "TIMEOUT" {
			t.Fatalf("the move after the lock: %s", res.Raw)
		}
	}
	if n := db.MustQueryInt64(t, "SELECT organization_id FROM employees WHERE id = $1", m.employee); n != m.other {
		t.Errorf("employee in organization %d, want %d", n, m.other)
	}
}
