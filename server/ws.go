package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	gqlerrors "github.com/graph-gophers/graphql-go/errors"

	"orgpulse/auth"
	"orgpulse/resolvers"
)

// GraphQL over WebSocket at /graphql, on the same path as HTTP.
//
// Two subprotocols:
//   - graphql-transport-ws (the graphql-ws library, GraphiQL): connection_init
//     / connection_ack, ping / pong both ways, subscribe / next / error /
//     complete. Queries and mutations may run over it too (one next, then
//     complete).
//   - graphql-ws, the legacy subscriptions-transport-ws protocol:
//     connection_init / connection_ack, start / data / error / complete,
//     stop, connection_terminate, and ka keep-alives.
//
// The connection_init payload carries what HTTP headers would (GraphiQL
// sends its headers editor there): "Authorization": "Bearer <token>" lets
// mutations run over the socket, "X-Debug": "1" adds extensions.debug to
// query and mutation results when the server runs with Debug.
//
// Close codes:
//
//	4400 invalid message (not JSON, unknown type, missing id or query)
//	4401 subscribe before connection_ack
//	4403 Forbidden: connection_init's bearer token is missing (under
//	     ANONYMOUS_ROLE=none) or refused, or the token expired
//	4406 no supported subprotocol
//	4408 no connection_init within WSConfig.InitTimeout
//	4409 an operation id already in use (graphql-transport-ws)
//	4413 slow consumer: WSConfig.SendQueue messages unsent for
//	     WSConfig.SlowConsumerWait (orgpulse's own code; graphql-ws
//	     clients reconnect after it)
//	4429 a second connection_init (graphql-transport-ws)
//	1008 more than WSConfig.MaxSubscriptionsPerConn operations at once
//	1009 a message larger than WSConfig.MaxMessageBytes
//	1001 the server is going away (Drain, CloseWebSockets): reconnect elsewhere
//	1013 more than WSConfig.MaxConnections sockets on this replica
//
// A socket whose client does not answer a WebSocket ping within
// WSConfig.KeepAlive is dropped without a close frame: it cannot receive
// one.
//
// The slow-consumer rule is this one, and it lives only here: a client is
// a slow consumer when its send queue stays full for
// WSConfig.SlowConsumerWait (closed with 4413) or when it takes nothing
// within WSConfig.WriteTimeout (dropped without a close frame). Both count
// once in WSStats.SlowConsumers (orgpulse_slow_consumers_total). No stage
// before the socket waits for a client: the hub, the feed and the shared
// execution hand values on without blocking, so when one of their bounded
// buffers overflows it is the replica that fell behind, and the
// subscriptions it feeds end with an `error` message (SERVICE_UNAVAILABLE,
// counted in orgpulse_subscriptions_interrupted_total) while the socket
// stays open (resolvers/subscription.go).

// WSConfig tunes the WebSocket transport. Zero values take the defaults.
type WSConfig struct {
	// InitTimeout is how long a client may take to send connection_init
	// after the upgrade (default 3s, as the graphql-ws server); then 4408.
	InitTimeout time.Duration
	// KeepAlive is how often the server sends a keep-alive message (ping
	// in graphql-transport-ws, ka in graphql-ws) and a WebSocket ping frame
	// that the client must answer within KeepAlive (default 12s; negative
	// disables both).
	KeepAlive time.Duration
	// MaxConnections bounds the open sockets of this replica (default
	// 10000); one more is closed at once with 1013 Try Again Later.
	MaxConnections int
	// MaxSubscriptionsPerConn bounds the operations active on one socket
	// (default 100); one more closes the socket with 1008.
	MaxSubscriptionsPerConn int
	// MaxMessageBytes bounds one client message (default
	// Config.MaxBodyBytes); a larger one closes the socket with 1009.
	MaxMessageBytes int64
	// AllowedOrigins are the origins, besides the server's own host, whose
	// pages may open a socket: coder/websocket OriginPatterns, matched
	// with path.Match against the Origin host ("app.example.com",
	// "*.example.com") or, with a scheme, against scheme://host. Empty:
	// same origin only. Requests without Origin (non-browser clients) are
	// always accepted. A refused origin gets HTTP 403 to the upgrade.
	AllowedOrigins []string
	// SendQueue bounds the messages waiting to be written to one socket
	// (default 64).
	SendQueue int
	// SlowConsumerWait is how long a message may wait for room in a full
	// SendQueue (default 500ms); then the client is a slow consumer,
	// closed with 4413. A burst the client does take is never mistaken
	// for one. Keep it well under a second: graphql-go gives the result
	// of each event one second (SubscribeResolverTimeout) to be taken.
	SlowConsumerWait time.Duration
	// WriteTimeout bounds writing one message to a socket (default 10s).
	WriteTimeout time.Duration
}

// Close codes of the WebSocket transport (see above).
const (
	closeBadRequest       websocket.StatusCode = 4400
	closeUnauthorized     websocket.StatusCode = 4401
	closeForbidden        websocket.StatusCode = 4403 // connection_init refused, or the bearer token expired
	closeSubprotocol      websocket.StatusCode = 4406
	closeInitTimeout      websocket.StatusCode = 4408
	closeSubscriberExists websocket.StatusCode = 4409
	closeSlowConsumer     websocket.StatusCode = 4413
	closeTooManyInits     websocket.StatusCode = 4429
)

const (
	protoTransportWS = "graphql-transport-ws"
	protoLegacyWS    = "graphql-ws"
)

// Defaults of WSConfig's settings that app.DefaultConfig takes (WS_*).
const (
	DefaultWSInitTimeout      = 3 * time.Second
	DefaultWSMaxConnections   = 10000
	DefaultWSMaxSubscriptions = 100
)

func (c WSConfig) withDefaults(maxBody int64) WSConfig {
	if c.InitTimeout <= 0 {
		c.InitTimeout = DefaultWSInitTimeout
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = 12 * time.Second
	}
	if c.MaxConnections <= 0 {
		c.MaxConnections = DefaultWSMaxConnections
	}
	if c.MaxSubscriptionsPerConn <= 0 {
		c.MaxSubscriptionsPerConn = DefaultWSMaxSubscriptions
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = maxBody
	}
	if c.SendQueue <= 0 {
		c.SendQueue = 64
	}
	if c.SlowConsumerWait <= 0 {
		c.SlowConsumerWait = 500 * time.Millisecond
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	return c
}

// isWebSocket reports whether r asks for a WebSocket upgrade.
func isWebSocket(r *http.Request) bool {
	for _, v := range r.Header.Values("Upgrade") {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "websocket") {
				return true
			}
		}
	}
	return false
}

// WSStats counts the WebSocket transport's work.
type WSStats struct {
	Connections   int64  // open sockets now
	Operations    int64  // active operations (subscriptions and running queries)
	Refused       uint64 // sockets refused at MaxConnections
	SlowConsumers uint64 // sockets closed with 4413, or dropped for taking nothing within WriteTimeout
	// Subscriptions counts the subscription operations clients have open
	// now, each one, whether or not it shares its execution.
	Subscriptions int64
	// Shared counts the subscriptions executing: one per distinct document
	// and variables, however many operations it feeds (wsshare.go).
	Shared int64
}

// wsState is the WebSocket bookkeeping of one Server.
type wsState struct {
	open, ops, subs, shared atomic.Int64
	refused, slow           atomic.Uint64

	mu    sync.Mutex
	conns map[*wsConn]struct{}
}

func newWSState() *wsState { return &wsState{conns: map[*wsConn]struct{}{}} }

func (s *Server) ws() *wsState { return s.wss }

// WebSocketStats returns the counters of the WebSocket transport.
func (s *Server) WebSocketStats() WSStats {
	st := s.ws()
	return WSStats{Connections: st.open.Load(), Operations: st.ops.Load(), Refused: st.refused.Load(), SlowConsumers: st.slow.Load(),
		Subscriptions: st.subs.Load(), Shared: st.shared.Load()}
}

// CloseWebSockets closes every open socket with 1001 Going Away, so
// that clients reconnect (to another replica), and waits for them until
// ctx ends. http.Server.Shutdown does not close upgraded connections: call
// this after it.
func (s *Server) CloseWebSockets(ctx context.Context) {
	st := s.ws()
	st.mu.Lock()
	conns := make([]*wsConn, 0, len(st.conns))
	for wc := range st.conns {
		conns = append(conns, wc)
	}
	st.mu.Unlock()
	var wg sync.WaitGroup
	for _, wc := range conns {
		wg.Go(func() { wc.fail(websocket.StatusGoingAway, "server shutting down; reconnect") })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// serveWebSocket upgrades r and serves the socket on a goroutine of its
// own.
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	cfg := s.cfg.WS.withDefaults(s.cfg.MaxBodyBytes)
	st := s.ws()
	id := requestID(r)
	rw := w
	if _, ok := w.(http.Hijacker); ok {
		rw = smallBuffers{w} // else Accept answers 501, as without it
	}
	c, err := websocket.Accept(rw, r, &websocket.AcceptOptions{
		Subprotocols:   []string{protoTransportWS, protoLegacyWS},
		OriginPatterns: cfg.AllowedOrigins,
	})
	if err != nil {
		// Accept answered the request already (403 for a foreign origin).
		s.log.Info("websocket upgrade refused", "request_id", id, "origin", r.Header.Get("Origin"), "err", err)
		return
	}
	if n := st.open.Add(1); n > int64(cfg.MaxConnections) {
		st.open.Add(-1)
		st.refused.Add(1)
		s.log.Warn("websocket refused: too many connections", "request_id", id, "max", cfg.MaxConnections)
		_ = c.Close(websocket.StatusTryAgainLater, fmt.Sprintf("too many WebSocket connections on this replica (max %d); try again later", cfg.MaxConnections))
		return
	}
	if s.draining.Load() {
		st.open.Add(-1)
		_ = c.Close(websocket.StatusGoingAway, "server shutting down; reconnect")
		return
	}
	proto := c.Subprotocol()
	if proto != protoTransportWS && proto != protoLegacyWS {
		st.open.Add(-1)
		_ = c.Close(closeSubprotocol, "Subprotocol not acceptable: use graphql-transport-ws or graphql-ws")
		return
	}
	c.SetReadLimit(cfg.MaxMessageBytes)
	wc := &wsConn{s: s, cfg: cfg, st: st, c: c, legacy: proto == protoLegacyWS, id: id}
	wc.ctx, wc.cancel = context.WithCancel(context.Background())
	wc.credential = r.Header.Get("Authorization")
	wc.queryToken = hasQueryToken(r.URL.Query())
	st.mu.Lock()
	st.conns[wc] = struct{}{} // before the handler returns, for CloseWebSockets
	st.mu.Unlock()
	// Returning from the handler lets net/http free what it keeps for a
	// request (the request, its headers, the response and its buffer) and
	// the handler's deep stack: kept for the life of the socket, they
	// weighed more than the socket itself.
	go wc.serve()
}

// The buffers of a socket, which coder/websocket keeps for its life. They
// are small because every idle socket has them: a client message larger
// than wsReadBuffer is read past the buffer, and a server message larger
// than wsWriteBuffer is written past it, in two system calls instead of
// one.
const (
	wsReadBuffer  = 512
	wsWriteBuffer = 512
)

// smallBuffers gives coder/websocket buffers of wsReadBuffer and
// wsWriteBuffer bytes at the Hijack, in place of the 4 KiB pair of
// net/http.
type smallBuffers struct{ http.ResponseWriter }

func (w smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	n := brw.Reader.Buffered()
	if n > wsReadBuffer || brw.Writer.Buffered() > 0 {
		return conn, brw, nil // too much to move: keep net/http's buffers
	}
	if n == 0 {
		return conn, bufio.NewReadWriter(bufio.NewReaderSize(conn, wsReadBuffer), bufio.NewWriterSize(conn, wsWriteBuffer)), nil
	}
	// The client may write as soon as it has the 101, before the Hijack:
	// what net/http read ahead moves into the new buffer, where Accept
	// looks for it.
	head, _ := brw.Reader.Peek(n)
	br := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(head)), conn), wsReadBuffer)
	if _, err := br.Peek(n); err != nil {
		return nil, nil, err
	}
	return conn, bufio.NewReadWriter(br, bufio.NewWriterSize(conn, wsWriteBuffer)), nil
}

// wsConn is one socket. Most sockets sit idle, in their thousands, so an
// idle one keeps a goroutine (the read loop) and little else: the writer
// runs only while messages wait, the keep-alive is a timer, and log
// attributes are built only for a line that is logged.
type wsConn struct {
	s      *Server
	cfg    WSConfig
	st     *wsState
	c      *websocket.Conn
	legacy bool
	id     string
	ctx    context.Context // ends when the socket closes
	cancel context.CancelFunc

	closing atomic.Bool // a close is under way: send nothing more
	inited  atomic.Bool // connection_init received
	ackSent atomic.Bool // connection_ack queued: keep-alives may follow

	// Owned by the read loop.
	initTimer  *time.Timer // until connection_init
	acked      bool
	credential string // the upgrade's Authorization, or connection_init's
	queryToken bool   // the upgrade's URL carried a token (refused at init)
	debug      bool   // X-Debug: 1 in the init payload

	mu  sync.Mutex
	ops map[string]*wsOp // active operations by id

	// The send queue: at most cfg.SendQueue messages wait for the writer,
	// further senders wait in line for room (see send). A slice, not a
	// channel: a channel's buffer would be allocated in full for every
	// socket, idle or not.
	qmu       sync.Mutex
	queue     [][]byte
	waiting   []*wsWaiter
	writing   bool        // a writer goroutine is draining queue
	keepAlive *time.Timer // nil when KeepAlive is off, or stopped
}

// wsWaiter is a sender waiting for room in a full send queue.
type wsWaiter struct {
	msg    []byte
	queued chan struct{} // closed when msg joins the queue
}

type wsOp struct {
	id     string
	cancel context.CancelFunc
}

// wsMessage is a message of either protocol.
type wsMessage struct {
	ID      *string         `json:"id"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

type wsOut struct {
	ID      string `json:"id,omitempty"`
	Type    string `json:"type"`
	Payload any    `json:"payload,omitempty"`
}

// opPayload is the payload of subscribe (and of legacy start).
type opPayload struct {
	Query         *string        `json:"query"`
	OperationName *string        `json:"operationName"`
	Variables     map[string]any `json:"variables"`
	Extensions    map[string]any `json:"extensions"`
}

// serve runs the read loop until the socket closes. On a goroutine of its
// own, an idle socket parks in Read with serve alone beneath it, not
// net/http's frames, and keeps only the stack that depth needs (8 KiB).
func (wc *wsConn) serve() {
	start := time.Now()
	defer func() {
		wc.st.mu.Lock()
		delete(wc.st.conns, wc)
		wc.st.mu.Unlock()
		wc.st.open.Add(-1)
	}()
	defer func() {
		// The handler's goroutine had net/http's recover; this one has
		// its own, so that one socket's panic does not end the process.
		if v := recover(); v != nil {
			wc.logAt(slog.LevelError, "websocket panic", "value", fmt.Sprint(v), "stack", string(debug.Stack()))
			wc.abort("panic", nil, false)
		}
	}()
	wc.logAt(slog.LevelDebug, "websocket opened")

	wc.initTimer = time.AfterFunc(wc.cfg.InitTimeout, func() {
		if !wc.inited.Load() {
			wc.fail(closeInitTimeout, "Connection initialisation timeout")
		}
	})
	defer wc.stopInitTimer()
	if wc.cfg.KeepAlive > 0 {
		// Set under qmu: the timer's function reads it there.
		wc.qmu.Lock()
		wc.keepAlive = time.AfterFunc(wc.cfg.KeepAlive, wc.keepAliveTick)
		wc.qmu.Unlock()
		defer wc.stopKeepAlive()
	}

	// Read, write and probe get no ctx of the socket: every end of wc.ctx
	// closes the connection first, which ends them, while a child of
	// wc.ctx would give every idle socket a Done channel and a map of
	// children in wc.ctx for the rest of its life.
	var err error
	for {
		var data []byte
		if _, data, err = wc.c.Read(context.Background()); err != nil {
			break
		}
		if !wc.handle(data) {
			break
		}
	}
	if !wc.closing.Load() {
		// The client closed the socket or the network failed.
		wc.cancel()
		_ = wc.c.CloseNow()
	}
	wc.logAt(slog.LevelDebug, "websocket closed", "duration_ms", time.Since(start).Milliseconds(),
		"close_status", int(websocket.CloseStatus(err)), "err", err)
}

// stopInitTimer drops the InitTimeout timer once it has no more use.
func (wc *wsConn) stopInitTimer() {
	if wc.initTimer != nil {
		wc.initTimer.Stop()
		wc.initTimer = nil
	}
}

// logAt logs msg with the socket's request_id and protocol. A logger per
// socket (slog With) would keep its formatted attributes for every idle
// socket; most never log a line.
func (wc *wsConn) logAt(level slog.Level, msg string, args ...any) {
	ctx := context.Background()
	h := wc.s.log.Handler()
	if !h.Enabled(ctx, level) {
		return
	}
	proto := protoTransportWS
	if wc.legacy {
		proto = protoLegacyWS
	}
	var pcs [1]uintptr
	runtime.Callers(2, pcs[:]) // the caller of logAt, for AddSource
	rec := slog.NewRecord(time.Now(), level, msg, pcs[0])
	rec.Add("request_id", wc.id, "protocol", proto)
	rec.Add(args...)
	_ = h.Handle(ctx, rec)
}

// fail closes the socket with code and reason, once, and ends everything
// running for it.
func (wc *wsConn) fail(code websocket.StatusCode, reason string) {
	if !wc.closing.CompareAndSwap(false, true) {
		return
	}
	wc.logAt(slog.LevelInfo, "closing websocket", "code", int(code), "reason", reason)
	_ = wc.c.Close(code, reason)
	wc.cancel()
}

// abort drops a socket that cannot take a close frame; slow counts it as
// a slow consumer.
func (wc *wsConn) abort(why string, err error, slow bool) {
	if !wc.closing.CompareAndSwap(false, true) {
		return
	}
	if slow {
		wc.st.slow.Add(1)
	}
	wc.logAt(slog.LevelInfo, "dropping websocket", "why", why, "err", err, "slow_consumer", slow)
	_ = wc.c.CloseNow()
	wc.cancel()
}

// keepAliveTick runs every KeepAlive on a goroutine of the timer's: it
// queues the keep-alive message and probes the client with a WebSocket
// ping. An idle socket needs no goroutine waiting for the tick.
func (wc *wsConn) keepAliveTick() {
	wc.qmu.Lock()
	if wc.keepAlive == nil || wc.closing.Load() {
		wc.qmu.Unlock()
		return // stopped
	}
	wc.keepAlive.Reset(wc.cfg.KeepAlive)
	if !wc.ackSent.Load() {
		wc.qmu.Unlock()
		return
	}
	// A full queue already has the client's attention; the probe below
	// still checks that it answers.
	if len(wc.queue) < wc.cfg.SendQueue {
		msg := []byte(`{"type":"ping"}`)
		if wc.legacy {
			msg = []byte(`{"type":"ka"}`)
		}
		wc.pushLocked(msg)
	}
	wc.qmu.Unlock()
	wc.probe()
}

// stopKeepAlive stops the timer for good: a tick already running sees
// keepAlive nil and does not set it again.
func (wc *wsConn) stopKeepAlive() {
	wc.qmu.Lock()
	wc.keepAlive.Stop()
	wc.keepAlive = nil
	wc.qmu.Unlock()
}

// probe sends a WebSocket ping frame; a client that does not answer within
// KeepAlive is gone.
func (wc *wsConn) probe() {
	ctx, cancel := context.WithTimeout(context.Background(), wc.cfg.KeepAlive) // not wc.ctx: see serve
	defer cancel()
	if err := wc.c.Ping(ctx); err != nil && wc.ctx.Err() == nil {
		wc.abort("no pong within the keep-alive interval", err, false)
	}
}

// send queues msg for the writer. When the queue stays full for
// SlowConsumerWait the client is a slow consumer: it is closed, never
// waited for longer.
func (wc *wsConn) send(msg wsOut) {
	if wc.closing.Load() {
		return
	}
	b, err := json.Marshal(msg)
	if err != nil {
		wc.logAt(slog.LevelError, "encode websocket message", "type", msg.Type, "err", err)
		return
	}
	wc.sendEncoded(b)
}

// sendEncoded is send for a message already encoded.
func (wc *wsConn) sendEncoded(b []byte) {
	if w := wc.enqueue(b); w != nil {
		wc.awaitRoom(w)
	}
}

// deliver is sendEncoded without waiting: a message that finds the queue
// full waits in line on a goroutine of its own, so that one socket's full
// queue never holds up a shared subscription's other members.
func (wc *wsConn) deliver(b []byte) {
	if w := wc.enqueue(b); w != nil {
		go wc.awaitRoom(w)
	}
}

// enqueue queues b for the writer, or, when the queue is full, puts it in
// line for room and returns its place, to be waited for with awaitRoom.
// Messages keep the order of the calls either way.
func (wc *wsConn) enqueue(b []byte) *wsWaiter {
	if wc.closing.Load() {
		return nil
	}
	wc.qmu.Lock()
	defer wc.qmu.Unlock()
	if len(wc.queue) < wc.cfg.SendQueue {
		wc.pushLocked(b)
		return nil
	}
	// In line, as senders on a full channel: the writer admits the first
	// waiter whenever it takes a message, so a burst the client does take
	// is never mistaken for a slow consumer.
	w := &wsWaiter{msg: b, queued: make(chan struct{})}
	wc.waiting = append(wc.waiting, w)
	return w
}

// awaitRoom waits until w joins the queue; a client that leaves it in line
// for SlowConsumerWait is a slow consumer and is closed.
func (wc *wsConn) awaitRoom(w *wsWaiter) {
	wait := time.NewTimer(wc.cfg.SlowConsumerWait)
	defer wait.Stop()
	select {
	case <-w.queued:
	case <-wc.ctx.Done():
		wc.dropWaiter(w)
	case <-wait.C:
		if wc.dropWaiter(w) && !wc.closing.Load() {
			wc.st.slow.Add(1)
			go wc.fail(closeSlowConsumer, fmt.Sprintf("slow consumer: %d messages unsent for %s", wc.cfg.SendQueue, wc.cfg.SlowConsumerWait))
		}
	}
}

// dropWaiter takes w out of the line; false when the writer queued its
// message meanwhile.
func (wc *wsConn) dropWaiter(w *wsWaiter) bool {
	wc.qmu.Lock()
	defer wc.qmu.Unlock()
	for i, o := range wc.waiting {
		if o == w {
			wc.waiting = slices.Delete(wc.waiting, i, i+1)
			return true
		}
	}
	return false
}

// pushLocked queues msg and starts the writer if none runs. Called with
// qmu held.
func (wc *wsConn) pushLocked(msg []byte) {
	wc.queue = append(wc.queue, msg)
	if !wc.writing {
		wc.writing = true
		go wc.writeQueued()
	}
}

// writeQueued writes the queued messages in order, then ends: a socket
// with nothing to send has no writer goroutine. One writer at a time keeps
// the order of the queue.
func (wc *wsConn) writeQueued() {
	for {
		wc.qmu.Lock()
		if len(wc.queue) == 0 {
			wc.queue = nil // an idle socket keeps no queue
			wc.writing = false
			wc.qmu.Unlock()
			return
		}
		msg := wc.queue[0]
		wc.queue[0] = nil
		wc.queue = wc.queue[1:]
		if len(wc.waiting) > 0 {
			w := wc.waiting[0]
			wc.waiting[0] = nil
			wc.waiting = wc.waiting[1:]
			wc.queue = append(wc.queue, w.msg)
			close(w.queued)
		}
		wc.qmu.Unlock()
		if !wc.write(msg) {
			// The socket is closing: writing stays set, so no writer
			// starts again, and what is queued is dropped with it.
			return
		}
	}
}

func (wc *wsConn) write(msg []byte) bool {
	ctx, cancel := context.WithTimeout(context.Background(), wc.cfg.WriteTimeout) // not wc.ctx: see serve
	defer cancel()
	if err := wc.c.Write(ctx, websocket.MessageText, msg); err != nil {
		if wc.ctx.Err() == nil {
			// A client that took nothing for WriteTimeout is a slow
			// consumer as surely as one whose queue stayed full (which of
			// the two rules notices first depends on the pace of events):
			// counted alike, dropped without a close frame it cannot read.
			wc.abort("write failed", err, ctx.Err() != nil)
		}
		return false
	}
	return true
}

// handle processes one client message; false when the socket is closing.
func (wc *wsConn) handle(data []byte) bool {
	var m wsMessage
	if err := json.Unmarshal(data, &m); err != nil || m.Type == "" {
		wc.fail(closeBadRequest, "Invalid message received: not a JSON object with a string type")
		return false
	}
	if wc.legacy {
		return wc.handleLegacy(&m)
	}
	switch m.Type {
	case "connection_init":
		if wc.inited.Swap(true) {
			wc.fail(closeTooManyInits, "Too many initialisation requests")
			return false
		}
		if !wc.init(m.Payload) {
			return false
		}
		wc.ack()
	case "ping":
		if !isObjectOrNull(m.Payload) {
			wc.fail(closeBadRequest, "Invalid message received: ping payload must be an object")
			return false
		}
		pong := wsOut{Type: "pong"}
		if len(m.Payload) > 0 && string(m.Payload) != "null" {
			pong.Payload = m.Payload
		}
		wc.send(pong)
	case "pong":
	case "subscribe":
		if !wc.acked {
			wc.fail(closeUnauthorized, "Unauthorized")
			return false
		}
		id, p, ok := wc.operation(&m)
		return ok && wc.start(id, p)
	case "complete":
		if m.ID == nil || *m.ID == "" {
			wc.fail(closeBadRequest, "Invalid message received: complete needs an id")
			return false
		}
		wc.stop(*m.ID)
	default:
		wc.fail(closeBadRequest, "Invalid message received: unexpected type "+truncate(m.Type, 40))
		return false
	}
	return true
}

// handleLegacy processes one message of the graphql-ws protocol.
func (wc *wsConn) handleLegacy(m *wsMessage) bool {
	switch m.Type {
	case "connection_init":
		// subscriptions-transport-ws acknowledges a repeated init again.
		wc.inited.Store(true)
		if !wc.init(m.Payload) {
			return false
		}
		wc.ack()
		if wc.cfg.KeepAlive > 0 {
			wc.send(wsOut{Type: "ka"})
		}
	case "start":
		if !wc.acked {
			wc.fail(closeUnauthorized, "Unauthorized")
			return false
		}
		id, p, ok := wc.operation(m)
		return ok && wc.start(id, p)
	case "stop":
		if m.ID != nil {
			wc.stop(*m.ID)
		}
	case "connection_terminate":
		wc.fail(websocket.StatusNormalClosure, "")
		return false
	default:
		wc.fail(closeBadRequest, "Invalid message received: unexpected type "+truncate(m.Type, 40))
		return false
	}
	return true
}

// ack queues connection_ack. Keep-alives wait for it: inited alone would
// let one slip in ahead of the ack.
func (wc *wsConn) ack() {
	wc.send(wsOut{Type: "connection_ack"})
	wc.ackSent.Store(true)
}

// init applies the connection_init payload.
func (wc *wsConn) init(payload json.RawMessage) bool {
	wc.stopInitTimer()
	if !isObjectOrNull(payload) {
		wc.fail(closeBadRequest, "Invalid message received: connection_init payload must be an object")
		return false
	}
	var params map[string]any
	_ = json.Unmarshal(payload, &params)
	for k, v := range params {
		s, _ := v.(string)
		switch {
		case strings.EqualFold(k, "Authorization"):
			wc.credential = s
		case strings.EqualFold(k, "X-Debug"):
			wc.debug = wc.s.cfg.Debug && s == "1"
		}
	}
	// A connection_init whose credential is refused (missing under
	// ANONYMOUS_ROLE=none, malformed, expired, badly signed, or a token
	// in the upgrade's URL) closes the socket with 4403 Forbidden, as
	// graphql-transport-ws has a server refuse a connection_init: a
	// client learns at once, not from each operation's UNAUTHENTICATED,
	// and a socket that can run nothing holds no connection slot.
	p, why := wc.s.principal(wc.credential)
	if wc.queryToken {
		why = "a token in the query string is refused (it would be logged by proxies)"
	}
	if why != "" {
		wc.fail(closeForbidden, truncate("Forbidden: "+why, 120))
		return false
	}
	wc.closeAtExpiry(p)
	wc.acked = true
	return true
}

// closeAtExpiry closes the socket with 4403 when the bearer token of p
// expires: its subscriptions were admitted for a principal that no
// longer holds. Operations are authenticated each in the pipeline.
func (wc *wsConn) closeAtExpiry(p auth.Principal) {
	if p.Expires.IsZero() {
		return
	}
	t := time.AfterFunc(time.Until(p.Expires), func() { wc.fail(closeForbidden, "Forbidden: the bearer token expired") })
	context.AfterFunc(wc.ctx, func() { t.Stop() })
}

// operation decodes the id and payload of subscribe (or start).
func (wc *wsConn) operation(m *wsMessage) (string, *opPayload, bool) {
	if m.ID == nil || *m.ID == "" {
		wc.fail(closeBadRequest, "Invalid message received: "+m.Type+" needs a non-empty string id")
		return "", nil, false
	}
	var p opPayload
	dec := json.NewDecoder(bytes.NewReader(m.Payload))
	dec.UseNumber()
	if len(m.Payload) == 0 || dec.Decode(&p) != nil || p.Query == nil && p.Extensions["persistedQuery"] == nil {
		wc.fail(closeBadRequest, "Invalid message received: "+m.Type+" payload needs a query string")
		return "", nil, false
	}
	normalizeNumbers(p.Variables)
	return *m.ID, &p, true
}

// start begins operation id. A subscription is set up before the next
// message is read, so a pong (or any later answer) to the client means its
// earlier subscriptions are live.
func (wc *wsConn) start(id string, p *opPayload) bool {
	wc.mu.Lock()
	if old, dup := wc.ops[id]; dup {
		if !wc.legacy {
			wc.mu.Unlock()
			wc.fail(closeSubscriberExists, "Subscriber for "+truncate(id, 64)+" already exists")
			return false
		}
		// subscriptions-transport-ws replaces the operation.
		delete(wc.ops, id)
		old.cancel()
	}
	if len(wc.ops) >= wc.cfg.MaxSubscriptionsPerConn {
		wc.mu.Unlock()
		wc.fail(websocket.StatusPolicyViolation, fmt.Sprintf("too many subscriptions on this connection (max %d)", wc.cfg.MaxSubscriptionsPerConn))
		return false
	}
	ctx, cancel := context.WithCancel(wc.ctx)
	op := &wsOp{id: id, cancel: cancel}
	if wc.ops == nil {
		wc.ops = map[string]*wsOp{} // not before the first operation: many sockets never start one
	}
	wc.ops[id] = op
	wc.mu.Unlock()
	wc.st.ops.Add(1)

	opName := ""
	if p.OperationName != nil {
		opName = *p.OperationName
	}
	req := &request{OperationName: opName, Variables: p.Variables, Extensions: p.Extensions}
	if p.Query != nil {
		req.Query = *p.Query
	}
	wc.s.serveOperation(ctx, &call{
		reqID: wc.id + ":" + id, transport: transportWS, req: req, media: mediaJSON,
		credential: wc.credential, debug: wc.debug, async: true, start: time.Now(),
		subscribe: func(doc *document, p auth.Principal) {
			wc.subscribeShared(ctx, op, req.Query, opName, req.Variables, p, resumes(doc)) // wsshare.go
		},
		respond: func(o *outcome) { wc.respond(ctx, op, o) },
	})
	return true
}

// stop ends operation id at the client's request; an unknown id is fine.
func (wc *wsConn) stop(id string) {
	wc.mu.Lock()
	op := wc.ops[id]
	delete(wc.ops, id)
	wc.mu.Unlock()
	if op != nil {
		op.cancel()
	}
}

func (wc *wsConn) finish(op *wsOp) {
	op.cancel()
	wc.mu.Lock()
	if wc.ops[op.id] == op {
		delete(wc.ops, op.id)
	}
	wc.mu.Unlock()
	wc.st.ops.Add(-1)
}

// respond frames the answer to a query or mutation sent over the socket
// (or to any refused operation): one result then complete, or an error
// message. The operation ends with it.
func (wc *wsConn) respond(opCtx context.Context, op *wsOp, o *outcome) {
	defer wc.finish(op)
	if opCtx.Err() != nil {
		return // completed by the client: no result
	}
	if len(o.resp.Data) == 0 && len(o.resp.Errors) > 0 {
		wc.sendErrors(op.id, o.resp.Errors)
		return
	}
	wc.sendEncoded(wc.resultMessage(op.id, o.body[:len(o.body)-1])) // without its newline
	wc.send(wsOut{ID: op.id, Type: "complete"})
}

// resultMessage frames an encoded result as this socket's message for
// operation id: graphql-go's data is copied, not re-validated by
// encoding/json, and a shared subscription's result is encoded once for
// all its members (wsshare.go).
func (wc *wsConn) resultMessage(id string, payload []byte) []byte {
	typ := "next"
	if wc.legacy {
		typ = "data"
	}
	idJSON, _ := json.Marshal(id) // a string always encodes
	b := make([]byte, 0, len(`{"id":,"type":"","payload":}`)+len(idJSON)+len(typ)+len(payload))
	b = append(b, `{"id":`...)
	b = append(b, idJSON...)
	b = append(b, `,"type":"`...)
	b = append(b, typ...)
	b = append(b, `","payload":`...)
	b = append(b, payload...)
	return append(b, '}')
}

func (wc *wsConn) sendErrors(id string, errs []*gqlerrors.QueryError) {
	if len(errs) == 0 {
		errs = []*gqlerrors.QueryError{{Message: "the operation failed", Extensions: map[string]any{"code": resolvers.CodeInternal}}}
	}
	wc.send(wsOut{ID: id, Type: "error", Payload: errs})
}

func isObjectOrNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null" || (t[0] == '{' && json.Valid(t))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
