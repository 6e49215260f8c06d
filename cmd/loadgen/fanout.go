package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"orgpulse/client"
)

// The fan-out benchmark drives a real orgpulse binary (started with DEBUG,
// REDIS_URL and API_TOKEN): it opens many graphql-transport-ws
// connections, subscribes them all to one project, then changes the
// project with a mutation over HTTP, one event at a time, and times each
// delivery from the moment the mutation was sent. The server's own
// numbers come from its DEBUG-only routes: /debug/live (statements run
// for subscription events) and /debug/pprof/heap?gc=1 (memory after a
// collection).

type fanoutResult struct {
	Subscribers       int     `json:"subscribers"`
	Events            int     `json:"events"`
	Expected          int     `json:"expected"`
	Delivered         int     `json:"delivered"`
	Delivery          *Result `json:"delivery"` // publish-to-receipt latency of every delivery
	Mutation          *Result `json:"mutation"` // latency of the mutations themselves
	SQLPerEventSmall  float64 `json:"sqlPerEventSmall"`
	SmallSubscribers  int     `json:"smallSubscribers"`
	SQLPerEvent       []int   `json:"sqlPerEvent"` // with every subscriber, per event
	HeapPerIdleConn   float64 `json:"heapPerIdleConn"`
	StackPerIdleConn  float64 `json:"stackPerIdleConn"`
	BytesPerIdleConn  float64 `json:"bytesPerIdleConn"`
	GoroutinesPerIdle float64 `json:"goroutinesPerIdleConn"`
	BytesPerSub       float64 `json:"bytesPerSubscription"`
	GoroutinesPerSub  float64 `json:"goroutinesPerSubscription"`
	// Executing is how many subscriptions the server executes for all of
	// them: identical ones share one (server/wsshare.go).
	Executing int    `json:"executingSubscriptions"`
	Payload   string `json:"payloadSample"`
}

type memSnap struct {
	heap, stack int64
	goroutines  int
}

// fanout is one run of the benchmark.
type fanout struct {
	base        string // http://host:port
	hc          *http.Client
	gql         *client.Client // the endpoint: upgrades and reads
	authed      *client.Client // with the token: mutations
	projectID   int64
	conns       []*client.Conn
	got         chan receipt
	res         *fanoutResult
	deliveries  []time.Duration
	mutations   []time.Duration
	heapProfile string
}

// receipt is a subscription result with its arrival time; conn is
// negative (-1 - conn) for an error or complete message.
type receipt struct {
	conn int
	at   time.Time
	data []byte
}

func runFanout(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("fanout", flag.ContinueOnError)
	base := fs.String("url", "http://127.0.0.1:8080", "orgpulse base URL (loopback only)")
	subs := fs.Int("subscribers", 1000, "WebSocket connections, one subscription each")
	small := fs.Int("small", 10, "subscribers of the first event, to compare statements per event")
	events := fs.Int("events", 10, "mutations, sent one at a time once every subscriber has the previous one")
	projectID := fs.Int64("project", 1, "project to subscribe to and update")
	token := fs.String("token", os.Getenv("LOADGEN_API_TOKEN"), "API token for the mutation (env LOADGEN_API_TOKEN)")
	out := fs.String("o", "", "write the JSON result here (default stdout)")
	heapProfile := fs.String("heap-profile", "", "save the server's heap profile with the idle connections open here (go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireLoopback(*base); err != nil {
		return err
	}
	if *subs < 1 || *subs > 10000 || *events < 1 || *events > 1000 || *small < 1 || *small > *subs {
		return errors.New("-subscribers 1..10000, -small 1..subscribers, -events 1..1000")
	}
	f := &fanout{base: strings.TrimSuffix(*base, "/"), hc: newClient(4), projectID: *projectID, heapProfile: *heapProfile,
		res: &fanoutResult{Subscribers: *subs, Events: *events, SmallSubscribers: *small}}
	var err error
	f.gql, err = client.New(f.base+"/graphql", client.Options{HTTPClient: f.hc, MaxResponseBytes: 1 << 20,
		Header: http.Header{"Accept": {"application/json"}}})
	if err != nil {
		return err
	}
	f.authed = f.gql.WithHeader("Authorization", "Bearer "+*token)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	defer func() {
		for _, c := range f.conns {
			if c != nil {
				_ = c.CloseNow()
			}
		}
	}()
	if err := f.run(ctx, *subs, *small, *events); err != nil {
		return err
	}
	return writeJSON(*out, f.res)
}

// run measures idle connections, then a first event with small
// subscribers, then events with every subscriber.
func (f *fanout) run(ctx context.Context, subs, small, events int) error {
	mem0, err := serverMemory(ctx, f.hc, f.base)
	if err != nil {
		return err
	}
	if err := f.dialIdle(ctx, subs); err != nil {
		return err
	}
	mem1, err := serverMemory(ctx, f.hc, f.base)
	if err != nil {
		return err
	}
	if f.heapProfile != "" {
		prof, err := get(ctx, f.hc, f.base+"/debug/pprof/heap?gc=1")
		if err != nil {
			return err
		}
		if err := os.WriteFile(f.heapProfile, prof, 0o644); err != nil {
			return err
		}
	}
	rctx, stopReaders := context.WithCancel(ctx)
	readers := f.startReaders(rctx)
	defer readers.Wait()
	defer stopReaders()

	// First event: few subscribers.
	res := f.res
	if err := f.subscribe(ctx, 0, small); err != nil {
		return err
	}
	sqlSmall, err := f.event(ctx, 0, small)
	if err != nil {
		return err
	}
	res.SQLPerEventSmall = float64(sqlSmall)
	f.deliveries, f.mutations, res.Delivered = f.deliveries[:0], f.mutations[:0], 0

	// Then everyone.
	if err := f.subscribe(ctx, small, subs); err != nil {
		return err
	}
	l, err := liveStats(ctx, f.hc, f.base)
	if err != nil {
		return err
	}
	res.Executing = l.Subscriptions
	mem2, err := serverMemory(ctx, f.hc, f.base)
	if err != nil {
		return err
	}
	start := time.Now()
	for i := 1; i <= events; i++ {
		res.Expected += subs
		n, err := f.event(ctx, i, subs)
		if err != nil {
			return err
		}
		res.SQLPerEvent = append(res.SQLPerEvent, n)
	}
	elapsed := time.Since(start)
	res.Delivery = &Result{URL: f.gql.WebSocketURL(), Concurrency: subs}
	res.Delivery.summarize(f.deliveries, elapsed)
	res.Mutation = &Result{URL: f.gql.URL(), Concurrency: 1}
	res.Mutation.summarize(f.mutations, elapsed)

	n := float64(subs)
	res.HeapPerIdleConn = float64(mem1.heap-mem0.heap) / n
	res.StackPerIdleConn = float64(mem1.stack-mem0.stack) / n
	res.BytesPerIdleConn = res.HeapPerIdleConn + res.StackPerIdleConn
	res.GoroutinesPerIdle = float64(mem1.goroutines-mem0.goroutines) / n
	res.BytesPerSub = float64(mem2.heap+mem2.stack-mem1.heap-mem1.stack) / n
	res.GoroutinesPerSub = float64(mem2.goroutines-mem1.goroutines) / n
	for _, c := range f.conns {
		_ = c.Close(websocket.StatusNormalClosure, "done") // before the readers stop
	}
	return nil
}

// dialIdle opens the connections: upgraded and acknowledged, nothing
// subscribed.
func (f *fanout) dialIdle(ctx context.Context, n int) error {
	f.conns = make([]*client.Conn, n)
	for i := range f.conns {
		dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
		c, _, err := f.authed.Dial(dctx, client.DialOptions{}) // the token in the upgrade: every operation needs one
		if err == nil {
			f.conns[i] = c
			err = c.Init(dctx, nil)
		}
		dcancel()
		if err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
	}
	return nil
}

// startReaders starts one reader per connection: it reports each
// subscription result with its arrival time (the client answers pings).
// They stop when ctx ends.
func (f *fanout) startReaders(ctx context.Context) *sync.WaitGroup {
	f.got = make(chan receipt, len(f.conns)*2)
	var readers sync.WaitGroup
	for i, c := range f.conns {
		readers.Go(func() {
			for {
				m, err := c.Read(ctx)
				if err != nil {
					return
				}
				at := time.Now()
				switch m.Type {
				case client.TypeNext:
					f.got <- receipt{conn: i, at: at, data: m.Payload}
				case client.TypeError, client.TypeComplete:
					f.got <- receipt{conn: -1 - i, at: at, data: []byte(m.Type + " " + string(m.Payload))}
				}
			}
		})
	}
	return &readers
}

// subscribe starts the subscription on connections from..to-1 and waits
// until the server has them all.
func (f *fanout) subscribe(ctx context.Context, from, to int) error {
	sub := client.Request{Query: fmt.Sprintf(`subscription { projectUpdated(id: %d) { name budget teamSize organization { name } teamMembers { name } } }`, f.projectID)}
	for i := from; i < to; i++ {
		if err := f.conns[i].Subscribe(ctx, "1", sub); err != nil {
			return fmt.Errorf("subscribe %d: %w", i, err)
		}
	}
	return waitLive(ctx, f.hc, f.base, to)
}

// event changes the project (event i), waits until want subscribers have
// the new value, and returns the statements the server ran meanwhile.
func (f *fanout) event(ctx context.Context, i, want int) (int, error) {
	before, err := liveStats(ctx, f.hc, f.base)
	if err != nil {
		return 0, err
	}
	mutation := client.Request{
		Query:     `mutation($id: ID!, $b: Float!) { updateProject(id: $id, input: {budget: $b}) { id } }`,
		Variables: map[string]any{"id": strconv.FormatInt(f.projectID, 10), "b": 100000 + i},
	}
	t0 := time.Now()
	mres, err := f.authed.Do(ctx, mutation)
	if err == nil {
		err = mres.Err()
	}
	if err == nil && len(mres.Data) == 0 {
		err = fmt.Errorf("no data: %.300s", mres.Raw)
	}
	if err != nil {
		return 0, fmt.Errorf("mutation: %w", err)
	}
	f.mutations = append(f.mutations, time.Since(t0))
	timeout := time.After(30 * time.Second)
	for n := 0; n < want; n++ {
		select {
		case r := <-f.got:
			if r.conn < 0 || bytes.Contains(r.data, []byte(`"errors"`)) || !bytes.Contains(r.data, []byte(`"teamMembers":[{"name"`)) {
				return 0, fmt.Errorf("subscriber %d received %.300s", r.conn, r.data)
			}
			if want := fmt.Sprintf(`"budget":%d`, 100000+i); !bytes.Contains(r.data, []byte(want)) {
				return 0, fmt.Errorf("subscriber %d received a stale value: %.300s", r.conn, r.data)
			}
			f.deliveries = append(f.deliveries, r.at.Sub(t0))
			f.res.Delivered++
			if f.res.Payload == "" {
				f.res.Payload = string(r.data)
			}
		case <-timeout:
			return 0, fmt.Errorf("event %d: %d of %d subscribers received it within 30s", i, n, want)
		}
	}
	time.Sleep(100 * time.Millisecond) // let the counters settle
	after, err := liveStats(ctx, f.hc, f.base)
	if err != nil {
		return 0, err
	}
	return after.SQLCount - before.SQLCount, nil
}

type live struct {
	Subscriptions int // executing in the resolvers: one per distinct document and variables
	SQLCount      int
	Operations    int // the clients' operations on the server's sockets
}

func liveStats(ctx context.Context, c *http.Client, base string) (live, error) {
	var v struct {
		Live      live
		WebSocket struct{ Operations int }
	}
	body, err := get(ctx, c, base+"/debug/live")
	if err != nil {
		return live{}, err
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return live{}, fmt.Errorf("/debug/live: %w", err)
	}
	v.Live.Operations = v.WebSocket.Operations
	return v.Live, nil
}

// waitLive waits until the server counts n active subscription operations
// and executes them. Identical ones share one execution (server/wsshare.go),
// so executing subscriptions are fewer than operations.
func waitLive(ctx context.Context, c *http.Client, base string, n int) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		l, err := liveStats(ctx, c, base)
		if err != nil {
			return err
		}
		if l.Operations >= n && l.Subscriptions >= 1 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the server counts %d subscription operations (%d executing) after 60s, want %d", l.Operations, l.Subscriptions, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// serverMemory reads the server's heap and stack in use right after a
// collection (pprof's heap profile with gc=1 ends with runtime.MemStats),
// and its goroutine count.
func serverMemory(ctx context.Context, c *http.Client, base string) (memSnap, error) {
	var m memSnap
	body, err := get(ctx, c, base+"/debug/pprof/heap?gc=1&debug=1")
	if err != nil {
		return m, fmt.Errorf("%w (start the server with DEBUG=1)", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "# HeapInuse = "); ok {
			m.heap, _ = strconv.ParseInt(v, 10, 64)
		}
		if v, ok := strings.CutPrefix(line, "# Stack = "); ok {
			inuse, _, _ := strings.Cut(v, " ")
			m.stack, _ = strconv.ParseInt(inuse, 10, 64)
		}
	}
	if m.heap == 0 {
		return m, errors.New("no HeapInuse in /debug/pprof/heap?debug=1")
	}
	body, err = get(ctx, c, base+"/debug/pprof/goroutine?debug=1")
	if err != nil {
		return m, err
	}
	first, _, _ := strings.Cut(string(body), "\n")
	if v, ok := strings.CutPrefix(first, "goroutine profile: total "); ok {
		m.goroutines, _ = strconv.Atoi(strings.TrimSpace(v))
	}
	return m, nil
}

func get(ctx context.Context, c *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	res, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d: %.200s", url, res.StatusCode, body)
	}
	return body, nil
}
