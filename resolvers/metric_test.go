package resolvers_test

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"orgpulse/resolvers"
	"orgpulse/server"
	"orgpulse/testsupport"
)

type summaryJSON struct {
	MetricType   string   `json:"metricType"`
	AverageValue float64  `json:"averageValue"`
	Count        int64    `json:"count"`
	MaxValue     float64  `json:"maxValue"`
	MinValue     float64  `json:"minValue"`
	P50          *float64 `json:"p50"`
	P95          *float64 `json:"p95"`
	P99          *float64 `json:"p99"`
}

type metricJSON struct {
	ID         string  `json:"id"`
	MetricType string  `json:"metricType"`
	Value      float64 `json:"value"`
	Endpoint   string  `json:"endpoint"`
	StatusCode int64   `json:"statusCode"`
	Timestamp  string  `json:"timestamp"`
}

// percentileCont is PostgreSQL's percentile_cont over sorted values, written
// out: linear interpolation at position p*(n-1).
func percentileCont(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	pos := p * float64(len(sorted)-1)
	lo := math.Floor(pos)
	hi := math.Ceil(pos)
	return sorted[int(lo)] + (pos-lo)*(sorted[int(hi)]-sorted[int(lo)])
}

// wantSummary aggregates, in Go, the values SQL selects for the window.
func wantSummary(t *testing.T, db *testsupport.DB, metricType string, since time.Time, endpoint *string) summaryJSON {
	t.Helper()
	sql := "SELECT value FROM performance_metrics WHERE metric_type = $1 AND recorded_at >= $2"
	args := []any{metricType, since}
	if endpoint != nil {
		sql += " AND endpoint = $3"
		args = append(args, *endpoint)
	}
	rows, err := db.Pool.Query(t.Context(), sql+" ORDER BY value", args...)
	if err != nil {
		t.Fatal(err)
	}
	var values []float64
	for rows.Next() {
		var v float64
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		values = append(values, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	s := summaryJSON{MetricType: metricType, Count: int64(len(values))}
	p50, p95, p99 := percentileCont(values, 0.5), percentileCont(values, 0.95), percentileCont(values, 0.99)
	s.P50, s.P95, s.P99 = &p50, &p95, &p99
	if len(values) > 0 {
		sum := 0.0
		for _, v := range values {
			sum += v
		}
		s.AverageValue = sum / float64(len(values))
		s.MinValue, s.MaxValue = values[0], values[len(values)-1]
	}
	return s
}

func compareSummary(t *testing.T, what string, got, want summaryJSON) {
	t.Helper()
	if got.MetricType != want.MetricType || got.Count != want.Count {
		t.Errorf("%s: metricType/count = %q/%d, want %q/%d", what, got.MetricType, got.Count, want.MetricType, want.Count)
	}
	const tol = 1e-6
	testsupport.AssertClose(t, what+" averageValue", got.AverageValue, want.AverageValue, 1e-6*math.Max(1, math.Abs(want.AverageValue)))
	testsupport.AssertClose(t, what+" minValue", got.MinValue, want.MinValue, tol)
	testsupport.AssertClose(t, what+" maxValue", got.MaxValue, want.MaxValue, tol)
	for _, p := range []struct {
		name      string
		got, want *float64
	}{{"p50", got.P50, want.P50}, {"p95", got.P95, want.P95}, {"p99", got.P99, want.P99}} {
		if p.got != nil && p.want != nil {
			testsupport.AssertClose(t, what+" "+p.name, *p.got, *p.want, tol)
		}
	}
}

// insertMetric adds one sample recorded age before the database's now().
func insertMetric(t *testing.T, db *testsupport.DB, metricType, endpoint string, value float64, status int, age string) int64 {
	t.Helper()
	return db.MustQueryInt64(t, `INSERT INTO performance_metrics (metric_type, value, endpoint, status_code, recorded_at)
		VALUES ($1, $2, $3, $4, now() - $5::interval) RETURNING id`, metricType, value, endpoint, status, age)
}

func TestOriginalExampleOperations(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	// Samples far slower than any in the sample data, recorded a minute ago:
	// they are the top of slowestEndpoints within the default 24 hours.
	for i := range 12 {
		insertMetric(t, db, "api_response", fmt.Sprintf("test:slow-%d", i), 100000+float64(i)*10.5, 500+i, "1 minute")
	}
	// The same, but older than the default window: never listed.
	insertMetric(t, db, "api_response", "test:ancient", 999999, 200, "25 hours")

	// Two servers: one on the real clock, one whose clock is pinned so that
	// the default window (24 hours before now) is known exactly.
	pinned := time.Now()
	srv := testsupport.MustStartServer(t, db)
	pinnedSrv := testsupport.MustStartServer(t, db, func(_ *server.Config, rc *resolvers.Config) {
		rc.Now = func() time.Time { return pinned }
	})

	t.Run("allEmployees", func(t *testing.T) {
		res := srv.Query(t, `{ allEmployees { id name email } }`, nil)
		var data struct {
			AllEmployees []map[string]any
		}
		res.MustDecode(t, &data)
		type row struct {
			ID    int64  `db:"id"`
			Name  string `db:"name"`
			Email string `db:"email"`
		}
		want := testsupport.MustQueryRows[row](t, db, "SELECT id, name, email FROM employees ORDER BY id LIMIT 20")
		if got := len(data.AllEmployees); got != 20 {
			t.Fatalf("%d employees, want 20 by default", got)
		}
		for i, e := range data.AllEmployees {
			if len(e) != 3 {
				t.Errorf("item %d has fields %v, want exactly id, name, email", i, e)
			}
			if e["id"] != strconv.FormatInt(want[i].ID, 10) || e["name"] != want[i].Name || e["email"] != want[i].Email {
				t.Errorf("item %d: got %v, want %+v", i, e, want[i])
			}
		}
	})

	t.Run("slowestEndpoints", func(t *testing.T) {
		before := time.Now()
		res := srv.Query(t, `{ slowestEndpoints(limit: 10) { endpoint value statusCode timestamp } }`, nil)
		var data struct {
			SlowestEndpoints []map[string]any
		}
		res.MustDecode(t, &data)
		if got := len(data.SlowestEndpoints); got != 10 {
			t.Fatalf("%d samples, want 10", got)
		}
		type row struct {
			Endpoint   string    `db:"endpoint"`
			Value      float64   `db:"value"`
			StatusCode int64     `db:"status_code"`
			RecordedAt time.Time `db:"recorded_at"`
		}
		want := testsupport.MustQueryRows[row](t, db, `SELECT endpoint, value, status_code, recorded_at FROM performance_metrics
			WHERE metric_type = 'api_response' AND recorded_at >= $1 ORDER BY value DESC LIMIT 10`, before.Add(-24*time.Hour))
		for i, m := range data.SlowestEndpoints {
			if len(m) != 4 {
				t.Errorf("item %d has fields %v, want exactly endpoint, value, statusCode, timestamp", i, m)
			}
			w := want[i]
			if m["endpoint"] != w.Endpoint || m["value"] != w.Value || m["statusCode"] != float64(w.StatusCode) {
				t.Errorf("item %d: got %v, want %+v", i, m, w)
			}
			ts, _ := m["timestamp"].(string)
			testsupport.AssertTime(t, fmt.Sprintf("item %d timestamp", i), ts, w.RecordedAt)
			if want := fmt.Sprintf("test:slow-%d", 11-i); m["endpoint"] != want {
				t.Errorf("item %d: endpoint %v, want %s (the inserted samples, slowest first)", i, m["endpoint"], want)
			}
		}
	})

	t.Run("performanceSummary", func(t *testing.T) {
		const q = `{ performanceSummary(metricType: "api_response") { metricType averageValue count maxValue minValue } }`
		before := time.Now()
		res := srv.Query(t, q, nil)
		after := time.Now()
		var data struct{ PerformanceSummary map[string]any }
		res.MustDecode(t, &data)
		s := data.PerformanceSummary
		if len(s) != 5 {
			t.Errorf("summary has fields %v, want exactly the five asked for", s)
		}
		if s["metricType"] != "api_response" {
			t.Errorf("metricType %v", s["metricType"])
		}
		// The server's window starts 24 hours before a moment between before
		// and after: its count lies between the counts of those two windows.
		hi := db.MustQueryInt64(t, "SELECT count(*) FROM performance_metrics WHERE metric_type = 'api_response' AND recorded_at >= $1", before.Add(-24*time.Hour))
		lo := db.MustQueryInt64(t, "SELECT count(*) FROM performance_metrics WHERE metric_type = 'api_response' AND recorded_at >= $1", after.Add(-24*time.Hour))
		if c, _ := s["count"].(float64); c < float64(lo) || c > float64(hi) || c < 12 {
			t.Errorf("count %v, want between %d and %d (and at least the 12 inserted)", s["count"], lo, hi)
		}
		if got, want := s["maxValue"], 100000+11*10.5; got != want {
			t.Errorf("maxValue %v, want %v (the slowest inserted sample; the older 999999 is outside the window)", got, want)
		}

		// The same operation against the pinned clock: exact figures.
		var pinnedData struct{ PerformanceSummary summaryJSON }
		pinnedSrv.Query(t, q, nil).MustDecode(t, &pinnedData)
		want := wantSummary(t, db, "api_response", pinned.Add(-24*time.Hour), nil)
		want.P50, want.P95, want.P99 = nil, nil, nil
		compareSummary(t, "pinned clock", pinnedData.PerformanceSummary, want)
	})
}

func TestPerformanceSummaryWindowAndEndpoint(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)

	// Known samples a minute old on two endpoints of our own, and an old
	// sample on the first that a recent window excludes.
	for _, v := range []float64{50, 10, 40, 20, 30} {
		insertMetric(t, db, "api_response", "test:endpoint-a", v, 200, "1 minute")
	}
	insertMetric(t, db, "api_response", "test:endpoint-b", 1000, 503, "1 minute")
	insertMetric(t, db, "api_response", "test:endpoint-a", 99999, 200, "2 hours")
	for i := range 40 {
		insertMetric(t, db, []string{"page_load", "database", "cache_hit"}[i%3], "test:mixed", float64(i*i)/7, 200, "1 minute")
	}

	var dbNow time.Time
	db.MustScan(t, []any{&dbNow}, "SELECT now()")
	recent := dbNow.Add(-5 * time.Minute)
	wide := dbNow.Add(-3 * time.Hour)
	const q = `query($t: String!, $since: DateTime, $endpoint: String) {
	  performanceSummary(metricType: $t, since: $since, endpoint: $endpoint) {
	    metricType averageValue count maxValue minValue p50 p95 p99
	  }
	}`
	summary := func(t *testing.T, metricType string, since time.Time, endpoint *string) summaryJSON {
		t.Helper()
		vars := map[string]any{"t": metricType, "since": since.Format(time.RFC3339Nano)}
		if endpoint != nil {
			vars["endpoint"] = *endpoint
		}
		var data struct{ PerformanceSummary summaryJSON }
		srv.Query(t, q, vars).MustDecode(t, &data)
		return data.PerformanceSummary
	}

	t.Run("known values", func(t *testing.T) {
		got := summary(t, "api_response", recent, ptr("test:endpoint-a"))
		p50, p95, p99 := 30.0, 48.0, 49.6
		compareSummary(t, "endpoint-a since 5 minutes", got, summaryJSON{
			MetricType: "api_response", Count: 5, AverageValue: 30, MinValue: 10, MaxValue: 50, P50: &p50, P95: &p95, P99: &p99,
		})
		got = summary(t, "api_response", recent, ptr("test:endpoint-b"))
		one := 1000.0
		compareSummary(t, "endpoint-b", got, summaryJSON{
			MetricType: "api_response", Count: 1, AverageValue: 1000, MinValue: 1000, MaxValue: 1000, P50: &one, P95: &one, P99: &one,
		})
	})

	t.Run("wider window includes the older sample", func(t *testing.T) {
		got := summary(t, "api_response", wide, ptr("test:endpoint-a"))
		if got.Count != 6 || got.MaxValue != 99999 {
			t.Errorf("since 3 hours: count %d max %v, want 6 and 99999", got.Count, got.MaxValue)
		}
	})

	t.Run("since with a zone offset", func(t *testing.T) {
		vars := map[string]any{"t": "api_response", "endpoint": "test:endpoint-a",
			"since": recent.In(time.FixedZone("", -7*3600)).Format(time.RFC3339Nano)}
		var data struct{ PerformanceSummary summaryJSON }
		srv.Query(t, q, vars).MustDecode(t, &data)
		if data.PerformanceSummary.Count != 5 {
			t.Errorf("count %d, want 5", data.PerformanceSummary.Count)
		}
	})

	for _, mt := range []string{"page_load", "api_response", "database", "cache_hit"} {
		for _, since := range []struct {
			name string
			at   time.Time
		}{{"5 minutes", recent}, {"3 hours", wide}, {"7 days", dbNow.Add(-7 * 24 * time.Hour)}} {
			t.Run(mt+" since "+since.name, func(t *testing.T) {
				got := summary(t, mt, since.at, nil)
				want := wantSummary(t, db, mt, since.at, nil)
				if want.Count == 0 {
					t.Fatalf("no samples in the window: nothing is tested")
				}
				compareSummary(t, mt, got, want)
			})
		}
	}

	t.Run("empty window", func(t *testing.T) {
		got := summary(t, "database", dbNow.Add(time.Hour), nil)
		zero := 0.0
		compareSummary(t, "since the future", got, summaryJSON{MetricType: "database", P50: &zero, P95: &zero, P99: &zero})
		got = summary(t, "api_response", recent, ptr("test:no-such-endpoint"))
		compareSummary(t, "unknown endpoint", got, summaryJSON{MetricType: "api_response", P50: &zero, P95: &zero, P99: &zero})
	})
}

func TestSlowestEndpoints(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)
	for i := range 30 {
		insertMetric(t, db, []string{"page_load", "api_response", "database"}[i%3], fmt.Sprintf("test:s%d", i), float64(i)*3.25, 200+i, "1 minute")
	}
	var dbNow time.Time
	db.MustScan(t, []any{&dbNow}, "SELECT now()")
	const q = `query($limit: Int, $t: String, $since: DateTime) {
	  slowestEndpoints(limit: $limit, metricType: $t, since: $since) { id metricType value endpoint statusCode timestamp }
	}`
	for _, tt := range []struct {
		metricType string
		limit      int
		since      time.Time
	}{
		{"api_response", 10, dbNow.Add(-5 * time.Minute)},
		{"page_load", 100, dbNow.Add(-5 * time.Minute)},
		{"database", 3, dbNow.Add(-48 * time.Hour)},
		{"cache_hit", 25, dbNow.Add(-7 * 24 * time.Hour)},
		{"page_load", 1, dbNow.Add(-24 * time.Hour)},
		{"cache_hit", 5, dbNow.Add(time.Hour)},
	} {
		t.Run(fmt.Sprintf("%s limit %d since %s", tt.metricType, tt.limit, tt.since.Format(time.RFC3339)), func(t *testing.T) {
			var data struct{ SlowestEndpoints []metricJSON }
			srv.Query(t, q, map[string]any{"limit": tt.limit, "t": tt.metricType, "since": tt.since.Format(time.RFC3339Nano)}).
				MustDecode(t, &data)
			type row struct {
				ID         int64     `db:"id"`
				Value      float64   `db:"value"`
				Endpoint   string    `db:"endpoint"`
				StatusCode int64     `db:"status_code"`
				RecordedAt time.Time `db:"recorded_at"`
			}
			want := testsupport.MustQueryRows[row](t, db, `SELECT id, value, endpoint, status_code, recorded_at FROM performance_metrics
				WHERE metric_type = $1 AND recorded_at >= $2 ORDER BY value DESC, id LIMIT $3`, tt.metricType, tt.since, tt.limit)
			got := data.SlowestEndpoints
			if len(got) != len(want) {
				t.Fatalf("%d samples, want %d", len(got), len(want))
			}
			if !slices.IsSortedFunc(got, func(a, b metricJSON) int { return -cmpFloat(a.Value, b.Value) }) {
				t.Errorf("samples are not sorted slowest first: %v", got)
			}
			// Ties may come in any order: compare the values in order and
			// each sample with the database row of its id.
			for i := range got {
				if got[i].Value != want[i].Value {
					t.Errorf("item %d: value %v, want %v", i, got[i].Value, want[i].Value)
				}
				if got[i].MetricType != tt.metricType {
					t.Errorf("item %d: metricType %q", i, got[i].MetricType)
				}
				var value float64
				var endpoint string
				var status int64
				var at time.Time
				db.MustScan(t, []any{&value, &endpoint, &status, &at},
					"SELECT value, endpoint, status_code, recorded_at FROM performance_metrics WHERE id = $1", testsupport.ParseID(t, got[i].ID))
				if got[i].Value != value || got[i].Endpoint != endpoint || got[i].StatusCode != status {
					t.Errorf("item %d: %+v differs from its row (%v %q %d)", i, got[i], value, endpoint, status)
				}
				testsupport.AssertTime(t, fmt.Sprintf("item %d timestamp", i), got[i].Timestamp, at)
				if at.Before(tt.since) {
					t.Errorf("item %d recorded at %s, before since %s", i, at, tt.since)
				}
			}
		})
	}
}

func TestMetricValidation(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)
	tests := []struct {
		name      string
		query     string
		wantField string
		allowed   bool // the message lists the metric types
	}{
		{"summary unknown type", `{ performanceSummary(metricType: "latency") { count } }`, "metricType", true},
		{"summary case matters", `{ performanceSummary(metricType: "API_RESPONSE") { count } }`, "metricType", true},
		{"summary empty type", `{ performanceSummary(metricType: "") { count } }`, "metricType", true},
		{"slowest unknown type", `{ slowestEndpoints(metricType: "cpu") { value } }`, "metricType", true},
		{"slowest limit 0", `{ slowestEndpoints(limit: 0) { value } }`, "limit", false},
		{"slowest limit 101", `{ slowestEndpoints(limit: 101) { value } }`, "limit", false},
		{"slowest limit -1", `{ slowestEndpoints(limit: -1) { value } }`, "limit", false},
		{"endpointStats limit 0", `{ endpointStats(limit: 0) { endpoint } }`, "limit", false},
		{"endpointStats limit 101", `{ endpointStats(limit: 101) { endpoint } }`, "limit", false},
		{"endpointStats limit -1", `{ endpointStats(limit: -1) { endpoint } }`, "limit", false},
		{"endpointStats unknown type", `{ endpointStats(metricType: "cpu") { endpoint } }`, "metricType", true},
		{"endpointStats since in the future", `{ endpointStats(since: "2999-01-01T00:00:00Z") { endpoint } }`, "since", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := srv.Query(t, tt.query, nil)
			e := res.MustError(t, "BAD_USER_INPUT")
			if got, want := e.Field(), tt.wantField; got != want {
				t.Errorf("extensions.field: got %q, want %q", got, want)
			}
			if tt.allowed {
				for _, mt := range []string{"page_load", "api_response", "database", "cache_hit"} {
					if !strings.Contains(e.Message, mt) {
						t.Errorf("message %q does not list %q", e.Message, mt)
					}
				}
			}
		})
	}

	t.Run("since not RFC 3339", func(t *testing.T) {
		res := srv.Query(t, `query($s: DateTime) { performanceSummary(metricType: "database", since: $s) { count } }`,
			map[string]any{"s": "yesterday"})
		if len(res.Errors) == 0 || !strings.Contains(res.Errors[0].Message, "RFC 3339") {
			t.Errorf("got %s, want an error saying since must be RFC 3339", res.Raw)
		}
		if res.Code() == "INTERNAL" || res.Code() == "" {
			t.Errorf("extensions.code %q, want a client error code", res.Code())
		}
	})
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

type endpointStatsJSON struct {
	Endpoint     string  `json:"endpoint"`
	Count        int64   `json:"count"`
	AverageValue float64 `json:"averageValue"`
	P50          float64 `json:"p50"`
	P95          float64 `json:"p95"`
	P99          float64 `json:"p99"`
	MaxValue     float64 `json:"maxValue"`
	ErrorRate    float64 `json:"errorRate"`
}

// wantEndpointStats aggregates, in Go, the samples SQL selects for the
// window, by endpoint.
func wantEndpointStats(t *testing.T, db *testsupport.DB, metricType string, since time.Time) map[string]endpointStatsJSON {
	t.Helper()
	type sample struct {
		Endpoint   string  `db:"endpoint"`
		Value      float64 `db:"value"`
		StatusCode int32   `db:"status_code"`
	}
	rows := testsupport.MustQueryRows[sample](t, db, `SELECT endpoint, value, status_code FROM performance_metrics
		WHERE metric_type = $1 AND recorded_at >= $2 ORDER BY endpoint, value`, metricType, since)
	values, errors := map[string][]float64{}, map[string]int{}
	for _, r := range rows {
		values[r.Endpoint] = append(values[r.Endpoint], r.Value)
		if r.StatusCode >= 500 {
			errors[r.Endpoint]++
		}
	}
	out := map[string]endpointStatsJSON{}
	for ep, vs := range values {
		sum := 0.0
		for _, v := range vs {
			sum += v
		}
		out[ep] = endpointStatsJSON{
			Endpoint: ep, Count: int64(len(vs)), AverageValue: sum / float64(len(vs)),
			P50: percentileCont(vs, 0.5), P95: percentileCont(vs, 0.95), P99: percentileCont(vs, 0.99),
			MaxValue: vs[len(vs)-1], ErrorRate: float64(errors[ep]) / float64(len(vs)),
		}
	}
	return out
}

func compareEndpointStats(t *testing.T, got, want endpointStatsJSON) {
	t.Helper()
	if got.Endpoint != want.Endpoint || got.Count != want.Count {
		t.Errorf("endpoint/count = %q/%d, want %q/%d", got.Endpoint, got.Count, want.Endpoint, want.Count)
	}
	what := want.Endpoint + " "
	testsupport.AssertClose(t, what+"averageValue", got.AverageValue, want.AverageValue, 1e-6*math.Max(1, math.Abs(want.AverageValue)))
	for _, f := range []struct {
		name      string
		got, want float64
	}{{"p50", got.P50, want.P50}, {"p95", got.P95, want.P95}, {"p99", got.P99, want.P99}, {"maxValue", got.MaxValue, want.MaxValue}, {"errorRate", got.ErrorRate, want.ErrorRate}} {
		testsupport.AssertClose(t, what+f.name, f.got, f.want, 1e-6)
	}
}

// endpointStatsKeys is the statistic each EndpointStatsOrder sorts on,
// highest first (nil: by endpoint only).
var endpointStatsKeys = map[string]func(endpointStatsJSON) float64{
	"P50_DESC":        func(s endpointStatsJSON) float64 { return s.P50 },
	"P95_DESC":        func(s endpointStatsJSON) float64 { return s.P95 },
	"P99_DESC":        func(s endpointStatsJSON) float64 { return s.P99 },
	"AVERAGE_DESC":    func(s endpointStatsJSON) float64 { return s.AverageValue },
	"MAX_DESC":        func(s endpointStatsJSON) float64 { return s.MaxValue },
	"COUNT_DESC":      func(s endpointStatsJSON) float64 { return float64(s.Count) },
	"ERROR_RATE_DESC": func(s endpointStatsJSON) float64 { return s.ErrorRate },
	"ENDPOINT_ASC":    nil,
}

func TestEndpointStats(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db, testsupport.NoCache)

	// Known samples a minute old on endpoints of our own, and an old
	// sample that a recent window excludes.
	for i, v := range []float64{50, 10, 40, 20, 30} {
		insertMetric(t, db, "api_response", "test:stats-a", v, []int{200, 500, 503, 200, 404}[i], "1 minute")
	}
	insertMetric(t, db, "api_response", "test:stats-b", 1000, 0, "1 minute")
	insertMetric(t, db, "api_response", "test:stats-a", 99999, 500, "2 hours")
	var dbNow time.Time
	db.MustScan(t, []any{&dbNow}, "SELECT now()")
	recent := dbNow.Add(-5 * time.Minute)

	// stats passes only the arguments in vars (metricType, since, orderBy,
	// limit): the others take their defaults.
	stats := func(t *testing.T, vars map[string]any) []endpointStatsJSON {
		t.Helper()
		types := map[string]string{"metricType": "String", "since": "DateTime", "orderBy": "EndpointStatsOrder", "limit": "Int"}
		var params, args []string
		for _, name := range slices.Sorted(maps.Keys(vars)) {
			params = append(params, "$"+name+": "+types[name])
			args = append(args, name+": $"+name)
		}
		q := "{ endpointStats { endpoint count averageValue p50 p95 p99 maxValue errorRate } }"
		if len(args) > 0 {
			q = fmt.Sprintf("query(%s) { endpointStats(%s) { endpoint count averageValue p50 p95 p99 maxValue errorRate } }",
				strings.Join(params, ", "), strings.Join(args, ", "))
		}
		var data struct{ EndpointStats []endpointStatsJSON }
		srv.Query(t, q, vars).MustDecode(t, &data)
		return data.EndpointStats
	}
	byEndpoint := func(rows []endpointStatsJSON) map[string]endpointStatsJSON {
		m := map[string]endpointStatsJSON{}
		for _, r := range rows {
			m[r.Endpoint] = r
		}
		return m
	}

	t.Run("known values", func(t *testing.T) {
		got := byEndpoint(stats(t, map[string]any{"since": recent.Format(time.RFC3339Nano), "limit": 100}))
		compareEndpointStats(t, got["test:stats-a"], endpointStatsJSON{
			Endpoint: "test:stats-a", Count: 5, AverageValue: 30, P50: 30, P95: 48, P99: 49.6, MaxValue: 50, ErrorRate: 0.4,
		})
		compareEndpointStats(t, got["test:stats-b"], endpointStatsJSON{
			Endpoint: "test:stats-b", Count: 1, AverageValue: 1000, P50: 1000, P95: 1000, P99: 1000, MaxValue: 1000,
		})
	})

	t.Run("default window is the last 24 hours", func(t *testing.T) {
		got := byEndpoint(stats(t, map[string]any{"limit": 100}))["test:stats-a"]
		if got.Count != 6 || got.MaxValue != 99999 {
			t.Errorf("without since: count %d max %v, want 6 and 99999", got.Count, got.MaxValue)
		}
	})

	var orders struct {
		Type struct{ EnumValues []struct{ Name string } } `json:"__type"`
	}
	srv.Query(t, `{ __type(name: "EndpointStatsOrder") { enumValues { name } } }`, nil).MustDecode(t, &orders)
	if len(orders.Type.EnumValues) == 0 {
		t.Fatal("no EndpointStatsOrder values")
	}
	for _, mt := range []string{"page_load", "api_response", "database", "cache_hit"} {
		since := dbNow.Add(-7 * 24 * time.Hour)
		want := wantEndpointStats(t, db, mt, since)
		if len(want) < 2 {
			t.Fatalf("%s: %d endpoints in the window: the order is not tested", mt, len(want))
		}
		for _, o := range orders.Type.EnumValues {
			t.Run(mt+" "+o.Name, func(t *testing.T) {
				key, ok := endpointStatsKeys[o.Name]
				if !ok {
					t.Fatalf("the test knows no order %s", o.Name)
				}
				vars := map[string]any{"metricType": mt, "since": since.Format(time.RFC3339Nano), "orderBy": o.Name, "limit": 100}
				got := stats(t, vars)
				if len(got) != len(want) {
					t.Fatalf("%d endpoints, want %d", len(got), len(want))
				}
				for i, g := range got {
					compareEndpointStats(t, g, want[g.Endpoint])
					if i == 0 {
						continue
					}
					prev := got[i-1]
					if key == nil || key(prev) == key(g) {
						if prev.Endpoint >= g.Endpoint {
							t.Errorf("%q before %q: ties and ENDPOINT_ASC go in endpoint order", prev.Endpoint, g.Endpoint)
						}
					} else if key(prev) < key(g) {
						t.Errorf("%q (%v) before %q (%v): want highest first", prev.Endpoint, key(prev), g.Endpoint, key(g))
					}
				}
				vars["limit"] = 2
				if first := stats(t, vars); !slices.Equal(first, got[:2]) {
					t.Errorf("limit 2: %v, want the first two of %v", first, got)
				}
			})
		}
	}

	t.Run("empty window", func(t *testing.T) {
		if got := stats(t, map[string]any{"metricType": "database", "since": dbNow.Add(-time.Nanosecond).Format(time.RFC3339Nano)}); len(got) != 0 {
			t.Errorf("since now: %v, want no rows", got)
		}
	})
}

// TestEndpointStatsCached: endpointStats is cached like performanceSummary
// (SummaryTTL), and a recorded sample retires it.
func TestEndpointStatsCached(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db, wrLongSummaryTTL)
	const q = `{ endpointStats(orderBy: ENDPOINT_ASC, limit: 100) { endpoint count } }`
	read := func(t *testing.T, want wrCounts, what string) []endpointStatsJSON {
		t.Helper()
		res := srv.Query(t, q, nil)
		var data struct{ EndpointStats []endpointStatsJSON }
		res.MustDecode(t, &data)
		if got := wrCountsOf(t, res); got != want {
			t.Errorf("%s: statements/hits/misses %+v, want %+v", what, got, want)
		}
		return data.EndpointStats
	}
	cold, warm := wrCounts{sql: 1, misses: 1}, wrCounts{sql: 0, hits: 1}
	before := read(t, cold, "first read")
	read(t, warm, "second read")
	srv.Mutate(t, `mutation { recordMetric(input: {metricType: "api_response", value: 12, endpoint: "test:cached-stats"}) { id } }`, nil).MustDecode(t, &struct{}{})
	after := read(t, cold, "after recordMetric")
	if len(after) != len(before)+1 || !slices.ContainsFunc(after, func(s endpointStatsJSON) bool { return s.Endpoint == "test:cached-stats" }) {
		t.Errorf("after recording a sample of a new endpoint: %d endpoints (was %d) without it", len(after), len(before))
	}
}
