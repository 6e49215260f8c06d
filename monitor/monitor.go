package monitor

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"orgpulse/cache"
)

// Config tunes a Monitor. Zero values take the defaults noted.
type Config struct {
	// Pool receives the recorded samples and has its statistics exported.
	// Nil: nothing is recorded, only Prometheus metrics are kept.
	Pool *pgxpool.Pool
	// Cache, when set, has its counters exported and its hit rate recorded
	// as a cache_hit sample every CacheHitInterval.
	Cache  *cache.Cache
	Logger *slog.Logger

	// SampleRate is the fraction of GraphQL requests recorded in
	// performance_metrics, in [0, 1]. Zero means the default, 1 (every
	// request); a negative value records no request. Prometheus metrics
	// always see every request.
	SampleRate float64
	// Recorder sizes the in-memory buffer and the batch writer.
	Recorder RecorderConfig

	// Retention is how long samples are kept; default 168h (7 days).
	// Negative: the retention job does not run.
	Retention time.Duration
	// RetentionInterval is how often the retention job runs; default 10m.
	RetentionInterval time.Duration
	// RetentionBatch is the most rows one retention transaction deletes;
	// default 1000.
	RetentionBatch int
	// RetentionPause is waited between two retention batches; default 50ms.
	RetentionPause time.Duration

	// CacheHitInterval is how often the cache hit rate is recorded; default
	// 1m.
	CacheHitInterval time.Duration
}

// Monitor watches the service: every GraphQL request updates the
// Prometheus metrics and, sampled, is recorded in performance_metrics by a
// background writer that never makes a request wait.
type Monitor struct {
	// Metrics is the Prometheus registry; register more getters on it
	// (for example the subscription hub's with RegisterRealtime).
	Metrics *Metrics

	cfg    Config
	log    *slog.Logger
	rec    *Recorder // nil without a pool
	sample func() bool

	retentionDeleted atomic.Int64

	cacheMu   sync.Mutex
	cachePrev cache.Stats // counters at the last cache_hit sample

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Defaults of Config that app.DefaultConfig takes (METRICS_RETENTION,
// RETENTION_INTERVAL).
const (
	DefaultRetention         = 168 * time.Hour
	DefaultRetentionInterval = 10 * time.Minute
)

// New starts a monitor: the recorder, the retention job and the cache hit
// sampler run in the background until Close.
func New(cfg Config) *Monitor {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.RetentionInterval <= 0 {
		cfg.RetentionInterval = DefaultRetentionInterval
	}
	if cfg.RetentionBatch <= 0 {
		cfg.RetentionBatch = 1000
	}
	if cfg.RetentionPause <= 0 {
		cfg.RetentionPause = 50 * time.Millisecond
	}
	if cfg.CacheHitInterval <= 0 {
		cfg.CacheHitInterval = time.Minute
	}
	if cfg.Recorder.Logger == nil {
		cfg.Recorder.Logger = cfg.Logger
	}
	m := &Monitor{Metrics: NewMetrics(), cfg: cfg, log: cfg.Logger, stop: make(chan struct{})}
	switch rate := cfg.SampleRate; {
	case rate == 0 || rate >= 1:
		m.sample = func() bool { return true }
	case rate < 0:
		m.sample = func() bool { return false }
	default:
		m.sample = func() bool { return rand.Float64() < rate }
	}
	if cfg.Cache != nil {
		m.Metrics.RegisterCache(cfg.Cache)
	}
	if cfg.Pool != nil {
		m.cachePrev = cfg.Cache.Stats()
		m.Metrics.RegisterPool(cfg.Pool)
		m.rec = NewRecorder(cfg.Pool, cfg.Recorder)
		m.Metrics.registerRecorder(m.rec, m.retentionDeleted.Load)
		if cfg.Retention > 0 {
			m.wg.Add(1)
			go m.runRetention()
		}
		if cfg.Cache != nil {
			m.wg.Add(1)
			go m.runCacheHits()
		}
	}
	return m
}

// Request is what the server tells the monitor about one GraphQL request,
// after its response is written.
type Request struct {
	ID        string
	Operation string // the operation name; "" or "anonymous" for none
	Kind      string // query, mutation
	Status    int    // HTTP status of the response
	Duration  time.Duration
	Stats     Snapshot // statements and cache use
	Errors    int      // GraphQL errors in the response
}

// maxEndpointOperation keeps a recorded endpoint within the 200 characters
// performanceSummary(endpoint:) accepts.
const maxEndpointOperation = 200 - len("graphql:")

// endpointOf is the recorded endpoint of an operation: graphql:<name>.
func endpointOf(op string) string {
	if len(op) > maxEndpointOperation {
		op = op[:maxEndpointOperation]
	}
	return "graphql:" + op
}

// ObserveRequest records one request. It never blocks and does nothing on a
// nil Monitor.
func (m *Monitor) ObserveRequest(r Request) {
	if m == nil {
		return
	}
	op := r.Operation
	if op == "" {
		op = "anonymous"
	}
	series := m.Metrics.observe(op, r.Errors > 0 || r.Status >= 400, r.Duration, r.Stats.SQLCount)
	if m.rec == nil || !m.sample() {
		return
	}
	endpoint := series.endpoint
	if series == m.Metrics.other {
		endpoint = endpointOf(op)
	}
	now := time.Now()
	m.rec.Record(Sample{Type: TypeAPIResponse, Value: ms(r.Duration), Endpoint: endpoint, Status: r.Status, At: now})
	// Requests answered without SQL (from the cache) would only pull the
	// database figures towards 0: they have no database sample.
	if r.Stats.SQLCount > 0 {
		m.rec.Record(Sample{Type: TypeDatabase, Value: r.Stats.SQLMs, Endpoint: endpoint, Status: r.Status, At: now})
	}
}

// Handler serves /metrics.
func (m *Monitor) Handler() http.Handler { return m.Metrics.Handler() }

// Recorder returns the sample recorder, nil when nothing is recorded.
func (m *Monitor) Recorder() *Recorder {
	if m == nil {
		return nil
	}
	return m.rec
}

// Flush writes every sample recorded so far.
func (m *Monitor) Flush(ctx context.Context) error {
	if m == nil || m.rec == nil {
		return nil
	}
	return m.rec.Flush(ctx)
}

// PurgeExpired runs the retention job once: it deletes samples older than
// Retention.
func (m *Monitor) PurgeExpired(ctx context.Context) (RetentionResult, error) {
	if m == nil || m.cfg.Pool == nil || m.cfg.Retention <= 0 {
		return RetentionResult{}, nil
	}
	res, err := PurgeMetrics(ctx, m.cfg.Pool, time.Now().Add(-m.cfg.Retention), m.cfg.RetentionBatch, m.cfg.RetentionPause)
	m.retentionDeleted.Add(res.Deleted)
	return res, err
}

// Close stops the background jobs, then writes the buffered samples; ctx
// bounds the final write. Call it after the HTTP server has stopped and
// before the pool closes.
func (m *Monitor) Close(ctx context.Context) error {
	if m == nil {
		return nil
	}
	m.closeOnce.Do(func() { close(m.stop) })
	m.wg.Wait()
	if m.rec == nil {
		return nil
	}
	err := m.rec.Close(ctx)
	if s := m.rec.Stats(); s.Lost > 0 || err != nil {
		m.log.Warn("performance samples not stored at shutdown", "lost", s.Lost, "err", err)
	}
	return err
}

func (m *Monitor) runRetention() {
	defer m.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-m.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	t := time.NewTicker(m.cfg.RetentionInterval)
	defer t.Stop()
	for {
		res, err := m.PurgeExpired(ctx)
		switch {
		case err != nil && !errors.Is(err, context.Canceled):
			m.log.Warn("metrics retention failed", "err", err, "deleted", res.Deleted)
		case res.Deleted > 0:
			m.log.Info("metrics retention", "deleted", res.Deleted, "batches", res.Batches, "retention", m.cfg.Retention.String())
		}
		select {
		case <-t.C:
		case <-m.stop:
			return
		}
	}
}

// runCacheHits records the cache hit rate once per CacheHitInterval.
func (m *Monitor) runCacheHits() {
	defer m.wg.Done()
	t := time.NewTicker(m.cfg.CacheHitInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			m.RecordCacheHitRate()
		case <-m.stop:
			return
		}
	}
}

// RecordCacheHitRate records, as a cache_hit sample (endpoint "cache"), the
// percentage of cache lookups that hit since the previous call (or since
// New), from the deltas of the cache counters. It records nothing and
// returns false when there was no lookup, no cache or no recorder. The
// monitor calls it every CacheHitInterval.
func (m *Monitor) RecordCacheHitRate() bool {
	if m == nil || m.cfg.Cache == nil || m.rec == nil {
		return false
	}
	m.cacheMu.Lock()
	cur := m.cfg.Cache.Stats()
	hits, misses := cur.Hits-m.cachePrev.Hits, cur.Misses-m.cachePrev.Misses
	m.cachePrev = cur
	m.cacheMu.Unlock()
	if hits+misses <= 0 {
		return false
	}
	return m.rec.Record(Sample{Type: TypeCacheHit, Value: 100 * float64(hits) / float64(hits+misses),
		Endpoint: "cache", At: time.Now()})
}
