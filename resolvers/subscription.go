package resolvers

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	graphql "github.com/graph-gophers/graphql-go"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"orgpulse/db"
	"orgpulse/monitor"
	"orgpulse/postgres"
	"orgpulse/wire"
)

// How subscriptions stay cheap at any number of subscribers:
//
//   - One event bus subscription per topic per replica (a feed), however
//     many GraphQL subscriptions listen to it: the bus (realtime.Hub) holds
//     one Redis channel per topic, and each feed decodes each event once.
//   - One resolver per event, not per subscriber: a shallow copy of the
//     root Resolver whose loaders (eventLoaders) are fixed for that event.
//     Every subscriber the event matches receives the same resolver value,
//     so the nested fields of all of them share one set of dataloaders: the
//     loader caches the thunk per key, and 1,000 concurrent loads of one key
//     run one statement. The event carries the changed row itself. graphql-go
//     gives a subscription's root resolver no look-ahead, so the event's
//     child fields load on first use, on the event's context (value in
//     loaders.go).
//   - Statements of an event run on the event's own context (eventDB), not
//     on the context of whichever subscriber asked first: a subscriber that
//     goes away mid-event cannot fail the others.
//   - One slow-consumer rule, at the socket only (server/ws.go): no stage
//     here ever waits for a client. The feed hands each value to a
//     subscription's bounded buffer without blocking, and what drains that
//     buffer (graphql-go's execution, then the server's non-blocking
//     deliver) never waits for a socket either. So a full buffer here means
//     this replica fell behind executing the subscription, not that a
//     client is slow: the subscription ends with SERVICE_UNAVAILABLE, like
//     an interrupted event stream, counted once in LiveStats.Interrupted
//     (orgpulse_subscriptions_interrupted_total), and never holds up the
//     others.

// subscriptionBuffer is how many values one subscription may have waiting
// for its execution.
const subscriptionBuffer = 128

// eventTimeout bounds the statements run for one event or summary.
const eventTimeout = 30 * time.Second

var (
	errNoBus = Errorf(CodeServiceUnavailable, "",
		"subscriptions are not available: this replica has no event bus (start it with REDIS_URL)")
	errBusDown = Errorf(CodeServiceUnavailable, "",
		"subscriptions are unavailable right now: the event bus (Redis) did not answer; try again")
	errBehind = Errorf(CodeServiceUnavailable, "",
		"this replica fell more than %d events behind executing this subscription and ended it; subscribe again with after: the last extensions.cursor to get every event since", subscriptionBuffer)
	errInterrupted = Errorf(CodeServiceUnavailable, "",
		"the event stream of this replica was interrupted; subscribe again with after: the last extensions.cursor to get every event since")
)

// SubscriptionStatus tells the transport how a subscription went. Pass the
// context of WithSubscriptionStatus to graphql.Schema.Subscribe.
type SubscriptionStatus struct {
	mu      sync.Mutex
	started bool
	err     error
	paced   bool          // the transport calls Took for each result
	took    func() Cursor // the sink's; nil for a subscription without cursors
}

type subscriptionStatusKey struct{}

// WithSubscriptionStatus returns ctx carrying a new SubscriptionStatus.
func WithSubscriptionStatus(ctx context.Context) (context.Context, *SubscriptionStatus) {
	s := &SubscriptionStatus{}
	return context.WithValue(ctx, subscriptionStatusKey{}, s), s
}

func statusFrom(ctx context.Context) *SubscriptionStatus {
	s, _ := ctx.Value(subscriptionStatusKey{}).(*SubscriptionStatus)
	return s
}

// Started reports whether the subscription's event stream was set up.
// Until it is, a result is a refusal (invalid document or arguments, no
// event bus) that graphql-transport-ws sends as an `error` message.
func (s *SubscriptionStatus) Started() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started
}

// Err is why the server ended the subscription (it fell behind, or the
// event stream was interrupted), or nil when it was not ended by the server.
func (s *SubscriptionStatus) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Pace tells the subscription, before graphql.Schema.Subscribe, that the
// transport calls Took for each result it receives. The subscription then
// hands graphql-go one event at a time, each only after the result of the
// one before was taken, so that Took can name the event each result is of:
// graphql-go's results carry no trace of the value they were executed
// from.
func (s *SubscriptionStatus) Pace() {
	s.mu.Lock()
	s.paced = true
	s.mu.Unlock()
}

// Took is called by a paced transport with each result it receives, in
// order, before it waits for the next: it returns the cursor of the event
// the result is of ("" for none: performanceSummaryUpdated, an error) and
// lets the next event in.
func (s *SubscriptionStatus) Took() string {
	s.mu.Lock()
	took := s.took
	s.mu.Unlock()
	if took == nil {
		return ""
	}
	return took().String()
}

func (s *SubscriptionStatus) isPaced() bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.paced
}

func (s *SubscriptionStatus) setTook(fn func() Cursor) {
	if s != nil {
		s.mu.Lock()
		s.took = fn
		s.mu.Unlock()
	}
}

func (s *SubscriptionStatus) start() {
	if s != nil {
		s.mu.Lock()
		s.started = true
		s.mu.Unlock()
	}
}

func (s *SubscriptionStatus) fail(err error) {
	if s != nil {
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
	}
}

// LiveStats counts the subscription work of one replica.
type LiveStats struct {
	Subscriptions int    // active subscriptions
	Topics        int    // event bus topics listened to
	Summaries     int    // running performanceSummaryUpdated computations
	Events        uint64 // events received from the bus
	Deliveries    uint64 // values handed to subscriptions
	Interrupted   uint64 // subscriptions ended because this replica fell behind or its event stream broke
	SQLCount      int    // statements run for events and summaries, all subscribers together
}

// LiveStats returns the subscription counters of this replica.
func (r *Resolver) LiveStats() LiveStats {
	l := r.live()
	l.mu.Lock()
	st := LiveStats{Subscriptions: l.sinks, Topics: len(l.feeds), Summaries: len(l.summaries)}
	l.mu.Unlock()
	st.Events = l.events.Load()
	st.Deliveries = l.deliveries.Load()
	st.Interrupted = l.interrupted.Load()
	st.SQLCount = l.stats.Snapshot().SQLCount
	return st
}

// live is the subscription state of one root Resolver.
type live struct {
	r     *Resolver
	log   *slog.Logger
	base  context.Context // every statement run for events counts into stats
	stats *monitor.RequestStats

	mu        sync.Mutex
	feeds     map[string]*feed
	summaries map[summaryKey]*summaryFeed
	sinks     int

	events, deliveries, interrupted atomic.Uint64
}

// newLive returns the subscription state of the root resolver r. Per-event
// copies of r share it.
func newLive(r *Resolver) *live {
	base, stats := monitor.WithRequestStats(context.Background())
	return &live{
		r: r, log: slog.Default().With("component", "subscriptions"), base: base, stats: stats,
		feeds: map[string]*feed{}, summaries: map[summaryKey]*summaryFeed{},
	}
}

func (r *Resolver) live() *live { return r.lv }

// sink is one subscription's end of a feed.
type sink interface {
	// offer hands the sink its value of ev when ev matches its arguments;
	// false when its buffer is full.
	offer(ev *liveEvent) bool
	// end records why the subscription ends (nil: not an error) and
	// closes its channel, once.
	end(err error)
	// detach removes the sink from what feeds it.
	detach()
	setDetach(fn func())
}

// drop ends a sink whose execution fell behind.
func (l *live) drop(s sink) {
	l.interrupt(s, errBehind)
	l.log.Warn("ending a subscription this replica fell behind on", "buffer", subscriptionBuffer)
}

// interrupt ends s for a reason of the server's own, counted once.
func (l *live) interrupt(s sink, err error) {
	l.interrupted.Add(1)
	s.end(err)
	s.detach()
}

// feed is the one event bus subscription of a topic on this replica.
type feed struct {
	topic  string
	ctx    context.Context
	cancel context.CancelFunc
	sinks  map[sink]struct{}
	ready  chan struct{} // closed when the bus subscription is made or failed
	err    error         // set before ready closes
}

// attach adds s to the feed of topic, starting the feed when s is its
// first sink, and keeps it there until ctx ends.
func (l *live) attach(ctx context.Context, s sink, topic string) error {
	bus := l.r.cfg.Events
	if bus == nil {
		return errNoBus
	}
	l.mu.Lock()
	f := l.feeds[topic]
	first := f == nil
	if first {
		f = &feed{topic: topic, sinks: map[sink]struct{}{}, ready: make(chan struct{})}
		f.ctx, f.cancel = context.WithCancel(context.Background())
		l.feeds[topic] = f
	}
	f.sinks[s] = struct{}{}
	l.sinks++
	s.setDetach(func() { l.leave(f, s) })
	l.mu.Unlock()

	if first {
		ch, err := bus.Subscribe(f.ctx, topic)
		if err != nil {
			if f.ctx.Err() == nil { // not merely abandoned by its subscribers
				l.log.Warn("subscribe to the event bus", "topic", topic, "err", err)
			}
			f.err = errBusDown
		} else {
			go l.run(f, ch)
		}
		close(f.ready)
	}
	select {
	case <-f.ready:
	case <-ctx.Done():
		l.leave(f, s)
		return ctx.Err()
	}
	if f.err != nil {
		l.leave(f, s)
		return f.err
	}
	context.AfterFunc(ctx, func() { l.leave(f, s) })
	statusFrom(ctx).start()
	return nil
}

// leave removes s from f; the last sink to leave stops the feed.
func (l *live) leave(f *feed, s sink) { removeSink(l, l.feeds, f.topic, f, f.sinks, s, f.cancel) }

// removeSink takes s out of the sinks of group g (a feed or a summary
// computation) under l.mu. The last sink to leave stops g and takes it out
// of groups, unless a newer group already holds its key.
func removeSink[K, G, S comparable](l *live, groups map[K]G, key K, g G, sinks map[S]struct{}, s S, stop context.CancelFunc) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := sinks[s]; !ok {
		return
	}
	delete(sinks, s)
	l.sinks--
	if len(sinks) == 0 {
		if groups[key] == g {
			delete(groups, key)
		}
		stop()
	}
}

// run fans each event of f out to its sinks.
func (l *live) run(f *feed, ch <-chan []byte) {
	var delivered repeats // the relay delivers at least once (repeats.go)
	for payload := range ch {
		l.events.Add(1)
		decoded, err := decodeEvent(payload)
		if errors.Is(err, wire.ErrUnknownVersion) {
			continue // another release's event: counted and logged by wire
		}
		if err != nil {
			l.log.Error("undecodable event", "topic", f.topic, "err", err)
			continue
		}
		if delivered.again(decoded) {
			continue
		}
		ev := &liveEvent{l: l, ev: decoded}
		for _, s := range l.sinksOf(f) {
			if !s.offer(ev) {
				l.drop(s)
			}
		}
	}
	if f.ctx.Err() != nil {
		return // the last subscriber left
	}
	// The bus ended the stream under live subscribers (it closed, or this
	// feed fell behind): they may have missed events, so they end too.
	// New subscribers get a new feed.
	l.log.Warn("event stream interrupted; ending its subscriptions", "topic", f.topic)
	l.mu.Lock()
	if l.feeds[f.topic] == f {
		delete(l.feeds, f.topic)
	}
	l.mu.Unlock()
	for _, s := range l.sinksOf(f) {
		l.interrupt(s, errInterrupted)
	}
	f.cancel()
}

func (l *live) sinksOf(f *feed) []sink {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]sink, 0, len(f.sinks))
	for s := range f.sinks {
		out = append(out, s)
	}
	return out
}

// liveEvent is one decoded event on its way to the sinks of one feed. Its
// values are built once, on first use, and shared by every sink: only the
// feed's goroutine touches it.
type liveEvent struct {
	l      *live
	ev     Event
	res    *Resolver
	ctx    context.Context
	cancel context.CancelFunc // the context's own timer cancels it at its deadline

	org      *OrganizationResolver
	empEvent *EmployeeEventResolver
	project  *ProjectResolver
	metric   *MetricResolver
	built    map[string]bool
}

// resolver is the per-event resolver: a shallow copy of the root whose
// statements run on the event's context and whose loaders are the event's.
func (e *liveEvent) resolver() *Resolver {
	if e.res == nil {
		// Shared by every subscriber the event goes to, each of whom sees
		// its organization: scoped to that organization.
		e.res, e.ctx, e.cancel = e.l.eventResolver([]int64{e.organizationID()})
	}
	return e.res
}

// eventResolver returns a copy of the root resolver whose statements run
// on a context of their own, bounded by eventTimeout, and whose loaders
// are its own: one per live event, one per page of a replay.
func (l *live) eventResolver(scope []int64) (*Resolver, context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(l.base, eventTimeout)
	cp := *l.r
	cp.q = db.New(postgres.Planned(eventDB{pool: cp.pool, ctx: ctx}))
	cp.eventLoaders = newLoaders(&cp)
	cp.eventLoaders.eventCtx = ctx
	cp.eventLoaders.eventScope = scope // see loaders.scope
	return &cp, ctx, cancel
}

func (e *liveEvent) once(name string) bool {
	if e.built == nil {
		e.built = map[string]bool{}
	}
	if e.built[name] {
		return false
	}
	e.built[name] = true
	return true
}

func firstNonZero(ids ...int64) int64 {
	for _, id := range ids {
		if id != 0 {
			return id
		}
	}
	return 0
}

func (e *liveEvent) organizationID() int64 {
	var fromRow int64
	switch {
	case e.ev.Organization != nil:
		fromRow = e.ev.Organization.ID
	case e.ev.Employee != nil:
		fromRow = e.ev.Employee.OrganizationID
	case e.ev.Project != nil:
		fromRow = e.ev.Project.OrganizationID
	}
	return firstNonZero(e.ev.OrganizationID, fromRow)
}

func (e *liveEvent) employeeID() int64 {
	var fromRow int64
	if e.ev.Employee != nil {
		fromRow = e.ev.Employee.ID
	}
	return firstNonZero(e.ev.EmployeeID, fromRow)
}

func (e *liveEvent) projectID() int64 {
	var fromRow int64
	if e.ev.Project != nil {
		fromRow = e.ev.Project.ID
	}
	return firstNonZero(e.ev.ProjectID, fromRow)
}

// organization is the organization of an organization event: the row it
// carries, or one lookup when it carries only the id.
func (e *liveEvent) organization() *OrganizationResolver {
	if e.once("organization") {
		l := e.resolver().eventLoaders
		if e.ev.Organization != nil {
			e.org = l.organization(*e.ev.Organization)
		} else if id := e.organizationID(); id != 0 {
			o, err := l.orgByID.load(e.ctx, id)
			if err != nil {
				e.l.log.Error("load the organization of an event", "organization_id", id, "err", err)
			} else if o != nil {
				e.org = l.organization(*o)
			}
		}
	}
	return e.org
}

// employeeEvent is the EmployeeEvent of an employee event.
func (e *liveEvent) employeeEvent() *EmployeeEventResolver {
	if e.once("employeeEvent") {
		ee := &EmployeeEventResolver{action: e.ev.Action, employeeID: e.employeeID(), organizationID: e.organizationID()}
		if e.ev.Action != ActionDeleted {
			r := e.resolver()
			if e.ev.Employee != nil {
				ee.employee = r.eventLoaders.employee(*e.ev.Employee, e.ev.Organization)
			} else if ee.employeeID != 0 {
				got, err := r.q.GetEmployee(e.ctx, db.GetEmployeeParams{ID: ee.employeeID})
				if err != nil && !notFound(err) {
					e.l.log.Error("load the employee of an event", "employee_id", ee.employeeID, "err", err)
				} else if err == nil {
					ee.employee = r.eventLoaders.employee(got, e.ev.Organization)
				}
			}
		}
		e.empEvent = ee
	}
	return e.empEvent
}

// projectValue is the project of a project event, with the team size the
// event carries.
func (e *liveEvent) projectValue() *ProjectResolver {
	if e.once("project") {
		r := e.resolver()
		if e.ev.Project != nil {
			e.project = r.eventLoaders.project(projectRow{project: *e.ev.Project, teamSize: e.ev.TeamSize, org: e.ev.Organization})
		} else if id := e.projectID(); id != 0 {
			got, err := r.q.GetProject(e.ctx, db.GetProjectParams{ID: id})
			if err != nil && !notFound(err) {
				e.l.log.Error("load the project of an event", "project_id", id, "err", err)
			} else if err == nil {
				e.project = r.eventLoaders.project(projectRow{project: got.Project, teamSize: got.TeamSize})
			}
		}
	}
	return e.project
}

// eventDB runs every statement on the event's context, whatever context
// the caller (a loader started by some subscriber) passes.
type eventDB struct {
	pool *pgxpool.Pool
	ctx  context.Context
}

func (d eventDB) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return d.pool.Exec(d.ctx, sql, args...)
}

func (d eventDB) Query(_ context.Context, sql string, args ...any) (pgx.Rows, error) {
	return d.pool.Query(d.ctx, sql, args...)
}

func (d eventDB) QueryRow(_ context.Context, sql string, args ...any) pgx.Row {
	return d.pool.QueryRow(d.ctx, sql, args...)
}

func (d eventDB) CopyFrom(_ context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	return d.pool.CopyFrom(d.ctx, table, columns, src)
}

// subscribe starts a subscription fed by topic: pick turns each event of
// the topic into the subscriber's value, or skips it.
// With after (a cursor), it first replays from the change log every
// matching event after it (replay.go).
func subscribe[T any](ctx context.Context, r *Resolver, topic string, after *string, pick func(*liveEvent) (T, bool)) (<-chan T, error) {
	l := r.live()
	var from Cursor
	if after != nil {
		c, err := l.checkCursor(ctx, *after)
		if err != nil {
			return nil, err
		}
		from = c
	}
	s := newSink(ctx, l, pick)
	if after != nil {
		s.catchUp(from)
	}
	if err := l.attach(ctx, s, topic); err != nil {
		return nil, err
	}
	if after != nil {
		go replay(ctx, l, s, topic, from)
	}
	return s.out, nil
}

func matches(want *int64, got int64) bool { return want == nil || *want == got }

// OrganizationUpdatedArgs are the arguments of
// Subscription.organizationUpdated.
type OrganizationUpdatedArgs struct {
	ID    *graphql.ID
	After *string
}

// OrganizationUpdated is Subscription.organizationUpdated.
func (r *Resolver) OrganizationUpdated(ctx context.Context, args OrganizationUpdatedArgs) (<-chan *OrganizationResolver, error) {
	id, err := parseOptionalID("id", args.ID)
	if err != nil {
		return nil, err
	}
	p := principalOf(ctx) // events outside its scope are not its to see
	return subscribe(ctx, r, TopicOrganization, args.After, func(e *liveEvent) (*OrganizationResolver, bool) {
		if e.ev.Action == ActionDeleted || !matches(id, e.organizationID()) || !p.Sees(e.organizationID()) {
			return nil, false
		}
		o := e.organization()
		return o, o != nil
	})
}

// EmployeeEventResolver resolves EmployeeEvent.
type EmployeeEventResolver struct {
	action         string
	employeeID     int64
	organizationID int64
	employee       *EmployeeResolver
}

func (e *EmployeeEventResolver) Action() string              { return e.action }
func (e *EmployeeEventResolver) EmployeeID() graphql.ID      { return gqlID(e.employeeID) }
func (e *EmployeeEventResolver) OrganizationID() graphql.ID  { return gqlID(e.organizationID) }
func (e *EmployeeEventResolver) Employee() *EmployeeResolver { return e.employee }

// EmployeeChangedArgs are the arguments of Subscription.employeeChanged.
type EmployeeChangedArgs struct {
	OrganizationID *graphql.ID
	After          *string
}

// EmployeeChanged is Subscription.employeeChanged.
func (r *Resolver) EmployeeChanged(ctx context.Context, args EmployeeChangedArgs) (<-chan *EmployeeEventResolver, error) {
	orgID, err := parseOptionalID("organizationId", args.OrganizationID)
	if err != nil {
		return nil, err
	}
	p := principalOf(ctx)
	return subscribe(ctx, r, TopicEmployee, args.After, func(e *liveEvent) (*EmployeeEventResolver, bool) {
		if !matches(orgID, e.organizationID()) || !p.Sees(e.organizationID()) {
			return nil, false
		}
		switch e.ev.Action {
		case ActionCreated, ActionUpdated, ActionDeleted:
		default:
			return nil, false
		}
		return e.employeeEvent(), true
	})
}

// ProjectUpdatedArgs are the arguments of Subscription.projectUpdated.
type ProjectUpdatedArgs struct {
	ID             *graphql.ID
	OrganizationID *graphql.ID
	After          *string
}

// ProjectUpdated is Subscription.projectUpdated.
func (r *Resolver) ProjectUpdated(ctx context.Context, args ProjectUpdatedArgs) (<-chan *ProjectResolver, error) {
	id, err := parseOptionalID("id", args.ID)
	if err != nil {
		return nil, err
	}
	orgID, err := parseOptionalID("organizationId", args.OrganizationID)
	if err != nil {
		return nil, err
	}
	p := principalOf(ctx)
	return subscribe(ctx, r, TopicProject, args.After, func(e *liveEvent) (*ProjectResolver, bool) {
		if e.ev.Action == ActionDeleted || !matches(id, e.projectID()) || !matches(orgID, e.organizationID()) || !p.Sees(e.organizationID()) {
			return nil, false
		}
		p := e.projectValue()
		return p, p != nil
	})
}

// MetricRecordedArgs are the arguments of Subscription.metricRecorded.
type MetricRecordedArgs struct {
	MetricType *string
	Endpoint   *string
	After      *string
}

// MetricRecorded is Subscription.metricRecorded.
func (r *Resolver) MetricRecorded(ctx context.Context, args MetricRecordedArgs) (<-chan *MetricResolver, error) {
	if err := requireAdmin(ctx); err != nil { // performance data: admin only
		return nil, err
	}
	if err := checkOptionalOneOf("metricType", args.MetricType, MetricTypes); err != nil {
		return nil, err
	}
	return subscribe(ctx, r, TopicMetric, args.After, func(e *liveEvent) (*MetricResolver, bool) {
		m := e.ev.Metric
		if m == nil || (args.MetricType != nil && m.MetricType != *args.MetricType) ||
			(args.Endpoint != nil && m.Endpoint != *args.Endpoint) {
			return nil, false
		}
		if e.once("metric") {
			e.metric = &MetricResolver{m: *m}
		}
		return e.metric, true
	})
}

// summaryKey names one shared performanceSummaryUpdated computation.
type summaryKey struct {
	metricType string
	interval   time.Duration
}

// summaryFeed computes one summary per interval for all its sinks.
type summaryFeed struct {
	key    summaryKey
	cancel context.CancelFunc
	sinks  map[*chanSink[*SummaryResolver]]struct{}
	last   *SummaryResolver
}

// maxSummaryInterval bounds performanceSummaryUpdated(intervalSeconds).
const maxSummaryInterval = 3600

// PerformanceSummaryUpdatedArgs are the arguments of
// Subscription.performanceSummaryUpdated.
type PerformanceSummaryUpdatedArgs struct {
	MetricType      string
	IntervalSeconds int32
	// After is accepted and ignored: a summary is computed, not logged,
	// and its results carry no cursor.
	After *string
}

// PerformanceSummaryUpdated is Subscription.performanceSummaryUpdated:
// one computation per (metricType, interval) per replica, whatever the
// number of subscribers, stopped when the last of them leaves.
func (r *Resolver) PerformanceSummaryUpdated(ctx context.Context, args PerformanceSummaryUpdatedArgs) (<-chan *SummaryResolver, error) {
	if err := requireAdmin(ctx); err != nil { // performance data: admin only
		return nil, err
	}
	if err := checkOneOf("metricType", args.MetricType, MetricTypes); err != nil {
		return nil, err
	}
	if args.IntervalSeconds < 1 || args.IntervalSeconds > maxSummaryInterval {
		return nil, Errorf(CodeBadUserInput, "intervalSeconds", "intervalSeconds must be between 1 and %d, got %d", maxSummaryInterval, args.IntervalSeconds)
	}
	l := r.live()
	key := summaryKey{metricType: args.MetricType, interval: time.Duration(args.IntervalSeconds) * time.Second}
	s := newSink[*SummaryResolver](ctx, l, nil)

	l.mu.Lock()
	f := l.summaries[key]
	if f == nil {
		fctx, cancel := context.WithCancel(context.Background())
		f = &summaryFeed{key: key, cancel: cancel, sinks: map[*chanSink[*SummaryResolver]]struct{}{}}
		l.summaries[key] = f
		go l.runSummary(fctx, f)
	}
	f.sinks[s] = struct{}{}
	l.sinks++
	s.detachFn = func() { l.leaveSummary(f, s) }
	if f.last != nil {
		s.push(f.last) // the latest value at once; the next at the next tick
	}
	l.mu.Unlock()

	context.AfterFunc(ctx, s.detachFn)
	statusFrom(ctx).start()
	return s.out, nil
}

func (l *live) leaveSummary(f *summaryFeed, s *chanSink[*SummaryResolver]) {
	removeSink(l, l.summaries, f.key, f, f.sinks, s, f.cancel)
}

// runSummary computes f's summary at once and then every interval, and
// hands the same value to every sink.
func (l *live) runSummary(ctx context.Context, f *summaryFeed) {
	tick := time.NewTicker(f.key.interval)
	defer tick.Stop()
	for {
		v, err := l.summary(ctx, f.key.metricType)
		switch {
		case err == nil:
			l.mu.Lock()
			f.last = v
			sinks := make([]*chanSink[*SummaryResolver], 0, len(f.sinks))
			for s := range f.sinks {
				sinks = append(sinks, s)
			}
			l.mu.Unlock()
			for _, s := range sinks {
				if !s.push(v) {
					l.drop(s)
				}
			}
		case ctx.Err() == nil:
			l.log.Error("compute performance summary", "metric_type", f.key.metricType, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// summary runs the statement behind Query.performanceSummary (without the
// read cache: a live value must be live), counted into the live stats.
func (l *live) summary(ctx context.Context, metricType string) (*SummaryResolver, error) {
	qctx, cancel := context.WithTimeout(l.base, eventTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	s, err := l.r.q.GetPerformanceSummary(qctx, db.GetPerformanceSummaryParams{
		MetricType: metricType, Since: l.r.cfg.Now().Add(-defaultMetricWindow),
	})
	if err != nil {
		return nil, err
	}
	return &SummaryResolver{metricType: metricType, s: s}, nil
}
