// Package realtime carries committed changes between orgpulse replicas over
// Redis pub/sub and fans them out to the subscribers of each replica.
//
// It is a leaf package: payloads are opaque bytes, and nothing here knows
// GraphQL or the rows inside. A Hub implements resolvers.EventBus.
//
// One Hub holds ONE Redis pub/sub connection per replica. It SUBSCRIBEs to
// a topic's channel when the first local subscriber of that topic appears
// and UNSUBSCRIBEs when the last one leaves; every message is handed to the
// local subscribers of its channel through bounded buffers. A subscriber
// whose buffer is full is dropped (its channel closed) so that it never
// holds up the others. Its subscriber is a replica's feed, which never
// waits for a client (the slow-consumer rule is the WebSocket server's), so
// a full buffer means the replica fell behind; the feed then ends its
// subscriptions as interrupted.
//
// When the pub/sub connection is lost (an error, or silence the health
// check notices), every local subscription ends: messages published until
// it is back are lost to it, since Redis pub/sub keeps nothing for absent
// subscribers, and a subscription that stayed open would never learn of
// its gap. Its subscriber (the feed) ends its GraphQL subscriptions as
// interrupted, and their clients resume from their last cursor, which the
// change log fills (README "The change feed"). go-redis reconnects by
// itself; new subscriptions wait for it. The hub logs and counts each loss
// (Stats).
package realtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Config tunes a Hub. Zero values take the defaults noted.
type Config struct {
	// Prefix starts every Redis channel name: channel = Prefix + topic.
	// It is REDIS_PREFIX, whose default app.DefaultConfig holds. Tests add
	// a unique part so that instances sharing one Redis stay apart.
	Prefix string
	// Buffer is how many payloads a subscriber may fall behind before it
	// is dropped (default 256).
	Buffer int
	// SubscribeTimeout bounds how long Subscribe waits for Redis to
	// confirm a new channel (default 5s).
	SubscribeTimeout time.Duration
	// HealthCheck is how often an idle pub/sub connection is pinged
	// (default 3s). When nothing, not even the PONG, came back for three
	// intervals the connection is taken for dead (a half-open TCP
	// connection never reports an error) and replaced.
	HealthCheck time.Duration
	Logger      *slog.Logger
}

// Stats counts the hub's work since it started.
type Stats struct {
	Published   uint64 // payloads this replica published
	Received    uint64 // messages that arrived from Redis
	Delivered   uint64 // payloads handed to local subscribers
	Dropped     uint64 // subscribers dropped because their buffer was full
	Reconnects  uint64 // times the pub/sub connection came back after a loss
	Gap         time.Duration
	Connected   bool // false while the pub/sub connection is down
	Channels    int  // Redis channels this replica listens to now
	Subscribers int  // local subscribers now
}

// ErrClosed is returned by Subscribe and Publish after Close.
var ErrClosed = errors.New("realtime: hub is closed")

// Hub is one replica's end of the event bus. It is safe for concurrent use.
type Hub struct {
	rdb redis.UniversalClient
	cfg Config
	log *slog.Logger

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	kick   chan struct{} // wakes the reconciler

	mu     sync.Mutex
	closed bool
	topics map[string]*topic // by Redis channel name
	// unsubPending counts UNSUBSCRIBEs sent per channel whose confirmation
	// has not arrived: a "subscribe" confirmation seen before it belongs to
	// an earlier SUBSCRIBE, not to the topic now waiting.
	unsubPending map[string]int

	cmdMu sync.Mutex // serializes SUBSCRIBE/UNSUBSCRIBE and connection swaps
	psMu  sync.Mutex
	ps    *redis.PubSub

	lastSeen  atomic.Int64 // unix nanos of the last thing read from the pub/sub connection
	downSince atomic.Int64 // unix nanos the connection was lost; 0 while connected

	published, received, delivered, dropped, reconnects atomic.Uint64
	gap                                                 atomic.Int64
}

type topic struct {
	channel string
	subs    map[*subscriber]struct{}
	sent    bool          // SUBSCRIBE issued (owned by the reconciler, under Hub.mu)
	ready   chan struct{} // closed when Redis confirmed the subscription
	isReady bool
}

type subscriber struct {
	ch   chan []byte
	t    *topic
	stop func() bool // unregisters the context.AfterFunc
}

// New starts a hub on rdb. It does not fail when Redis is down: the hub
// connects, and reconnects, by itself.
func New(rdb redis.UniversalClient, cfg Config) *Hub {
	if cfg.Buffer <= 0 {
		cfg.Buffer = 256
	}
	if cfg.SubscribeTimeout <= 0 {
		cfg.SubscribeTimeout = 5 * time.Second
	}
	if cfg.HealthCheck <= 0 {
		cfg.HealthCheck = 3 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &Hub{
		rdb: rdb, cfg: cfg, log: cfg.Logger.With("component", "realtime"),
		kick:         make(chan struct{}, 1),
		topics:       map[string]*topic{},
		unsubPending: map[string]int{},
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.ps = rdb.Subscribe(h.ctx)
	h.lastSeen.Store(time.Now().UnixNano())
	h.wg.Add(3)
	go h.receiveLoop()
	go h.reconcileLoop()
	go h.healthLoop()
	return h
}

// Channel returns the Redis channel of topic.
func (h *Hub) Channel(topic string) string { return h.cfg.Prefix + topic }

// Publish sends payload to every subscriber of topic on every replica.
func (h *Hub) Publish(ctx context.Context, topic string, payload []byte) error {
	if h.ctx.Err() != nil {
		return ErrClosed
	}
	channel := h.Channel(topic)
	var pub redis.Cmdable = h.rdb
	if cc, ok := h.rdb.(*redis.ClusterClient); ok {
		// go-redis sends a keyless command such as PUBLISH to the masters
		// in turn. Each forwards it to the other nodes over its own bus
		// links, so two events published one after the other could reach a
		// subscriber in the wrong order, and the feed drops an event whose
		// position goes back as a repeat (resolvers/repeats.go): 26 events
		// were lost that way in scripts/scale-test.sh cluster. One node per
		// channel, the master of its slot, keeps them in order.
		node, err := cc.MasterForKey(ctx, channel)
		if err != nil {
			return fmt.Errorf("publish to %s: find its master: %w", channel, err)
		}
		pub = node
	}
	if err := pub.Publish(ctx, channel, payload).Err(); err != nil {
		return fmt.Errorf("publish to %s: %w", channel, err)
	}
	h.published.Add(1)
	return nil
}

// Subscribe delivers the payloads published on topic from the moment it
// returns until ctx ends, the hub closes, or the subscriber falls more than
// Config.Buffer payloads behind; then the channel is closed. It waits for
// Redis to confirm a channel no local subscriber listened to yet, at most
// Config.SubscribeTimeout. Receivers must not modify the payloads: every
// subscriber of a message gets the same slice.
func (h *Hub) Subscribe(ctx context.Context, topicName string) (<-chan []byte, error) {
	channel := h.Channel(topicName)
	s := &subscriber{ch: make(chan []byte, h.cfg.Buffer)}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	t := h.topics[channel]
	if t == nil {
		t = &topic{channel: channel, subs: map[*subscriber]struct{}{}, ready: make(chan struct{})}
		h.topics[channel] = t
	}
	s.t = t
	t.subs[s] = struct{}{}
	s.stop = context.AfterFunc(ctx, func() { h.remove(s) })
	ready := t.ready
	h.mu.Unlock()
	h.wake()

	timer := time.NewTimer(h.cfg.SubscribeTimeout)
	defer timer.Stop()
	select {
	case <-ready:
		return s.ch, nil
	case <-ctx.Done():
		h.remove(s)
		return nil, ctx.Err()
	case <-h.ctx.Done():
		return nil, ErrClosed
	case <-timer.C:
		h.remove(s)
		return nil, fmt.Errorf("realtime: Redis did not confirm SUBSCRIBE %s within %s", channel, h.cfg.SubscribeTimeout)
	}
}

// remove unregisters s and closes its channel, once.
func (h *Hub) remove(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removeLocked(s)
}

func (h *Hub) removeLocked(s *subscriber) {
	if _, ok := s.t.subs[s]; !ok {
		return
	}
	delete(s.t.subs, s)
	s.stop()
	close(s.ch)
	if len(s.t.subs) == 0 {
		h.wake()
	}
}

// endSubscribersLocked ends every local subscription (closes its channel).
func (h *Hub) endSubscribersLocked() int {
	n := 0
	for _, t := range h.topics {
		for s := range t.subs {
			h.removeLocked(s)
			n++
		}
	}
	return n
}

func (h *Hub) wake() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// Stats returns the counters since the hub started. It waits for a
// dispatch under way, so a payload a subscriber received is counted.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := Stats{
		Published:  h.published.Load(),
		Received:   h.received.Load(),
		Delivered:  h.delivered.Load(),
		Dropped:    h.dropped.Load(),
		Reconnects: h.reconnects.Load(),
		Gap:        time.Duration(h.gap.Load()),
		Connected:  h.downSince.Load() == 0,
	}
	if since := h.downSince.Load(); since != 0 {
		st.Gap += time.Since(time.Unix(0, since))
	}
	for _, t := range h.topics {
		if t.sent {
			st.Channels++
		}
		st.Subscribers += len(t.subs)
	}
	return st
}

// Close ends every subscription and the Redis pub/sub connection.
func (h *Hub) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	h.cancel()
	h.endSubscribersLocked()
	h.mu.Unlock()
	h.psMu.Lock()
	_ = h.ps.Close()
	h.psMu.Unlock()
	h.wg.Wait()
}

func (h *Hub) pubsub() *redis.PubSub {
	h.psMu.Lock()
	defer h.psMu.Unlock()
	return h.ps
}

// receiveLoop reads the pub/sub connection. go-redis's Receive reconnects
// and re-subscribes every channel by itself after a network error (it does
// so inside the next call), so the loop only backs off between attempts
// and keeps the books: when the connection went, when it came back.
func (h *Hub) receiveLoop() {
	defer h.wg.Done()
	backoff := 50 * time.Millisecond
	for {
		msg, err := h.pubsub().Receive(h.ctx)
		if h.ctx.Err() != nil {
			return
		}
		if err != nil {
			if errors.Is(err, redis.ErrClosed) {
				continue // swapped for a fresh connection by the health check
			}
			h.markDown(err)
			select {
			case <-time.After(backoff):
			case <-h.ctx.Done():
				return
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		h.lastSeen.Store(time.Now().UnixNano())
		h.markUp()
		switch m := msg.(type) {
		case *redis.Message:
			h.dispatch(m.Channel, []byte(m.Payload))
		case *redis.Subscription:
			h.confirm(m)
		}
	}
}

func (h *Hub) markDown(err error) {
	now := time.Now().UnixNano()
	if !h.downSince.CompareAndSwap(0, now) {
		return
	}
	h.mu.Lock()
	clear(h.unsubPending) // confirmations of the lost connection never come
	ended := h.endSubscribersLocked()
	h.mu.Unlock()
	h.log.Warn("redis pub/sub connection lost; its subscriptions end (their clients resume from their cursor); reconnecting",
		"err", err, "subscriptions_ended", ended)
}

func (h *Hub) markUp() {
	since := h.downSince.Swap(0)
	if since == 0 {
		return
	}
	gap := time.Duration(time.Now().UnixNano() - since)
	h.gap.Add(int64(gap))
	h.reconnects.Add(1)
	h.mu.Lock()
	clear(h.unsubPending)
	h.mu.Unlock()
	h.log.Warn("redis pub/sub connection restored", "gap", gap.String())
}

// dispatch hands payload to every local subscriber of channel without ever
// blocking: a subscriber whose buffer is full is dropped.
func (h *Hub) dispatch(channel string, payload []byte) {
	h.received.Add(1)
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.topics[channel]
	if t == nil {
		return
	}
	for s := range t.subs {
		select {
		case s.ch <- payload:
			h.delivered.Add(1)
		default:
			h.dropped.Add(1)
			h.log.Warn("dropping a slow subscriber: its buffer is full", "channel", channel, "buffer", cap(s.ch))
			h.removeLocked(s)
		}
	}
}

// confirm marks a topic ready when Redis confirms its SUBSCRIBE.
func (h *Hub) confirm(m *redis.Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch m.Kind {
	case "unsubscribe":
		if n := h.unsubPending[m.Channel]; n > 1 {
			h.unsubPending[m.Channel] = n - 1
		} else {
			delete(h.unsubPending, m.Channel)
		}
	case "subscribe":
		if h.unsubPending[m.Channel] > 0 {
			return // an earlier SUBSCRIBE, from before a pending UNSUBSCRIBE
		}
		if t := h.topics[m.Channel]; t != nil && t.sent && !t.isReady {
			t.isReady = true
			close(t.ready)
		}
	}
}

// reconcileLoop makes the channels subscribed in Redis follow the topics
// that have local subscribers. One goroutine issues every command, so a
// SUBSCRIBE and UNSUBSCRIBE of the same channel never overtake each other.
func (h *Hub) reconcileLoop() {
	defer h.wg.Done()
	for {
		select {
		case <-h.kick:
			h.reconcile()
		case <-h.ctx.Done():
			return
		}
	}
}

func (h *Hub) reconcile() {
	h.cmdMu.Lock()
	defer h.cmdMu.Unlock()
	for h.ctx.Err() == nil {
		var sub, unsub []string
		h.mu.Lock()
		for name, t := range h.topics {
			switch {
			case len(t.subs) > 0 && !t.sent:
				t.sent = true
				sub = append(sub, name)
			case len(t.subs) == 0 && t.sent:
				delete(h.topics, name)
				h.unsubPending[name]++
				unsub = append(unsub, name)
			case len(t.subs) == 0:
				delete(h.topics, name) // abandoned before it was subscribed
			}
		}
		h.mu.Unlock()
		if len(sub)+len(unsub) == 0 {
			return
		}
		ps := h.pubsub()
		ctx, cancel := context.WithTimeout(h.ctx, h.cfg.SubscribeTimeout)
		if len(unsub) > 0 {
			if err := ps.Unsubscribe(ctx, unsub...); err != nil {
				h.log.Debug("redis UNSUBSCRIBE failed; the channel is dropped on reconnect", "channels", unsub, "err", err)
			}
		}
		if len(sub) > 0 {
			// On error go-redis still remembers the channels and subscribes
			// them when the connection is back.
			if err := ps.Subscribe(ctx, sub...); err != nil {
				h.log.Warn("redis SUBSCRIBE failed; retried when the connection is back", "channels", sub, "err", err)
			}
		}
		cancel()
	}
}

// healthLoop pings an idle connection. A dead connection that reports
// errors is handled by go-redis on the next receive; one that stays silent
// (half-open TCP, a frozen server) is replaced here.
func (h *Hub) healthLoop() {
	defer h.wg.Done()
	interval := h.cfg.HealthCheck
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-tick.C:
		}
		if h.downSince.Load() != 0 {
			continue // receiveLoop is reconnecting
		}
		idle := time.Since(time.Unix(0, h.lastSeen.Load()))
		switch {
		case idle >= 3*interval:
			h.replaceConnection(idle)
		case idle >= interval:
			ctx, cancel := context.WithTimeout(h.ctx, interval)
			if err := h.pubsub().Ping(ctx); err != nil {
				h.log.Debug("redis pub/sub PING failed", "err", err)
			}
			cancel()
		}
	}
}

// replaceConnection swaps the pub/sub connection for a new one subscribed
// to the same channels.
func (h *Hub) replaceConnection(idle time.Duration) {
	h.cmdMu.Lock()
	defer h.cmdMu.Unlock()
	if h.ctx.Err() != nil {
		return
	}
	var channels []string
	h.mu.Lock()
	for name, t := range h.topics {
		if t.sent {
			channels = append(channels, name)
		}
	}
	clear(h.unsubPending)
	ended := h.endSubscribersLocked() // what the silence held back is lost to them
	h.mu.Unlock()
	h.log.Warn("redis pub/sub connection silent; replacing it and ending its subscriptions (their clients resume from their cursor)",
		"idle", idle.String(), "channels", len(channels), "subscriptions_ended", ended)
	fresh := h.rdb.Subscribe(h.ctx, channels...)
	h.psMu.Lock()
	old := h.ps
	h.ps = fresh
	h.psMu.Unlock()
	_ = old.Close()
	h.lastSeen.Store(time.Now().UnixNano())
	h.reconnects.Add(1)
	h.gap.Add(int64(idle))
}
