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
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	*base = strings.TrimSuffix(*base, "/")
	hc := newClient(4)
	gql, err := client.New(*base+"/graphql", client.Options{HTTPClient: hc, MaxResponseBytes: 1 << 20,
		Header: http.Header{"Accept": {"application/json"}}})
	if err != nil {
		return err
	}
	wsURL := gql.WebSocketURL()

	mem0, err := serverMemory(ctx, hc, *base)
	if err != nil {
		return err
	}
	// Idle connections: upgraded and acknowledged, nothing subscribed.
	conns := make([]*client.Conn, *subs)
	defer func() {
		for _, c := range conns {
			if c != nil {
				_ = c.CloseNow()
			}
		}
	}()
	for i := range conns {
		dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
		c, _, err := gql.Dial(dctx, client.DialOptions{})
		if err == nil {
			conns[i] = c
			err = c.Init(dctx, nil)
		}
		dcancel()
		if err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
	}
	mem1, err := serverMemory(ctx, hc, *base)
	if err != nil {
		return err
	}
	if *heapProfile != "" {
		prof, err := get(ctx, hc, *base+"/debug/pprof/heap?gc=1")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*heapProfile, prof, 0o644); err != nil {
			return err
		}
	}

	// One reader per connection: it reports each subscription result
	// with its arrival time (the client answers pings).
	type receipt struct {
		conn int
		at   time.Time
		data []byte
	}
	got := make(chan receipt, *subs*2)
	var readers sync.WaitGroup
	for i, c := range conns {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				m, err := c.Read(ctx)
				if err != nil {
					return
				}
				at := time.Now()
				switch m.Type {
				case client.TypeNext:
					got <- receipt{conn: i, at: at, data: m.Payload}
				case client.TypeError, client.TypeComplete:
					got <- receipt{conn: -1 - i, at: at, data: []byte(m.Type + " " + string(m.Payload))}
				}
			}
		}()
	}
	sub := client.Request{Query: fmt.Sprintf(`subscription { projectUpdated(id: %d) { name budget teamSize organization { name } teamMembers { name } } }`, *projectID)}
	subscribe := func(from, to int) error {
		for i := from; i < to; i++ {
			if err := conns[i].Subscribe(ctx, "1", sub); err != nil {
				return fmt.Errorf("subscribe %d: %w", i, err)
			}
		}
		return waitLive(ctx, hc, *base, to)
	}

	res := &fanoutResult{Subscribers: *subs, Events: *events, SmallSubscribers: *small}
	authed := gql.WithHeader("Authorization", "Bearer "+*token)
	var deliveries, mutations []time.Duration
	event := func(i, want int) (int, error) {
		before, err := liveStats(ctx, hc, *base)
		if err != nil {
			return 0, err
		}
		mutation := client.Request{
			Query:     `mutation($id: ID!, $b: Float!) { updateProject(id: $id, input: {budget: $b}) { id } }`,
			Variables: map[string]any{"id": strconv.FormatInt(*projectID, 10), "b": 100000 + i},
		}
		t0 := time.Now()
		mres, err := authed.Do(ctx, mutation)
		if err == nil {
			err = mres.Err()
		}
		if err == nil && len(mres.Data) == 0 {
			err = fmt.Errorf("no data: %.300s", mres.Raw)
		}
		if err != nil {
			return 0, fmt.Errorf("mutation: %w", err)
		}
		mutations = append(mutations, time.Since(t0))
		timeout := time.After(30 * time.Second)
		for n := 0; n < want; n++ {
			select {
			case r := <-got:
				if r.conn < 0 || bytes.Contains(r.data, []byte(`"errors"`)) || !bytes.Contains(r.data, []byte(`"teamMembers":[{"name"`)) {
					return 0, fmt.Errorf("subscriber %d received %.300s", r.conn, r.data)
				}
				if want := fmt.Sprintf(`"budget":%d`, 100000+i); !bytes.Contains(r.data, []byte(want)) {
					return 0, fmt.Errorf("subscriber %d received a stale value: %.300s", r.conn, r.data)
				}
				deliveries = append(deliveries, r.at.Sub(t0))
				res.Delivered++
				if res.Payload == "" {
					res.Payload = string(r.data)
				}
			case <-timeout:
				return 0, fmt.Errorf("event %d: %d of %d subscribers received it within 30s", i, n, want)
			}
		}
		time.Sleep(100 * time.Millisecond) // let the counters settle
		after, err := liveStats(ctx, hc, *base)
		if err != nil {
			return 0, err
		}
		return after.SQLCount - before.SQLCount, nil
	}

	// First event: few subscribers.
	if err := subscribe(0, *small); err != nil {
		return err
	}
	res.Expected += *small
	sqlSmall, err := event(0, *small)
	if err != nil {
		return err
	}
	res.SQLPerEventSmall = float64(sqlSmall)
	deliveries = deliveries[:0]
	res.Delivered = 0
	res.Expected = 0

	// Then everyone.
	if err := subscribe(*small, *subs); err != nil {
		return err
	}
	l, err := liveStats(ctx, hc, *base)
	if err != nil {
		return err
	}
	res.Executing = l.Subscriptions
	mem2, err := serverMemory(ctx, hc, *base)
	if err != nil {
		return err
	}
	mutations = mutations[:0]
	start := time.Now()
	for i := 1; i <= *events; i++ {
		res.Expected += *subs
		n, err := event(i, *subs)
		if err != nil {
			return err
		}
		res.SQLPerEvent = append(res.SQLPerEvent, n)
	}
	elapsed := time.Since(start)
	res.Delivery = &Result{URL: wsURL, Concurrency: *subs}
	res.Delivery.summarize(deliveries, elapsed)
	res.Mutation = &Result{URL: *base + "/graphql", Concurrency: 1}
	res.Mutation.summarize(mutations, elapsed)

	n := float64(*subs)
	res.HeapPerIdleConn = float64(mem1.heap-mem0.heap) / n
	res.StackPerIdleConn = float64(mem1.stack-mem0.stack) / n
	res.BytesPerIdleConn = res.HeapPerIdleConn + res.StackPerIdleConn
	res.GoroutinesPerIdle = float64(mem1.goroutines-mem0.goroutines) / n
	res.BytesPerSub = float64(mem2.heap+mem2.stack-mem1.heap-mem1.stack) / n
	res.GoroutinesPerSub = float64(mem2.goroutines-mem1.goroutines) / n
	for _, c := range conns {
		_ = c.Close(websocket.StatusNormalClosure, "done")
	}
	cancel()
	readers.Wait()
	conns = nil
	return writeJSON(*out, res)
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
