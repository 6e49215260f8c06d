package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"orgpulse/cache"
)

// runRedis measures the Redis round trip a cached read needs, through the
// server's own code: cache.Lookup over a client from cache.NewRedis (the
// server's timeouts, and its autopipelining of overlapping lookups), of a
// value stored first under a prefix of its own. -op ping measures PING
// instead: the round trip with no script and no value. The report sets
// the lookup's p50 beside the cached server's and the bare handler's.
func runRedis(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("redis", flag.ContinueOnError)
	redisURL := fs.String("url", "redis://127.0.0.1:6379/9", "Redis to measure (loopback only)")
	op := fs.String("op", "lookup", "lookup: cache.Lookup of a stored value; ping: PING")
	valueFile := fs.String("value", "", "the value to store and look up (a cached response, loadgen bare -save); default 1 KiB")
	prefix := fs.String("prefix", "orgpulse-rtt:", "key prefix: keep it apart from any server's REDIS_PREFIX")
	conc := fs.Int("c", 1, "concurrent clients")
	dur := fs.Duration("d", 5*time.Second, "stop after this long (at most 10m)")
	n := fs.Int("n", 0, "stop after this many calls (0: only the duration bounds the run)")
	out := fs.String("o", "", "write the JSON result here (default stdout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireLoopback(*redisURL); err != nil {
		return err
	}
	if *conc < 1 || *conc > maxConc || *dur <= 0 || *dur > maxDuration || *n < 0 || *n > maxRequests {
		return fmt.Errorf("-c must be 1..%d, -d in (0, %s], -n 0..%d", maxConc, maxDuration, maxRequests)
	}
	rdb, err := cache.NewRedis(*redisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	var call func(context.Context) error
	switch *op {
	case "ping":
		call = func(ctx context.Context) error { return rdb.Ping(ctx).Err() }
	case "lookup":
		value := make([]byte, 1024)
		if *valueFile != "" {
			if value, err = os.ReadFile(*valueFile); err != nil {
				return err
			}
		}
		if call, err = cachedLookup(ctx, cache.New(rdb, cache.Config{Prefix: *prefix}), value); err != nil {
			return err
		}
	default:
		return fmt.Errorf("-op %q: want lookup or ping", *op)
	}
	res, err := closedLoop(ctx, call, *conc, *dur, *n)
	if err != nil {
		return err
	}
	res.URL = "redis " + *op
	return writeJSON(*out, res)
}

// cachedLookup stores value as a response would be stored (a Lookup that
// misses, then Put under the version read) and returns a call that looks
// it up again, failing on anything but a hit.
func cachedLookup(ctx context.Context, c *cache.Cache, value []byte) (func(context.Context) error, error) {
	key := cache.Key{Name: "resp:rtt", Version: "rows"}
	c.Put(ctx, c.Lookup(ctx, key), value, time.Hour)
	lookup := func(ctx context.Context) error {
		e := c.Lookup(ctx, key)
		if len(e.Value) != len(value) {
			return fmt.Errorf("lookup: %d bytes, want a hit of %d (Redis unreachable?)", len(e.Value), len(value))
		}
		return nil
	}
	return lookup, lookup(ctx)
}

// closedLoop runs call from conc workers, each calling again when its
// last call returned, until dur has passed or n calls returned (after one
// warm-up call per worker), and summarizes the calls' durations.
func closedLoop(ctx context.Context, call func(context.Context) error, conc int, dur time.Duration, n int) (*Result, error) {
	for range conc {
		if err := call(ctx); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	var (
		mu        sync.Mutex
		all       []time.Duration
		errs      int
		firstErr  error
		remaining atomic.Int64
		wg        sync.WaitGroup
	)
	remaining.Store(int64(n))
	start := time.Now()
	deadline := start.Add(dur)
	for range conc {
		wg.Go(func() {
			local := make([]time.Duration, 0, 1024)
			var lerrs int
			var lfirst error
			for time.Now().Before(deadline) && ctx.Err() == nil && (n == 0 || remaining.Add(-1) >= 0) {
				t := time.Now()
				err := call(ctx)
				d := time.Since(t)
				if err != nil {
					lerrs++
					lfirst = firstOf(lfirst, err)
					continue
				}
				local = append(local, d)
			}
			mu.Lock()
			all = append(all, local...)
			errs += lerrs
			firstErr = firstOf(firstErr, lfirst)
			mu.Unlock()
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res := &Result{Concurrency: conc, Errors: errs, Warmup: conc}
	if firstErr != nil {
		res.FirstError = firstErr.Error()
	}
	res.summarize(all, time.Since(start))
	if res.Count == 0 {
		return res, errors.New("no call succeeded: " + res.FirstError)
	}
	return res, nil
}

// firstOf keeps the first error.
func firstOf(first, err error) error {
	if first != nil {
		return first
	}
	return err
}
