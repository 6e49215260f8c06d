package monitor

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"orgpulse/db"
)

// Metric types the service records about itself (the CHECK constraint of
// performance_metrics.metric_type allows these and page_load).
const (
	TypeAPIResponse = "api_response"
	TypeDatabase    = "database"
	TypeCacheHit    = "cache_hit"
)

// Sample is one performance_metrics row waiting to be written.
type Sample struct {
	Type     string    // api_response, database, cache_hit
	Value    float64   // milliseconds, or a percentage for cache_hit
	Endpoint string    // e.g. graphql:allEmployees, or cache
	Status   int       // HTTP status of the measured request; 0 when not applicable
	At       time.Time // when it was measured
}

// RecorderConfig tunes a Recorder. Zero values take the defaults noted.
type RecorderConfig struct {
	BufferSize    int           // samples waiting in memory at most; default 10000
	FlushInterval time.Duration // write at least this often; default 1s
	FlushRows     int           // write as soon as this many samples wait; default 1000
	WriteTimeout  time.Duration // limit of one COPY; default 10s
	Logger        *slog.Logger
}

// ErrClosed is returned by Flush once the recorder is closed.
var ErrClosed = errors.New("monitor: recorder closed")

// Recorder stores samples in performance_metrics without ever making the
// caller wait: Record puts a sample in a bounded channel, or drops and
// counts it when the channel is full; one background writer empties the
// channel in batches with COPY, every FlushInterval or every FlushRows
// samples. Close writes what is left.
type Recorder struct {
	q   *db.Queries
	cfg RecorderConfig
	log *slog.Logger
	ch  chan Sample

	// mu orders Record against Close: once closed is set (under the write
	// lock) no sample can enter the channel, so the final drain sees all.
	mu     sync.RWMutex
	closed bool

	flushReq chan chan error
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	stopCtx  context.Context // Close's context, set before stop is closed
	closeErr error           // set before done is closed

	recorded, dropped, written, lost, writeErrors atomic.Int64
	lastErrLog                                    atomic.Int64
}

// Defaults of RecorderConfig that app.DefaultConfig takes (METRICS_BUFFER,
// METRICS_FLUSH_INTERVAL).
const (
	DefaultBufferSize    = 10000
	DefaultFlushInterval = time.Second
)

// NewRecorder starts a recorder writing into pool. Close stops it.
func NewRecorder(pool *pgxpool.Pool, cfg RecorderConfig) *Recorder {
	if cfg.BufferSize <= 0 {
		cfg.BufferSize = DefaultBufferSize
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = DefaultFlushInterval
	}
	if cfg.FlushRows <= 0 {
		cfg.FlushRows = 1000
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Recorder{
		q: db.New(pool), cfg: cfg, log: cfg.Logger,
		ch:       make(chan Sample, cfg.BufferSize),
		flushReq: make(chan chan error),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go r.run()
	return r
}

// Record queues a sample; it never blocks. It reports false when the
// sample was dropped because the buffer is full or the recorder closed.
func (r *Recorder) Record(s Sample) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		r.dropped.Add(1)
		return false
	}
	select {
	case r.ch <- s:
		r.recorded.Add(1)
		return true
	default:
		r.dropped.Add(1)
		return false
	}
}

// RecorderStats counts a recorder's work since it started.
type RecorderStats struct {
	Recorded    int64 // samples accepted into the buffer
	Dropped     int64 // samples refused: buffer full, or recorder closed
	Written     int64 // samples stored in PostgreSQL
	Lost        int64 // accepted samples given up after failed writes
	WriteErrors int64 // failed COPY attempts
	Buffered    int64 // samples waiting in the buffer now
}

// Stats returns the counters.
func (r *Recorder) Stats() RecorderStats {
	return RecorderStats{
		Recorded: r.recorded.Load(), Dropped: r.dropped.Load(), Written: r.written.Load(),
		Lost: r.lost.Load(), WriteErrors: r.writeErrors.Load(), Buffered: int64(len(r.ch)),
	}
}

// Flush writes every sample recorded before the call and returns the error
// of the write, if any.
func (r *Recorder) Flush(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case r.flushReq <- reply:
	case <-r.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close refuses new samples, writes the buffered ones and stops the writer.
// The final write is bounded by ctx (and WriteTimeout).
func (r *Recorder) Close(ctx context.Context) error {
	r.stopOnce.Do(func() {
		r.mu.Lock()
		r.closed = true
		r.mu.Unlock()
		r.stopCtx = ctx
		close(r.stop)
	})
	select {
	case <-r.done:
		return r.closeErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Recorder) run() {
	defer close(r.done)
	t := time.NewTicker(r.cfg.FlushInterval)
	defer t.Stop()
	batch := make([]Sample, 0, r.cfg.FlushRows)
	var err error
	for {
		select {
		case s := <-r.ch:
			batch = append(batch, s)
			if len(batch) >= r.cfg.FlushRows {
				batch, _ = r.write(context.Background(), batch)
			}
		case <-t.C:
			batch, _ = r.write(context.Background(), batch)
		case reply := <-r.flushReq:
			batch, err = r.drain(context.Background(), batch)
			reply <- err
		case <-r.stop:
			batch, err = r.drain(r.stopCtx, batch)
			// After a failed write, what remains is given up.
			r.lost.Add(int64(len(batch) + len(r.ch)))
			r.closeErr = err
			return
		}
	}
}

// drain moves everything buffered into batches and writes them, stopping at
// the first failed write.
func (r *Recorder) drain(ctx context.Context, batch []Sample) ([]Sample, error) {
	var err error
	for {
		select {
		case s := <-r.ch:
			batch = append(batch, s)
			if len(batch) < r.cfg.FlushRows {
				continue
			}
			if batch, err = r.write(ctx, batch); err != nil {
				return batch, err
			}
		default:
			return r.write(ctx, batch)
		}
	}
}

// write stores batch with COPY and returns it emptied. On failure it keeps
// the batch for the next attempt, up to BufferSize samples (the oldest
// beyond that are lost and counted), so an outage costs memory no more than
// the buffer does.
func (r *Recorder) write(ctx context.Context, batch []Sample) ([]Sample, error) {
	if len(batch) == 0 {
		return batch, nil
	}
	rows := make([]db.CopyPerformanceMetricsParams, len(batch))
	for i, s := range batch {
		rows[i] = db.CopyPerformanceMetricsParams{
			MetricType: s.Type, Value: s.Value, Endpoint: s.Endpoint,
			StatusCode: int32(s.Status), RecordedAt: s.At,
		}
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.WriteTimeout)
	defer cancel()
	n, err := r.q.CopyPerformanceMetrics(ctx, rows)
	if err == nil {
		r.written.Add(n)
		clear(batch)
		return batch[:0], nil
	}
	r.writeErrors.Add(1)
	if now := time.Now().UnixNano(); now-r.lastErrLog.Load() >= int64(10*time.Second) {
		r.lastErrLog.Store(now)
		r.log.Warn("cannot store performance samples; keeping them for the next attempt",
			"samples", len(batch), "err", err)
	}
	if excess := len(batch) - r.cfg.BufferSize; excess > 0 {
		r.lost.Add(int64(excess))
		batch = append(batch[:0], batch[excess:]...)
	}
	return batch, err
}
