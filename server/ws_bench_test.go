package server_test

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"orgpulse/client"
	dbq "orgpulse/db"
	"orgpulse/realtime"
	"orgpulse/resolvers"
	"orgpulse/server"
	"orgpulse/testsupport"
)

// BenchmarkFanOut: 1,000 WebSocket subscribers on one replica, one event
// published by another per iteration; every subscriber must receive it.
// Reports delivery latency (publish to receipt) p50/p99, the SQL
// statements the fan-out ran per event (all subscribers together), and
// the memory of an idle connection and of a subscription (both ends of the
// socket live in this process, so these are upper bounds for the server).
func BenchmarkFanOut(b *testing.B) {
	const subscribers = 1000
	db := testsupport.MustOpenSeededDB(b)
	rdb, prefix := testsupport.MustRedisClient(b)
	srv := testsupport.MustStartLiveServer(b, db, testsupport.LiveOptions{Redis: rdb, Prefix: prefix, Quiet: true,
		Tweak: func(c *server.Config, _ *resolvers.Config, _ *realtime.Config) { c.WS.KeepAlive = -1 }})
	pub := realtime.New(rdb, realtime.Config{Prefix: prefix}) // the replica where the change happens
	b.Cleanup(pub.Close)

	projectID := db.MustQueryInt64(b, "SELECT project_id FROM project_members GROUP BY project_id HAVING count(*) >= 5 ORDER BY project_id LIMIT 1")
	p, err := queries(srv).GetProject(context.Background(), dbq.GetProjectParams{ID: projectID})
	if err != nil {
		b.Fatal(err)
	}
	event, _ := resolvers.EncodeEvent(resolvers.Event{Action: resolvers.ActionUpdated, ProjectID: projectID,
		OrganizationID: p.Project.OrganizationID, Project: &p.Project, TeamSize: p.TeamSize})

	memory := func() (uint64, int) {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse + m.StackInuse, runtime.NumGoroutine()
	}

	// Idle connections: upgraded and acknowledged, nothing subscribed.
	mem0, g0 := memory()
	gql, err := client.New(srv.WSURL, client.Options{Header: http.Header{"Authorization": {"Bearer " + testsupport.APIToken}}})
	if err != nil {
		b.Fatal(err)
	}
	// client.Conn starts no goroutine (Read runs on the caller's), so
	// idle connections weigh what the server makes them weigh.
	conns := make([]*client.Conn, subscribers)
	for i := range conns {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, _, err := gql.Dial(ctx, client.DialOptions{})
		if err == nil {
			err = c.Init(ctx, nil)
		}
		cancel()
		if err != nil {
			b.Fatalf("connection %d: %v", i, err)
		}
		b.Cleanup(func() { _ = c.CloseNow() })
		conns[i] = c
	}
	mem1, g1 := memory()

	// Subscriptions; the pong proves each is live.
	doc := fmt.Sprintf(`subscription { projectUpdated(id: %d) { name organization { name } teamMembers { name } } }`, projectID)
	for _, c := range conns {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := c.Subscribe(ctx, "1", client.Request{Query: doc})
		if err == nil {
			err = c.Sync(ctx)
		}
		cancel()
		if err != nil {
			b.Fatal(err)
		}
	}
	mem2, g2 := memory()
	// One document for all: one shared execution (wsshare.go) feeds every
	// operation.
	if st, ws := srv.Resolver.LiveStats(), srv.App.WebSocketStats(); st.Subscriptions != 1 || st.Topics != 1 || ws.Operations != subscribers || ws.Shared != 1 {
		b.Fatalf("live stats: %+v, WebSocket stats: %+v", st, ws)
	}

	// Every subscriber reads on its own goroutine and notes when the
	// event arrived.
	var (
		mu        sync.Mutex
		start     time.Time
		latencies []time.Duration
		wg        sync.WaitGroup
		payloads  = make([]string, subscribers)
	)
	for i, c := range conns {
		go func() {
			for {
				m, err := c.Read(context.Background())
				if err != nil {
					return
				}
				if m.Type != client.TypeNext {
					continue
				}
				mu.Lock()
				latencies = append(latencies, time.Since(start))
				payloads[i] = string(m.Payload)
				mu.Unlock()
				wg.Done()
			}
		}()
	}

	sqlBefore := srv.Resolver.LiveStats().SQLCount
	b.ResetTimer()
	for range b.N {
		wg.Add(subscribers)
		mu.Lock()
		start = time.Now()
		mu.Unlock()
		if err := pub.Publish(context.Background(), resolvers.TopicProject, event); err != nil {
			b.Fatal(err)
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			b.Fatalf("not every subscriber received the event: stats %+v", srv.Resolver.LiveStats())
		}
	}
	b.StopTimer()
	sql := srv.Resolver.LiveStats().SQLCount - sqlBefore

	for i, p := range payloads {
		if p != payloads[0] || strings.Contains(p, `"errors"`) || !strings.Contains(p, `"teamMembers":[{"name"`) {
			b.Fatalf("subscriber %d received %.300s, subscriber 0 %.300s", i, p, payloads[0])
		}
	}
	slices.Sort(latencies)
	pct := func(q float64) float64 {
		return float64(latencies[int(q*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(sql)/float64(b.N), "sql/event")
	b.ReportMetric(float64(int64(mem1)-int64(mem0))/subscribers, "B/idle-conn")
	b.ReportMetric(float64(g1-g0)/subscribers, "goroutines/idle-conn")
	b.ReportMetric(float64(int64(mem2)-int64(mem1))/subscribers, "B/subscription")
	b.ReportMetric(float64(g2-g1)/subscribers, "goroutines/subscription")
}
