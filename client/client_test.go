package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"orgpulse/client"
	dbq "orgpulse/db"
	"orgpulse/resolvers"
	"orgpulse/testsupport"
)

func mustNew(t *testing.T, url string) *client.Client {
	t.Helper()
	// Every operation needs a bearer token (ANONYMOUS_ROLE=none).
	c, err := client.New(url, client.Options{Header: http.Header{"Authorization": {"Bearer " + testsupport.APIToken}}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNew(t *testing.T) {
	for _, tt := range []struct{ in, http, ws string }{
		{"http://h:1", "http://h:1/graphql", "ws://h:1/graphql"},
		{"http://h:1/", "http://h:1/graphql", "ws://h:1/graphql"},
		{"https://h/graphql", "https://h/graphql", "wss://h/graphql"},
		{"ws://h:1/graphql", "http://h:1/graphql", "ws://h:1/graphql"},
		{"wss://h/api", "https://h/api", "wss://h/api"},
	} {
		c := mustNew(t, tt.in)
		if got := c.URL(); got != tt.http {
			t.Errorf("New(%q).URL() = %q, want %q", tt.in, got, tt.http)
		}
		if got := c.WebSocketURL(); got != tt.ws {
			t.Errorf("New(%q).WebSocketURL() = %q, want %q", tt.in, got, tt.ws)
		}
	}
	for _, in := range []string{"ftp://h/graphql", "h:8080", "", "http://", "://x"} {
		if _, err := client.New(in, client.Options{}); err == nil {
			t.Errorf("New(%q) accepted", in)
		}
	}
}

func TestDo(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)
	orgID := db.MustQueryInt64(t, "SELECT min(id) FROM organizations")
	c := mustNew(t, srv.URL)
	ctx := context.Background()
	query := client.Request{
		Query:         `query Org($id: ID!) { organization(id: $id) { id } }`,
		OperationName: "Org",
		Variables:     map[string]any{"id": fmt.Sprint(orgID)},
	}
	want := fmt.Sprintf(`{"organization":{"id":"%d"}}`, orgID)

	for name, send := range map[string]func(context.Context, client.Request) (*client.Response, error){
		"POST": c.Do, "GET": c.Get,
	} {
		res, err := send(ctx, query)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if res.Err() != nil || string(res.Data) != want || res.Status != http.StatusOK {
			t.Errorf("%s: status %d, %s, want %s", name, res.Status, res.Raw, want)
		}
	}

	// The headers of WithHeader go with the request: the token lets a
	// mutation through, X-Debug adds extensions.debug.
	mutation := client.Request{Query: `mutation { recordMetric(input: {metricType: "database", value: 1}) { id } }`}
	bare, err := client.New(c.URL(), client.Options{}) // no token
	if err != nil {
		t.Fatal(err)
	}
	res, err := bare.Do(ctx, mutation)
	if err != nil {
		t.Fatal(err)
	}
	var ge client.Errors
	if !errors.As(res.Err(), &ge) || ge[0].Code() != "UNAUTHENTICATED" {
		t.Errorf("a mutation without the token: %v, want UNAUTHENTICATED", res.Err())
	}
	authed := bare.WithHeader("Authorization", "Bearer "+testsupport.APIToken).WithHeader("X-Debug", "1")
	res, err = authed.Do(ctx, mutation)
	if err != nil || res.Err() != nil || !strings.Contains(string(res.Extensions), `"debug"`) {
		t.Errorf("with the token and X-Debug: %v %s", err, res.Raw)
	}
}

func TestDoRefusals(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)
	ctx := context.Background()
	strict := mustNew(t, srv.URL).WithHeader("Accept", "application/graphql-response+json")
	for _, tt := range []struct {
		name   string
		c      *client.Client
		req    client.Request
		status int
		code   string
	}{
		{"invalid document, graphql-response+json", strict, client.Request{Query: `{ nope }`}, 400, "GRAPHQL_VALIDATION_FAILED"},
		{"invalid document, default media", mustNew(t, srv.URL), client.Request{Query: `{ nope }`}, 200, "GRAPHQL_VALIDATION_FAILED"},
		{"syntax error", strict, client.Request{Query: `{`}, 400, "GRAPHQL_PARSE_FAILED"},
	} {
		res, err := tt.c.Do(ctx, tt.req)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		var ge client.Errors
		if res.Status != tt.status || !errors.As(res.Err(), &ge) || ge[0].Code() != tt.code {
			t.Errorf("%s: status %d, err %v; want %d %s", tt.name, res.Status, res.Err(), tt.status, tt.code)
		}
		if !strings.Contains(res.Err().Error(), "("+tt.code+")") {
			t.Errorf("%s: the error %q does not name its code", tt.name, res.Err())
		}
	}

	// A body that is not a GraphQL result is an error, with the status.
	notGraphQL := mustNew(t, srv.URL+"/metrics")
	res, err := notGraphQL.Get(ctx, client.Request{Query: "{a}"})
	if err == nil || res == nil || res.Status == 0 {
		t.Errorf("/metrics as a GraphQL endpoint: %v", err)
	}
	if _, err := mustNew(t, "http://127.0.0.1:1").Do(ctx, client.Request{Query: "{a}"}); err == nil {
		t.Error("no error from a closed port")
	}
}

func TestSubscribe(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartLiveServer(t, db, testsupport.LiveOptions{})
	orgID := db.MustQueryInt64(t, "SELECT min(id) FROM organizations")
	c := mustNew(t, srv.URL)
	authed := c.WithHeader("Authorization", "Bearer "+testsupport.APIToken)

	t.Run("query: one result, then done", func(t *testing.T) {
		var got []string
		err := c.Subscribe(context.Background(), client.Request{
			Query: `query($id: ID!) { organization(id: $id) { id } }`, Variables: map[string]any{"id": fmt.Sprint(orgID)},
		}, client.Handler{Next: func(r *client.Response) error { got = append(got, string(r.Data)); return nil }})
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf(`{"organization":{"id":"%d"}}`, orgID)
		if len(got) != 1 || got[0] != want {
			t.Errorf("results %q, want [%s]", got, want)
		}
	})

	// Live means live: the one event published right after it arrives.
	// Without the ping round trip, Live would run before the server had
	// the subscription and the event would be missed.
	t.Run("subscription: live, then every event until ctx ends", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		results := make(chan *client.Response, 10)
		live := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- c.Subscribe(ctx, client.Request{Query: `subscription { metricRecorded(metricType: "page_load") { value } }`}, client.Handler{
				Live: func() { close(live) },
				Next: func(r *client.Response) error { results <- r; return nil },
			})
		}()
		select {
		case <-live:
		case err := <-done:
			t.Fatalf("Subscribe returned before Live: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("Live was not called")
		}
		// The first event is published at once on the bus, the second by
		// a mutation, as a client would.
		ev, err := resolvers.EncodeEvent(resolvers.Event{Action: resolvers.ActionCreated, Metric: &dbq.PerformanceMetric{MetricType: "page_load", Value: 7}})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Hub.Publish(context.Background(), resolvers.TopicMetric, ev); err != nil {
			t.Fatal(err)
		}
		for _, v := range []int{7, 8} {
			if v == 8 {
				res, err := authed.Do(context.Background(), client.Request{
					Query: `mutation($v: Float!) { recordMetric(input: {metricType: "page_load", value: $v}) { id } }`, Variables: map[string]any{"v": v},
				})
				if err != nil || res.Err() != nil {
					t.Fatalf("recordMetric: %v %v", err, res.Err())
				}
			}
			select {
			case r := <-results:
				if want := fmt.Sprintf(`{"metricRecorded":{"value":%d}}`, v); string(r.Data) != want {
					t.Errorf("event %s, want data %s", r.Raw, want)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("the event of value %d did not arrive", v)
			}
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("after ctx ended: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Subscribe did not return after its context ended")
		}
		testsupport.Eventually(t, 5*time.Second, "the server closed the operation", func() bool {
			return srv.App.WebSocketStats().Connections == 0
		})
	})

	t.Run("refused operation: GraphQL errors", func(t *testing.T) {
		err := c.Subscribe(context.Background(), client.Request{Query: `subscription { nope }`}, client.Handler{})
		var ge client.Errors
		if !errors.As(err, &ge) || ge[0].Code() != "GRAPHQL_VALIDATION_FAILED" {
			t.Errorf("invalid document: %v", err)
		}
		// The server refuses a socket without the token at
		// connection_init (4403), before any operation: Live is not
		// called.
		var live atomic.Bool
		bare, _ := client.New(c.URL(), client.Options{}) // no token
		err = bare.Subscribe(context.Background(), client.Request{Query: `mutation { recordMetric(input: {metricType: "database", value: 1}) { id } }`},
			client.Handler{Live: func() { live.Store(true) }})
		if ce, ok := client.CloseError(err); !ok || ce.Code != 4403 {
			t.Errorf("a socket without the token: %v, want closed with 4403", err)
		}
		if live.Load() {
			t.Error("Live was called for a refused operation")
		}
	})

	t.Run("a Next error ends it", func(t *testing.T) {
		stop := errors.New("stop here")
		err := c.Subscribe(context.Background(), client.Request{Query: `{ organizations(first: 1) { nodes { id } } }`},
			client.Handler{Next: func(*client.Response) error { return stop }})
		if !errors.Is(err, stop) {
			t.Errorf("got %v, want the handler's error", err)
		}
	})
}

func TestConn(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartLiveServer(t, db, testsupport.LiveOptions{})
	ctx := context.Background()
	c := mustNew(t, srv.WSURL)

	conn, res, err := c.Dial(ctx, client.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	if conn.Protocol() != client.Protocol || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("protocol %q, status %d", conn.Protocol(), res.StatusCode)
	}
	if err := conn.Init(ctx, map[string]any{"x": 1}); err != nil {
		t.Fatal(err)
	}
	// Two operations on one socket; Sync keeps what arrives before its
	// pong for Read.
	for i, q := range []string{`{ a: organizations(first: 1) { totalCount } }`, `{ b: organizations(first: 1) { totalCount } }`} {
		if err := conn.Subscribe(ctx, fmt.Sprint(i), client.Request{Query: q}); err != nil {
			t.Fatal(err)
		}
	}
	if err := conn.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for len(got) < 4 {
		m, err := conn.Read(rctx)
		if err != nil {
			t.Fatalf("read: %v (so far %v)", err, got)
		}
		got[m.ID+" "+m.Type] = string(m.Payload)
	}
	for _, k := range []string{"0 next", "0 complete", "1 next", "1 complete"} {
		if _, ok := got[k]; !ok {
			t.Errorf("no %s in %v", k, got)
		}
	}

	// The server closes a socket on a protocol violation; the close
	// frame comes back from Read.
	if err := conn.Send(ctx, client.Message{Type: "bogus"}); err != nil {
		t.Fatal(err)
	}
	_, err = conn.Read(rctx)
	ce, ok := client.CloseError(err)
	if !ok || ce.Code != 4400 {
		t.Errorf("after a bogus message: %v, want a 4400 close", err)
	}

	// Dial fails unless the server speaks graphql-transport-ws.
	if _, _, err := mustNew(t, srv.URL+"/metrics").Dial(ctx, client.DialOptions{}); err == nil {
		t.Error("dialed /metrics")
	}
}

// proxy forwards TCP connections to target until cut breaks them all
// without a close frame, as a network failure does; retarget sends the
// next connections elsewhere, as a balancer does.
type proxy struct {
	addr   string
	mu     sync.Mutex
	target string
	conns  []net.Conn
}

func (p *proxy) retarget(target string) {
	p.mu.Lock()
	p.target = target
	p.mu.Unlock()
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	p := &proxy{addr: l.Addr().String(), target: target}
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			target := p.target
			p.mu.Unlock()
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			go func() { _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// A live subscription survives the server going away (1001) and the
// network breaking: it reconnects, asks Reconnect first, starts the
// request Resume gives, and is live again.
func TestSubscribeReconnects(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartLiveServer(t, db, testsupport.LiveOptions{})
	p := startProxy(t, strings.TrimPrefix(srv.URL, "http://"))
	c := mustNew(t, "http://"+p.addr)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	lives := make(chan struct{}, 10)
	results := make(chan string, 10)
	causes := make(chan error, 10)
	var resumed atomic.Int32
	resumedTypes := []string{"api_response", "database", "cache_hit"}
	req := func(typ string) client.Request {
		return client.Request{Query: `subscription($t: String) { metricRecorded(metricType: $t) { metricType value } }`, Variables: map[string]any{"t": typ}}
	}
	done := make(chan error, 1)
	go func() {
		done <- c.Subscribe(ctx, req("page_load"), client.Handler{
			Live:      func() { lives <- struct{}{} },
			Next:      func(r *client.Response) error { results <- string(r.Data); return nil },
			Reconnect: func(attempt int, cause error) error { causes <- cause; return nil },
			Resume: func(r client.Request) client.Request {
				return req(resumedTypes[resumed.Add(1)-1])
			},
		})
	}()
	publish := func(typ string, v int) {
		t.Helper()
		ev, err := resolvers.EncodeEvent(resolvers.Event{Action: resolvers.ActionCreated, Metric: &dbq.PerformanceMetric{MetricType: typ, Value: float64(v)}})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Hub.Publish(context.Background(), resolvers.TopicMetric, ev); err != nil {
			t.Fatal(err)
		}
	}
	wait := func(what string, ch <-chan struct{}) {
		t.Helper()
		select {
		case <-ch:
		case err := <-done:
			t.Fatalf("Subscribe returned before %s: %v", what, err)
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s", what)
		}
	}
	expect := func(want string) {
		t.Helper()
		select {
		case got := <-results:
			if got != want {
				t.Errorf("result %s, want %s", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no result %s", want)
		}
	}
	wait("first Live", lives)
	publish("page_load", 1)
	expect(`{"metricRecorded":{"metricType":"page_load","value":1}}`)

	for i, drop := range []struct {
		name   string
		do     func()
		closed int // close code the cause carries, -1 for none
	}{
		{"server going away", func() { srv.App.CloseWebSockets(context.Background()) }, 1001},
		{"network broken", p.cut, -1},
	} {
		drop.do()
		select {
		case cause := <-causes:
			if got := int(websocket.CloseStatus(cause)); got != drop.closed || !client.Dropped(cause) {
				t.Errorf("%s: cause %v (close %d), want close %d", drop.name, cause, got, drop.closed)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: Reconnect was not called", drop.name)
		}
		wait(drop.name+": Live again", lives)
		typ := resumedTypes[i]
		publish("page_load", 9) // the old request's: not resumed
		publish(typ, 2)
		expect(fmt.Sprintf(`{"metricRecorded":{"metricType":"%s","value":2}}`, typ))
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("after ctx ended: %v", err)
	}
}

// When the server ends a live subscription with SERVICE_UNAVAILABLE (here
// its replica's event bus closed), Subscribe reconnects as after a drop
// (through the balancer, to another replica) and Resume continues after
// the last cursor: the changes committed meanwhile arrive, in order.
func TestSubscribeResumesAfterInterruption(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	rdb, prefix := testsupport.MustRedisClient(t)
	opts := testsupport.LiveOptions{Redis: rdb, Prefix: prefix}
	b := testsupport.MustStartLiveServer(t, db, opts) // first: its relay is the active one
	testsupport.Eventually(t, 5*time.Second, "b's relay is active", func() bool { return b.Relay.Stats().Active })
	a := testsupport.MustStartLiveServer(t, db, opts)
	p := startProxy(t, strings.TrimPrefix(a.URL, "http://"))
	emp := db.MustQueryInt64(t, "SELECT min(id) FROM employees")
	rename := func(i int) {
		db.MustExec(t, "UPDATE employees SET name = $1 WHERE id = $2", fmt.Sprintf("Interrupted %d", i), emp)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := client.Request{Query: `subscription { employeeChanged { employee { name } } }`}
	lives, names, causes := make(chan struct{}, 10), make(chan string, 10), make(chan error, 10)
	var cursor string // Next and Resume run on Subscribe's goroutine
	done := make(chan error, 1)
	go func() {
		done <- mustNew(t, "http://"+p.addr).Subscribe(ctx, first, client.Handler{
			Live: func() { lives <- struct{}{} },
			Next: func(r *client.Response) error {
				var d struct {
					EmployeeChanged struct{ Employee struct{ Name string } }
				}
				_ = json.Unmarshal(r.Data, &d)
				cursor = r.Cursor()
				names <- d.EmployeeChanged.Employee.Name
				return nil
			},
			Reconnect: func(_ int, cause error) error { causes <- cause; return nil },
			Resume: func(client.Request) client.Request {
				req, err := client.WithAfter(first, cursor)
				if err != nil {
					t.Error(err)
				}
				return req
			},
		})
	}()
	expect := func(i int) {
		t.Helper()
		select {
		case got := <-names:
			if want := fmt.Sprintf("Interrupted %d", i); got != want {
				t.Fatalf("event %q, want %q", got, want)
			}
		case err := <-done:
			t.Fatalf("Subscribe returned: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatalf("no event %d", i)
		}
	}
	<-lives
	rename(0)
	expect(0)
	p.retarget(strings.TrimPrefix(b.URL, "http://"))
	a.Hub.Close()
	for i := 1; i <= 3; i++ {
		rename(i)
	}
	select {
	case cause := <-causes:
		if !client.Dropped(cause) || !strings.Contains(cause.Error(), "SERVICE_UNAVAILABLE") {
			t.Errorf("cause %v", cause)
		}
	case err := <-done:
		t.Fatalf("Subscribe returned: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Reconnect was not called")
	}
	for i := 1; i <= 4; i++ {
		if i == 4 {
			rename(4)
		}
		expect(i)
	}
}

func TestSubscribeGivesUp(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartLiveServer(t, db, testsupport.LiveOptions{})
	ctx := context.Background()
	calls := 0
	reconnect := func(int, error) error { calls++; return nil }

	// A server that cannot be reached at first is an error at once.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	if err := mustNew(t, "http://"+closed).Subscribe(ctx, client.Request{Query: `subscription { metricRecorded { value } }`},
		client.Handler{Reconnect: reconnect}); err == nil {
		t.Error("no error from a closed port")
	}
	// A refused operation is not a drop.
	err = mustNew(t, srv.URL).Subscribe(ctx, client.Request{Query: `subscription { nope }`}, client.Handler{Reconnect: reconnect})
	if client.Dropped(err) || err == nil {
		t.Errorf("a refused operation: %v", err)
	}
	if calls != 0 {
		t.Errorf("Reconnect called %d times", calls)
	}
	// Reconnect's error ends it.
	stop := errors.New("enough")
	live := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- mustNew(t, srv.URL).Subscribe(ctx, client.Request{Query: `subscription { metricRecorded { value } }`}, client.Handler{
			Live:      func() { live <- struct{}{} },
			Reconnect: func(int, error) error { return stop },
		})
	}()
	<-live
	srv.App.CloseWebSockets(ctx)
	if err := <-done; !errors.Is(err, stop) {
		t.Errorf("got %v, want Reconnect's error", err)
	}
}

func TestBackoff(t *testing.T) {
	for _, tt := range []struct {
		n        int
		min, max time.Duration
	}{{1, 80 * time.Millisecond, 100 * time.Millisecond}, {2, 160 * time.Millisecond, 200 * time.Millisecond},
		{8, 8 * time.Second, 10 * time.Second}, {1000, 8 * time.Second, 10 * time.Second}} {
		if got := client.Backoff(tt.n); got < tt.min || got > tt.max {
			t.Errorf("Backoff(%d) = %s, want %s..%s", tt.n, got, tt.min, tt.max)
		}
	}
}
