// Package changefeed is the relay of the change log (the outbox pattern):
// it reads the changes every transaction logged with its commit
// (migrations/00005_change_log.sql), in commit order, retires the cache
// versions each one affects and publishes its events on the event bus,
// then records how far it got, so that it resumes there after a restart of
// itself, of PostgreSQL or of Redis. Delivery is at least once: a relay
// that dies between publishing and recording publishes again.
//
// One relay is active across the replicas: each replica's relay holds a
// session of its own (DATABASE_LISTEN_URL, a direct connection: LISTEN and
// session advisory locks need one) and tries the relay lock every
// RetryInterval; the holder's session ending (its replica died or closed,
// or PostgreSQL dropped it) frees the lock for the next try. The active
// relay wakes on NOTIFY from the committing transactions and polls every
// PollInterval as a safety net.
package changefeed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"orgpulse/cache"
	"orgpulse/db"
	"orgpulse/resolvers"
)

// RelayLockKey is the session advisory lock the active relay holds
// ("orgrelay"). Advisory locks are per database: one relay per database.
const RelayLockKey int64 = 0x6f72_6772_656c_6179

// CommitLockKey is the transaction advisory lock under which a committing
// transaction numbers its log rows ("orgchang"; written out in the
// migration's change_log_number()).
const CommitLockKey int64 = 0x6f72_6763_6861_6e67

// DefaultKeep is REPLAY_WINDOW's default: how long delivered changes stay
// in the log.
const DefaultKeep = time.Hour

// Channel is what change_log_number() notifies at each commit that logged
// changes.
const Channel = "orgpulse_changes"

// Config configures a Relay. Zero values take the defaults noted.
type Config struct {
	// Conn is the relay's own session: DATABASE_LISTEN_URL, or the pool's
	// connection settings. Required.
	Conn *pgx.ConnConfig
	// Cache has its versions retired per change; nil: none.
	Cache *cache.Cache
	// Bus carries the events; nil: none.
	Bus    resolvers.EventBus
	Logger *slog.Logger
	// PollInterval: the active relay reads the log at least this often
	// without a notification (default 1s).
	PollInterval time.Duration
	// RetryInterval: how often a standby relay tries the lock, and how long
	// the relay waits before retrying a failed step (default 500ms).
	RetryInterval time.Duration
	// Batch: changes read and delivered at once (default 500).
	Batch int
	// Keep: delivered changes older than this are pruned
	// (REPLAY_WINDOW; default DefaultKeep; negative: never).
	Keep time.Duration
	// PruneInterval: how often the active relay prunes (default 1m).
	PruneInterval time.Duration
	// OpTimeout bounds each Redis step of a delivery (default 2s).
	OpTimeout time.Duration
	// Tracer gives each delivered batch a span, its Redis commands and
	// position update below it; nil: none.
	Tracer trace.TracerProvider
}

// Stats describes a relay.
type Stats struct {
	Active     bool   // this relay holds the relay lock
	Position   int64  // the last position this relay delivered
	Changes    uint64 // changes this relay delivered
	Events     uint64 // events it published
	Sessions   uint64 // times it became the active relay
	Failures   uint64 // delivery steps that failed and were retried
	BackendPID uint32 // PostgreSQL backend of its current session (0: none)
}

// Relay delivers the change log; see the package documentation.
type Relay struct {
	cfg    Config
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}

	active                              atomic.Bool
	position                            atomic.Int64
	changes, events, sessions, failures atomic.Uint64
	pid                                 atomic.Uint32
}

// Start starts a relay; Close stops it.
func Start(cfg Config) *Relay {
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = 500 * time.Millisecond
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 500
	}
	if cfg.Keep == 0 {
		cfg.Keep = DefaultKeep
	}
	if cfg.PruneInterval <= 0 {
		cfg.PruneInterval = time.Minute
	}
	if cfg.OpTimeout <= 0 {
		cfg.OpTimeout = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Tracer == nil {
		cfg.Tracer = noop.NewTracerProvider()
	}
	conn := cfg.Conn.Copy()
	// A timed-out wait for a notification must leave the session open:
	// the deadline handler only interrupts the read (the pool's handler
	// would send PostgreSQL a cancel request every PollInterval).
	conn.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
	}
	conn.RuntimeParams["application_name"] = "orgpulse-relay"
	cfg.Conn = conn
	ctx, cancel := context.WithCancel(context.Background())
	r := &Relay{cfg: cfg, log: cfg.Logger.With("component", "relay"), cancel: cancel, done: make(chan struct{})}
	go r.run(ctx)
	return r
}

// Close stops the relay and ends its session, which frees the relay lock
// for another replica.
func (r *Relay) Close() {
	r.cancel()
	<-r.done
}

// Stats returns the relay's counters.
func (r *Relay) Stats() Stats {
	return Stats{Active: r.active.Load(), Position: r.position.Load(), Changes: r.changes.Load(),
		Events: r.events.Load(), Sessions: r.sessions.Load(), Failures: r.failures.Load(), BackendPID: r.pid.Load()}
}

func (r *Relay) run(ctx context.Context) {
	defer close(r.done)
	for {
		err := r.session(ctx)
		r.active.Store(false)
		r.pid.Store(0)
		if ctx.Err() != nil {
			return
		}
		r.failures.Add(1)
		r.log.Warn("relay session ended; reconnecting", "err", err)
		if !sleep(ctx, r.cfg.RetryInterval) {
			return
		}
	}
}

// session connects, waits for the relay lock, then delivers until the
// session fails or ctx ends.
func (r *Relay) session(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, r.cfg.Conn)
	if err != nil {
		return fmt.Errorf("relay: connect: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	r.pid.Store(conn.PgConn().PID())
	q := db.New(conn)
	for {
		locked, err := q.TryRelayLock(ctx, RelayLockKey)
		if err != nil {
			return fmt.Errorf("relay: lock: %w", err)
		}
		if locked {
			break
		}
		if !sleep(ctx, r.cfg.RetryInterval) {
			return ctx.Err()
		}
	}
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return fmt.Errorf("relay: listen: %w", err)
	}
	pos, err := q.GetRelayPosition(ctx)
	if err != nil {
		return fmt.Errorf("relay: read position: %w", err)
	}
	r.position.Store(pos)
	r.active.Store(true)
	r.sessions.Add(1)
	r.log.Info("relay active", "position", pos)
	var pruned time.Time
	for {
		if pos, err = r.drain(ctx, conn, q, pos); err != nil {
			return err
		}
		if time.Since(pruned) >= r.cfg.PruneInterval {
			r.prune(ctx, q)
			pruned = time.Now()
		}
		if err := r.wait(ctx, conn); err != nil {
			return err
		}
	}
}

// wait returns on a notification, after PollInterval, or when ctx ends.
// Notifications that arrived meanwhile are taken too: one read of the log
// covers them all.
func (r *Relay) wait(ctx context.Context, conn *pgx.Conn) error {
	wctx, cancel := context.WithTimeout(ctx, r.cfg.PollInterval)
	_, err := conn.WaitForNotification(wctx)
	cancel()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil && !pgconn.Timeout(err) {
		return fmt.Errorf("relay: wait for changes: %w", err)
	}
	if conn.IsClosed() {
		return errors.New("relay: the session was closed")
	}
	done, stop := context.WithCancel(ctx)
	stop()
	for {
		// pgx hands out buffered notifications before it looks at the
		// context, and returns at once when none is buffered.
		if _, err := conn.WaitForNotification(done); err != nil {
			return nil
		}
	}
}

// drain delivers every change after pos, batch by batch, and returns the
// new position.
func (r *Relay) drain(ctx context.Context, conn *pgx.Conn, q *db.Queries, pos int64) (int64, error) {
	for {
		rows, err := q.ListChangesAfter(ctx, db.ListChangesAfterParams{AfterPosition: pos, LimitCount: int32(r.cfg.Batch)})
		if err != nil {
			return pos, fmt.Errorf("relay: read changes: %w", err)
		}
		if len(rows) == 0 {
			return pos, nil
		}
		changes := make([]resolvers.Change, len(rows))
		for i, row := range rows {
			changes[i] = resolvers.ChangeFromLog(row)
		}
		last := changes[len(changes)-1].Position
		if err := r.deliverBatch(ctx, conn, q, changes); err != nil {
			return pos, err
		}
		pos = last
		r.position.Store(pos)
		r.changes.Add(uint64(len(changes)))
		if len(rows) < r.cfg.Batch {
			return pos, nil
		}
	}
}

// deliverBatch delivers changes and records the position of the last,
// under a span of its own: a trace per batch, from the change log to the
// bus.
func (r *Relay) deliverBatch(ctx context.Context, conn *pgx.Conn, q *db.Queries, changes []resolvers.Change) (err error) {
	last := changes[len(changes)-1].Position
	ctx, span := r.cfg.Tracer.Tracer("orgpulse").Start(ctx, "changefeed publish", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("messaging.system", "redis"), attribute.String("messaging.operation.type", "publish"),
			attribute.Int("messaging.batch.message_count", len(changes)),
			attribute.Int64("orgpulse.change.first_position", changes[0].Position), attribute.Int64("orgpulse.change.last_position", last)))
	defer func() {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()
	if err := r.deliver(ctx, conn, changes); err != nil {
		return err
	}
	if err := q.SetRelayPosition(ctx, last); err != nil {
		return fmt.Errorf("relay: record position: %w", err)
	}
	return nil
}

// deliver retires the cache versions of changes, then publishes their
// events, retrying while Redis fails. It gives up only when the session
// is lost (another relay may be active by then) or ctx ends.
func (r *Relay) deliver(ctx context.Context, conn *pgx.Conn, changes []resolvers.Change) error {
	for attempt := 0; ; attempt++ {
		err := r.deliverOnce(ctx, changes)
		if err == nil {
			if attempt > 0 {
				r.log.Info("relay delivering again", "attempts", attempt+1)
			}
			return nil
		}
		r.failures.Add(1)
		if attempt%20 == 0 {
			r.log.Warn("relay cannot deliver; retrying", "from", changes[0].Position, "err", err)
		}
		if !sleep(ctx, r.cfg.RetryInterval) {
			return ctx.Err()
		}
		if err := conn.Ping(ctx); err != nil {
			return fmt.Errorf("relay: session lost while retrying: %w", err)
		}
	}
}

func (r *Relay) deliverOnce(ctx context.Context, changes []resolvers.Change) error {
	opCtx, cancel := context.WithTimeout(ctx, r.cfg.OpTimeout)
	defer cancel()
	for _, c := range changes {
		if c.Op == resolvers.OpReset {
			if err := r.cfg.Cache.Reset(opCtx); err != nil {
				return err
			}
			break
		}
	}
	if err := r.cfg.Cache.Bump(opCtx, resolvers.VersionsOf(changes)...); err != nil {
		return err
	}
	if r.cfg.Bus == nil {
		return nil
	}
	for _, c := range changes {
		evs, err := resolvers.EventsOf(c)
		if err != nil {
			// A row this release cannot read must not stop the feed.
			r.log.Error("skip an undecodable change", "position", c.Position, "err", err)
			continue
		}
		for _, te := range evs {
			payload, err := resolvers.EncodeEvent(te.Event)
			if err != nil {
				r.log.Error("skip an unencodable event", "position", c.Position, "err", err)
				continue
			}
			pubCtx, cancel := context.WithTimeout(ctx, r.cfg.OpTimeout)
			err = r.cfg.Bus.Publish(pubCtx, te.Topic, payload)
			cancel()
			if err != nil {
				return err
			}
			r.events.Add(1)
		}
	}
	return nil
}

// prune deletes delivered changes older than Keep, in short batches.
func (r *Relay) prune(ctx context.Context, q *db.Queries) {
	if r.cfg.Keep < 0 {
		return
	}
	const batch = 1000
	before := time.Now().Add(-r.cfg.Keep)
	var total int64
	for range 100 {
		n, err := q.DeleteDeliveredChangesBefore(ctx, db.DeleteDeliveredChangesBeforeParams{Before: before, LimitCount: batch})
		if err != nil {
			r.log.Warn("prune the change log", "err", err)
			return
		}
		total += n
		if n < batch {
			break
		}
	}
	if total > 0 {
		r.log.Info("pruned the change log", "deleted", total, "keep", r.cfg.Keep.String())
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
