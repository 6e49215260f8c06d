package changefeed_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"orgpulse/testsupport"
)

// replayBacklog is how far behind the resuming subscriber starts.
const replayBacklog = 10_000

// BenchmarkReplayCatchUp measures how fast a subscriber 10,000 events
// behind catches up (after: a cursor), over a WebSocket to a replica built
// by app.Build, while a live subscriber on another socket receives the
// changes a writer commits at 100 per second. Each iteration is one
// resuming subscriber reading the same backlog. It reports the catch-up
// rate (events/s) and the live subscriber's delivery (COMMIT returned to
// the event read from its socket) during the catch-ups (live-*), p50 and
// p99, and for 2 s before them (alone-*).
//
//	go test -run '^$' -bench ReplayCatchUp -benchtime 3x ./changefeed/
func BenchmarkReplayCatchUp(b *testing.B) {
	s := replicas(b, 1, nil, "", nil)[0]
	org, emp := anOrganization(b, s)
	liveEmp := s.DB.MustQueryInt64(b, "SELECT max(id) FROM employees WHERE organization_id = $1", org)
	// The cursor: the event of one change, then the backlog after it.
	probe := subscribeAfter(b, s, "", org, "")
	rename(b, s, emp, "Backlog start")
	from := nextEvents(b, probe, "e", 1, 10*time.Second)[0].cursor
	_ = probe.Conn.CloseNow()
	for k := 0; k < replayBacklog; k += 100 { // 100 transactions of 100 changes
		s.DB.MustExec(b, fmt.Sprintf(`DO $$ BEGIN
			FOR i IN %d..%d LOOP UPDATE employees SET name = 'Backlog ' || i WHERE id = %d; END LOOP;
		END $$`, k+1, k+100, emp))
	}
	testsupport.Eventually(b, time.Minute, "the relay delivered the backlog", func() bool {
		return s.DB.MustQueryInt64(b, "SELECT position FROM change_relay") >= s.DB.MustQueryInt64(b, "SELECT max(position) FROM change_log")
	})
	live := subscribeAfter(b, s, "", org, "")
	var mu sync.Mutex
	committed := map[string]time.Time{}
	var lags []time.Duration
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { liveWriter(s, liveEmp, stop, &mu, committed) })
	wg.Go(func() { liveReader(b, live, stop, &mu, committed, &lags) })

	// The live subscriber's delivery alone, for comparison.
	time.Sleep(2 * time.Second)
	mu.Lock()
	alone := lags
	lags = nil
	mu.Unlock()

	b.ResetTimer()
	var took time.Duration
	for range b.N {
		start := time.Now()
		c := subscribeAfter(b, s, "", org, from)
		for n := 0; n < replayBacklog; {
			m := c.NextFor("e", 30*time.Second)
			if m.Type != "next" {
				b.Fatalf("resuming: %s %s", m.Type, m.Payload)
			}
			if strings.Contains(string(m.Payload), `"Backlog `) {
				n++
			}
		}
		took += time.Since(start)
		_ = c.Conn.CloseNow()
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(replayBacklog*b.N)/took.Seconds(), "events/s")
	mu.Lock()
	defer mu.Unlock()
	if len(lags) == 0 || len(alone) == 0 {
		b.Fatal("the live subscriber received nothing")
	}
	for _, l := range []struct {
		name string
		lags []time.Duration
	}{{"live", lags}, {"alone", alone}} {
		slices.Sort(l.lags)
		b.ReportMetric(float64(l.lags[len(l.lags)/2].Microseconds())/1000, l.name+"-p50-ms")
		b.ReportMetric(float64(l.lags[len(l.lags)*99/100].Microseconds())/1000, l.name+"-p99-ms")
	}
	b.ReportMetric(float64(len(lags)), "live-events")
}

// liveWriter renames emp 100 times a second until stop, noting when each
// COMMIT returned.
func liveWriter(s *testsupport.LiveServer, emp int64, stop <-chan struct{}, mu *sync.Mutex, committed map[string]time.Time) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		name := fmt.Sprintf("Live %d", i)
		if _, err := s.DB.Pool.Exec(context.Background(), "UPDATE employees SET name = $1 WHERE id = $2", name, emp); err != nil {
			return
		}
		mu.Lock()
		committed[name] = time.Now()
		mu.Unlock()
	}
}

// liveReader records the delivery of each live event until stop.
func liveReader(tb testing.TB, c *testsupport.WSClient, stop <-chan struct{}, mu *sync.Mutex, committed map[string]time.Time, lags *[]time.Duration) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		m, ok := c.TryNext(100 * time.Millisecond)
		if !ok {
			continue
		}
		at := time.Now()
		var p struct {
			Data struct {
				EmployeeChanged struct{ Employee *struct{ Name string } }
			}
		}
		if json.Unmarshal(m.Payload, &p) != nil || p.Data.EmployeeChanged.Employee == nil {
			continue
		}
		mu.Lock()
		if t, ok := committed[p.Data.EmployeeChanged.Employee.Name]; ok {
			*lags = append(*lags, at.Sub(t))
		}
		mu.Unlock()
	}
}
