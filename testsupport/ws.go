package testsupport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"

	"orgpulse/app"
	"orgpulse/client"
	"orgpulse/realtime"
	"orgpulse/resolvers"
	"orgpulse/server"
)

// LiveServer is an orgpulse server with subscriptions: a realtime.Hub on
// Redis feeding the resolvers, and the WebSocket transport at /graphql.
// LiveServers on one Redis with one prefix are replicas of one deployment.
// It embeds Server, so Query, Mutate and Logs work as usual. It runs
// without the read cache, so statement counts are exact.
type LiveServer struct {
	*Server
	WSURL    string // ws://127.0.0.1:port/graphql
	App      *server.Server
	Resolver *resolvers.Resolver
	Hub      *realtime.Hub
}

// LiveOptions configure MustStartLiveServer.
type LiveOptions struct {
	// Redis and Prefix: the event bus. Default: MustRedisClient, whose
	// prefix is unique to the test. Pass the same pair to every replica.
	Redis  redis.UniversalClient
	Prefix string
	// Tweak adjusts the configurations before the server starts.
	Tweak func(*server.Config, *resolvers.Config, *realtime.Config)
	// Quiet discards the server's logs (benchmarks with many sockets).
	Quiet bool
	// Cached keeps the Redis read cache and turns on the whole-response
	// cache (live servers read through to PostgreSQL by default).
	Cached bool
	// Options are more app options (app.WithTracing).
	Options []app.Option
}

// MustStartLiveServer starts a LiveServer over db; everything stops when
// the test ends.
func MustStartLiveServer(tb testing.TB, db *DB, opts LiveOptions) *LiveServer {
	tb.Helper()
	if opts.Redis == nil {
		opts.Redis, opts.Prefix = MustRedisClient(tb)
	}
	logs := &lockedWriter{w: &bytes.Buffer{}}
	var logOut io.Writer = logs
	if opts.Quiet {
		logOut = io.Discard
	}
	logger := slog.New(slog.NewJSONHandler(logOut, nil))
	tweaks := []func(*server.Config, *resolvers.Config){
		// Live servers read through to PostgreSQL: the subscription tests
		// count the statements of each event.
		func(_ *server.Config, r *resolvers.Config) { r.Cache = nil },
	}
	if opts.Cached {
		tweaks = []func(*server.Config, *resolvers.Config){WithResponseCache}
	}
	extra := append([]app.Option{}, opts.Options...)
	if opts.Tweak != nil {
		extra = append(extra, app.WithLiveTweak(opts.Tweak))
	}
	svc := mustBuild(tb, db, opts.Redis, opts.Prefix, "live-"+randomSuffix(), logger, tweaks, extra...)
	srv, res, hub := svc.Server, svc.Resolver, svc.Hub
	hs := httptest.NewServer(srv.Handler())
	s := &Server{URL: hs.URL, DB: db, HTTP: hs, Relay: svc.Relay, logs: logs, close: func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.CloseWebSockets(ctx)
		hs.Close()
		svc.Close()
	}}
	tb.Cleanup(s.Close)
	return &LiveServer{
		Server: s,
		WSURL:  "ws" + strings.TrimPrefix(hs.URL, "http") + "/graphql",
		App:    srv, Resolver: res, Hub: hub,
	}
}

// WSMessage is one message of graphql-transport-ws or graphql-ws.
type WSMessage = client.Message

// WSDialOptions configure DialWS.
type WSDialOptions struct {
	// Subprotocols to offer; default graphql-transport-ws.
	Subprotocols []string
	// NoSubprotocol offers none.
	NoSubprotocol bool
	// Header is sent with the upgrade request (Origin, Authorization).
	Header http.Header
	// ReceiveBuffer, when set, is the SO_RCVBUF of the client's socket, so
	// that a client that stops reading backs up quickly.
	ReceiveBuffer int
	// KeepPings queues the server's keep-alives (ping, ka) instead of
	// answering (ping) or dropping (ka) them.
	KeepPings bool
}

// WSClient is a test client of the WebSocket transport over
// client.Conn. Its reader queues every message; protocol pings are
// answered with pongs (by client.Conn), WebSocket ping frames by the
// library.
type WSClient struct {
	tb       testing.TB
	Conn     *client.Conn
	Protocol string
	opts     WSDialOptions

	mu      sync.Mutex
	queue   []WSMessage
	notify  chan struct{}
	done    chan struct{}
	readErr error
	paused  bool
	resume  chan struct{}
}

// DialWS opens a socket to url (ws://.../graphql) and closes it when the
// test ends.
func DialWS(tb testing.TB, url string, opts WSDialOptions) *WSClient {
	tb.Helper()
	c, res, err := DialWSErr(tb, url, opts)
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		tb.Fatalf("dial %s: status %d: %v", url, status, err)
	}
	return c
}

// DialWSErr is DialWS that returns the failure of the upgrade.
func DialWSErr(tb testing.TB, url string, opts WSDialOptions) (*WSClient, *http.Response, error) {
	tb.Helper()
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	if opts.ReceiveBuffer > 0 {
		dialer.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, opts.ReceiveBuffer)
			})
			return errors.Join(err, serr)
		}
	}
	header := opts.Header.Clone()
	if header == nil {
		header = http.Header{}
	}
	// The API token goes with the upgrade unless the test sends its own
	// (an empty value: none); connection_init's "Authorization" wins.
	if _, ok := header["Authorization"]; !ok {
		header.Set("Authorization", "Bearer "+APIToken)
	} else if header.Get("Authorization") == "" {
		header.Del("Authorization")
	}
	gql, err := client.New(url, client.Options{
		HTTPClient: &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}},
		Header:     header,
	})
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, res, err := gql.Dial(ctx, client.DialOptions{
		Subprotocols: opts.Subprotocols, NoSubprotocol: opts.NoSubprotocol, KeepPings: opts.KeepPings,
	})
	if err != nil {
		return nil, res, err
	}
	c := &WSClient{tb: tb, Conn: conn, Protocol: conn.Protocol(), opts: opts,
		notify: make(chan struct{}, 1), done: make(chan struct{})}
	tb.Cleanup(func() { _ = conn.CloseNow() })
	go c.read()
	return c, res, nil
}

// PauseReading stops reading the socket, as a client that stopped
// consuming: the server's messages back up in the network buffers.
func (c *WSClient) PauseReading() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.paused {
		c.paused, c.resume = true, make(chan struct{})
	}
}

// ResumeReading undoes PauseReading.
func (c *WSClient) ResumeReading() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.paused {
		c.paused = false
		close(c.resume)
	}
}

func (c *WSClient) read() {
	defer close(c.done)
	for {
		c.mu.Lock()
		for c.paused {
			resume := c.resume
			c.mu.Unlock()
			<-resume
			c.mu.Lock()
		}
		c.mu.Unlock()
		m, err := c.Conn.Read(context.Background())
		var de *client.DecodeError
		if errors.As(err, &de) {
			m, err = WSMessage{Type: "(not json)", Payload: de.Data}, nil
		}
		if err != nil {
			c.mu.Lock()
			c.readErr = err
			c.mu.Unlock()
			c.wake()
			return
		}
		if m.Type == "ka" && !c.opts.KeepPings {
			continue
		}
		c.mu.Lock()
		c.queue = append(c.queue, m)
		c.mu.Unlock()
		c.wake()
	}
}

func (c *WSClient) wake() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// Send writes v as JSON.
func (c *WSClient) Send(v any) {
	c.tb.Helper()
	if err := c.Conn.Send(context.Background(), v); err != nil {
		c.tb.Fatalf("send %.200v: %v", v, err)
	}
}

// SendRaw writes a text message as is.
func (c *WSClient) SendRaw(msg string) {
	c.tb.Helper()
	if err := c.Conn.SendRaw(context.Background(), []byte(msg)); err != nil {
		c.tb.Fatalf("send %.200s: %v", msg, err)
	}
}

// take removes and returns the first queued message that match accepts,
// waiting up to timeout; ok is false on timeout or when the socket closed.
func (c *WSClient) take(match func(WSMessage) bool, timeout time.Duration) (WSMessage, bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		for i, m := range c.queue {
			if match(m) {
				c.queue = append(c.queue[:i:i], c.queue[i+1:]...)
				c.mu.Unlock()
				return m, true
			}
		}
		closed := c.readErr != nil
		c.mu.Unlock()
		if closed {
			return WSMessage{}, false
		}
		select {
		case <-c.notify:
		case <-deadline.C:
			return WSMessage{}, false
		}
	}
}

// TryNext returns the next message, or false after timeout or close.
func (c *WSClient) TryNext(timeout time.Duration) (WSMessage, bool) {
	return c.take(func(WSMessage) bool { return true }, timeout)
}

// Next returns the next message or fails the test.
func (c *WSClient) Next(timeout time.Duration) WSMessage {
	c.tb.Helper()
	m, ok := c.TryNext(timeout)
	if !ok {
		c.tb.Fatalf("no message within %s (socket: %v)", timeout, c.Err())
	}
	return m
}

// NextFor returns the next message of operation id or fails the test.
func (c *WSClient) NextFor(id string, timeout time.Duration) WSMessage {
	c.tb.Helper()
	m, ok := c.take(func(m WSMessage) bool { return m.ID == id }, timeout)
	if !ok {
		c.tb.Fatalf("no message for %q within %s (socket: %v)", id, timeout, c.Err())
	}
	return m
}

// Expect returns the next message, failing the test unless it has type typ.
func (c *WSClient) Expect(typ string, timeout time.Duration) WSMessage {
	c.tb.Helper()
	m := c.Next(timeout)
	if m.Type != typ {
		c.tb.Fatalf("got %s message %s, want %s", m.Type, m.Payload, typ)
	}
	return m
}

// Init sends connection_init and waits for connection_ack.
func (c *WSClient) Init(payload map[string]any) {
	c.tb.Helper()
	if payload == nil {
		payload = map[string]any{}
	}
	c.Send(map[string]any{"type": client.TypeConnectionInit, "payload": payload})
	c.Expect(client.TypeConnectionAck, 5*time.Second)
}

// Subscribe starts operation id and, on graphql-transport-ws, returns
// once the server set it up (see Sync).
func (c *WSClient) Subscribe(id, query string, vars map[string]any) {
	c.tb.Helper()
	req := client.Request{Query: query, Variables: vars}
	if c.Protocol == "graphql-ws" {
		c.Send(map[string]any{"id": id, "type": "start", "payload": req})
		return
	}
	if err := c.Conn.Subscribe(context.Background(), id, req); err != nil {
		c.tb.Fatalf("subscribe %s: %v", id, err)
	}
	if c.Protocol == client.Protocol {
		c.Sync()
	}
}

// Sync sends a ping and waits for its pong. The server handles a socket's
// messages in order and sets a subscription up before it reads the next
// message, so after Sync every subscription sent before is live.
func (c *WSClient) Sync() {
	c.tb.Helper()
	tag := c.Conn.NewPingTag()
	if err := c.Conn.Ping(context.Background(), tag); err != nil {
		c.tb.Fatalf("ping: %v", err)
	}
	if _, ok := c.take(func(m WSMessage) bool { return m.IsPongFor(tag) }, 10*time.Second); !ok {
		c.tb.Fatalf("no pong for %s (socket: %v)", tag, c.Err())
	}
}

// Complete ends operation id (stop on graphql-ws).
func (c *WSClient) Complete(id string) {
	c.tb.Helper()
	typ := "complete"
	if c.Protocol == "graphql-ws" {
		typ = "stop"
	}
	c.Send(map[string]any{"id": id, "type": typ})
}

// Err is why the reader ended, nil while the socket is open.
func (c *WSClient) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.readErr
}

// WaitClosed waits until the socket is closed and returns the close
// status and reason the server sent (-1 when it sent none).
func (c *WSClient) WaitClosed(timeout time.Duration) (websocket.StatusCode, string) {
	c.tb.Helper()
	c.ResumeReading()
	select {
	case <-c.done:
	case <-time.After(timeout):
		c.tb.Fatalf("the socket is still open after %s", timeout)
	}
	err := c.Err()
	if ce, ok := client.CloseError(err); ok {
		return ce.Code, ce.Reason
	}
	return -1, fmt.Sprint(err)
}

// ExpectClose waits for the server to close the socket with code and a
// reason containing reason.
func (c *WSClient) ExpectClose(code websocket.StatusCode, reason string) {
	c.tb.Helper()
	got, why := c.WaitClosed(10 * time.Second)
	if got != code || !strings.Contains(why, reason) {
		c.tb.Fatalf("closed with %d %q, want %d %q", got, why, code, reason)
	}
}

// Eventually polls cond until it holds, failing the test after timeout.
func Eventually(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("not after %s: %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
