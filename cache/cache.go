// Package cache is orgpulse's shared read cache in Redis: cache-aside with
// versioned keys, so that no reader can store a value older than the last
// invalidation, and with every Redis failure falling through to the
// database.
//
// How a value is named: <prefix><name>:<generation>:<version>. The version
// (one counter per dependency, for example "org:7:employees") is read
// together with the value in one round trip; a mutation bumps it after its
// transaction commits. A reader that missed and then loaded an old row
// stores it under the version it started from, which no later reader asks
// for: the classic cache-aside race cannot publish a stale value. The
// generation moves on when a replica could not reach Redis to invalidate,
// which retires every value written before the outage.
package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"

	"orgpulse/wire"
)

// Config tunes the cache. Zero values take the defaults noted.
type Config struct {
	Prefix           string        // key prefix, REDIS_PREFIX (app.DefaultConfig holds its default)
	TTL              time.Duration // default lifetime of a value; default 5m
	Jitter           float64       // TTLs vary by ±Jitter so keys do not expire together; default 0.1
	ErrorLogInterval time.Duration // at most one Redis error log line per interval; default 10s
	// OpTimeout bounds invalidations and recovery, which run on their own
	// deadline (default 1s). Lookups use the request's context; give the
	// client ContextTimeoutEnabled so that deadline applies.
	OpTimeout time.Duration
	Logger    *slog.Logger
	// OnResult, when set, hears the hits and misses of every lookup (the
	// server counts them per request).
	OnResult func(ctx context.Context, hits, misses int)
}

// Key names a cached value and the version that invalidates it.
type Key struct {
	Name    string // what the value is, e.g. "org:7:employeeCount"
	Version string // what it depends on, e.g. "org:7:employees"
}

// Stats counts the cache's work since it started.
type Stats struct {
	Hits, Misses, Errors, Invalidations, GenerationBumps int64
}

// Cache is safe for concurrent use. A nil *Cache caches nothing: every load
// goes to the database.
type Cache struct {
	rdb redis.UniversalClient
	// pipelined runs lookups that overlap others: go-redis's autopipeliner
	// batches concurrent callers' commands into shared round trips. Made
	// on first use, so processes that never overlap lookups (seed,
	// migrate) start none of its goroutines; rdb itself when the client
	// has no autopipeliner.
	pipelined func() redis.Scripter
	inFlight  atomic.Int32
	cfg       Config
	sf        singleflight.Group
	log       *slog.Logger
	decoded   decoded // decoded.go

	// lost is set when an invalidation could not reach Redis. Until the
	// generation has moved on, the cache is bypassed.
	lost     atomic.Bool
	bumpOnce sync.Mutex

	hits, misses, errs, invalidations, bumps atomic.Int64
	lastErrLog                               atomic.Int64
}

// DefaultTTL is CACHE_TTL's default (app.DefaultConfig takes it).
const DefaultTTL = 5 * time.Minute

// New returns a cache over rdb.
func New(rdb redis.UniversalClient, cfg Config) *Cache {
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Jitter <= 0 {
		cfg.Jitter = 0.1
	}
	if cfg.ErrorLogInterval <= 0 {
		cfg.ErrorLogInterval = 10 * time.Second
	}
	if cfg.OpTimeout <= 0 {
		cfg.OpTimeout = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Cache{rdb: rdb, cfg: cfg, log: cfg.Logger}
	c.pipelined = sync.OnceValue(func() redis.Scripter {
		if ap, err := rdb.AutoPipeline(); err == nil {
			return ap
		}
		return rdb
	})
	return c
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	if c == nil {
		return Stats{}
	}
	return Stats{
		Hits: c.hits.Load(), Misses: c.misses.Load(), Errors: c.errs.Load(),
		Invalidations: c.invalidations.Load(), GenerationBumps: c.bumps.Load(),
	}
}

// Healthy reports whether the last operations reached Redis.
func (c *Cache) Healthy() bool { return c != nil && !c.lost.Load() }

func (c *Cache) generationKey() string      { return c.cfg.Prefix + "gen" }
func (c *Cache) versionKey(v string) string { return c.cfg.Prefix + "v:" + v }

// A counter (generation or version) that does not exist -- never set,
// evicted, or lost with a Redis restart -- starts at the server's clock in
// microseconds, never at 0: values stored under an earlier, smaller number
// can then never be read again, even if they are still alive.
const counterLua = `
local function counter(key)
  local v = redis.call('GET', key)
  if not v then
    local t = redis.call('TIME')
    v = t[1] .. string.format('%06d', tonumber(t[2]))
    redis.call('SET', key, v)
  end
  return v
end
`

// lookupScript reads the generation, then for each key its version and the
// value stored under that generation and version: one round trip whatever
// the number of keys. KEYS are gen, then (version key, value name) pairs.
var lookupScript = redis.NewScript(counterLua + `
local gen = counter(KEYS[1])
local out = {gen}
for i = 2, #KEYS, 2 do
  local v = counter(KEYS[i])
  out[#out + 1] = v
  out[#out + 1] = redis.call('GET', KEYS[i + 1] .. ':' .. gen .. ':' .. v) or false
end
return out
`)

// bumpScript moves each counter in KEYS on.
var bumpScript = redis.NewScript(counterLua + `
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    redis.call('INCR', key)
  else
    counter(key)
  end
end
return #KEYS
`)

// slot is one key's state after a lookup.
type slot struct {
	name  string // the full versioned name to store a filled value under
	value []byte // nil on a miss
}

// lookup returns one slot per key; ok is false when Redis cannot be used.
func (c *Cache) lookup(ctx context.Context, keys []Key) ([]slot, bool) {
	if c.lost.Load() {
		// Redis was unreachable: bypass it until the background recovery
		// has moved the generation on. Requests never wait on Redis here.
		return nil, false
	}
	redisKeys := make([]string, 0, 1+2*len(keys))
	redisKeys = append(redisKeys, c.generationKey())
	for _, k := range keys {
		redisKeys = append(redisKeys, c.versionKey(k.Version), c.cfg.Prefix+k.Name)
	}
	// A lookup alone goes straight to Redis: the autopipeliner's hand-off
	// to its flusher goroutine added ~60 us to an idle round trip (cached
	// single organization at c=1: p50 0.26-0.30 -> 0.33-0.36 ms). Lookups
	// that overlap share pipelines: one write and one read for many, here
	// and in Redis (the same at c=32: 6,900-10,100 -> 9,900-11,300 rps,
	// Redis CPU per lookup 31-44 -> 14-17 us; loadgen http A/B runs).
	var rdb redis.Scripter = c.rdb
	if c.inFlight.Add(1) > 1 {
		rdb = c.pipelined()
	}
	res, err := lookupScript.Run(ctx, rdb, redisKeys).Slice()
	c.inFlight.Add(-1)
	if err != nil {
		// This replica may also have missed invalidations of others while
		// Redis was away: retire everything before trusting it again.
		c.fail("cache lookup", err)
		c.markLost(ctx)
		return nil, false
	}
	if len(res) != 1+2*len(keys) {
		c.fail("cache lookup", fmt.Errorf("script returned %d values for %d keys", len(res), len(keys)))
		return nil, false
	}
	gen := fmt.Sprint(res[0])
	out := make([]slot, len(keys))
	for i, k := range keys {
		out[i].name = c.cfg.Prefix + k.Name + ":" + gen + ":" + fmt.Sprint(res[1+2*i])
		if s, ok := res[2+2*i].(string); ok {
			out[i].value = []byte(s)
		}
	}
	return out, true
}

// Entry is one key looked up for a caller that decides only after
// computing a value whether to keep it (a whole GraphQL response, which
// must not be kept when it had errors). Value is the stored bytes as they
// were written, nil on a miss.
type Entry struct {
	Value []byte
	name  string // the versioned name read; "" when Redis could not be used
}

// Tag names the value the entry holds or will hold: its key, generation
// and version. It changes whenever the value may change, so it can serve
// as an HTTP ETag (hashed: it holds the key's name); "" when Redis could
// not be used.
func (e Entry) Tag() string { return e.name }

// Lookup reads key in one round trip. Store a computed value with Put: it
// goes under the version read here, so a value computed from rows older
// than a later invalidation is never served.
func (c *Cache) Lookup(ctx context.Context, key Key) Entry {
	if c == nil {
		return Entry{}
	}
	slots, ok := c.lookup(ctx, []Key{key})
	if !ok {
		return Entry{}
	}
	hit := 0
	if slots[0].value != nil {
		hit = 1
	}
	c.count(ctx, hit, 1-hit)
	return Entry{Value: slots[0].value, name: slots[0].name}
}

// Put stores value for the entry a Lookup missed.
func (c *Cache) Put(ctx context.Context, e Entry, value []byte, ttl time.Duration) {
	if c == nil || e.name == "" {
		return
	}
	if err := c.rdb.Set(ctx, e.name, value, c.jittered(ttl)).Err(); err != nil {
		c.fail("cache store", err)
	}
}

// Reset retires every cached value of every replica sharing the prefix by
// moving the generation on: for changes made behind the mutations' back
// (orgpulse seed).
func (c *Cache) Reset(ctx context.Context) error {
	if c == nil {
		return nil
	}
	if err := bumpScript.Run(ctx, c.rdb, []string{c.generationKey()}).Err(); err != nil {
		return fmt.Errorf("move the cache generation on: %w", err)
	}
	c.bumps.Add(1)
	return nil
}

// count records the hits and misses of one lookup.
func (c *Cache) count(ctx context.Context, hits, misses int) {
	c.hits.Add(int64(hits))
	c.misses.Add(int64(misses))
	if c.cfg.OnResult != nil {
		c.cfg.OnResult(ctx, hits, misses)
	}
}

// Value is what Load and LoadMany keep: a type of our own whose
// WireFormat names its kind and version (package wire), never a database
// row struct, whose encoding would follow the columns. A value of another
// version (written by another release) is a miss, counted by package wire.
type Value interface {
	WireFormat() wire.Format
}

// decode reads a stored value of V's format into v.
func decode[V Value](b []byte, v *V) bool {
	return (*v).WireFormat().Unmarshal(b, v) == nil
}

// Load returns the cached value of key, or fills it once per replica
// however many requests miss at the same moment.
func Load[V Value](ctx context.Context, c *Cache, key Key, ttl time.Duration, fill func(ctx context.Context) (V, error)) (V, error) {
	vs, err := LoadMany(ctx, c, []Key{key}, ttl, func(ctx context.Context, _ []int) (map[int]V, error) {
		v, err := fill(ctx)
		return map[int]V{0: v}, err
	})
	if err != nil {
		var zero V
		return zero, err
	}
	return vs[0], nil
}

// LoadMany returns the values of keys, in order. The misses are filled by
// one call of fill with their indexes (one SQL statement for all of them),
// shared by every concurrent caller missing the same keys. fill must
// return a value for every index it is given (zero values are cached too).
func LoadMany[V Value](ctx context.Context, c *Cache, keys []Key, ttl time.Duration, fill func(ctx context.Context, missing []int) (map[int]V, error)) ([]V, error) {
	out := make([]V, len(keys))
	all := make([]int, len(keys))
	for i := range keys {
		all[i] = i
	}
	if c == nil {
		got, err := fill(ctx, all)
		for i := range keys {
			out[i] = got[i]
		}
		return out, err
	}
	slots, ok := c.lookup(ctx, keys)
	missing := all
	if ok {
		missing = missing[:0:0]
		for i, s := range slots {
			if s.value != nil && decodeHit(c, s.name, s.value, &out[i]) {
				continue
			}
			missing = append(missing, i)
		}
	}
	hits := len(keys) - len(missing)
	c.count(ctx, hits, len(missing))
	if len(missing) == 0 {
		return out, nil
	}

	// Concurrent callers missing the same versioned names share one fill.
	// Without Redis the names are the keys' plain names. The callers agree
	// on the names, not on where those sit among their keys, so the shared
	// result is by position in names.
	names := make([]string, len(missing))
	for j, i := range missing {
		if ok {
			names[j] = slots[i].name
		} else {
			names[j] = "nocache:" + keys[i].Name
		}
	}
	shared, err := shareFill(ctx, &c.sf, strings.Join(names, "\x00"), func() (any, error) { // sharedfill.go
		got := make(map[int]V, len(missing))
		need := missing
		if ok {
			// A caller whose lookup missed just before another caller's
			// fill stored its values must not fill again: look once more.
			need = recheck(ctx, c, names, missing, slots, got)
		}
		if len(need) > 0 {
			filled, err := fill(ctx, need)
			if err != nil {
				return nil, err
			}
			toStore := make(map[string]V, len(need))
			for _, i := range need {
				got[i] = filled[i]
				toStore[nameOf(names, missing, i)] = filled[i]
			}
			if ok {
				store(ctx, c, toStore, ttl)
			}
		}
		byName := make([]V, len(missing))
		for j, i := range missing {
			byName[j] = got[i]
		}
		return byName, nil
	})
	if err != nil {
		return nil, err
	}
	for j, v := range shared.([]V) {
		out[missing[j]] = v
	}
	return out, nil
}

// nameOf returns the versioned name of key index i.
func nameOf(names []string, missing []int, i int) string {
	for j, m := range missing {
		if m == i {
			return names[j]
		}
	}
	return ""
}

// recheck reads the missing names again, decodes what is there now into
// got, and returns the indexes still missing. A value the lookup already
// refused (slots) is not decoded again, so that one unreadable value is
// counted once.
func recheck[V Value](ctx context.Context, c *Cache, names []string, missing []int, slots []slot, got map[int]V) []int {
	vals, err := c.rdb.MGet(ctx, names...).Result()
	if err != nil || len(vals) != len(names) {
		return missing
	}
	var need []int
	for j, i := range missing {
		if str, isStr := vals[j].(string); isStr && str != string(slots[i].value) {
			var v V
			if decode([]byte(str), &v) {
				got[i] = v
				continue
			}
		}
		need = append(need, i)
	}
	return need
}

func store[V Value](ctx context.Context, c *Cache, values map[string]V, ttl time.Duration) {
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for name, v := range values {
			b, err := v.WireFormat().Marshal(v)
			if err != nil {
				return err
			}
			p.Set(ctx, name, b, c.jittered(ttl))
		}
		return nil
	})
	if err != nil {
		c.fail("cache store", err)
	}
}

func (c *Cache) jittered(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		ttl = c.cfg.TTL
	}
	f := 1 + c.cfg.Jitter*(2*rand.Float64()-1)
	return time.Duration(float64(ttl) * f)
}

// Invalidate moves the given versions on, retiring every value that depends
// on them. Call it after the transaction commits. It never fails the
// caller: when Redis cannot be reached, the cache is bypassed on this
// replica until the generation has moved on, which retires everything.
func (c *Cache) Invalidate(ctx context.Context, versions ...string) {
	if c == nil || len(versions) == 0 {
		return
	}
	keys := make([]string, len(versions))
	for i, v := range versions {
		keys[i] = c.versionKey(v)
	}
	// The mutation has committed: it must answer promptly whatever Redis
	// does, so the invalidation gets its own short deadline.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.OpTimeout)
	defer cancel()
	if err := c.bump(ctx, keys); err != nil {
		c.fail("cache invalidate", err)
		c.markLost(ctx)
		return
	}
	c.invalidations.Add(int64(len(versions)))
}

// Bump moves the given versions on like Invalidate, on ctx, and reports
// a failure instead of absorbing it: the relay (changefeed/) delivers a
// change only once its versions moved on, and retries until they do.
func (c *Cache) Bump(ctx context.Context, versions ...string) error {
	if c == nil || len(versions) == 0 {
		return nil
	}
	keys := make([]string, len(versions))
	for i, v := range versions {
		keys[i] = c.versionKey(v)
	}
	if err := c.bump(ctx, keys); err != nil {
		c.fail("cache bump", err)
		return fmt.Errorf("move cache versions on: %w", err)
	}
	c.invalidations.Add(int64(len(versions)))
	return nil
}

// bump moves the counters in keys on. With Redis Cluster a failed bump is
// tried again, after a reload of the slot map, until ctx ends: after a
// failover the replicas learn the new master one by one, and while this one
// still addresses the dead master, the others already read from the new
// one, where a version it failed to move on keeps the value from before
// the change readable (markLost protects only this replica's reads).
// scripts/scale-test.sh cluster saw four such stale reads.
func (c *Cache) bump(ctx context.Context, keys []string) error {
	err := bumpScript.Run(ctx, c.rdb, keys).Err()
	cc, isCluster := c.rdb.(*redis.ClusterClient)
	for attempt := 0; err != nil && isCluster && attempt < clusterBumpRetries; attempt++ {
		cc.ReloadState(ctx) // asynchronous: one CLUSTER SLOTS
		t := time.NewTimer(clusterBumpPause)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		err = bumpScript.Run(ctx, c.rdb, keys).Err()
	}
	return err
}

// How often, and how far apart, bump tries a Redis Cluster again: within
// an invalidation's OpTimeout (1s by default).
const (
	clusterBumpRetries = 8
	clusterBumpPause   = 100 * time.Millisecond
)

// markLost bypasses the cache until the generation has moved on.
func (c *Cache) markLost(ctx context.Context) {
	if errors.Is(ctx.Err(), context.Canceled) {
		return // the caller went away; Redis may be fine
	}
	if c.lost.CompareAndSwap(false, true) {
		go c.recover(context.WithoutCancel(ctx))
	}
}

// recover retries the generation bump in the background, so the other
// replicas stop serving values from before the outage as soon as Redis is
// back, not only when this replica next reads.
func (c *Cache) recover(ctx context.Context) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for range t.C {
		if !c.lost.Load() || c.bumpGeneration(ctx) {
			return
		}
	}
}

func (c *Cache) bumpGeneration(ctx context.Context) bool {
	c.bumpOnce.Lock()
	defer c.bumpOnce.Unlock()
	if !c.lost.Load() {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.OpTimeout)
	defer cancel()
	if err := bumpScript.Run(ctx, c.rdb, []string{c.generationKey()}).Err(); err != nil {
		c.fail("cache generation bump", err)
		return false
	}
	c.bumps.Add(1)
	c.lost.Store(false)
	c.log.Info("cache generation moved on after a Redis outage; earlier values are retired")
	return true
}

// fail counts a Redis error and logs at most one line per interval.
func (c *Cache) fail(op string, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	c.errs.Add(1)
	now := time.Now().UnixNano()
	last := c.lastErrLog.Load()
	if now-last >= int64(c.cfg.ErrorLogInterval) && c.lastErrLog.CompareAndSwap(last, now) {
		c.log.Warn("redis unavailable; reading from PostgreSQL", "op", op, "err", err, "errors_total", c.errs.Load())
	}
}
