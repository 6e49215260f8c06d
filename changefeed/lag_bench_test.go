package changefeed_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"orgpulse/resolvers"
	"orgpulse/testsupport"
)

// BenchmarkRelayLag measures the relay's lag: from the moment a COMMIT
// returned to the moment its event arrives on Redis, for one UPDATE per
// iteration sent at a steady rate (100 and 1,000 per second), through a
// replica built by app.Build. At 1,000 per second the UPDATEs go out from
// 8 connections, each on its own employee (one connection cannot commit
// that often on a loaded machine). It reports the median, the 99th
// percentile and the rate the commits actually kept.
//
//	go test -run '^$' -bench RelayLag -benchtime 500x ./changefeed/
func BenchmarkRelayLag(b *testing.B) {
	for _, rate := range []int{100, 1000} {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) { relayLag(b, rate) })
	}
}

func relayLag(b *testing.B, rate int) {
	writers := 1
	if rate > 100 {
		writers = 8
	}
	d := testsupport.MustOpenSeededDB(b)
	rdb, prefix := testsupport.MustRedisClient(b)
	testsupport.MustStartLiveServer(b, d, testsupport.LiveOptions{Redis: rdb, Prefix: prefix, Quiet: true})
	emps := d.MustQueryInt64s(b, "SELECT id FROM employees ORDER BY id LIMIT $1", writers)
	sub := rdb.Subscribe(context.Background(), prefix+resolvers.TopicEmployee)
	defer sub.Close()
	if _, err := sub.Receive(context.Background()); err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	arrived := map[string]time.Time{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range sub.Channel() {
			var ev struct {
				D struct{ Employee *struct{ Name string } } `json:"d"`
			}
			if json.Unmarshal([]byte(m.Payload), &ev) == nil && ev.D.Employee != nil {
				mu.Lock()
				arrived[ev.D.Employee.Name] = time.Now()
				n := len(arrived)
				mu.Unlock()
				if n == b.N {
					return
				}
			}
		}
	}()
	committed := make([]time.Time, b.N)
	work := make(chan int, b.N)
	var wg sync.WaitGroup
	var failed error
	var failOnce sync.Once
	for w := range writers {
		wg.Go(func() {
			for i := range work {
				_, err := d.Pool.Exec(context.Background(), "UPDATE employees SET name = $1 WHERE id = $2", fmt.Sprintf("Lag %d", i), emps[w%len(emps)])
				if err != nil {
					failOnce.Do(func() { failed = err })
					return
				}
				committed[i] = time.Now()
			}
		})
	}
	// Each UPDATE is due at its place in the schedule; after a stall of
	// the machine the writers catch up (a ticker would drop the ticks).
	period := time.Second / time.Duration(rate)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		time.Sleep(time.Until(start.Add(time.Duration(i+1) * period)))
		work <- i
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(start)
	if failed != nil {
		b.Fatal(failed)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		b.Fatalf("%d of %d events arrived", len(arrived), b.N)
	}
	b.StopTimer()
	lags := make([]time.Duration, b.N)
	for i := range b.N {
		lags[i] = arrived[fmt.Sprintf("Lag %d", i)].Sub(committed[i])
	}
	slices.Sort(lags)
	b.ReportMetric(float64(lags[len(lags)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lags[len(lags)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "commits/s")
}

// BenchmarkRelayThroughput measures the one active relay's throughput:
// 8 connections commit single-row UPDATEs (of 8 different employees) as
// fast as they can, b.N in all, and the benchmark waits for every event on
// Redis. It reports commits per second (the writers, which take turns for
// the commit-time numbering) and events per second (first commit to last
// event: what one relay delivers when it is the bottleneck).
//
//	go test -run '^$' -bench RelayThroughput -benchtime 4000x ./changefeed/
func BenchmarkRelayThroughput(b *testing.B) {
	const writers = 8
	d := testsupport.MustOpenSeededDB(b)
	rdb, prefix := testsupport.MustRedisClient(b)
	testsupport.MustStartLiveServer(b, d, testsupport.LiveOptions{Redis: rdb, Prefix: prefix, Quiet: true})
	rows, err := d.Pool.Query(context.Background(), "SELECT id FROM employees ORDER BY id LIMIT $1", writers)
	if err != nil {
		b.Fatal(err)
	}
	var emps []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			b.Fatal(err)
		}
		emps = append(emps, id)
	}
	rows.Close()
	sub := rdb.Subscribe(context.Background(), prefix+resolvers.TopicEmployee)
	defer sub.Close()
	if _, err := sub.Receive(context.Background()); err != nil {
		b.Fatal(err)
	}
	run := fmt.Sprintf("Tp%d-", time.Now().UnixNano())
	seen := map[string]bool{}
	var nSeen atomic.Int64
	done := make(chan time.Time, 1)
	go func() {
		for m := range sub.Channel() {
			var ev struct {
				D struct{ Employee *struct{ Name string } } `json:"d"`
			}
			if json.Unmarshal([]byte(m.Payload), &ev) == nil && ev.D.Employee != nil && len(ev.D.Employee.Name) > len(run) && ev.D.Employee.Name[:len(run)] == run {
				seen[ev.D.Employee.Name] = true
				nSeen.Store(int64(len(seen)))
				if len(seen) == b.N {
					done <- time.Now()
					return
				}
			}
		}
	}()
	var next sync.Mutex
	i := 0
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range len(emps) {
		wg.Go(func() {
			for {
				next.Lock()
				n := i
				i++
				next.Unlock()
				if n >= b.N {
					return
				}
				if _, err := d.Pool.Exec(context.Background(), "UPDATE employees SET name = $1 WHERE id = $2", fmt.Sprintf("%s%d", run, n), emps[w]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	committed := time.Since(start)
	var last time.Time
	select {
	case last = <-done:
	case <-time.After(60 * time.Second):
		b.Fatalf("%d of %d events arrived", nSeen.Load(), b.N)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/committed.Seconds(), "commits/s")
	b.ReportMetric(float64(b.N)/last.Sub(start).Seconds(), "events/s")
}
