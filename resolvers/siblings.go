package resolvers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	graphql "github.com/graph-gophers/graphql-go"
)

// siblings are organizations one look-ahead resolved side by side: a page,
// a list, the employers of a page's employees. A field with arguments that
// the look-ahead did not prefetch (a second Organization.employees under an
// alias) is loaded by the first of them to ask, for all of them, and the
// others wait for that load instead of running their own.
//
// This, not a batching timer, is what keeps the statement count fixed by
// the query: graphql-go resolves the items of a list on up to
// MaxParallelism goroutines, in no particular order, and on a loaded
// machine some start long after others. A timer (the dataloader's wait)
// batches whichever happen to ask within it; a scheduler waiting for "all
// items" would block on items graphql-go has not started, since a waiting
// resolver holds one of its MaxParallelism slots. The first item to ask
// needs no one else.
type siblings struct {
	ids []int64

	mu   sync.Mutex
	runs map[siblingRunKey]*siblingRun
}

// siblingRunKey names one load for the siblings: the loader of one set of
// arguments, and, for the prefetch of what is selected below the field,
// the selected field names (two aliases with the same arguments may select
// different children; "" names the load of the field itself).
type siblingRunKey struct {
	loader any
	sel    string
}

// siblingRun is one load for the siblings; err is set before done closes.
// Its statements see only what the look-ahead and the run itself loaded
// (batch.visible).
type siblingRun struct {
	done chan struct{}
	err  error
}

var errSiblingLoadPanicked = errors.New("load for sibling organizations: panicked")

type runKey struct{}

// runOf returns the sibling run whose statements ctx carries, if any.
func runOf(ctx context.Context) *siblingRun {
	run, _ := ctx.Value(runKey{}).(*siblingRun)
	return run
}

// once runs load the first time key is asked for, on loadCtx marked as the
// run's; later and concurrent callers wait for it and share its error.
func (s *siblings) once(ctx, loadCtx context.Context, key siblingRunKey, load func(ctx context.Context) error) error {
	s.mu.Lock()
	run, ok := s.runs[key]
	if !ok {
		run = &siblingRun{done: make(chan struct{}), err: errSiblingLoadPanicked}
		if s.runs == nil {
			s.runs = map[siblingRunKey]*siblingRun{}
		}
		s.runs[key] = run
	}
	s.mu.Unlock()
	if !ok {
		// graphql-go recovers a resolver's panic: close done even then,
		// or the siblings would wait for the request's deadline.
		defer close(run.done)
		run.err = load(context.WithValue(loadCtx, runKey{}, run))
		return run.err
	}
	select {
	case <-run.done:
		return run.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// resolvedTogether records ids as siblings. An organization the query
// reaches at two levels keeps the siblings of the first level that
// recorded it: its loads then run with those, still one per level.
func (l *loaders) resolvedTogether(ids []int64) {
	s := &siblings{ids: ids}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.orgSiblings == nil {
		l.orgSiblings = make(map[int64]*siblings, len(ids))
	}
	for _, id := range ids {
		if _, ok := l.orgSiblings[id]; !ok {
			l.orgSiblings[id] = s
		}
	}
}

// siblingsOf returns the siblings of organization id: itself alone when no
// look-ahead recorded it (a subscription event's organization, or naive
// loading, where every organization loads its own).
func (l *loaders) siblingsOf(id int64) *siblings {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s, ok := l.orgSiblings[id]; ok {
		return s
	}
	s := &siblings{ids: []int64{id}}
	if l.orgSiblings == nil {
		l.orgSiblings = map[int64]*siblings{}
	}
	l.orgSiblings[id] = s
	return s
}

// loadAmongSiblings returns the value of b for organization id. The first
// call for b among id's siblings loads b for all of them in one statement;
// the first call for b and the selection below the field of ctx then runs
// children, which prefetches what that selection needs below all their
// values at once. Every other call waits for those and reads what they
// loaded.
func loadAmongSiblings[V any](ctx context.Context, l *loaders, b *batch[V], id int64, children func(ctx context.Context, byOrg map[int64]V) error) (V, error) {
	var zero V
	// A subscription event's statements run on the event's context, which
	// outlives any one subscriber's.
	loadCtx := ctx
	if l.eventCtx != nil {
		loadCtx = l.eventCtx
	}
	s := l.siblingsOf(id)
	err := s.once(ctx, loadCtx, siblingRunKey{loader: b}, func(ctx context.Context) error {
		_, err := b.prefetch(ctx, s.ids)
		return err
	})
	if err != nil {
		return zero, err
	}
	if children != nil {
		key := siblingRunKey{loader: b, sel: strings.Join(graphql.SelectedFieldNames(ctx), ",")}
		err := s.once(ctx, loadCtx, key, func(ctx context.Context) error {
			return children(ctx, b.values(s.ids))
		})
		if err != nil {
			return zero, err
		}
	}
	v, ok := b.cached(id)
	if !ok { // cannot happen: s holds id
		return zero, fmt.Errorf("organization %d: not loaded with its siblings", id)
	}
	return v, nil
}
