package resolvers

import (
	"context"
	"errors"
	"testing"
	"time"
)

func testSink(t *testing.T, paced bool) (*chanSink[int], *SubscriptionStatus, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ctx, status := WithSubscriptionStatus(ctx)
	if paced {
		status.Pace()
	}
	s := newSink(ctx, newLive(New(nil, Config{})), func(*liveEvent) (int, bool) { return 0, false })
	s.setDetach(func() {})
	t.Cleanup(cancel)
	return s, status, cancel
}

func item(pos int64, idx int32) sinkItem[int] {
	return sinkItem[int]{v: int(pos)*10 + int(idx), cur: Cursor{Position: pos, Index: idx}}
}

func take(t *testing.T, s *chanSink[int]) int {
	t.Helper()
	select {
	case v := <-s.out:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("no value")
		return 0
	}
}

// TestSinkDropsRepeatsAndPaces: values at or before the last one queued
// are dropped; paced, the next value goes out only after Took, which
// names the cursor of the value before.
func TestSinkDropsRepeatsAndPaces(t *testing.T) {
	s, status, _ := testSink(t, true)
	for _, it := range []sinkItem[int]{item(3, 1), item(3, 2), item(3, 1), item(2, 1), item(4, 1), item(4, 1)} {
		s.pushItem(it)
	}
	var got []int
	var cursors []string
	for range 3 {
		got = append(got, take(t, s))
		select {
		case v := <-s.out:
			t.Fatalf("value %d went out before the result of the one before was taken", v)
		case <-time.After(20 * time.Millisecond):
		}
		cursors = append(cursors, status.Took())
	}
	if want := []int{31, 32, 41}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("values %v, want %v", got, want)
	}
	if cursors[0] != (Cursor{3, 1}).String() || cursors[2] != (Cursor{4, 1}).String() {
		t.Fatalf("cursors %v", cursors)
	}
}

// TestSinkHeldOverflow: live values past heldMax during a catch-up are
// dropped, and release says to read the log further; then the held
// values go out after the log's, repeats dropped.
func TestSinkHeldOverflow(t *testing.T) {
	s, _, _ := testSink(t, false)
	s.catchUp(Cursor{1, 1})
	for i := range heldMax + 1 {
		s.pushItem(item(int64(100+i), 1))
	}
	if caughtUp, ok := s.release(context.Background()); caughtUp || !ok {
		t.Fatalf("release after an overflow: caughtUp %v ok %v, want false true", caughtUp, ok)
	}
	s.pushItem(item(200, 1)) // still catching up: held
	if f, ok := s.firstHeld(); !ok || f != (Cursor{200, 1}) {
		t.Fatalf("first held %v %v", f, ok)
	}
	go func() {
		for _, it := range []sinkItem[int]{item(199, 1), item(200, 1)} { // the log reaches it
			s.pushWait(context.Background(), it)
		}
		s.release(context.Background())
		s.pushItem(item(201, 1)) // live
	}()
	for _, want := range []int{1991, 2001, 2011} {
		if v := take(t, s); v != want {
			t.Fatalf("value %d, want %d", v, want)
		}
	}
}

// TestSinkStalled: a paced subscription whose result is never taken ends
// with SERVICE_UNAVAILABLE instead of waiting forever.
func TestSinkStalled(t *testing.T) {
	defer func(d time.Duration) { stallTimeout = d }(stallTimeout)
	stallTimeout = 50 * time.Millisecond
	s, status, _ := testSink(t, true)
	s.pushItem(item(5, 1))
	take(t, s)
	deadline := time.Now().Add(5 * time.Second)
	for status.Err() == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	var coded *Error
	if !errors.As(status.Err(), &coded) || coded.Code != CodeServiceUnavailable {
		t.Fatalf("ended with %v", status.Err())
	}
}
