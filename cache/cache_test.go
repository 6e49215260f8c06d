package cache_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"orgpulse/cache"
	"orgpulse/testsupport"
	"orgpulse/wire"
)

// logBuffer collects slog output from concurrent goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// count returns how many log lines contain s.
func (l *logBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range strings.Split(l.b.String(), "\n") {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

const unavailableLog = "redis unavailable; reading from PostgreSQL"

// source stands in for the database: a value and the number of times it was
// read.
type source struct {
	mu    sync.Mutex
	value text
	reads int
}

func (s *source) set(v text) {
	s.mu.Lock()
	s.value = v
	s.mu.Unlock()
}

func (s *source) fill(context.Context) (text, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	return s.value, nil
}

func (s *source) readCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

var ctx = context.Background()

func mustLoad(t *testing.T, c *cache.Cache, key cache.Key, fill func(context.Context) (text, error)) text {
	t.Helper()
	v, err := cache.Load(ctx, c, key, time.Minute, fill)
	if err != nil {
		t.Fatalf("Load %s: %v", key.Name, err)
	}
	return v
}

func newCache(t *testing.T) (*cache.Cache, redis.UniversalClient, string) {
	rdb, prefix := testsupport.MustRedisClient(t)
	return cache.New(rdb, cache.Config{Prefix: prefix, Logger: slog.New(slog.DiscardHandler)}), rdb, prefix
}

func TestHitAfterStore(t *testing.T) {
	c, _, _ := newCache(t)
	src := &source{value: "v1"}
	key := cache.Key{Name: "thing:1", Version: "things"}

	if got := mustLoad(t, c, key, src.fill); got != "v1" {
		t.Fatalf("first load = %q, want v1", got)
	}
	src.set("v2") // changed without invalidation: the cached value stays
	for i := range 3 {
		if got := mustLoad(t, c, key, src.fill); got != "v1" {
			t.Fatalf("load %d = %q, want the cached v1", i+2, got)
		}
	}
	if n := src.readCount(); n != 1 {
		t.Errorf("fill ran %d times, want 1", n)
	}
	if s := c.Stats(); s.Hits != 3 || s.Misses != 1 || s.Errors != 0 {
		t.Errorf("stats = %+v, want 3 hits, 1 miss, 0 errors", s)
	}

	// Zero values are cached too.
	zero := number(0)
	zeroFills := 0
	for range 2 {
		v, err := cache.Load(ctx, c, cache.Key{Name: "zero", Version: "things"}, time.Minute, func(context.Context) (number, error) {
			zeroFills++
			return zero, nil
		})
		if err != nil || v != 0 {
			t.Fatalf("Load zero = %v, %v", v, err)
		}
	}
	if zeroFills != 1 {
		t.Errorf("a cached zero value was filled %d times, want 1", zeroFills)
	}

	// A failing fill is returned and nothing is cached.
	boom := errors.New("boom")
	failKey := cache.Key{Name: "failing", Version: "things"}
	if _, err := cache.Load(ctx, c, failKey, time.Minute, func(context.Context) (text, error) { return "", boom }); !errors.Is(err, boom) {
		t.Fatalf("Load with failing fill: err = %v, want boom", err)
	}
	if got := mustLoad(t, c, failKey, (&source{value: "ok"}).fill); got != "ok" {
		t.Errorf("after a failed fill, load = %q, want ok (nothing cached)", got)
	}
}

func TestLoadManyFillsOnlyMisses(t *testing.T) {
	c, _, _ := newCache(t)
	keys := []cache.Key{{Name: "k:0", Version: "a"}, {Name: "k:1", Version: "b"}, {Name: "k:2", Version: "a"}}
	var asked [][]int
	fill := func(_ context.Context, missing []int) (map[int]text, error) {
		asked = append(asked, slices.Clone(missing))
		out := map[int]text{}
		for _, i := range missing {
			out[i] = text(keys[i].Name + ":" + time.Now().Format(time.RFC3339Nano))
		}
		return out, nil
	}
	first, err := cache.LoadMany(ctx, c, keys, time.Minute, fill)
	if err != nil {
		t.Fatal(err)
	}
	second, err := cache.LoadMany(ctx, c, keys, time.Minute, fill)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(first, second) {
		t.Errorf("second LoadMany = %q, want the cached %q", second, first)
	}
	c.Invalidate(ctx, "b")
	third, err := cache.LoadMany(ctx, c, keys, time.Minute, fill)
	if err != nil {
		t.Fatal(err)
	}
	if third[0] != first[0] || third[2] != first[2] || third[1] == first[1] {
		t.Errorf("after invalidating b: %q; want k:0 and k:2 cached and k:1 refilled (was %q)", third, first)
	}
	want := [][]int{{0, 1, 2}, {1}}
	if len(asked) != 2 || !slices.Equal(asked[0], want[0]) || !slices.Equal(asked[1], want[1]) {
		t.Errorf("fill was asked for %v, want %v", asked, want)
	}
}

func TestInvalidateMakesNextLoadMiss(t *testing.T) {
	c, _, _ := newCache(t)
	src := &source{value: "old"}
	other := &source{value: "other"}
	key := cache.Key{Name: "org:1:count", Version: "org:1:employees"}
	otherKey := cache.Key{Name: "org:2:count", Version: "org:2:employees"}
	mustLoad(t, c, key, src.fill)
	mustLoad(t, c, otherKey, other.fill)

	src.set("new")
	c.Invalidate(ctx, "org:1:employees")
	if got := mustLoad(t, c, key, src.fill); got != "new" {
		t.Errorf("load after Invalidate = %q, want new", got)
	}
	if got := mustLoad(t, c, key, src.fill); got != "new" {
		t.Errorf("second load after Invalidate = %q, want new (cached)", got)
	}
	if n := src.readCount(); n != 2 {
		t.Errorf("fill ran %d times, want 2 (before and after the invalidation)", n)
	}
	mustLoad(t, c, otherKey, other.fill)
	if n := other.readCount(); n != 1 {
		t.Errorf("a value of another version was filled %d times, want 1 (still cached)", n)
	}
	if s := c.Stats(); s.Invalidations != 1 {
		t.Errorf("Stats().Invalidations = %d, want 1", s.Invalidations)
	}
	c.Invalidate(ctx) // no versions: nothing to do
	var nilCache *cache.Cache
	nilCache.Invalidate(ctx, "x") // a nil cache caches nothing and never fails
	if got := mustLoad(t, nilCache, key, src.fill); got != "new" {
		t.Errorf("nil cache load = %q", got)
	}
}

// A reader that missed before an invalidation and fills from the old row
// must not make that old value visible to any load that starts after the
// invalidation, whichever finishes first.
func TestReaderBeforeInvalidationCannotPublishOldValue(t *testing.T) {
	for _, order := range []string{"old fill finishes first", "new load runs while old fill is in flight"} {
		t.Run(order, func(t *testing.T) {
			c, _, _ := newCache(t)
			key := cache.Key{Name: "org:7:employeeStats", Version: "org:7:employees"}
			entered := make(chan struct{})
			release := make(chan struct{})
			oldDone := make(chan text, 1)
			go func() {
				v, err := cache.Load(ctx, c, key, time.Minute, func(context.Context) (text, error) {
					close(entered)
					<-release
					return "old", nil // read before the write committed
				})
				if err != nil {
					v = text("error: " + err.Error())
				}
				oldDone <- v
			}()
			<-entered
			// The write commits, then invalidates.
			c.Invalidate(ctx, "org:7:employees")
			newSrc := &source{value: "new"}

			if order == "old fill finishes first" {
				close(release)
				if v := <-oldDone; v != "old" {
					t.Fatalf("the reader that started first got %q, want old", v)
				}
			}
			// Started after the invalidation: must not see (or join) the old fill.
			if got := mustLoad(t, c, key, newSrc.fill); got != "new" {
				t.Errorf("load started after Invalidate = %q, want new", got)
			}
			if order != "old fill finishes first" {
				close(release)
				if v := <-oldDone; v != "old" {
					t.Fatalf("the reader that started first got %q, want old", v)
				}
			}
			// And after the old reader stored its value, later loads still see new.
			for i := range 3 {
				if got := mustLoad(t, c, key, newSrc.fill); got != "new" {
					t.Errorf("load %d after both finished = %q, want new", i, got)
				}
			}
			if n := newSrc.readCount(); n != 1 {
				t.Errorf("new value was filled %d times, want 1 (then served from cache)", n)
			}
		})
	}
}

// TestLoadManySharedFillByName: two callers miss the same name at
// different places among their keys while one fill runs; each gets the
// value of its own key. (The shared fill's result was once indexed by the
// first caller's positions, so the second got another key's value, or
// none.)
func TestLoadManySharedFillByName(t *testing.T) {
	c, _, _ := newCache(t)
	hot := cache.Key{Name: "org:1:count", Version: "org:1"}
	cold := cache.Key{Name: "org:2:count", Version: "org:2"}
	if _, err := cache.LoadMany(ctx, c, []cache.Key{hot}, time.Minute, func(context.Context, []int) (map[int]text, error) {
		return map[int]text{0: "one"}, nil
	}); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var fills atomic.Int32
	fillFor := func(keys []cache.Key) func(context.Context, []int) (map[int]text, error) {
		return func(_ context.Context, missing []int) (map[int]text, error) {
			fills.Add(1)
			<-release
			out := map[int]text{}
			for _, i := range missing {
				out[i] = map[string]text{hot.Name: "one", cold.Name: "two"}[keys[i].Name]
			}
			return out, nil
		}
	}
	first := []cache.Key{hot, cold} // cold misses at index 1
	second := []cache.Key{cold}     // and at index 0
	var wg sync.WaitGroup
	var got1, got2 []text
	var err1, err2 error
	wg.Go(func() { got1, err1 = cache.LoadMany(ctx, c, first, time.Minute, fillFor(first)) })
	for fills.Load() == 0 {
		runtime.Gosched()
	}
	wg.Go(func() { got2, err2 = cache.LoadMany(ctx, c, second, time.Minute, fillFor(second)) })
	// Give the second caller time to join the running fill; it gets the
	// right value whether or not it did, only the shared path was broken.
	time.Sleep(100 * time.Millisecond)
	close(release)
	wg.Wait()
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if !slices.Equal(got1, []text{"one", "two"}) || !slices.Equal(got2, []text{"two"}) {
		t.Errorf("got %q and %q, want [one two] and [two]", got1, got2)
	}
	if n := fills.Load(); n != 1 {
		t.Errorf("%d fills, want 1 shared by both callers", n)
	}
}

func TestSingleflightOneFillPerReplica(t *testing.T) {
	c, _, _ := newCache(t)
	key := cache.Key{Name: "orgs:active", Version: "orgs"}
	var fills atomic.Int32
	fill := func(context.Context) (text, error) {
		fills.Add(1)
		time.Sleep(200 * time.Millisecond)
		return "list", nil
	}
	const n = 50
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			<-start
			v, err := cache.Load(ctx, c, key, time.Minute, fill)
			if err == nil && v != "list" {
				err = errors.New("got " + string(v))
			}
			if err != nil {
				errs <- err
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := fills.Load(); got != 1 {
		t.Errorf("%d concurrent loads of a cold key ran fill %d times, want 1", n, got)
	}
}

func TestGenerationRetiresEverything(t *testing.T) {
	c, rdb, prefix := newCache(t)
	a, b := &source{value: "a"}, &source{value: "b"}
	ka, kb := cache.Key{Name: "a", Version: "va"}, cache.Key{Name: "b", Version: "vb"}
	mustLoad(t, c, ka, a.fill)
	mustLoad(t, c, kb, b.fill)
	// Another replica moved the generation on (after an outage it saw).
	if err := rdb.Incr(ctx, prefix+"gen").Err(); err != nil {
		t.Fatal(err)
	}
	mustLoad(t, c, ka, a.fill)
	mustLoad(t, c, kb, b.fill)
	if a.readCount() != 2 || b.readCount() != 2 {
		t.Errorf("after a generation bump fills = %d, %d; want 2, 2", a.readCount(), b.readCount())
	}
}

// TestResetRetiresEverything: Reset (orgpulse seed) retires the values of
// every replica sharing the prefix, whole responses kept with Put too.
func TestResetRetiresEverything(t *testing.T) {
	c, rdb, prefix := newCache(t)
	other := cache.New(rdb, cache.Config{Prefix: prefix})
	a := &source{value: "a"}
	ka := cache.Key{Name: "a", Version: "va"}
	mustLoad(t, c, ka, a.fill)
	kr := cache.Key{Name: "resp:1", Version: "rows"}
	c.Put(ctx, c.Lookup(ctx, kr), []byte(`{"data":{}}`), time.Minute)
	if got := string(other.Lookup(ctx, kr).Value); got != `{"data":{}}` {
		t.Fatalf("Lookup after Put = %q", got)
	}
	if err := other.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	mustLoad(t, c, ka, a.fill)
	if a.readCount() != 2 {
		t.Errorf("after Reset fills = %d, want 2", a.readCount())
	}
	if got := c.Lookup(ctx, kr).Value; got != nil {
		t.Errorf("after Reset Lookup = %q, want a miss", got)
	}
}

// outageFixture is one private Redis with two replicas' caches over it.
type outageFixture struct {
	redis      *testsupport.RedisProcess
	raw        *redis.Client
	a, b       *cache.Cache
	logs       *logBuffer
	key        cache.Key
	src        *source
	prefix     string
	beforeKeys []string
}

func newOutageFixture(t *testing.T, logInterval time.Duration) *outageFixture {
	p := testsupport.MustStartRedisProcess(t)
	f := &outageFixture{redis: p, raw: p.Client(t), logs: &logBuffer{}, prefix: "outage:",
		key: cache.Key{Name: "org:3:employeeCount", Version: "org:3:employees"}, src: &source{value: "old"}}
	f.a = cache.New(p.Client(t), cache.Config{Prefix: f.prefix, ErrorLogInterval: logInterval,
		Logger: slog.New(slog.NewJSONHandler(f.logs, nil))})
	f.b = cache.New(p.Client(t), cache.Config{Prefix: f.prefix, Logger: slog.New(slog.DiscardHandler)})

	// Both replicas have the value cached before the outage.
	for _, c := range []*cache.Cache{f.a, f.a, f.b} {
		if got := mustLoad(t, c, f.key, f.src.fill); got != "old" {
			t.Fatalf("load before the outage = %q", got)
		}
	}
	if n := f.src.readCount(); n != 1 {
		t.Fatalf("before the outage fill ran %d times, want 1", n)
	}
	var err error
	f.beforeKeys, err = f.raw.Keys(ctx, f.prefix+"*").Result()
	if err != nil || len(f.beforeKeys) == 0 {
		t.Fatalf("keys before the outage: %v %v", f.beforeKeys, err)
	}
	return f
}

// duringOutage changes the source and invalidates through replica a (the
// invalidation is lost), then checks that loads fall through to fill.
func (f *outageFixture) duringOutage(t *testing.T, loads int) {
	t.Helper()
	errsBefore := f.a.Stats().Errors
	f.src.set("new")
	start := time.Now()
	f.a.Invalidate(ctx, f.key.Version)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Invalidate during the outage took %v", d)
	}
	if f.a.Healthy() {
		t.Errorf("replica a reports Healthy after an invalidation it could not deliver")
	}
	for i := range loads {
		start := time.Now()
		v, err := cache.Load(ctx, f.a, f.key, time.Minute, f.src.fill)
		if err != nil || v != "new" {
			t.Fatalf("load %d during the outage = %q, %v; want new from fill, no error", i, v, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("load %d during the outage took %v", i, d)
		}
	}
	// The failed invalidation counts; the loads after it bypass Redis
	// altogether, so they neither wait on it nor count errors.
	if got := f.a.Stats().Errors - errsBefore; got < 1 {
		t.Errorf("Stats().Errors grew by %d during the outage, want at least 1", got)
	}
	if s := f.a.Stats(); s.Invalidations != 0 {
		t.Errorf("Stats().Invalidations = %d, want 0: the invalidation never reached Redis", s.Invalidations)
	}
}

// afterOutage checks that no replica serves the value cached before the
// outage and that caching resumes by itself.
func (f *outageFixture) afterOutage(t *testing.T) {
	t.Helper()
	// Replica a moves the generation on in the background, without a load.
	deadline := time.Now().Add(5 * time.Second)
	for f.a.Stats().GenerationBumps < 1 || !f.a.Healthy() {
		if time.Now().After(deadline) {
			t.Fatalf("no generation bump within 5s after Redis came back: %+v", f.a.Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Replica b never noticed the outage: the generation is what keeps it
	// from serving the value whose invalidation was lost.
	for i, c := range []*cache.Cache{f.b, f.a, f.b, f.a} {
		if got := mustLoad(t, c, f.key, f.src.fill); got != "new" {
			t.Errorf("load %d after the outage = %q, want new (old value served after Redis returned)", i, got)
		}
	}
	hitsBefore := f.a.Stats().Hits
	if got := mustLoad(t, f.a, f.key, f.src.fill); got != "new" {
		t.Errorf("load = %q, want new", got)
	}
	if f.a.Stats().Hits != hitsBefore+1 {
		t.Errorf("caching did not resume: stats %+v", f.a.Stats())
	}
	if n := f.logs.count("cache generation moved on"); n < 1 {
		t.Errorf("no log line about the generation bump; logs:\n%s", f.logs)
	}
}

// Redis shut down and restarted with its data: keys written before the
// outage survive it, the invalidation sent during it is lost for good.
func TestRedisStoppedAndRestarted(t *testing.T) {
	f := newOutageFixture(t, time.Hour)
	versionBefore, err := f.raw.Get(ctx, f.prefix+"v:"+f.key.Version).Result()
	if err != nil {
		t.Fatalf("version key before the outage: %v", err)
	}
	f.redis.Stop(t)
	f.duringOutage(t, 20)
	if n := f.logs.count(unavailableLog); n != 1 {
		t.Errorf("%d %q log lines for %d errors within one interval, want 1; logs:\n%s", n, unavailableLog, f.a.Stats().Errors, f.logs)
	}
	f.redis.Start(t)

	// The value cached before the outage survived the restart under its
	// old version: only the generation can retire it.
	for _, k := range f.beforeKeys {
		if n, err := f.raw.Exists(ctx, k).Result(); err != nil || n != 1 {
			t.Fatalf("key %s written before the outage is gone after the restart (%d, %v): the test would prove nothing", k, n, err)
		}
	}
	if v, _ := f.raw.Get(ctx, f.prefix+"v:"+f.key.Version).Result(); v != versionBefore {
		t.Fatalf("version key is %q after the restart, was %q before: the invalidation was not lost", v, versionBefore)
	}
	f.afterOutage(t)
}

// Redis frozen (SIGSTOP): commands time out instead of being refused.
func TestRedisPaused(t *testing.T) {
	f := newOutageFixture(t, time.Hour)
	f.redis.Pause(t)
	f.duringOutage(t, 5)
	if n := f.logs.count(unavailableLog); n != 1 {
		t.Errorf("%d %q log lines within one interval, want 1; logs:\n%s", n, unavailableLog, f.logs)
	}
	f.redis.Resume(t)
	f.afterOutage(t)
}

// With a short interval, the error log says something once per interval,
// not once per error.
func TestRedisErrorLogRateLimited(t *testing.T) {
	const interval = 300 * time.Millisecond
	f := newOutageFixture(t, interval)
	f.redis.Stop(t)
	start := time.Now()
	f.duringOutage(t, 1)
	// Invalidations always try Redis (loads bypass it once it failed), so
	// they produce one error each.
	for time.Since(start) < 1200*time.Millisecond {
		f.a.Invalidate(ctx, f.key.Version)
		time.Sleep(10 * time.Millisecond)
	}
	elapsed := time.Since(start)
	errs := f.a.Stats().Errors
	n := f.logs.count(unavailableLog)
	maxLines := int(elapsed/interval) + 1
	if n < 2 || n > maxLines {
		t.Errorf("%d error log lines for %d errors over %v with interval %v, want 2..%d", n, errs, elapsed, interval, maxLines)
	}
	if errs < int64(3*n) {
		t.Errorf("only %d errors for %d log lines: the test did not produce enough errors", errs, n)
	}
	t.Logf("%d errors logged as %d lines over %v", errs, n, elapsed)
}

// During an outage each load must cost at most about one Redis timeout,
// however many requests are in flight: loads on one replica must not queue
// behind each other's attempts to reach Redis.
func TestRedisPausedConcurrentLoadsDoNotQueue(t *testing.T) {
	f := newOutageFixture(t, time.Hour)
	f.redis.Pause(t)
	f.src.set("new")
	f.a.Invalidate(ctx, f.key.Version) // lost: replica a bypasses the cache now
	const n = 20
	durations := make([]time.Duration, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			t0 := time.Now()
			v, err := cache.Load(ctx, f.a, f.key, time.Minute, f.src.fill)
			durations[i] = time.Since(t0)
			if err != nil || v != "new" {
				t.Errorf("load %d during the outage = %q, %v", i, v, err)
			}
		})
	}
	wg.Wait()
	total := time.Since(start)
	slices.Sort(durations)
	t.Logf("%d concurrent loads against a frozen Redis (client timeout 200ms): fastest %v, median %v, slowest %v, all done after %v",
		n, durations[0], durations[n/2], durations[n-1], total)
	// One client timeout is 200ms; allow five.
	if durations[n-1] > time.Second {
		t.Errorf("slowest of %d concurrent loads took %v (median %v): loads queue behind each other while Redis is away", n, durations[n-1], durations[n/2])
	}
	f.redis.Resume(t)
	f.afterOutage(t)
}

// Redis run as a cache is often configured to evict any key under memory
// pressure (maxmemory-policy allkeys-lru/lfu/random). When a version or
// generation key is evicted, it reads as 0 again: a value stored under the
// old number before the invalidation must not be served again. (DEL stands
// in for the eviction.)
func TestEvictedCounterKeyDoesNotResurrectOldValue(t *testing.T) {
	for _, evicted := range []string{"version", "generation"} {
		t.Run(evicted, func(t *testing.T) {
			c, rdb, prefix := newCache(t)
			key := cache.Key{Name: "org:1:employeeCount", Version: "org:1:employees"}
			src := &source{value: "before"}
			mustLoad(t, c, key, src.fill) // stored under generation 0, version 0
			src.set("after")
			if evicted == "version" {
				c.Invalidate(ctx, key.Version)
			} else if err := rdb.Incr(ctx, prefix+"gen").Err(); err != nil { // as after an outage
				t.Fatal(err)
			}
			if got := mustLoad(t, c, key, src.fill); got != "after" {
				t.Fatalf("load after the invalidation = %q, want after", got)
			}
			counter := prefix + "v:" + key.Version
			if evicted == "generation" {
				counter = prefix + "gen"
			}
			if err := rdb.Del(ctx, counter).Err(); err != nil {
				t.Fatal(err)
			}
			if got := mustLoad(t, c, key, src.fill); got != "after" {
				t.Errorf("after the %s key was evicted, load = %q: the value from before the invalidation is served again", evicted, got)
			}
		})
	}
}

// lookupHook counts the cache's lookup scripts that go-redis runs as plain
// commands on the caller's context (marked), the path of a lookup sent
// alone, and holds the first until released. The autopipeliner runs
// commands on contexts of its own.
type lookupHook struct {
	mu            sync.Mutex
	alone         int
	held, release chan struct{}
}

type callerKey struct{}

func (h *lookupHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *lookupHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if ctx.Value(callerKey{}) != nil && (cmd.Name() == "evalsha" || cmd.Name() == "eval") {
			h.mu.Lock()
			h.alone++
			first := h.alone == 1
			h.mu.Unlock()
			if first {
				close(h.held)
				<-h.release
			}
		}
		return next(ctx, cmd)
	}
}

func (h *lookupHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (h *lookupHook) sentAlone() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.alone
}

// A lookup alone goes straight to Redis (lowest latency); lookups that
// overlap another go through the autopipeliner, which shares round trips
// between them. Both read the same values.
func TestOverlappingLookupsArePipelined(t *testing.T) {
	rdb, prefix := testsupport.MustRedisClient(t)
	hook := &lookupHook{held: make(chan struct{}), release: make(chan struct{})}
	rdb.AddHook(hook)
	c := cache.New(rdb, cache.Config{Prefix: prefix, Logger: slog.New(slog.DiscardHandler)})
	key := cache.Key{Name: "response:x", Version: "responses"}
	ctx := context.WithValue(ctx, callerKey{}, true)

	first := make(chan cache.Entry)
	go func() { first <- c.Lookup(ctx, key) }()
	<-hook.held // the first lookup is in flight, alone

	const overlapping = 4
	var wg sync.WaitGroup
	for range overlapping {
		wg.Go(func() {
			if e := c.Lookup(ctx, key); e.Value != nil {
				t.Errorf("overlapping lookup hit %q before anything was stored", e.Value)
			}
		})
	}
	wg.Wait()
	close(hook.release)
	e := <-first
	if e.Value != nil {
		t.Fatalf("first lookup hit %q before anything was stored", e.Value)
	}
	if got, want := hook.sentAlone(), 1; got != want {
		t.Fatalf("lookups sent alone = %d with %d overlapping the first, want %d", got, overlapping, want)
	}

	c.Put(ctx, e, []byte("answer"), time.Minute)
	if got, want := string(c.Lookup(ctx, key).Value), "answer"; got != want {
		t.Errorf("lone lookup after Put = %q, want %q", got, want)
	}
	if got, want := hook.sentAlone(), 2; got != want {
		t.Errorf("lookups sent alone = %d after a lone lookup, want %d", got, want)
	}
}

// The values these tests cache, in formats of their own as the cache
// requires.
type text string

var textFormat = wire.New("test_text", 1)

func (text) WireFormat() wire.Format { return textFormat }

type number int

var numberFormat = wire.New("test_number", 1)

func (number) WireFormat() wire.Format { return numberFormat }

// A hit decodes the bytes Redis holds now: a value decoded earlier under
// the same versioned name (the decoded-value memo) is never handed out
// for other bytes, whoever wrote them.
func TestHitReadsTheBytesRedisHolds(t *testing.T) {
	c, rdb, _ := newCache(t)
	key := cache.Key{Name: "memo:1", Version: "things"}
	if got := mustLoad(t, c, key, (&source{value: "first"}).fill); got != "first" {
		t.Fatalf("first load = %q", got)
	}
	for range 2 { // remembered by now
		if got := mustLoad(t, c, key, (&source{value: "unused"}).fill); got != "first" {
			t.Fatalf("hit = %q, want first", got)
		}
	}
	// Another writer puts other bytes under the very name read.
	name := c.Lookup(ctx, key).Tag()
	b, err := textFormat.Marshal(text("second"))
	if err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, name, b, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if got := mustLoad(t, c, key, (&source{value: "unused"}).fill); got != "second" {
		t.Errorf("after the bytes changed, hit = %q, want second", got)
	}
	// And bytes of no known version are a miss, as without the memo.
	if err := rdb.Set(ctx, name, `{"v":99,"d":"third"}`, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if got := mustLoad(t, c, key, (&source{value: "filled"}).fill); got != "filled" {
		t.Errorf("bytes of an unknown version: load = %q, want the fill's value", got)
	}
}
