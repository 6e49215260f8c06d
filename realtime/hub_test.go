package realtime_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"orgpulse/realtime"
	"orgpulse/testsupport"
)

func newHub(t *testing.T, rdb redis.UniversalClient, cfg realtime.Config) *realtime.Hub {
	t.Helper()
	h := realtime.New(rdb, cfg)
	t.Cleanup(h.Close)
	return h
}

func subscribe(t *testing.T, h *realtime.Hub, topic string) (<-chan []byte, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch, err := h.Subscribe(ctx, topic)
	if err != nil {
		t.Fatalf("subscribe %s: %v", topic, err)
	}
	return ch, cancel
}

func publish(t *testing.T, h *realtime.Hub, topic, payload string) {
	t.Helper()
	if err := h.Publish(context.Background(), topic, []byte(payload)); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

// receive waits for the next payload; ok is false on timeout or close.
func receive(ch <-chan []byte, timeout time.Duration) (string, bool) {
	select {
	case p, ok := <-ch:
		return string(p), ok
	case <-time.After(timeout):
		return "", false
	}
}

func mustReceive(t *testing.T, ch <-chan []byte, want string) {
	t.Helper()
	got, ok := receive(ch, 5*time.Second)
	if !ok {
		t.Fatalf("no payload (want %s)", want)
	}
	if got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPublishReachesOtherHub(t *testing.T) {
	rdb, prefix := testsupport.MustRedisClient(t)
	a := newHub(t, rdb, realtime.Config{Prefix: prefix})
	b := newHub(t, rdb, realtime.Config{Prefix: prefix})
	orgs, _ := subscribe(t, a, "organization")

	// Redis delivers one connection's messages in publish order: the
	// employee payload, had it been delivered, would come first.
	publish(t, b, "employee", `{"employee":1}`)
	publish(t, b, "organization", `{"organization":1}`)
	mustReceive(t, orgs, `{"organization":1}`)
	publish(t, a, "organization", `{"organization":2}`) // a hub hears itself too
	mustReceive(t, orgs, `{"organization":2}`)

	if st := b.Stats(); st.Published != 2 {
		t.Errorf("b published %d, want 2", st.Published)
	}
	if st := a.Stats(); st.Delivered != 2 || st.Channels != 1 || st.Subscribers != 1 || !st.Connected {
		t.Errorf("a stats: %+v", st)
	}
}

func TestPrefixesKeepInstancesApart(t *testing.T) {
	rdb, prefix := testsupport.MustRedisClient(t)
	a := newHub(t, rdb, realtime.Config{Prefix: prefix})
	other := newHub(t, rdb, realtime.Config{Prefix: prefix + "other:"})
	mine, _ := subscribe(t, a, "project")
	theirs, _ := subscribe(t, other, "project")
	publish(t, other, "project", `"theirs"`)
	publish(t, a, "project", `"mine"`)
	mustReceive(t, mine, `"mine"`)
	mustReceive(t, theirs, `"theirs"`)
	if got, ok := receive(theirs, 200*time.Millisecond); ok {
		t.Fatalf("the other prefix received %s", got)
	}
}

// TestOneRedisSubscriptionPerTopic: Redis sees one subscriber per channel
// however many local subscribers there are, and none once they left.
func TestOneRedisSubscriptionPerTopic(t *testing.T) {
	rdb, prefix := testsupport.MustRedisClient(t)
	h := newHub(t, rdb, realtime.Config{Prefix: prefix})
	numsub := func() int64 {
		n, err := rdb.PubSubNumSub(context.Background(), h.Channel("metric")).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n[h.Channel("metric")]
	}
	if n := numsub(); n != 0 {
		t.Fatalf("NUMSUB before any subscriber: %d", n)
	}
	var cancels []context.CancelFunc
	var chans []<-chan []byte
	for range 3 {
		ch, cancel := subscribe(t, h, "metric")
		chans, cancels = append(chans, ch), append(cancels, cancel)
		if n := numsub(); n != 1 {
			t.Fatalf("NUMSUB with local subscribers: %d, want 1", n)
		}
	}
	publish(t, h, "metric", `"m"`)
	for _, ch := range chans {
		mustReceive(t, ch, `"m"`)
	}
	cancels[0]()
	cancels[1]()
	if _, ok := receive(chans[0], time.Second); ok {
		t.Fatal("a cancelled subscriber still receives")
	}
	if n := numsub(); n != 1 {
		t.Fatalf("NUMSUB with one local subscriber left: %d, want 1", n)
	}
	cancels[2]()
	eventually(t, 5*time.Second, "UNSUBSCRIBE after the last subscriber left", func() bool { return numsub() == 0 })
	if st := h.Stats(); st.Channels != 0 || st.Subscribers != 0 {
		t.Errorf("stats after all left: %+v", st)
	}

	// Subscribing again right away must not lose the channel to the
	// pending UNSUBSCRIBE.
	for i := range 5 {
		ch, cancel := subscribe(t, h, "metric")
		publish(t, h, "metric", fmt.Sprintf(`%d`, i))
		mustReceive(t, ch, fmt.Sprintf(`%d`, i))
		cancel()
	}
}

func TestSlowSubscriberIsDroppedWithoutBlockingOthers(t *testing.T) {
	rdb, prefix := testsupport.MustRedisClient(t)
	h := newHub(t, rdb, realtime.Config{Prefix: prefix, Buffer: 4})
	fast, _ := subscribe(t, h, "employee")
	slow, _ := subscribe(t, h, "employee")
	// The fast one takes each payload before the next is published.
	const n = 50
	for i := range n {
		publish(t, h, "employee", fmt.Sprint(i))
		mustReceive(t, fast, fmt.Sprint(i))
	}
	// The slow one got at most its buffer, then its channel closed.
	got := 0
	for range slow {
		got++
	}
	if got > 4 {
		t.Errorf("the slow subscriber received %d payloads, more than its buffer of 4", got)
	}
	if st := h.Stats(); st.Dropped != 1 || st.Subscribers != 1 {
		t.Errorf("stats: %+v, want 1 dropped and 1 subscriber left", st)
	}
}

func TestCloseEndsSubscriptions(t *testing.T) {
	rdb, prefix := testsupport.MustRedisClient(t)
	h := realtime.New(rdb, realtime.Config{Prefix: prefix})
	ch, _ := subscribe(t, h, "organization")
	h.Close()
	if _, ok := receive(ch, time.Second); ok {
		t.Fatal("the channel is open after Close")
	}
	if _, err := h.Subscribe(context.Background(), "organization"); !errors.Is(err, realtime.ErrClosed) {
		t.Errorf("Subscribe after Close: %v", err)
	}
	if err := h.Publish(context.Background(), "organization", []byte("x")); !errors.Is(err, realtime.ErrClosed) {
		t.Errorf("Publish after Close: %v", err)
	}
}

func TestSubscribeFailsWhenRedisIsDown(t *testing.T) {
	p := testsupport.MustStartRedisProcess(t)
	rdb := p.Client(t)
	p.Stop(t)
	h := newHub(t, rdb, realtime.Config{Prefix: "t:", SubscribeTimeout: 300 * time.Millisecond})
	if _, err := h.Subscribe(context.Background(), "organization"); err == nil {
		t.Fatal("Subscribe succeeded without Redis")
	}
	p.Start(t)
	eventually(t, 10*time.Second, "Subscribe once Redis is back", func() bool {
		ctx, cancel := context.WithCancel(context.Background())
		_, err := h.Subscribe(ctx, "organization")
		cancel()
		return err == nil
	})
}

// publishUntilReceived publishes numbered payloads until ch receives one:
// after an outage, the first publishes may come before the re-SUBSCRIBE.
// publishUntilReceived subscribes to topic anew, once Redis confirms it,
// and publishes until the new subscription receives.
func publishUntilReceived(t *testing.T, h *realtime.Hub, topic string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var ch <-chan []byte
	for ch == nil {
		if time.Now().After(deadline) {
			t.Fatalf("no subscription after the outage (stats %+v)", h.Stats())
		}
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		c, err := h.Subscribe(ctx, topic)
		if err == nil {
			ch = c
		}
	}
	for i := 0; ; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("no event delivered after the outage (stats %+v)", h.Stats())
		}
		_ = h.Publish(context.Background(), topic, []byte(fmt.Sprintf(`"after-%d"`, i)))
		select {
		case _, ok := <-ch:
			if !ok {
				t.Fatal("the new subscription was closed")
			}
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// mustEnd fails unless ch is closed within 10 s (after whatever was
// already in it): a subscription the loss of the connection ended.
func mustEnd(t *testing.T, ch <-chan []byte) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("the subscription stayed open across the loss of the connection: it would never learn of its gap")
		}
	}
}

// TestReconnectsAfterRedisRestart: the outage ends the open subscription
// (what was published meanwhile is lost to it); after it, a new one
// receives again.
func TestReconnectsAfterRedisRestart(t *testing.T) {
	p := testsupport.MustStartRedisProcess(t)
	rdb := p.Client(t)
	h := newHub(t, rdb, realtime.Config{Prefix: "t:", HealthCheck: 100 * time.Millisecond})
	ch, _ := subscribe(t, h, "project")
	publish(t, h, "project", `"before"`)
	mustReceive(t, ch, `"before"`)

	p.Stop(t)
	eventually(t, 5*time.Second, "the hub notices the outage", func() bool { return !h.Stats().Connected })
	mustEnd(t, ch)
	if err := h.Publish(context.Background(), "project", []byte(`"lost"`)); err == nil {
		t.Error("Publish succeeded while Redis was down")
	}
	p.Start(t)
	publishUntilReceived(t, h, "project")
	st := h.Stats()
	if st.Reconnects < 1 || st.Gap <= 0 || !st.Connected {
		t.Errorf("stats after the restart: %+v", st)
	}
}

// TestReplacesSilentConnection freezes Redis (SIGSTOP): the connection
// reports no error, only silence. The hub must notice through its PINGs.
func TestReplacesSilentConnection(t *testing.T) {
	p := testsupport.MustStartRedisProcess(t)
	rdb := p.Client(t)
	h := newHub(t, rdb, realtime.Config{Prefix: "t:", HealthCheck: 100 * time.Millisecond})
	ch, _ := subscribe(t, h, "metric")
	publish(t, h, "metric", `"before"`)
	mustReceive(t, ch, `"before"`)

	p.Pause(t)
	eventually(t, 5*time.Second, "the hub gives up on the silent connection", func() bool { return h.Stats().Reconnects > 0 || !h.Stats().Connected })
	mustEnd(t, ch)
	p.Resume(t)
	publishUntilReceived(t, h, "metric")
}
