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
// iteration sent at a steady rate (100 per second), through a replica
// built by app.Build. It reports the median and the 99th percentile.
//
//	go test -run '^$' -bench RelayLag -benchtime 500x ./changefeed/
func BenchmarkRelayLag(b *testing.B) {
	const rate = 100
	d := testsupport.MustOpenSeededDB(b)
	rdb, prefix := testsupport.MustRedisClient(b)
	testsupport.MustStartLiveServer(b, d, testsupport.LiveOptions{Redis: rdb, Prefix: prefix, Quiet: true})
	emp := d.MustQueryInt64(b, "SELECT min(id) FROM employees")
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
	tick := time.NewTicker(time.Second / rate)
	defer tick.Stop()
	b.ResetTimer()
	for i := range b.N {
		<-tick.C
		if _, err := d.Pool.Exec(context.Background(), "UPDATE employees SET name = $1 WHERE id = $2", fmt.Sprintf("Lag %d", i), emp); err != nil {
			b.Fatal(err)
		}
		committed[i] = time.Now()
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
}
