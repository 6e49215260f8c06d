package resolvers

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/graph-gophers/dataloader/v7"
	graphql "github.com/graph-gophers/graphql-go"

	"orgpulse/cache"
	"orgpulse/db"
)

// This file holds the generic batching (batch, the per-request loaders,
// the look-ahead's selection); each stem's prefetch lives beside its
// resolver: prefetchOrganizations in organization.go, prefetchEmployees in
// employee.go, prefetchProjects in project.go.
//
// How orgpulse stays N+1-free and fast, in two layers:
//
//  1. Look-ahead prefetch. A resolver that returns objects inspects the
//     selection below it (graphql.HasSelectedField with nested paths) and,
//     for every child list or parent selected, runs the one batched
//     "...ByIDs" statement for all items at once, keeping the values in the
//     per-request loader. It then recurses into the next level with the rows
//     it got. The number of statements per request is thereby fixed by the
//     shape of the query, never by the number of rows, and no resolver waits
//     on a batching timer.
//  2. Synchronous child fields. Because every value a child field needs is
//     loaded before its parent returns, Employee.organization,
//     Project.teamMembers, Organization.employeeCount and the other child
//     fields without arguments take no context and return no error: they
//     read what the look-ahead loaded. That matters to graphql-go, which
//     resolves a selection field by field on one goroutine when no field
//     below it takes a context, and spawns a goroutine per field and per
//     list item otherwise (profiled: a quarter of the CPU went to growing
//     those goroutines' stacks).
//
// Fields with arguments (Organization.employees, Organization.projects)
// still take a context: the look-ahead prefetches the one set of arguments
// it can decode (graphql-go exposes the first occurrence of a path), and a
// second set under an alias is loaded by the first organization that asks,
// for all its siblings at once (siblings, loadAmongSiblings): one statement
// per set of arguments and level, however graphql-go schedules the others.
// Subscription events, whose selections graphql-go does not expose to the
// root resolver, load children on first use through the dataloaders on the
// event's own context, batched across subscribers after a short wait
// (Config.LoaderWait; subscription.go).

// fetchFunc runs one batched statement for ids and returns values by id.
type fetchFunc[V any] func(ctx context.Context, ids []int64) (map[int64]V, error)

// batch pairs a per-request loader with the statement behind it and keeps
// every value the request has loaded, absent ids as the zero value.
type batch[V any] struct {
	opts  batchOpts
	fetch fetchFunc[V]

	// The dataloader is made on first use: a request touches one or two
	// of its loaders, and making all of them up front was 4% of the
	// server's CPU answering a single organization at c=32.
	once sync.Once
	dl   atomic.Pointer[dataloader.Loader[int64, V]]

	mu  sync.Mutex
	got map[int64]V // made by keep
	// runOnly holds the ids whose value only sibling runs loaded, with
	// those runs: a run's prefetch sees them only if it is one of them
	// (see visible).
	runOnly map[int64][]*siblingRun
}

// maxBatch bounds the keys of one statement. Two nested pages of the
// largest size (100 x 100) fit in one.
const maxBatch = 10000

// batchOpts configure every loader of a request: how long it collects
// keys, and (for the benchmark only, Config.NaiveLoading) whether it runs
// one statement per key without a per-request cache.
type batchOpts struct {
	wait  time.Duration
	naive bool
}

func newBatch[V any](opts batchOpts, fetch fetchFunc[V]) *batch[V] {
	return &batch[V]{opts: opts, fetch: fetch}
}

// loader is the batch's dataloader, made on the first call.
func (b *batch[V]) loader() *dataloader.Loader[int64, V] {
	b.once.Do(func() {
		fn := func(ctx context.Context, keys []int64) []*dataloader.Result[V] {
			m, err := b.fetch(ctx, keys)
			out := make([]*dataloader.Result[V], len(keys))
			for i, k := range keys {
				if err != nil {
					out[i] = &dataloader.Result[V]{Error: err}
				} else {
					out[i] = &dataloader.Result[V]{Data: m[k]}
				}
			}
			return out
		}
		if b.opts.naive {
			// Benchmark demonstration of N+1 (Config.NaiveLoading): every
			// key is its own statement, and a key loaded twice is loaded
			// twice.
			b.dl.Store(dataloader.NewBatchedLoader(fn,
				dataloader.WithBatchCapacity[int64, V](1),
				dataloader.WithCache[int64, V](&dataloader.NoCache[int64, V]{})))
			return
		}
		b.dl.Store(dataloader.NewBatchedLoader(fn,
			dataloader.WithWait[int64, V](b.opts.wait),
			dataloader.WithBatchCapacity[int64, V](maxBatch)))
	})
	return b.dl.Load()
}

// cached returns the value of id if this request loaded it.
func (b *batch[V]) cached(id int64) (V, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.got[id]
	return v, ok
}

// values returns the kept values of ids; an id not loaded is left out.
func (b *batch[V]) values(ids []int64) map[int64]V {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := make(map[int64]V, len(ids))
	for _, id := range ids {
		if v, ok := b.got[id]; ok {
			m[id] = v
		}
	}
	return m
}

// keep records the values of ids in m. A value the request already has
// stays (and replaces the one in m): two root fields that load one key at
// different moments still see one value per request.
func (b *batch[V]) keep(m map[int64]V, ids []int64) { b.keepBy(m, ids, nil) }

// keepBy is keep for values loaded by sibling run (nil: by no run).
func (b *batch[V]) keepBy(m map[int64]V, ids []int64, run *siblingRun) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.got == nil {
		b.got = make(map[int64]V, len(ids))
	}
	for _, id := range ids {
		v, ok := b.got[id]
		if ok && !b.opts.naive {
			m[id] = v
		} else {
			b.got[id] = m[id]
		}
		switch runs, only := b.runOnly[id]; {
		case run == nil:
			delete(b.runOnly, id)
		case !ok:
			if b.runOnly == nil {
				b.runOnly = map[int64][]*siblingRun{}
			}
			b.runOnly[id] = []*siblingRun{run}
		case only && !slices.Contains(runs, run):
			b.runOnly[id] = append(runs, run)
		}
	}
}

// visible says whether run (nil: none) may use the kept value of id
// instead of loading it. Sibling runs run concurrently, in whatever order
// graphql-go reaches them: a value one run loaded is not another's to use,
// or whether the other runs a statement would depend on which ran first.
// What the look-ahead loaded before any run started is everyone's. The
// caller holds b.mu.
func (b *batch[V]) visible(id int64, run *siblingRun) (V, bool) {
	v, ok := b.got[id]
	if !ok {
		return v, false
	}
	if runs, only := b.runOnly[id]; only && (run == nil || !slices.Contains(runs, run)) {
		return v, false
	}
	return v, true
}

// load returns the value of id, through the dataloader when this request
// has not loaded it yet: concurrent loads are batched into one statement.
func (b *batch[V]) load(ctx context.Context, id int64) (V, error) {
	if v, ok := b.cached(id); ok && !b.opts.naive {
		return v, nil
	}
	v, err := b.loader().Load(ctx, id)()
	if err != nil {
		return v, err
	}
	m := map[int64]V{id: v}
	b.keep(m, []int64{id})
	return m[id], nil
}

// prefetch loads every id this request has not loaded yet, in one
// statement per maxBatch ids, and returns the values of all ids.
func (b *batch[V]) prefetch(ctx context.Context, ids []int64) (map[int64]V, error) {
	if b.opts.naive {
		return b.prefetchNaive(ctx, ids)
	}
	ids = uniqueIDs(ids)
	run := runOf(ctx)
	m := make(map[int64]V, len(ids))
	var missing []int64
	b.mu.Lock()
	for _, id := range ids {
		if v, ok := b.visible(id, run); ok {
			m[id] = v
		} else {
			missing = append(missing, id)
		}
	}
	b.mu.Unlock()
	for start := 0; start < len(missing); start += maxBatch {
		chunk := missing[start:min(start+maxBatch, len(missing))]
		got, err := b.fetch(ctx, chunk)
		if err != nil {
			return nil, err
		}
		// Loads waiting in the dataloader (a subscription event's), if
		// one made it, get these values instead of a statement of their
		// own; later ones find them kept.
		dl := b.dl.Load()
		for _, id := range chunk {
			m[id] = got[id]
			if dl != nil {
				dl.Prime(ctx, id, got[id])
			}
		}
		b.keepBy(m, chunk, run)
	}
	return m, nil
}

// prefetchNaive is the N+1 of Config.NaiveLoading (benchmark only): one
// statement per id, one after another, as an ORM's lazy loading runs them,
// and again for an id loaded before.
func (b *batch[V]) prefetchNaive(ctx context.Context, ids []int64) (map[int64]V, error) {
	m := make(map[int64]V, len(ids))
	for _, id := range ids {
		got, err := b.fetch(ctx, []int64{id})
		if err != nil {
			return nil, err
		}
		m[id] = got[id]
	}
	b.keepBy(m, ids, runOf(ctx))
	return m, nil
}

func uniqueIDs(ids []int64) []int64 {
	seen := make(map[int64]struct{}, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if _, ok := seen[id]; !ok {
			seen[id] = struct{}{}
			out = append(out, id)
		}
	}
	return out
}

// projectRow is a project with the values every project query returns
// beside it: its team size and, when JOINed, its organization.
type projectRow struct {
	project  db.Project
	teamSize int32
	org      *db.Organization
}

// employeePage names one set of arguments of Organization.employees.
type employeePage struct {
	isActive string // "", "true" or "false"
	first    int32
	afterID  int64
}

// loaders are the per-request batch loaders. A new set per request keeps
// caching request-scoped: nothing here can serve data another request
// changed.
type loaders struct {
	r     *Resolver
	q     *db.Queries
	wait  batchOpts
	naive bool // Config.NaiveLoading: benchmark only

	// eventCtx is set on the loaders of one subscription event only: the
	// event's own context, on which child fields load what no look-ahead
	// could foresee (see value). Like eventDB, it lives exactly as long as
	// the event, which is what these loaders serve.
	eventCtx context.Context
	// eventScope is the scope of an event's loaders (see scope).
	eventScope []int64

	orgByID          *batch[*db.Organization]
	employeeCount    *batch[int64]
	employeeStats    *batch[*db.ListEmployeeStatsByOrganizationIDsRow]
	departmentStats  *batch[[]db.ListDepartmentStatsByOrganizationIDsRow]
	teamMembers      *batch[[]db.Employee]
	employeeProjects *batch[[]projectRow] // with each project's team size
	// employeeProjectsBare leaves teamSize at 0: for selections without it.
	employeeProjectsBare *batch[[]projectRow]

	// uncacheable marks a request that read data no mutation announces
	// (performance samples): its response must not be cached whole.
	uncacheable atomic.Bool

	mu                sync.Mutex
	orgProjects       map[string]*batch[[]projectRow]
	orgEmployees      map[employeePage]*batch[[]db.Employee]
	orgEmployeeTotals map[string]*batch[int64]
	orgSiblings       map[int64]*siblings // made by resolvedTogether and siblingsOf
}

func newLoaders(r *Resolver) *loaders {
	q, cfg := r.q, r.cfg
	wait := batchOpts{wait: cfg.LoaderWait, naive: cfg.NaiveLoading}
	l := &loaders{
		r: r, q: q, wait: wait, naive: cfg.NaiveLoading,
		orgProjects:       map[string]*batch[[]projectRow]{},
		orgEmployees:      map[employeePage]*batch[[]db.Employee]{},
		orgEmployeeTotals: map[string]*batch[int64]{},
	}
	l.orgByID = newBatch(wait, func(ctx context.Context, ids []int64) (map[int64]*db.Organization, error) {
		rows, err := q.ListOrganizationsByIDs(ctx, db.ListOrganizationsByIDsParams{Ids: ids, Scope: l.scope(ctx)})
		if err != nil {
			return nil, fmt.Errorf("list organizations by ids: %w", err)
		}
		m := make(map[int64]*db.Organization, len(rows))
		for i := range rows {
			m[rows[i].ID] = &rows[i]
		}
		return m, nil
	})
	l.employeeCount = newBatch(wait, cachedByOrg(cfg, "employeeCount", countCodec, func(ctx context.Context, ids []int64) (map[int64]int64, error) {
		return l.countEmployees(ctx, ids, boolPtr(true))
	}))
	l.employeeStats = newBatch(wait, cachedByOrg(cfg, "employeeStats", employeeStatsCodec, func(ctx context.Context, ids []int64) (map[int64]*db.ListEmployeeStatsByOrganizationIDsRow, error) {
		rows, err := q.ListEmployeeStatsByOrganizationIDs(ctx, ids)
		if err != nil {
			return nil, fmt.Errorf("employee stats by organization ids: %w", err)
		}
		m := make(map[int64]*db.ListEmployeeStatsByOrganizationIDsRow, len(rows))
		for i := range rows {
			m[rows[i].OrganizationID] = &rows[i]
		}
		return m, nil
	}))
	l.departmentStats = newBatch(wait, cachedByOrg(cfg, "departmentStats", departmentStatsCodec, func(ctx context.Context, ids []int64) (map[int64][]db.ListDepartmentStatsByOrganizationIDsRow, error) {
		rows, err := q.ListDepartmentStatsByOrganizationIDs(ctx, ids)
		if err != nil {
			return nil, fmt.Errorf("department stats by organization ids: %w", err)
		}
		return groupBy(rows, func(r db.ListDepartmentStatsByOrganizationIDsRow) (int64, db.ListDepartmentStatsByOrganizationIDsRow) {
			return r.OrganizationID, r
		}), nil
	}))
	l.teamMembers = newBatch(wait, func(ctx context.Context, ids []int64) (map[int64][]db.Employee, error) {
		return teamsByProjectIDs(ctx, q, ids, l.scope(ctx))
	})
	l.employeeProjects = newBatch(wait, func(ctx context.Context, ids []int64) (map[int64][]projectRow, error) {
		return projectsByEmployeeIDs(ctx, q, ids, l.scope(ctx), true)
	})
	l.employeeProjectsBare = newBatch(wait, func(ctx context.Context, ids []int64) (map[int64][]projectRow, error) {
		return projectsByEmployeeIDs(ctx, q, ids, l.scope(ctx), false)
	})
	return l
}

// scope is the scope parameter of the child statements the loaders run
// ("...ByIDs"): the caller's, as for root fields. An event's loaders are
// shared by every subscriber the event goes to, each of whom sees the
// event's organization (subscription.go filters by it): they are scoped
// to that organization, whichever subscriber's field starts a load.
func (l *loaders) scope(ctx context.Context) []int64 {
	if l.eventCtx != nil {
		return l.eventScope
	}
	return scopeOf(ctx)
}

// cachedByOrg puts the shared cache in front of a per-organization
// aggregate: one Redis round trip for all organizations of a batch, then
// one SQL statement for the misses only. codec converts the values to
// their wire format (wire.go).
func cachedByOrg[V any, W cache.Value](cfg Config, name string, codec wireCodec[V, W], fetch fetchFunc[V]) fetchFunc[V] {
	if cfg.Cache == nil {
		return fetch
	}
	return func(ctx context.Context, ids []int64) (map[int64]V, error) {
		keys := make([]cache.Key, len(ids))
		for i, id := range ids {
			keys[i] = orgCacheKey(id, name)
		}
		vals, err := cache.LoadMany(ctx, cfg.Cache, keys, cfg.CacheTTL, func(ctx context.Context, missing []int) (map[int]W, error) {
			missIDs := make([]int64, len(missing))
			for j, i := range missing {
				missIDs[j] = ids[i]
			}
			got, err := fetch(ctx, missIDs)
			if err != nil {
				return nil, err
			}
			out := make(map[int]W, len(missing))
			for _, i := range missing {
				out[i] = codec.toWire(got[ids[i]])
			}
			return out, nil
		})
		if err != nil {
			return nil, err
		}
		m := make(map[int64]V, len(ids))
		for i, id := range ids {
			m[id] = codec.fromWire(vals[i])
		}
		return m, nil
	}
}

func boolKey(b *bool) string {
	if b == nil {
		return ""
	}
	return strconv.FormatBool(*b)
}

func boolPtr(b bool) *bool { return &b }

// value is what a synchronous child field reads: the value of id that the
// look-ahead loaded. On the loaders of a subscription event, whose
// selection no look-ahead saw, it loads the value now on the event's
// context, batched with every subscriber's load of the same key. Anywhere
// else a miss is a look-ahead bug: it is logged, and the field resolves to
// null (an error for a non-null field) rather than running a statement per
// item unseen.
func value[V any](l *loaders, b *batch[V], id int64, field string) (V, bool) {
	if v, ok := b.cached(id); ok {
		return v, true
	}
	var zero V
	if l.eventCtx == nil {
		slog.Default().Error("a child field was not prefetched by the look-ahead", "field", field, "id", id)
		return zero, false
	}
	v, err := b.load(l.eventCtx, id)
	if err != nil {
		slog.Default().Error("load a child field of a subscription event", "field", field, "id", id, "err", err)
		return zero, false
	}
	return v, true
}

type loadersKey struct{}

func (r *Resolver) loaders(ctx context.Context) *loaders {
	if r.eventLoaders != nil {
		return r.eventLoaders
	}
	if l, ok := ctx.Value(loadersKey{}).(*loaders); ok {
		return l
	}
	// Outside an HTTP request (tests calling a resolver directly): loaders
	// that live as long as this call.
	return newLoaders(r)
}

// selection looks ahead at the fields selected below the current resolver,
// under one or more path prefixes (a connection's nodes are reachable both as
// "nodes" and as "edges.node").
type selection struct {
	ctx      context.Context
	prefixes []string
}

func lookahead(ctx context.Context) selection {
	return selection{ctx: ctx, prefixes: []string{""}}
}

func (s selection) has(field string) bool {
	for _, p := range s.prefixes {
		if graphql.HasSelectedField(s.ctx, p+field) {
			return true
		}
	}
	return false
}

// under moves the look-ahead down to the selected paths.
func (s selection) under(paths ...string) selection {
	var out []string
	for _, p := range s.prefixes {
		for _, path := range paths {
			if graphql.HasSelectedField(s.ctx, p+path) {
				out = append(out, p+path+".")
			}
		}
	}
	return selection{ctx: s.ctx, prefixes: out}
}

// args decodes the arguments given to field. Fields the client left out
// stay at their zero value: callers apply the SDL defaults.
func (s selection) args(field string, dst any) {
	for _, p := range s.prefixes {
		if ok, err := graphql.DecodeSelectedFieldArgs(s.ctx, p+field, dst); ok && err == nil {
			return
		}
	}
}

// flatten collects the values of a by-parent map; order does not matter to
// the prefetchers, which only need every child once.
func flatten[V any](m map[int64][]V) []V {
	n := 0
	for _, vs := range m {
		n += len(vs)
	}
	out := make([]V, 0, n)
	for _, vs := range m {
		out = append(out, vs...)
	}
	return out
}

// groupBy groups the rows of a batched statement by parent id, keeping
// their order within each parent. All groups share one backing array (one
// allocation, not a growing slice per parent: a nested page can hold
// thousands of parents).
func groupBy[R, V any](rows []R, split func(R) (int64, V)) map[int64][]V {
	counts := make(map[int64]int)
	for _, r := range rows {
		id, _ := split(r)
		counts[id]++
	}
	all := make([]V, len(rows))
	m := make(map[int64][]V, len(counts))
	off := 0
	for id, n := range counts {
		m[id] = all[off : off : off+n]
		off += n
	}
	for _, r := range rows {
		id, v := split(r)
		m[id] = append(m[id], v)
	}
	return m
}
