package monitor_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"orgpulse/cache"
	"orgpulse/monitor"
	"orgpulse/testsupport"
	"orgpulse/wire"
)

// scrape serves /metrics of m and parses the text exposition.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

func value(t *testing.T, fams map[string]*dto.MetricFamily, name string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok || len(f.Metric) != 1 {
		t.Fatalf("family %s missing or not a single series", name)
	}
	m := f.Metric[0]
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	t.Fatalf("%s is neither a counter nor a gauge", name)
	return 0
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.Label {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func TestNilMonitorIsANoOp(t *testing.T) {
	var m *monitor.Monitor
	m.ObserveRequest(monitor.Request{Operation: "X", Status: 200})
	if err := m.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m.RecordCacheHitRate() || m.Recorder() != nil {
		t.Fatal("a nil monitor recorded something")
	}
}

func TestOperationLabelsAreBounded(t *testing.T) {
	m := monitor.New(monitor.Config{})
	defer m.Close(context.Background())
	for i := range monitor.MaxOperationLabels + 50 {
		m.ObserveRequest(monitor.Request{Operation: fmt.Sprintf("Op%d", i), Status: 200, Duration: time.Millisecond})
	}
	m.ObserveRequest(monitor.Request{Operation: "Op0", Status: 200, Errors: 1, Duration: time.Millisecond})
	fams := scrape(t, m.Handler())
	ops := map[string]uint64{}
	for _, s := range fams[monitor.MetricRequestDuration].Metric {
		ops[label(s, "operation")+"/"+label(s, "outcome")] += s.Histogram.GetSampleCount()
	}
	if len(ops) != monitor.MaxOperationLabels+2 {
		t.Fatalf("%d series, want %d names, other, and Op0/error", len(ops), monitor.MaxOperationLabels)
	}
	if ops["other/ok"] != 50 || ops["Op0/ok"] != 1 || ops["Op0/error"] != 1 {
		t.Fatalf("other/ok=%d Op0/ok=%d Op0/error=%d, want 50, 1, 1", ops["other/ok"], ops["Op0/ok"], ops["Op0/error"])
	}
}

func TestRegisteredGetters(t *testing.T) {
	m := monitor.New(monitor.Config{})
	defer m.Close(context.Background())
	var conns int64 = 3
	err := m.Metrics.RegisterRealtime(monitor.RealtimeStats{
		Connections:   func() int64 { return conns },
		Subscriptions: func() int64 { return 5 },
		Published:     func() int64 { return 11 },
		Delivered:     func() int64 { return 21 },
		SlowConsumers: func() int64 { return 1 },
		Interrupted:   func() int64 { return 6 },
		Reconnects:    func() int64 { return 2 },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Metrics.RegisterGaugeFunc("orgpulse_test_gauge", "A test gauge.", func() int64 { return 42 }); err != nil {
		t.Fatal(err)
	}
	if err := m.Metrics.RegisterGaugeFunc("orgpulse_test_gauge", "Again.", func() int64 { return 1 }); err == nil {
		t.Fatal("registering a name twice succeeded")
	}
	conns = 4
	fams := scrape(t, m.Handler())
	for name, want := range map[string]float64{
		monitor.MetricWebSocketConnections: 4, monitor.MetricSubscriptionsActive: 5,
		monitor.MetricEventsPublished: 11, monitor.MetricEventsDelivered: 21,
		monitor.MetricSlowConsumers: 1, monitor.MetricSubscriptionsStopped: 6, monitor.MetricRealtimeReconnects: 2,
		"orgpulse_test_gauge": 42,
	} {
		if got := value(t, fams, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if fams[monitor.MetricEventsPublished].GetType() != dto.MetricType_COUNTER ||
		fams[monitor.MetricWebSocketConnections].GetType() != dto.MetricType_GAUGE {
		t.Error("events must be counters and connections a gauge")
	}
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_resident_memory_bytes"} {
		if value(t, fams, name) <= 0 {
			t.Errorf("%s is not positive", name)
		}
	}
}

func TestSampleRate(t *testing.T) {
	db := testsupport.MustOpenDB(t)
	for _, tt := range []struct {
		rate     float64
		min, max int64
	}{
		{0, 2000, 2000}, // the zero value means every request
		{1, 2000, 2000},
		{0.25, 400, 600},
		{-1, 0, 0},
	} {
		m := monitor.New(monitor.Config{Pool: db.Pool, SampleRate: tt.rate, Retention: -1,
			Recorder: monitor.RecorderConfig{FlushInterval: time.Hour}})
		for range 2000 {
			m.ObserveRequest(monitor.Request{Operation: "Rate", Status: 200, Duration: time.Millisecond})
		}
		if got := m.Recorder().Stats().Recorded; got < tt.min || got > tt.max {
			t.Errorf("rate %v: %d of 2000 requests recorded, want %d..%d", tt.rate, got, tt.min, tt.max)
		}
		// Prometheus sees every request whatever the rate.
		fams := scrape(t, m.Handler())
		if c := fams[monitor.MetricRequestDuration].Metric[0].Histogram.GetSampleCount(); c != 2000 {
			t.Errorf("rate %v: histogram counted %d requests, want 2000", tt.rate, c)
		}
		if err := m.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestObserveRequestRecordsResponseAndDatabaseSamples(t *testing.T) {
	db := testsupport.MustOpenDB(t)
	m := monitor.New(monitor.Config{Pool: db.Pool, Retention: -1, Recorder: monitor.RecorderConfig{FlushInterval: time.Hour}})
	defer m.Close(context.Background())
	m.ObserveRequest(monitor.Request{Operation: "Both", Status: 200, Duration: 12500 * time.Microsecond,
		Stats: monitor.Snapshot{SQLCount: 2, SQLMs: 3.25}})
	m.ObserveRequest(monitor.Request{Status: 400, Duration: time.Millisecond, Errors: 1})
	if err := m.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Pool.Query(context.Background(),
		"SELECT metric_type, endpoint, value, status_code FROM performance_metrics ORDER BY metric_type, endpoint")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var typ, endpoint string
		var v float64
		var status int32
		if err := rows.Scan(&typ, &endpoint, &v, &status); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %s %v %d", typ, endpoint, v, status))
	}
	want := []string{
		"api_response graphql:Both 12.5 200",
		"api_response graphql:anonymous 1 400",
		"database graphql:Both 3.25 200", // the SQL-free request has no database sample
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("rows\n%v\nwant\n%v", got, want)
	}
}

// cachedInt is the value TestCacheHitRateSample caches, in a format of
// its own as the cache requires.
type cachedInt int

var cachedIntFormat = wire.New("test_int", 1)

func (cachedInt) WireFormat() wire.Format { return cachedIntFormat }

func TestCacheHitRateSample(t *testing.T) {
	db := testsupport.MustOpenDB(t)
	rdb, prefix := testsupport.MustRedisClient(t)
	c := cache.New(rdb, cache.Config{Prefix: prefix})
	m := monitor.New(monitor.Config{Pool: db.Pool, Cache: c, Retention: -1, CacheHitInterval: time.Hour,
		Recorder: monitor.RecorderConfig{FlushInterval: time.Hour}})
	defer m.Close(context.Background())
	if m.RecordCacheHitRate() {
		t.Fatal("a sample without any lookup")
	}
	ctx := context.Background()
	load := func() {
		_, err := cache.Load(ctx, c, cache.Key{Name: "k", Version: "v"}, time.Minute,
			func(context.Context) (cachedInt, error) { return 7, nil })
		if err != nil {
			t.Fatal(err)
		}
	}
	for range 4 { // 1 miss, 3 hits
		load()
	}
	if !m.RecordCacheHitRate() {
		t.Fatal("no sample after 4 lookups")
	}
	load() // 1 hit in the next interval
	m.RecordCacheHitRate()
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Pool.Query(ctx, "SELECT value FROM performance_metrics WHERE metric_type = 'cache_hit' AND endpoint = 'cache' ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	var got []float64
	for rows.Next() {
		var v float64
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	if fmt.Sprint(got) != "[75 100]" {
		t.Fatalf("cache_hit samples %v, want [75 100]", got)
	}
	fams := scrape(t, m.Handler())
	if h, ms := value(t, fams, monitor.MetricCacheHits), value(t, fams, monitor.MetricCacheMisses); h != 4 || ms != 1 {
		t.Fatalf("cache counters hits=%v misses=%v, want 4 and 1", h, ms)
	}
}

// BenchmarkObserveRequest is the whole cost a request pays for the
// monitor: histogram updates, sampling and two channel sends (the writer's
// COPY runs in the background; at this rate most samples find the buffer
// full and are dropped, which is the cheapest path).
func BenchmarkObserveRequest(b *testing.B) {
	db := testsupport.MustOpenDB(b)
	r := monitor.Request{Operation: "Bench", Status: 200, Duration: 3 * time.Millisecond,
		Stats: monitor.Snapshot{SQLCount: 2, SQLMs: 1.5}}
	for _, bc := range []struct {
		name string
		cfg  monitor.Config
	}{
		{"metrics-only", monitor.Config{}},
		{"recording", monitor.Config{Pool: db.Pool, Retention: -1}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			m := monitor.New(bc.cfg)
			defer m.Close(context.Background())
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					m.ObserveRequest(r)
				}
			})
			if rec := m.Recorder(); rec != nil {
				s := rec.Stats()
				b.ReportMetric(float64(s.Dropped)/float64(s.Recorded+s.Dropped), "dropped/sample")
			}
		})
	}
}
