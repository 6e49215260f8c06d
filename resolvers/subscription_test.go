package resolvers

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	graphql "github.com/graph-gophers/graphql-go"

	"orgpulse/auth"
	"orgpulse/db"
)

// memBus is an in-process EventBus: what the resolvers need of one,
// without Redis.
type memBus struct {
	mu   sync.Mutex
	subs map[string]map[chan []byte]struct{}
}

func newMemBus() *memBus { return &memBus{subs: map[string]map[chan []byte]struct{}{}} }

func (b *memBus) Subscribe(ctx context.Context, topic string) (<-chan []byte, error) {
	ch := make(chan []byte, 1024)
	b.mu.Lock()
	if b.subs[topic] == nil {
		b.subs[topic] = map[chan []byte]struct{}{}
	}
	b.subs[topic][ch] = struct{}{}
	b.mu.Unlock()
	context.AfterFunc(ctx, func() { b.cut(topic, ch) })
	return ch, nil
}

// cut ends one subscription, as a hub does when its subscriber falls behind.
func (b *memBus) cut(topic string, ch chan []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[topic][ch]; ok {
		delete(b.subs[topic], ch)
		close(ch)
	}
}

func (b *memBus) cutAll(topic string) {
	b.mu.Lock()
	var chans []chan []byte
	for ch := range b.subs[topic] {
		chans = append(chans, ch)
	}
	b.mu.Unlock()
	for _, ch := range chans {
		b.cut(topic, ch)
	}
}

func (b *memBus) listeners(topic string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs[topic])
}

func (b *memBus) Publish(_ context.Context, topic string, payload []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs[topic] {
		ch <- payload
	}
	return nil
}

// adminCtx is a context of the admin principal, who sees every event.
func adminCtx() context.Context { return WithPrincipal(context.Background(), auth.Admin()) }

func publishOrg(t *testing.T, b *memBus, id int64, name string) {
	t.Helper()
	o := db.Organization{ID: id, Name: name}
	payload, _ := EncodeEvent(Event{Action: ActionUpdated, OrganizationID: id, Organization: &o})
	if err := b.Publish(context.Background(), TopicOrganization, payload); err != nil {
		t.Fatal(err)
	}
}

func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v, ok := <-ch:
		if !ok {
			t.Fatal("the channel closed")
		}
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("nothing received")
	}
	panic("unreachable")
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestEveryMatchingSubscriberGetsTheEventsOneResolver(t *testing.T) {
	bus := newMemBus()
	r := New(nil, Config{Events: bus})
	ctx, cancel := context.WithCancel(adminCtx())
	defer cancel()
	all, err := r.OrganizationUpdated(ctx, OrganizationUpdatedArgs{})
	if err != nil {
		t.Fatal(err)
	}
	seven := graphql.ID("7")
	only7, err := r.OrganizationUpdated(ctx, OrganizationUpdatedArgs{ID: &seven})
	if err != nil {
		t.Fatal(err)
	}
	if n := bus.listeners(TopicOrganization); n != 1 {
		t.Fatalf("%d bus subscriptions for two subscribers, want 1", n)
	}

	publishOrg(t, bus, 3, "three")
	publishOrg(t, bus, 7, "seven")
	if got := recv(t, all).Name(); got != "three" {
		t.Fatalf("got %s", got)
	}
	a, b := recv(t, all), recv(t, only7)
	if a != b {
		t.Fatal("two subscribers of one event got different resolvers")
	}
	if a.l.r == r || a.l.r.eventLoaders != a.l || a.l.eventCtx == nil || a.l.r.loaders(context.Background()) != a.l {
		t.Fatal("the event's resolver does not carry the event's loaders")
	}
	waitFor(t, "stats count 2 events and 3 deliveries", func() bool {
		st := r.LiveStats()
		return st.Subscriptions == 2 && st.Topics == 1 && st.Events == 2 && st.Deliveries == 3
	})
	cancel()
	waitFor(t, "the bus subscription ends with the last subscriber", func() bool { return bus.listeners(TopicOrganization) == 0 })
	if st := r.LiveStats(); st.Subscriptions != 0 || st.Topics != 0 {
		t.Errorf("stats after the end: %+v", st)
	}
}

func TestSubscriptionFallenBehindEndsAlone(t *testing.T) {
	bus := newMemBus()
	r := New(nil, Config{Events: bus})
	fastCtx, fastStatus := WithSubscriptionStatus(adminCtx())
	fast, err := r.OrganizationUpdated(fastCtx, OrganizationUpdatedArgs{})
	if err != nil {
		t.Fatal(err)
	}
	slowCtx, slowStatus := WithSubscriptionStatus(adminCtx())
	if _, err := r.OrganizationUpdated(slowCtx, OrganizationUpdatedArgs{}); err != nil {
		t.Fatal(err)
	}
	if !fastStatus.Started() || !slowStatus.Started() {
		t.Fatal("the subscriptions are not marked started")
	}
	// The fast one takes each value before the next is published.
	for i := range subscriptionBuffer + 50 {
		publishOrg(t, bus, int64(i+1), "o")
		recv(t, fast)
	}
	var coded *Error
	waitFor(t, "the slow subscription ends", func() bool { return slowStatus.Err() != nil })
	if !errors.As(slowStatus.Err(), &coded) || coded.Code != CodeServiceUnavailable {
		t.Errorf("slow subscription ended with %v", slowStatus.Err())
	}
	if fastStatus.Err() != nil {
		t.Errorf("the fast subscription ended: %v", fastStatus.Err())
	}
	if st := r.LiveStats(); st.Interrupted != 1 || st.Subscriptions != 1 {
		t.Errorf("stats: %+v", st)
	}
}

func TestInterruptedStreamEndsItsSubscriptions(t *testing.T) {
	bus := newMemBus()
	r := New(nil, Config{Events: bus})
	ctx, status := WithSubscriptionStatus(adminCtx())
	ch, err := r.EmployeeChanged(ctx, EmployeeChangedArgs{})
	if err != nil {
		t.Fatal(err)
	}
	bus.cutAll(TopicEmployee)
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("received a value")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the subscription did not end")
	}
	var coded *Error
	if !errors.As(status.Err(), &coded) || coded.Code != CodeServiceUnavailable {
		t.Errorf("ended with %v", status.Err())
	}
	if got, want := r.LiveStats().Interrupted, uint64(1); got != want {
		t.Errorf("interrupted subscriptions: got %d, want %d", got, want)
	}
	// A new subscriber gets a new stream.
	ch, err = r.EmployeeChanged(adminCtx(), EmployeeChangedArgs{})
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := EncodeEvent(Event{Action: ActionDeleted, EmployeeID: 5, OrganizationID: 2})
	_ = bus.Publish(context.Background(), TopicEmployee, payload)
	if ev := recv(t, ch); ev.Action() != ActionDeleted || ev.EmployeeID() != "5" || ev.Employee() != nil {
		t.Errorf("event: %+v", ev)
	}
}

func TestNoEventBus(t *testing.T) {
	r := New(nil, Config{})
	ctx, status := WithSubscriptionStatus(adminCtx())
	_, err := r.MetricRecorded(ctx, MetricRecordedArgs{})
	var coded *Error
	if !errors.As(err, &coded) || coded.Code != CodeServiceUnavailable || status.Started() {
		t.Errorf("without a bus: %v (started %v)", err, status.Started())
	}
}
