package resolvers

import (
	"context"
	"sync"
	"time"
)

// heldMax bounds the live values a resuming subscription keeps while it
// reads the log (see chanSink.held).
const heldMax = 1000

// stallTimeout: a paced subscription whose transport did not take the
// result of a value within it ends (errStalled). graphql-go drops a
// result its reader did not take within SubscribeResolverTimeout (1 s);
// the transport's pump is always waiting, so that should never happen,
// but if it did the subscription would wait forever for a Took that
// never comes. A variable for the test.
var stallTimeout = 10 * time.Second

var errStalled = Errorf(CodeServiceUnavailable, "",
	"this subscription's result was lost on its way to the socket; subscribe again with after: the last cursor")

// sinkItem is one value waiting for graphql-go, and the cursor of its
// event (zero for a summary, or an event of a release before cursors).
type sinkItem[T any] struct {
	v   T
	cur Cursor
}

// chanSink is one subscription's end of a feed (or of a summary
// computation): it queues the values meant for the subscription and hands
// them to graphql-go's execution through out, in order.
//
// Values go out one by one, each by a feeder goroutine that runs only
// while values wait (an idle subscription has none). When the transport
// paces the subscription (SubscriptionStatus.Pace), the next value goes
// out only after the transport took the result of the one before (Took),
// so that the cursor of each result is known.
//
// Each value with a cursor at or before the last one queued is a repeat
// and is dropped: exactly once per subscriber, whether the value came
// from the live feed, from the log (after:) or both.
type chanSink[T any] struct {
	l        *live
	pick     func(*liveEvent) (T, bool)
	status   *SubscriptionStatus
	paced    bool
	detachFn func()
	out      chan T          // graphql-go's end: unbuffered
	gone     <-chan struct{} // the subscription's context is done: graphql-go reads no more
	stop     chan struct{}   // closed by end
	room     chan struct{}   // a value left the queue (replay waits on it)

	mu       sync.Mutex
	queue    []sinkItem[T] // at most subscriptionBuffer from the live feed
	feeding  bool          // a feeder goroutine runs
	inflight bool          // paced: a value went out and its result was not taken yet
	cur      Cursor        // the cursor of the value that went out last
	watch    *time.Timer   // paced: fires stallTimeout after a value went out, unless taken
	last     Cursor        // the cursor of the value queued last
	ended    bool
	// While a resuming subscription reads the log (catching), live values
	// wait in held; past heldMax they are dropped (lost set) and the
	// reader reads the log further instead, where they are too.
	catching bool
	held     []sinkItem[T]
	lost     bool
}

func newSink[T any](ctx context.Context, l *live, pick func(*liveEvent) (T, bool)) *chanSink[T] {
	s := &chanSink[T]{l: l, pick: pick, status: statusFrom(ctx), out: make(chan T), gone: ctx.Done(),
		stop: make(chan struct{}), room: make(chan struct{}, 1)}
	s.paced = s.status.isPaced()
	s.status.setTook(s.took)
	return s
}

// offer hands the sink its value of ev when ev matches its arguments;
// false when its queue is full.
func (s *chanSink[T]) offer(ev *liveEvent) bool {
	v, ok := s.pick(ev)
	if !ok {
		return true
	}
	return s.pushItem(sinkItem[T]{v: v, cur: Cursor{Position: ev.ev.Position, Index: ev.ev.Index}})
}

// push queues a value without a cursor (a summary).
func (s *chanSink[T]) push(v T) bool { return s.pushItem(sinkItem[T]{v: v}) }

// pushItem queues a live value without waiting; false when the queue is
// full.
func (s *chanSink[T]) pushItem(it sinkItem[T]) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.ended:
		return true
	case s.catching:
		if len(s.held) >= heldMax {
			s.held, s.lost = nil, true
		} else if !s.lost {
			s.held = append(s.held, it)
		}
		return true
	case s.repeatLocked(it.cur):
		return true
	case len(s.queue) >= subscriptionBuffer:
		return false
	}
	s.queueLocked(it)
	return true
}

// pushWait queues a value read from the log, waiting for room; false when
// the subscription ended or ctx did.
func (s *chanSink[T]) pushWait(ctx context.Context, it sinkItem[T]) bool {
	for {
		s.mu.Lock()
		switch {
		case s.ended:
			s.mu.Unlock()
			return false
		case s.repeatLocked(it.cur):
			s.mu.Unlock()
			return true
		case len(s.queue) < subscriptionBuffer:
			s.queueLocked(it)
			s.mu.Unlock()
			return true
		}
		s.mu.Unlock()
		select {
		case <-s.room:
		case <-s.stop:
		case <-ctx.Done():
			return false
		}
	}
}

func (s *chanSink[T]) repeatLocked(c Cursor) bool {
	return c.Position > 0 && c.Index > 0 && !s.last.less(c)
}

func (s *chanSink[T]) queueLocked(it sinkItem[T]) {
	s.queue = append(s.queue, it)
	if it.cur.Position > 0 && it.cur.Index > 0 {
		s.last = it.cur
	}
	s.l.deliveries.Add(1)
	s.kickLocked()
}

// kickLocked starts a feeder when a value may go out and none runs.
func (s *chanSink[T]) kickLocked() {
	if !s.feeding && !s.ended && !s.inflight && len(s.queue) > 0 {
		s.feeding = true
		go s.feed()
	}
}

// feed hands the queued values to graphql-go, one at a time, until none
// may go out; it closes out when the subscription ended meanwhile.
func (s *chanSink[T]) feed() {
	for {
		s.mu.Lock()
		if s.ended || s.inflight || len(s.queue) == 0 {
			s.feeding = false
			if s.ended {
				close(s.out)
			}
			s.mu.Unlock()
			return
		}
		it := s.queue[0]
		s.queue[0] = sinkItem[T]{}
		s.queue = s.queue[1:]
		if len(s.queue) == 0 {
			s.queue = nil // an idle subscription keeps no queue
		}
		s.cur, s.inflight = it.cur, s.paced
		if s.paced {
			if s.watch == nil {
				s.watch = time.AfterFunc(stallTimeout, s.stalled)
			} else {
				s.watch.Reset(stallTimeout)
			}
		}
		s.mu.Unlock()
		select {
		case s.room <- struct{}{}:
		default:
		}
		select {
		case s.out <- it.v:
		case <-s.stop:
		case <-s.gone:
			s.end(nil) // graphql-go stopped reading: nothing more goes out
		}
	}
}

// took is SubscriptionStatus.Took: the cursor of the value whose result
// the transport received, and the next value may go out.
func (s *chanSink[T]) took() Cursor {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cur
	s.inflight = false
	if s.watch != nil {
		s.watch.Stop()
	}
	s.kickLocked()
	return c
}

// stalled ends the subscription when the result of the value that went
// out last was not taken within stallTimeout.
func (s *chanSink[T]) stalled() {
	s.mu.Lock()
	stuck := s.inflight && !s.ended
	s.mu.Unlock()
	if stuck {
		s.l.log.Warn("a subscription result was not taken; ending the subscription", "wait", stallTimeout)
		s.l.interrupt(s, errStalled)
	}
}

// end records why the subscription ends (nil: not an error) and closes
// out, once, after the last value that went out.
func (s *chanSink[T]) end(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	s.ended = true
	if err != nil {
		s.status.fail(err)
	}
	close(s.stop)
	if s.watch != nil {
		s.watch.Stop()
	}
	s.queue, s.held = nil, nil
	if !s.feeding {
		close(s.out)
	}
}

func (s *chanSink[T]) detach()             { s.detachFn() }
func (s *chanSink[T]) setDetach(fn func()) { s.detachFn = fn }

// catchUp puts the sink in the state of a subscription resuming after
// from, before it joins its feed: live values wait in held, and values at
// or before from are repeats.
func (s *chanSink[T]) catchUp(from Cursor) {
	s.mu.Lock()
	s.catching, s.last = true, from
	s.mu.Unlock()
}

// firstHeld is the cursor of the first live value held, when one is and
// none was dropped.
func (s *chanSink[T]) firstHeld() (Cursor, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lost || len(s.held) == 0 {
		return Cursor{}, false
	}
	return s.held[0].cur, true
}

// release queues the held live values after the log's and then lets live
// values through. false: held values were dropped meanwhile, so the
// caller reads the log further first; or the subscription ended.
func (s *chanSink[T]) release(ctx context.Context) (caughtUp, ok bool) {
	for {
		s.mu.Lock()
		if s.lost {
			s.lost = false
			s.mu.Unlock()
			return false, !s.isEnded()
		}
		if len(s.held) == 0 {
			s.catching, s.held = false, nil
			s.mu.Unlock()
			return true, true
		}
		it := s.held[0]
		s.held[0] = sinkItem[T]{}
		s.held = s.held[1:]
		s.mu.Unlock()
		if !s.pushWait(ctx, it) {
			return false, false
		}
	}
}

func (s *chanSink[T]) isEnded() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}
