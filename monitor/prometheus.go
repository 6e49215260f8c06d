package monitor

import (
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"orgpulse/cache"
	"orgpulse/wire"
)

// Metric names. Families registered by the Register* methods appear only
// once they are registered.
const (
	MetricRequestDuration   = "orgpulse_graphql_request_duration_seconds"
	MetricRequestStatements = "orgpulse_graphql_request_sql_statements"
	MetricErrors            = "orgpulse_graphql_errors_total"
	// MetricSlowLogsSuppressed counts slow-request lines SlowLog left out.
	MetricSlowLogsSuppressed = "orgpulse_slow_request_logs_suppressed_total"

	MetricCacheHits          = "orgpulse_cache_hits_total"
	MetricCacheMisses        = "orgpulse_cache_misses_total"
	MetricCacheErrors        = "orgpulse_cache_redis_errors_total"
	MetricCacheInvalidations = "orgpulse_cache_invalidations_total"

	MetricWebSocketConnections = "orgpulse_websocket_connections"
	MetricSubscriptionsActive  = "orgpulse_subscriptions_active"
	MetricEventsPublished      = "orgpulse_events_published_total"
	MetricEventsDelivered      = "orgpulse_events_delivered_total"
	MetricSlowConsumers        = "orgpulse_slow_consumers_total"
	MetricSubscriptionsStopped = "orgpulse_subscriptions_interrupted_total"
	MetricRealtimeReconnects   = "orgpulse_realtime_reconnects_total"

	// The change feed relay of this replica (changefeed/).
	MetricRelayActive   = "orgpulse_relay_active"
	MetricRelayPosition = "orgpulse_relay_delivered_position"
	MetricRelayChanges  = "orgpulse_relay_changes_total"
	MetricRelayFailures = "orgpulse_relay_failures_total"

	MetricSamplesRecorded  = "orgpulse_metric_samples_recorded_total"
	MetricSamplesDropped   = "orgpulse_metric_samples_dropped_total"
	MetricSamplesWritten   = "orgpulse_metric_samples_written_total"
	MetricSamplesLost      = "orgpulse_metric_samples_lost_total"
	MetricSampleWriteErrs  = "orgpulse_metric_sample_write_errors_total"
	MetricSamplesBuffered  = "orgpulse_metric_samples_buffered"
	MetricRetentionDeleted = "orgpulse_metric_retention_deleted_total"

	MetricPoolAcquiredConns     = "orgpulse_db_pool_acquired_conns"
	MetricPoolIdleConns         = "orgpulse_db_pool_idle_conns"
	MetricPoolTotalConns        = "orgpulse_db_pool_total_conns"
	MetricPoolMaxConns          = "orgpulse_db_pool_max_conns"
	MetricPoolConstructingConns = "orgpulse_db_pool_constructing_conns"
	MetricPoolAcquires          = "orgpulse_db_pool_acquires_total"
	MetricPoolAcquireWait       = "orgpulse_db_pool_acquire_wait_seconds_total"
	MetricPoolEmptyAcquires     = "orgpulse_db_pool_empty_acquires_total"
	MetricPoolCanceledAcquires  = "orgpulse_db_pool_canceled_acquires_total"
	MetricPoolNewConns          = "orgpulse_db_pool_new_conns_total"

	// MetricRedisUp is 1 while Redis answers PING, registered by a server
	// configured with Redis.
	MetricRedisUp = "orgpulse_redis_up"

	// Admission of GraphQL requests over HTTP (server/admission.go).
	MetricInflight     = "orgpulse_http_inflight_requests"
	MetricOverloaded   = "orgpulse_http_overload_rejected_total"
	MetricBodyTimeouts = "orgpulse_http_body_read_timeouts_total"
	// MetricResponseWriteTimeouts counts responses cut off by RESPONSE_WRITE_TIMEOUT.
	MetricResponseWriteTimeouts = "orgpulse_http_response_write_timeouts_total"
)

// MaxOperationLabels bounds the operation label of the request metrics:
// operation names come from clients, and each distinct one is a time
// series. Names beyond the first MaxOperationLabels are counted as "other".
const MaxOperationLabels = 200

// OtherOperation is the label of operations beyond MaxOperationLabels (and
// of names too long to be a sane label).
const OtherOperation = "other"

// Metrics is the Prometheus side of the monitor, on a private registry so
// several servers (tests) can run in one process.
type Metrics struct {
	reg        *prometheus.Registry
	duration   *prometheus.HistogramVec
	statements *prometheus.HistogramVec
	errors     *errorCodes // errcodes.go

	// ops holds the series of each operation name seen (at most
	// MaxOperationLabels), so a request does not hash its labels again.
	ops   sync.Map // string -> *opSeries
	mu    sync.Mutex
	nOps  int
	other *opSeries
}

// opSeries are the series of one operation label, each created on first
// use so that no empty series is exposed.
type opSeries struct {
	ok, failed, statements func() prometheus.Observer
	endpoint               string // "graphql:<name>", the recorded endpoint
}

// NewMetrics returns a registry holding the request metrics, the
// unknown wire formats (wire.MetricUnknown) and the Go runtime and process
// collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    MetricRequestDuration,
			Help:    "Duration of GraphQL requests over HTTP, by operation name and outcome (ok, or error when the response has errors or a 4xx/5xx status).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"operation", "outcome"}),
		statements: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    MetricRequestStatements,
			Help:    "SQL statements run by one GraphQL request, by operation name.",
			Buckets: []float64{0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144},
		}, []string{"operation"}),
	}
	m.other = m.newSeries(OtherOperation)
	m.errors = newErrorCodes()
	m.reg.MustRegister(m.duration, m.statements, m.errors.vec, wire.Collector(),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry returns the private registry, to register more collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

func (m *Metrics) newSeries(label string) *opSeries {
	return &opSeries{
		ok:         sync.OnceValue(func() prometheus.Observer { return m.duration.WithLabelValues(label, "ok") }),
		failed:     sync.OnceValue(func() prometheus.Observer { return m.duration.WithLabelValues(label, "error") }),
		statements: sync.OnceValue(func() prometheus.Observer { return m.statements.WithLabelValues(label) }),
		endpoint:   endpointOf(label),
	}
}

// series returns the series of an operation, bounding the label set: the
// first MaxOperationLabels names keep their own label, later ones (and
// names too long to be a sane label) share OtherOperation.
func (m *Metrics) series(op string) *opSeries {
	if s, ok := m.ops.Load(op); ok {
		return s.(*opSeries)
	}
	if len(op) > 100 {
		return m.other
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.ops.Load(op); ok {
		return s.(*opSeries)
	}
	if m.nOps >= MaxOperationLabels {
		return m.other
	}
	s := m.newSeries(op)
	m.ops.Store(op, s)
	m.nOps++
	return s
}

// observe records one GraphQL request and returns its operation's series.
func (m *Metrics) observe(op string, failed bool, d time.Duration, statements int) *opSeries {
	s := m.series(op)
	if failed {
		s.failed().Observe(d.Seconds())
	} else {
		s.ok().Observe(d.Seconds())
	}
	s.statements().Observe(float64(statements))
	return s
}

// RegisterGaugeFunc exports fn's value as a gauge named name (the full
// name, e.g. "orgpulse_websocket_connections"). It fails when the name is
// invalid or already registered.
func (m *Metrics) RegisterGaugeFunc(name, help string, fn func() int64) error {
	return m.reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
		func() float64 { return float64(fn()) }))
}

// RegisterCounterFunc exports fn's value, which must only grow, as a
// counter named name (by convention ending in _total).
func (m *Metrics) RegisterCounterFunc(name, help string, fn func() int64) error {
	return m.reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
		func() float64 { return float64(fn()) }))
}

// RealtimeStats are getters of the WebSocket server and event hub
// counters; nil getters are skipped.
type RealtimeStats struct {
	Connections   func() int64 // open WebSocket connections (gauge)
	Subscriptions func() int64 // active subscriptions (gauge)
	Published     func() int64 // events published (counter)
	Delivered     func() int64 // events delivered to subscribers (counter)
	SlowConsumers func() int64 // WebSocket clients closed by the one slow-consumer rule (counter)
	Interrupted   func() int64 // subscriptions the replica ended because it fell behind or its event stream broke (counter)
	Reconnects    func() int64 // reconnections to the event bus (counter)
}

// RegisterRealtime exports the subscription metrics under their standard
// names (MetricWebSocketConnections and the others). Call it once.
func (m *Metrics) RegisterRealtime(s RealtimeStats) error {
	type reg struct {
		gauge      bool
		name, help string
		fn         func() int64
	}
	for _, r := range []reg{
		{true, MetricWebSocketConnections, "Open GraphQL WebSocket connections.", s.Connections},
		{true, MetricSubscriptionsActive, "Open GraphQL subscriptions, each client operation counted (identical ones share an execution but count apart).", s.Subscriptions},
		{false, MetricEventsPublished, "Events published to subscribers.", s.Published},
		{false, MetricEventsDelivered, "Events delivered to subscribers.", s.Delivered},
		{false, MetricSlowConsumers, "WebSocket clients closed as slow consumers: their send queue stayed full for the slow-consumer wait, or a write was not taken within the write timeout.", s.SlowConsumers},
		{false, MetricSubscriptionsStopped, "Subscriptions this replica ended because it fell behind or its event stream broke (never a client's doing).", s.Interrupted},
		{false, MetricRealtimeReconnects, "Reconnections of the event subscriber to Redis.", s.Reconnects},
	} {
		if r.fn == nil {
			continue
		}
		var err error
		if r.gauge {
			err = m.RegisterGaugeFunc(r.name, r.help, r.fn)
		} else {
			err = m.RegisterCounterFunc(r.name, r.help, r.fn)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// RegisterCache exports the cache counters.
func (m *Metrics) RegisterCache(c *cache.Cache) {
	counter := func(name, help string, get func(cache.Stats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(get(c.Stats())) })
	}
	m.reg.MustRegister(
		counter(MetricCacheHits, "Cache lookups answered from Redis.", func(s cache.Stats) int64 { return s.Hits }),
		counter(MetricCacheMisses, "Cache lookups that went to PostgreSQL.", func(s cache.Stats) int64 { return s.Misses }),
		counter(MetricCacheErrors, "Redis operations that failed (the cache fell through to PostgreSQL).", func(s cache.Stats) int64 { return s.Errors }),
		counter(MetricCacheInvalidations, "Cache versions bumped by writes.", func(s cache.Stats) int64 { return s.Invalidations }),
	)
}

// RegisterPool exports the connection pool statistics, read once per
// scrape from pool.Stat().
func (m *Metrics) RegisterPool(pool *pgxpool.Pool) {
	m.reg.MustRegister(poolCollector{pool: pool})
}

// registerRecorder exports the recorder counters.
func (m *Metrics) registerRecorder(r *Recorder, retentionDeleted func() int64) {
	counter := func(name, help string, get func(RecorderStats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(get(r.Stats())) })
	}
	m.reg.MustRegister(
		counter(MetricSamplesRecorded, "Performance samples accepted into the recording buffer.", func(s RecorderStats) int64 { return s.Recorded }),
		counter(MetricSamplesDropped, "Performance samples dropped because the recording buffer was full.", func(s RecorderStats) int64 { return s.Dropped }),
		counter(MetricSamplesWritten, "Performance samples stored in PostgreSQL.", func(s RecorderStats) int64 { return s.Written }),
		counter(MetricSamplesLost, "Accepted performance samples given up after failed writes.", func(s RecorderStats) int64 { return s.Lost }),
		counter(MetricSampleWriteErrs, "Failed COPY batches of performance samples.", func(s RecorderStats) int64 { return s.WriteErrors }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: MetricSamplesBuffered, Help: "Performance samples waiting in the recording buffer."},
			func() float64 { return float64(r.Stats().Buffered) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: MetricRetentionDeleted, Help: "Performance samples deleted by this replica's retention job."},
			func() float64 { return float64(retentionDeleted()) }),
	)
}

// poolCollector reads pool.Stat() once per scrape.
type poolCollector struct{ pool *pgxpool.Pool }

var (
	descPoolAcquired     = prometheus.NewDesc(MetricPoolAcquiredConns, "PostgreSQL connections in use.", nil, nil)
	descPoolIdle         = prometheus.NewDesc(MetricPoolIdleConns, "Idle PostgreSQL connections in the pool.", nil, nil)
	descPoolTotal        = prometheus.NewDesc(MetricPoolTotalConns, "PostgreSQL connections in the pool (in use, idle and being opened).", nil, nil)
	descPoolMax          = prometheus.NewDesc(MetricPoolMaxConns, "Largest size of the pool.", nil, nil)
	descPoolConstructing = prometheus.NewDesc(MetricPoolConstructingConns, "PostgreSQL connections being opened.", nil, nil)
	descPoolAcquires     = prometheus.NewDesc(MetricPoolAcquires, "Connections acquired from the pool.", nil, nil)
	descPoolWait         = prometheus.NewDesc(MetricPoolAcquireWait, "Total time spent acquiring connections.", nil, nil)
	descPoolEmpty        = prometheus.NewDesc(MetricPoolEmptyAcquires, "Acquires that had to wait for a connection (none was idle).", nil, nil)
	descPoolCanceled     = prometheus.NewDesc(MetricPoolCanceledAcquires, "Acquires canceled by their context.", nil, nil)
	descPoolNew          = prometheus.NewDesc(MetricPoolNewConns, "PostgreSQL connections opened.", nil, nil)
)

func (poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPoolAcquired, descPoolIdle, descPoolTotal, descPoolMax,
		descPoolConstructing, descPoolAcquires, descPoolWait, descPoolEmpty, descPoolCanceled, descPoolNew} {
		ch <- d
	}
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(descPoolAcquired, float64(s.AcquiredConns()))
	gauge(descPoolIdle, float64(s.IdleConns()))
	gauge(descPoolTotal, float64(s.TotalConns()))
	gauge(descPoolMax, float64(s.MaxConns()))
	gauge(descPoolConstructing, float64(s.ConstructingConns()))
	counter(descPoolAcquires, float64(s.AcquireCount()))
	counter(descPoolWait, s.AcquireDuration().Seconds())
	counter(descPoolEmpty, float64(s.EmptyAcquireCount()))
	counter(descPoolCanceled, float64(s.CanceledAcquireCount()))
	counter(descPoolNew, float64(s.NewConnsCount()))
}
