package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"orgpulse/monitor"
	"orgpulse/resolvers"
	"orgpulse/server"
	"orgpulse/testsupport"
)

// disconnects runs rounds of n requests that wait on a table lock held by
// another session, then drops their clients while they wait. It returns
// the pool connections opened from the moment the first round's n
// requests each held one, counted after n requests have run again (so a
// connection the cancels broke has been replaced).
func disconnects(tb testing.TB, srv *testsupport.Server, rounds, n int) int64 {
	tb.Helper()
	ctx := context.Background()
	watch, err := pgx.Connect(ctx, srv.DB.URL)
	if err != nil {
		tb.Fatal(err)
	}
	defer watch.Close(ctx)
	fill := func() { // n requests at once: the pool holds n connections
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() { post(tb, context.Background(), srv, `{ allOrganizations { id } }`) })
		}
		wg.Wait()
	}
	var before int64
	for round := range rounds {
		lock, err := pgx.Connect(ctx, srv.DB.URL)
		if err != nil {
			tb.Fatal(err)
		}
		tx, err := lock.Begin(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "LOCK TABLE organizations IN ACCESS EXCLUSIVE MODE"); err != nil {
			tb.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() { post(tb, cctx, srv, `{ allOrganizations { id } }`) })
		}
		waitFor(tb, "requests waiting on the lock", func() bool {
			var waiting int
			err := watch.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND application_name = 'orgpulse' AND wait_event_type = 'Lock'`).Scan(&waiting)
			return err == nil && waiting == n
		})
		if round == 0 {
			before = srv.DB.Pool.Stat().NewConnsCount()
		}
		cancel()
		wg.Wait()
		waitFor(tb, "the cancelled requests to give their connections back", func() bool {
			return srv.DB.Pool.Stat().AcquiredConns() == 0
		})
		_ = tx.Rollback(ctx)
		lock.Close(ctx)
	}
	fill()
	return srv.DB.Pool.Stat().NewConnsCount() - before
}

// post sends a query; an error caused by ctx (the client giving up) is
// expected.
func post(tb testing.TB, ctx context.Context, srv *testsupport.Server, query string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/graphql",
		bytes.NewReader([]byte(`{"query":"`+query+`"}`)))
	if err != nil {
		tb.Error(err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testsupport.APIToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			tb.Errorf("POST: %v", err)
		}
		return
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		tb.Errorf("POST %s: status %d", query, res.StatusCode)
	}
}

func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestClientDisconnectIsACancel: a client that goes away mid-request is
// logged and metered as CANCELLED, not as a database outage, and its
// pooled PostgreSQL connection survives the cancel.
func TestClientDisconnectIsACancel(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	withMon, _ := testsupport.WithMonitor(t, db, monitor.Config{})
	srv := testsupport.MustStartServer(t, db, testsupport.NoCache, withMon)
	const rounds, n = 2, 5
	opened := disconnects(t, srv, rounds, n)
	t.Logf("%d pool connections opened for %d client disconnects", opened, rounds*n)
	logs := srv.Logs()
	if strings.Contains(logs, "unavailable") {
		t.Errorf("a client disconnect was logged as an outage:\n%s", logs)
	}
	if got, want := strings.Count(logs, `"code":"CANCELLED"`), rounds*n; got != want {
		t.Errorf("%d log lines with code CANCELLED, want %d", got, want)
	}
	// pgx's default closes every connection a cancel interrupts (10 of
	// 10). A cancel PostgreSQL has not acted on within a second (on a
	// machine too loaded to fork its cancel process) still costs one.
	if opened > rounds*n/2 {
		t.Errorf("%d pool connections opened for %d client disconnects, want at most %d", opened, rounds*n, rounds*n/2)
	}
	fams := scrapeMetrics(t, srv)
	if m := series(fams[monitor.MetricErrors], "code", "CANCELLED"); m == nil || m.GetCounter().GetValue() != rounds*n {
		t.Errorf("%s{code=\"CANCELLED\"}: got %v, want %d", monitor.MetricErrors, m, rounds*n)
	}
	if m := series(fams[monitor.MetricErrors], "code", "SERVICE_UNAVAILABLE"); m != nil {
		t.Errorf("%s{code=\"SERVICE_UNAVAILABLE\"}: %v, want none", monitor.MetricErrors, m)
	}
}

// TestDisconnectSparesSharers: requests missing the same cache entry share
// one fill, run with the context of the request that started it. When
// that request's client goes away, the others must still be answered.
func TestDisconnectSparesSharers(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)
	ctx := context.Background()
	watch, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close(ctx)
	lock, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close(ctx)
	tx, err := lock.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // rolled back below
	if _, err := tx.Exec(ctx, "LOCK TABLE organizations IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	const query = `{ allOrganizations { id } }`
	leader, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { post(t, leader, srv, query) })
	waitFor(t, "the first request to wait on the lock", func() bool {
		var waiting int
		err := watch.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = 'orgpulse' AND wait_event_type = 'Lock'`).Scan(&waiting)
		return err == nil && waiting == 1
	})
	const sharers = 3
	answers := make([]*testsupport.Response, sharers)
	for i := range sharers {
		wg.Go(func() { answers[i] = srv.Read(t, query, nil) })
	}
	time.Sleep(200 * time.Millisecond) // the sharers join the first request's fill
	cancel()
	time.Sleep(200 * time.Millisecond)
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, res := range answers {
		if len(res.Errors) > 0 || res.Status != http.StatusOK {
			t.Errorf("sharer %d: %d %s, want its data", i, res.Status, res.Raw)
		}
	}
}

// BenchmarkClientDisconnects reports the pool connections opened per
// 1,000 client disconnects (each mid-statement, waiting on a lock): run
// it with -benchtime=100x for 1,000 disconnects.
func BenchmarkClientDisconnects(b *testing.B) {
	db := testsupport.MustOpenSeededDB(b)
	srv := testsupport.MustStartServer(b, db, testsupport.NoCache)
	const n = 10 // the test pool's size
	b.ResetTimer()
	opened := disconnects(b, srv, b.N, n)
	b.ReportMetric(float64(opened)*1000/float64(b.N*n), "newconns/1000disconnects")
}

// TestSlowRequestLogIsRateLimited: a slow operation is logged at WARN at
// most once per interval; the lines left out are counted, on the next
// line and in Prometheus, and the requests keep their INFO line.
func TestSlowRequestLogIsRateLimited(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	withMon, _ := testsupport.WithMonitor(t, db, monitor.Config{})
	const every = time.Second
	srv := testsupport.MustStartServer(t, db, withMon, func(c *server.Config, _ *resolvers.Config) {
		c.SlowRequest = time.Nanosecond // every request is slow
		c.SlowRequestLogEvery = every
	})
	// With the token: only an authenticated client's operation names are
	// recorded and logged (opname.go); Mutate sends it.
	start := time.Now()
	for range 5 {
		srv.Mutate(t, `query Slow { allOrganizations { id } }`, nil).MustDecode(t, &struct{}{})
	}
	srv.Mutate(t, `query Other { allOrganizations { id } }`, nil).MustDecode(t, &struct{}{})
	if time.Since(start) >= every {
		t.Skip("the requests took longer than the interval: too slow a machine for this test")
	}
	time.Sleep(every)
	srv.Mutate(t, `query Slow { allOrganizations { id } }`, nil).MustDecode(t, &struct{}{})

	type line struct {
		Msg        string `json:"msg"`
		Operation  string `json:"operation"`
		Suppressed *int   `json:"suppressed"`
	}
	var warns []line
	infos := 0
	for _, l := range strings.Split(strings.TrimSpace(srv.Logs()), "\n") {
		var got line
		if err := json.Unmarshal([]byte(l), &got); err != nil {
			t.Fatal(err)
		}
		switch got.Msg {
		case "slow graphql request":
			warns = append(warns, got)
		case "graphql":
			infos++
		}
	}
	suppressed := func(l line) int {
		if l.Suppressed == nil {
			return -1
		}
		return *l.Suppressed
	}
	if len(warns) != 3 || warns[0].Operation != "Slow" || suppressed(warns[0]) != 0 ||
		warns[1].Operation != "Other" || warns[2].Operation != "Slow" || suppressed(warns[2]) != 4 {
		t.Errorf("WARN lines: got %+v, want Slow (0 suppressed), Other, then Slow with 4 suppressed", warns)
	}
	if got, want := infos, 4; got != want {
		t.Errorf("%d INFO lines for the requests left out, want %d", got, want)
	}
	if got, want := single(t, scrapeMetrics(t, srv), monitor.MetricSlowLogsSuppressed), 4.0; got != want {
		t.Errorf("%s: got %v, want %v", monitor.MetricSlowLogsSuppressed, got, want)
	}
}
