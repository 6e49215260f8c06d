package monitor_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"orgpulse/monitor"
	"orgpulse/testsupport"
)

func sample(i int) monitor.Sample {
	return monitor.Sample{Type: monitor.TypeAPIResponse, Value: float64(i), Endpoint: "graphql:Test",
		Status: 200, At: time.Now()}
}

func rowCount(t *testing.T, db *testsupport.DB) int64 {
	t.Helper()
	return db.MustQueryInt64(t, "SELECT count(*) FROM performance_metrics")
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func closeRecorder(t *testing.T, r *monitor.Recorder) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Errorf("close recorder: %v", err)
	}
}

func TestRecorderWritesEveryNRows(t *testing.T) {
	db := testsupport.MustOpenDB(t)
	r := monitor.NewRecorder(db.Pool, monitor.RecorderConfig{FlushRows: 10, FlushInterval: time.Hour})
	defer closeRecorder(t, r)
	for i := range 25 {
		r.Record(sample(i))
	}
	// Two full batches of 10 are written without any flush; 5 wait.
	waitFor(t, 5*time.Second, "20 rows written in batches of 10", func() bool { return rowCount(t, db) == 20 })
	time.Sleep(100 * time.Millisecond)
	if n := rowCount(t, db); n != 20 {
		t.Fatalf("%d rows before the interval, want 20 (two batches of 10)", n)
	}
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := rowCount(t, db); n != 25 {
		t.Fatalf("%d rows after Flush, want 25", n)
	}
	s := r.Stats()
	if s.Recorded != 25 || s.Written != 25 || s.Dropped != 0 || s.Lost != 0 || s.Buffered != 0 {
		t.Fatalf("stats %+v, want 25 recorded and written, nothing dropped or lost", s)
	}
	// The rows are the samples, column for column.
	var typ, endpoint string
	var status int32
	var sum float64
	db.MustScan(t, []any{&typ, &endpoint, &status, &sum},
		"SELECT min(metric_type), min(endpoint), min(status_code), sum(value) FROM performance_metrics")
	if typ != "api_response" || endpoint != "graphql:Test" || status != 200 || sum != 300 {
		t.Fatalf("rows hold %s %s %d sum %v, want api_response graphql:Test 200 sum 300", typ, endpoint, status, sum)
	}
}

func TestRecorderWritesEveryInterval(t *testing.T) {
	db := testsupport.MustOpenDB(t)
	r := monitor.NewRecorder(db.Pool, monitor.RecorderConfig{FlushRows: 1000, FlushInterval: 50 * time.Millisecond})
	defer closeRecorder(t, r)
	for i := range 3 {
		r.Record(sample(i))
	}
	waitFor(t, 5*time.Second, "3 rows written by the interval", func() bool { return rowCount(t, db) == 3 })
}

// TestRecorderFullBufferDrops holds an exclusive lock on the table so the
// writer's COPY waits: the buffer fills, and Record keeps returning at
// once, dropping and counting. Once the lock goes, everything accepted is
// written.
func TestRecorderFullBufferDrops(t *testing.T) {
	db := testsupport.MustOpenDB(t)
	ctx := context.Background()
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "LOCK TABLE performance_metrics IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	const buffer, batch, sent = 10, 5, 1000
	r := monitor.NewRecorder(db.Pool, monitor.RecorderConfig{BufferSize: buffer, FlushRows: batch, FlushInterval: time.Hour})
	defer closeRecorder(t, r)

	// A Record that waited for room would wait until the lock goes, which
	// only happens below: the loop must finish while the writer is stuck.
	var slowest time.Duration
	accepted := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range sent {
			start := time.Now()
			if r.Record(sample(i)) {
				accepted++
			}
			slowest = max(slowest, time.Since(start))
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Record blocked while the buffer was full")
	}
	s := r.Stats()
	if s.Dropped == 0 || s.Recorded+s.Dropped != sent || int(s.Recorded) != accepted {
		t.Fatalf("stats %+v after %d samples (%d accepted): want drops, and recorded+dropped = sent", s, sent, accepted)
	}
	// The writer holds at most one batch (waiting on the lock) besides the
	// buffer: everything else was dropped.
	if accepted > buffer+batch {
		t.Fatalf("%d samples accepted with a buffer of %d and batches of %d", accepted, buffer, batch)
	}
	if slowest > 250*time.Millisecond {
		t.Fatalf("the slowest Record took %v while the writer was blocked: it must not wait", slowest)
	}

	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := r.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	if n := rowCount(t, db); n != int64(accepted) {
		t.Fatalf("%d rows, want the %d accepted samples", n, accepted)
	}
}

func TestRecorderCloseFlushes(t *testing.T) {
	db := testsupport.MustOpenDB(t)
	r := monitor.NewRecorder(db.Pool, monitor.RecorderConfig{FlushRows: 10000, FlushInterval: time.Hour})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 250 {
				r.Record(sample(g*1000 + i))
			}
		}()
	}
	wg.Wait()
	if n := rowCount(t, db); n != 0 {
		t.Fatalf("%d rows before Close with an hour's interval, want 0", n)
	}
	closeRecorder(t, r)
	if n := rowCount(t, db); n != 1000 {
		t.Fatalf("%d rows after Close, want 1000", n)
	}
	if r.Record(sample(1)) {
		t.Fatal("Record after Close accepted a sample")
	}
	if s := r.Stats(); s.Written != 1000 || s.Dropped != 1 || s.Lost != 0 {
		t.Fatalf("stats %+v, want 1000 written, 1 dropped (after Close), none lost", s)
	}
	if err := r.Flush(context.Background()); err != monitor.ErrClosed {
		t.Fatalf("Flush after Close: %v, want ErrClosed", err)
	}
}

// TestRecorderCloseRespectsDeadline: when the final write cannot finish
// (the table is locked), Close returns at its deadline and counts the
// samples it could not store as lost.
func TestRecorderCloseRespectsDeadline(t *testing.T) {
	db := testsupport.MustOpenDB(t)
	ctx := context.Background()
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "LOCK TABLE performance_metrics IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	r := monitor.NewRecorder(db.Pool, monitor.RecorderConfig{FlushInterval: time.Hour})
	for i := range 10 {
		r.Record(sample(i))
	}
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = r.Close(cctx)
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("Close with the table locked: %v after %v, want a deadline error soon", err, time.Since(start))
	}
	waitFor(t, 5*time.Second, "the unwritten samples counted as lost", func() bool { return r.Stats().Lost == 10 })
}
