package changefeed_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
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
