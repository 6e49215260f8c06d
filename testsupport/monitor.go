package testsupport

import (
	"context"
	"testing"
	"time"

	"orgpulse/monitor"
	"orgpulse/resolvers"
	"orgpulse/server"
)

// WithMonitor returns a MustStartServer tweak that attaches a
// monitor.Monitor recording into db (and serving /metrics), built from cfg
// with the server's logger and cache, and a function returning it once the
// server has started. Unless cfg says otherwise the retention job is off
// (seeded samples would age out) and the flush interval is long, so tests
// decide when samples are written with Flush. The monitor is closed when
// the test ends, after the HTTP server.
func WithMonitor(tb testing.TB, db *DB, cfg monitor.Config) (func(*server.Config, *resolvers.Config), func() *monitor.Monitor) {
	tb.Helper()
	var mon *monitor.Monitor
	tweak := func(c *server.Config, r *resolvers.Config) {
		mcfg := cfg
		if mcfg.Pool == nil {
			mcfg.Pool = db.Pool
		}
		if mcfg.Cache == nil {
			mcfg.Cache = r.Cache
		}
		if mcfg.Logger == nil {
			mcfg.Logger = c.Logger
		}
		if mcfg.Retention == 0 {
			mcfg.Retention = -1
		}
		if mcfg.Recorder.FlushInterval == 0 {
			mcfg.Recorder.FlushInterval = time.Hour
		}
		mon = monitor.New(mcfg)
		// Registered before MustStartServer registers the HTTP server's
		// Close, so it runs after it (cleanups run last first).
		tb.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := mon.Close(ctx); err != nil {
				tb.Errorf("close monitor: %v", err)
			}
		})
		c.Monitor = mon
	}
	return tweak, func() *monitor.Monitor {
		if mon == nil {
			tb.Fatal("WithMonitor: the tweak has not run: pass it to MustStartServer first")
		}
		return mon
	}
}
