package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"orgpulse/monitor"
	"orgpulse/resolvers"
	"orgpulse/server"
	"orgpulse/testsupport"
)

// startMonitored serves db with a Monitor recording into it.
func startMonitored(t testing.TB, db *testsupport.DB, cfg monitor.Config, tweaks ...func(*server.Config, *resolvers.Config)) (*testsupport.Server, *monitor.Monitor) {
	t.Helper()
	tweak, mon := testsupport.WithMonitor(t, db, cfg)
	srv := testsupport.MustStartServer(t, db, append(tweaks, tweak)...)
	return srv, mon()
}

func flush(t testing.TB, m *monitor.Monitor) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Flush(ctx); err != nil {
		t.Fatalf("flush samples: %v", err)
	}
}

func TestRequestsAreRecordedAndQueryable(t *testing.T) {
	db := testsupport.MustOpenDB(t)
	srv, mon := startMonitored(t, db, monitor.Config{}, testsupport.NoCache)
	const n = 5
	var durations []float64
	for range n {
		// With the token: only authenticated clients' names are recorded.
		res := srv.Mutate(t, `query ListOrgs { allOrganizations { id name } }`, nil)
		res.MustDecode(t, &struct{}{})
		durations = append(durations, res.Extensions.Debug.DurationMs)
	}
	srv.Mutate(t, `{ __typename }`, nil).MustDecode(t, &struct{}{})
	// Never executed: a 400 under application/graphql-response+json,
	// recorded as invalid, not under the name the client chose.
	auth := http.Header{"Authorization": {"Bearer " + testsupport.APIToken}, "Accept": {mediaGraphQLResponse}}
	bad := send(t, srv, http.MethodPost, "/graphql", mediaJSON, postBody(t, map[string]any{"query": `query Broken { nope }`}), auth)
	if bad.Status != http.StatusBadRequest {
		t.Fatalf("invalid query: status %d, want 400", bad.Status)
	}
	// Without the token: recorded under one name, whatever it is called.
	if res := srv.QueryAs(t, "", `query AdminLoginFailed { __typename }`, nil); res.Status != http.StatusUnauthorized {
		t.Fatalf("without a token: %s", res.Raw)
	}
	flush(t, mon)

	res := srv.Query(t, `{ slowestEndpoints(limit: 100, metricType: "api_response") { metricType value endpoint statusCode } }`, nil)
	var data struct {
		SlowestEndpoints []struct {
			MetricType string
			Value      float64
			Endpoint   string
			StatusCode int
		}
	}
	res.MustDecode(t, &data)
	count := map[string]int{}
	for _, m := range data.SlowestEndpoints {
		count[fmt.Sprintf("%s %d", m.Endpoint, m.StatusCode)]++
		if m.Value <= 0 || m.MetricType != "api_response" {
			t.Errorf("sample %+v: want a positive api_response duration", m)
		}
	}
	// The slowestEndpoints request itself ran after the flush: it is not
	// stored yet.
	want := map[string]int{"graphql:ListOrgs 200": n, "graphql:anonymous 200": 1, "graphql:invalid 400": 1, "graphql:unauthenticated 401": 1}
	if fmt.Sprint(count) != fmt.Sprint(want) {
		t.Fatalf("slowestEndpoints: %v, want %v", count, want)
	}
	// Each recorded duration covers at least what the request measured
	// before writing its response.
	var total float64
	for _, d := range durations {
		total += d
	}

	var sum struct {
		PerformanceSummary struct {
			Count        int
			AverageValue float64
			MinValue     float64
		}
	}
	srv.Query(t, `{ performanceSummary(metricType: "api_response", endpoint: "graphql:ListOrgs") { count averageValue minValue } }`, nil).MustDecode(t, &sum)
	if s := sum.PerformanceSummary; s.Count != n || s.AverageValue*n < total || s.MinValue <= 0 {
		t.Fatalf("performanceSummary(api_response, graphql:ListOrgs) = %+v, want %d samples averaging at least %.3f ms", s, n, total/n)
	}
	srv.Query(t, `{ performanceSummary(metricType: "database", endpoint: "graphql:ListOrgs") { count averageValue minValue } }`, nil).MustDecode(t, &sum)
	if s := sum.PerformanceSummary; s.Count != n || s.MinValue <= 0 {
		t.Fatalf("performanceSummary(database, graphql:ListOrgs) = %+v, want %d positive SQL times", s, n)
	}
	// Independent check in SQL: one database sample per request that ran
	// SQL, none for the others.
	if got := db.MustQueryInt64(t, "SELECT count(*) FROM performance_metrics WHERE metric_type = 'database'"); got != n {
		t.Fatalf("%d database samples, want %d", got, n)
	}
}

func TestShutdownFlushesRecordedRequests(t *testing.T) {
	db := testsupport.MustOpenDB(t)
	srv, mon := startMonitored(t, db, monitor.Config{}, testsupport.NoCache)
	const n = 12
	for range n {
		srv.Mutate(t, `query Shutdown { allOrganizations { id } }`, nil).MustDecode(t, &struct{}{})
	}
	if got := db.MustQueryInt64(t, "SELECT count(*) FROM performance_metrics"); got != 0 {
		t.Fatalf("%d rows before shutdown with an hour's flush interval", got)
	}
	// main's order: stop HTTP, then the monitor, then the pool.
	srv.HTTP.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := mon.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := db.MustQueryInt64(t, "SELECT count(*) FROM performance_metrics WHERE endpoint = 'graphql:Shutdown'"); got != 2*n {
		t.Fatalf("%d rows after shutdown, want %d (api_response and database per request)", got, 2*n)
	}
}

// scrapeMetrics GETs /metrics and parses the text exposition.
func scrapeMetrics(t *testing.T, srv *testsupport.Server) map[string]*dto.MetricFamily {
	t.Helper()
	res, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: status %d", res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("/metrics Content-Type %q", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

func single(t *testing.T, fams map[string]*dto.MetricFamily, name string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok || len(f.Metric) != 1 {
		t.Fatalf("/metrics has no single series %s", name)
	}
	if c := f.Metric[0].Counter; c != nil {
		return c.GetValue()
	}
	return f.Metric[0].Gauge.GetValue()
}

func series(f *dto.MetricFamily, labels ...string) *dto.Metric {
	for _, m := range f.GetMetric() {
		ok := true
		for i := 0; i < len(labels); i += 2 {
			found := false
			for _, l := range m.Label {
				found = found || (l.GetName() == labels[i] && l.GetValue() == labels[i+1])
			}
			ok = ok && found
		}
		if ok {
			return m
		}
	}
	return nil
}

func TestMetricsEndpoint(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv, mon := startMonitored(t, db, monitor.Config{})
	if err := mon.Metrics.RegisterRealtime(monitor.RealtimeStats{
		Connections: func() int64 { return 2 }, Subscriptions: func() int64 { return 3 },
		Published: func() int64 { return 10 }, Delivered: func() int64 { return 9 }, SlowConsumers: func() int64 { return 1 }, Interrupted: func() int64 { return 4 },
	}); err != nil {
		t.Fatal(err)
	}

	const q = `query OrgNames { organizations(first: 3) { edges { node { id name employeeCount } } } }`
	var hits, misses, statements int
	for range 3 {
		res := srv.Mutate(t, q, nil) // the token: the operation's own label
		res.MustDecode(t, &struct{}{})
		d := res.Extensions.Debug
		hits, misses, statements = hits+d.CacheHits, misses+d.CacheMisses, statements+d.SQLCount
	}
	if res := srv.Mutate(t, `query Failing { employee(id: "x") { id } }`, nil); len(res.Errors) == 0 {
		t.Fatalf("expected an error: %s", res.Raw)
	}

	fams := scrapeMetrics(t, srv)
	dur := fams[monitor.MetricRequestDuration]
	ok := series(dur, "operation", "OrgNames", "outcome", "ok")
	if ok == nil || ok.Histogram.GetSampleCount() != 3 || ok.Histogram.GetSampleSum() <= 0 {
		t.Fatalf("duration histogram of OrgNames/ok: %v", ok)
	}
	if e := series(dur, "operation", "Failing", "outcome", "error"); e == nil || e.Histogram.GetSampleCount() != 1 {
		t.Fatalf("duration histogram of Failing/error: %v", e)
	}
	st := series(fams[monitor.MetricRequestStatements], "operation", "OrgNames")
	if st == nil || st.Histogram.GetSampleCount() != 3 || int(st.Histogram.GetSampleSum()) != statements {
		t.Fatalf("statements histogram of OrgNames: %v, want 3 requests and %d statements", st, statements)
	}
	if h, m := single(t, fams, monitor.MetricCacheHits), single(t, fams, monitor.MetricCacheMisses); int(h) != hits || int(m) != misses || hits == 0 || misses == 0 {
		t.Fatalf("cache hits/misses %v/%v, want %d/%d (the requests' own counts, both non-zero)", h, m, hits, misses)
	}
	if e := single(t, fams, monitor.MetricCacheErrors); e != 0 {
		t.Fatalf("redis errors %v, want 0", e)
	}
	if r, d := single(t, fams, monitor.MetricSamplesRecorded), single(t, fams, monitor.MetricSamplesDropped); r < 4 || d != 0 {
		t.Fatalf("samples recorded %v dropped %v, want at least 4 and 0", r, d)
	}
	if total, maxConns := single(t, fams, monitor.MetricPoolTotalConns), single(t, fams, monitor.MetricPoolMaxConns); total < 1 || maxConns != 10 {
		t.Fatalf("pool total %v max %v, want ≥1 and 10", total, maxConns)
	}
	if a := single(t, fams, monitor.MetricPoolAcquires); a < float64(statements) {
		t.Fatalf("pool acquires %v, want at least the %d statements", a, statements)
	}
	single(t, fams, monitor.MetricPoolIdleConns)
	single(t, fams, monitor.MetricPoolAcquiredConns)
	if w := single(t, fams, monitor.MetricPoolAcquireWait); w < 0 {
		t.Fatalf("acquire wait %v", w)
	}
	for name, want := range map[string]float64{
		monitor.MetricWebSocketConnections: 2, monitor.MetricSubscriptionsActive: 3,
		monitor.MetricEventsPublished: 10, monitor.MetricEventsDelivered: 9, monitor.MetricSlowConsumers: 1, monitor.MetricSubscriptionsStopped: 4,
	} {
		if got := single(t, fams, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if g := single(t, fams, "go_goroutines"); g < 1 {
		t.Fatalf("go_goroutines %v", g)
	}
	if runtime.GOOS == "linux" && single(t, fams, "process_resident_memory_bytes") <= 0 {
		t.Fatal("process_resident_memory_bytes is not positive")
	}

	flush(t, mon)
	if w := single(t, scrapeMetrics(t, srv), monitor.MetricSamplesWritten); w < 4 {
		t.Fatalf("samples written %v after flush, want at least 4", w)
	}
}

func TestMetricsOperationLabelIsBounded(t *testing.T) {
	db := testsupport.MustOpenDB(t)
	srv, _ := startMonitored(t, db, monitor.Config{SampleRate: -1})
	for i := range monitor.MaxOperationLabels + 10 {
		srv.Mutate(t, fmt.Sprintf(`query Op%d { __typename }`, i), nil).MustDecode(t, &struct{}{})
	}
	ops := map[string]bool{}
	for _, m := range scrapeMetrics(t, srv)[monitor.MetricRequestDuration].Metric {
		for _, l := range m.Label {
			if l.GetName() == "operation" {
				ops[l.GetValue()] = true
			}
		}
	}
	if len(ops) != monitor.MaxOperationLabels+1 || !ops[monitor.OtherOperation] {
		t.Fatalf("%d operation labels (other: %v), want %d names and %q", len(ops), ops[monitor.OtherOperation], monitor.MaxOperationLabels, monitor.OtherOperation)
	}
}

func TestNoMetricsRouteWithoutMonitor(t *testing.T) {
	srv := testsupport.MustStartServer(t, testsupport.MustOpenDB(t), func(c *server.Config, _ *resolvers.Config) { c.Monitor = nil })
	res, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("/metrics without a monitor: %d, want 404", res.StatusCode)
	}
}

// statementName reads the "/* Name */" prefix the tracer gives sqlc
// statements.
func statementName(sql string) string {
	rest, ok := strings.CutPrefix(sql, "/* ")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, " */")
	return name
}

func TestDebugListsTheRequestsStatements(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db, testsupport.NoCache)
	id := db.MustQueryInt64(t, "SELECT max(id) FROM employees")
	idText := strconv.FormatInt(id, 10)

	for _, tt := range []struct {
		query   string
		vars    map[string]any
		want    []string // statement names, in order
		secrets []string // bound values that must not appear
	}{
		{`query One($id: ID!) { employee(id: $id) { id name } }`, map[string]any{"id": idText},
			[]string{"GetEmployee"}, []string{idText}},
		{`query OneWithOrg($id: ID!) { employee(id: $id) { id organization { name } } }`, map[string]any{"id": idText},
			[]string{"GetEmployeeWithOrganization"}, []string{idText}},
		{`query Staff($dept: String) { allEmployees(pageSize: 3, department: $dept) { id } }`, map[string]any{"dept": "Engineering"},
			[]string{"ListEmployees"}, []string{"Engineering"}},
		{`{ __typename }`, nil, nil, nil},
	} {
		res := srv.Query(t, tt.query, tt.vars)
		res.MustDecode(t, &struct{}{})
		d := res.Extensions.Debug
		if d.SQLCount != len(d.SQL) {
			t.Fatalf("%s: sqlCount %d but %d statements listed", tt.query, d.SQLCount, len(d.SQL))
		}
		var names []string
		var ms float64
		for _, st := range d.SQL {
			names = append(names, statementName(st.SQL))
			ms += st.DurationMs
			if !strings.Contains(st.SQL, "$1") {
				t.Errorf("%s: statement has no placeholder: %s", tt.query, st.SQL)
			}
			for _, s := range tt.secrets {
				if strings.Contains(st.SQL, s) {
					t.Errorf("%s: statement shows the bound value %q: %s", tt.query, s, st.SQL)
				}
			}
		}
		if fmt.Sprint(names) != fmt.Sprint(tt.want) {
			t.Fatalf("%s: statements %v, want %v", tt.query, names, tt.want)
		}
		if d.DurationMs <= 0 || d.SQLMs < ms-0.01 || d.SQLMs > ms+0.01 {
			t.Fatalf("%s: durationMs %v, sqlMs %v, statements sum %v", tt.query, d.DurationMs, d.SQLMs, ms)
		}
	}
}

// logLines decodes the server's JSON log lines with the given message.
func logLines(t *testing.T, logs, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line is not JSON: %s", sc.Text())
		}
		if line["msg"] == msg {
			out = append(out, line)
		}
	}
	return out
}

func TestSlowRequestsAreLoggedAtWarnWithTheirSQL(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	slow := testsupport.MustStartServer(t, db, testsupport.NoCache,
		func(c *server.Config, _ *resolvers.Config) { c.SlowRequest = time.Nanosecond })
	res := slow.Mutate(t, `query Slow { allEmployees(pageSize: 2) { id } }`, nil)
	res.MustDecode(t, &struct{}{})
	lines := logLines(t, slow.Logs(), "slow graphql request")
	if len(lines) != 1 {
		t.Fatalf("%d slow-request lines, want 1:\n%s", len(lines), slow.Logs())
	}
	l := lines[0]
	sql, _ := l["sql"].([]any)
	if l["level"] != "WARN" || l["operation"] != "Slow" || l["request_id"] != res.Header.Get("X-Request-Id") ||
		len(sql) != res.Extensions.Debug.SQLCount || len(sql) == 0 {
		t.Fatalf("slow-request line %v, want WARN, operation Slow, the request id and %d statements", l, res.Extensions.Debug.SQLCount)
	}
	if st, _ := sql[0].(map[string]any)["statement"].(string); statementName(st) != "ListEmployees" {
		t.Fatalf("logged statement %q", st)
	}

	fast := testsupport.MustStartServer(t, db)
	fast.Mutate(t, `query Fast { __typename }`, nil).MustDecode(t, &struct{}{})
	info := logLines(t, fast.Logs(), "graphql")
	if len(info) != 1 || info[0]["level"] != "INFO" || info[0]["operation"] != "Fast" || info[0]["sql"] != nil {
		t.Fatalf("request lines %v, want one INFO line without SQL", info)
	}
	for _, k := range []string{"request_id", "duration_ms", "sql_count", "cache_hits"} {
		if _, ok := info[0][k]; !ok {
			t.Errorf("request line has no %s: %v", k, info[0])
		}
	}
}

func getStatus(t *testing.T, url string) (int, string) {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	res, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func waitStatus(t *testing.T, url string, want int, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		code, body := getStatus(t, url)
		if code == want {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: still %d %q after %v, want %d", url, code, body, within, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestReadyzFollowsPostgreSQL(t *testing.T) {
	pg := testsupport.MustStartPostgres(t)
	db := pg.MustOpenDB(t)
	srv := testsupport.MustStartServer(t, db)
	if code, body := getStatus(t, srv.URL+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz: %d %s", code, body)
	}

	pg.Stop()
	start := time.Now()
	body := waitStatus(t, srv.URL+"/readyz", http.StatusServiceUnavailable, 5*time.Second)
	// The reason is logged; the answer names no user, database or host.
	if got, want := body, "not ready: postgres does not answer\n"; got != want {
		t.Fatalf("/readyz during the outage: got %q, want %q", got, want)
	}
	if !strings.Contains(srv.Logs(), `"msg":"readiness: postgres does not answer"`) {
		t.Errorf("the outage's reason was not logged")
	}
	t.Logf("503 after %v", time.Since(start))
	if code, _ := getStatus(t, srv.URL+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz during the outage: %d, want 200 (the process is alive)", code)
	}

	pg.Start()
	waitStatus(t, srv.URL+"/readyz", http.StatusOK, 10*time.Second)
	// The pool reconnected: queries work again.
	srv.Query(t, `{ allOrganizations { id } }`, nil).MustDecode(t, &struct{}{})
}

func TestReadyzDuringShutdown(t *testing.T) {
	db := testsupport.MustOpenDB(t)
	s, err := server.New(db.Pool, resolvers.New(db.Pool, resolvers.Config{}), server.Config{
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()
	if code, body := getStatus(t, hs.URL+"/readyz"); code != http.StatusOK || body != "ready\n" {
		t.Fatalf("/readyz: %d %q", code, body)
	}
	s.Drain()
	if code, body := getStatus(t, hs.URL+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "shutting down") {
		t.Fatalf("/readyz once draining: %d %q, want 503 shutting down", code, body)
	}
	if code, _ := getStatus(t, hs.URL+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz once draining: %d, want 200", code)
	}
}

// BenchmarkRecorder compares the latency of one GraphQL request (one SQL
// statement, over loopback HTTP) without a monitor, with Prometheus
// metrics only, and with metrics and every request recorded (production
// defaults: 1s flush interval, buffer 10000). The "interleaved" case sends
// one request to each server per iteration and reports each one's mean, so
// load from elsewhere on the machine weighs on all three alike.
func BenchmarkRecorder(b *testing.B) {
	db := testsupport.MustOpenSeededDB(b)
	id := strconv.FormatInt(db.MustQueryInt64(b, "SELECT min(id) FROM employees"), 10)
	const q = `query Bench($id: ID!) { employee(id: $id) { id name } }`
	vars := map[string]any{"id": id}
	off := testsupport.MustStartServer(b, db, testsupport.NoCache)
	metricsOnly, _ := startMonitored(b, db, monitor.Config{SampleRate: -1}, testsupport.NoCache)
	on, mon := startMonitored(b, db, monitor.Config{Recorder: monitor.RecorderConfig{FlushInterval: time.Second}}, testsupport.NoCache)
	servers := []struct {
		name string
		srv  *testsupport.Server
	}{{"recording=off", off}, {"metrics-only", metricsOnly}, {"recording=on", on}}
	request := func(b *testing.B, srv *testsupport.Server) {
		if res := srv.Query(b, q, vars); len(res.Errors) > 0 {
			b.Fatalf("errors: %s", res.Raw)
		}
	}
	for range 200 { // warm up connections and caches
		for _, s := range servers {
			request(b, s.srv)
		}
	}
	for _, s := range servers {
		b.Run(s.name, func(b *testing.B) {
			for b.Loop() {
				request(b, s.srv)
			}
		})
	}
	b.Run("interleaved", func(b *testing.B) {
		total := make([]time.Duration, len(servers))
		n := 0
		for b.Loop() {
			for i, s := range servers {
				start := time.Now()
				request(b, s.srv)
				total[i] += time.Since(start)
			}
			n++
		}
		for i, s := range servers {
			b.ReportMetric(float64(total[i].Nanoseconds())/float64(n), s.name+"-ns/req")
		}
	})
	flush(b, mon)
	if s := mon.Recorder().Stats(); s.Dropped > 0 || s.Written != s.Recorded {
		b.Fatalf("recorder %+v: want every sample written", s)
	}
}

// TestSubscriptionsGaugeCountsEveryOperation goes through the wiring serve
// uses (testsupport builds with app.Build): 5 open subscriptions, 3 of them
// identical and so sharing one execution, read as 5 on /metrics; closing
// them reads 0.
func TestSubscriptionsGaugeCountsEveryOperation(t *testing.T) {
	srv := testsupport.MustStartLiveServer(t, testsupport.MustOpenDB(t), testsupport.LiveOptions{})
	gauge := func() float64 {
		fam := scrapeMetrics(t, srv.Server)[monitor.MetricSubscriptionsActive]
		if fam == nil || len(fam.Metric) != 1 {
			t.Fatalf("/metrics has no single %s", monitor.MetricSubscriptionsActive)
		}
		return fam.Metric[0].GetGauge().GetValue()
	}
	c := testsupport.DialWS(t, srv.WSURL, testsupport.WSDialOptions{})
	c.Init(nil)
	const same = `subscription { metricRecorded { value } }`
	c.Subscribe("a", same, nil)
	c.Subscribe("b", same, nil)
	c.Subscribe("c", same, nil)
	c.Subscribe("d", `subscription { metricRecorded(metricType: "database") { value } }`, nil)
	c.Subscribe("e", `subscription { organizationUpdated { name } }`, nil)
	c.Sync()
	if got, want := gauge(), 5.0; got != want {
		t.Fatalf("%s = %v with 5 subscriptions open (3 identical), want %v", monitor.MetricSubscriptionsActive, got, want)
	}
	if got, want := srv.App.WebSocketStats().Shared, int64(3); got != want {
		t.Errorf("shared executions = %d, want %d (the 3 identical ones share one)", got, want)
	}
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		c.Complete(id)
	}
	testsupport.Eventually(t, 5*time.Second, "the gauge reads 0 once every subscription is closed", func() bool { return gauge() == 0 })
}

// TestRefusalsAreCounted: requests refused before the pipeline (method,
// body, missing query) count in orgpulse_graphql_errors_total by code, as
// the pipeline's own errors do.
func TestRefusalsAreCounted(t *testing.T) {
	srv, _ := startMonitored(t, testsupport.MustOpenDB(t), monitor.Config{})
	send := func(method, body string) {
		req, err := http.NewRequest(method, srv.URL+"/graphql", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	send(http.MethodPut, `{"query":"{ __typename }"}`)
	send(http.MethodPut, `{"query":"{ __typename }"}`)
	send(http.MethodPost, `{"query":""}`)
	send(http.MethodPost, `{"query":`)
	fams := scrapeMetrics(t, srv)
	for code, want := range map[string]float64{"METHOD_NOT_ALLOWED": 2, "BAD_REQUEST": 2} {
		m := series(fams[monitor.MetricErrors], "code", code)
		if got := m.GetCounter().GetValue(); got != want {
			t.Errorf("%s{code=%q} = %v, want %v", monitor.MetricErrors, code, got, want)
		}
	}
}
