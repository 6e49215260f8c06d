package resolvers

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkLoaderBatching measures the loader layer alone, without
// PostgreSQL: one op is a request's worth of concurrent loads (one
// goroutine per key, as graphql-go resolves sibling fields) through a
// fresh per-request loader, whose fetch is an in-memory map.
//
//   - prefetch: the look-ahead ran the batch first; loads are cache hits.
//   - batched: no look-ahead; the loader collects keys for LoaderWait (1ms)
//     and runs one fetch.
//   - naive: Config.NaiveLoading (benchmark only): one fetch per key.
//
// fetches/op is the number of statements the same shape would run.
//
//	go test -run '^$' -bench LoaderBatching -benchmem ./resolvers/
func BenchmarkLoaderBatching(b *testing.B) {
	ctx := context.Background()
	for _, keys := range []int{50, 2500} {
		ids := make([]int64, keys)
		for i := range ids {
			ids[i] = int64(i + 1)
		}
		for _, mode := range []struct {
			name     string
			opts     batchOpts
			prefetch bool
		}{
			{"prefetch", batchOpts{wait: time.Millisecond}, true},
			{"batched", batchOpts{wait: time.Millisecond}, false},
			{"naive", batchOpts{naive: true}, false},
		} {
			b.Run(fmt.Sprintf("%s/keys=%d", mode.name, keys), func(b *testing.B) {
				var fetches atomic.Int64
				fetch := func(_ context.Context, ids []int64) (map[int64]int64, error) {
					fetches.Add(1)
					m := make(map[int64]int64, len(ids))
					for _, id := range ids {
						m[id] = id * 2
					}
					return m, nil
				}
				b.ReportAllocs()
				for b.Loop() {
					bt := newBatch(mode.opts, fetch)
					if mode.prefetch {
						if _, err := bt.prefetch(ctx, ids); err != nil {
							b.Fatal(err)
						}
					}
					var wg sync.WaitGroup
					for _, id := range ids {
						wg.Add(1)
						go func() {
							defer wg.Done()
							if v, err := bt.load(ctx, id); err != nil || v != id*2 {
								b.Errorf("load %d: %d, %v", id, v, err)
							}
						}()
					}
					wg.Wait()
				}
				b.ReportMetric(float64(fetches.Load())/float64(b.N), "fetches/op")
			})
		}
	}
}
