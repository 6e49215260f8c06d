package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"orgpulse/monitor"
)

// Readiness. A replica serves correctly without Redis (reads fall through
// to PostgreSQL, mutations commit and retire what they can), so by default
// only PostgreSQL decides /readyz: a load balancer polling it must not take
// every replica out for a cache outage. Config.ReadyRequiresRedis makes
// Redis decide too.
//
// Health answers carry no driver text (it names users, databases and
// hosts); the reason is logged instead, once per change of state.

// readyProbeTimeout bounds one dependency check of /readyz and of the
// orgpulse_redis_up gauge.
const readyProbeTimeout = 2 * time.Second

// dependency remembers whether one dependency answered its last check, so
// a change is logged once, not on every poll.
type dependency struct {
	name string
	log  *slog.Logger
	mu   sync.Mutex
	up   *bool // nil until the first check
}

// report records the outcome of a check and logs it when it changed.
func (d *dependency) report(err error) bool {
	up := err == nil
	d.mu.Lock()
	prev := d.up
	d.up = &up
	d.mu.Unlock()
	switch {
	case !up && (prev == nil || *prev):
		d.log.Warn("readiness: "+d.name+" does not answer", "dependency", d.name, "err", err)
	case up && prev != nil && !*prev:
		d.log.Info("readiness: "+d.name+" answers again", "dependency", d.name)
	}
	return up
}

// health checks the dependencies /readyz reports on.
type health struct {
	postgres, redis dependency
}

func (s *Server) newHealth() *health {
	h := &health{postgres: dependency{name: "postgres", log: s.log}, redis: dependency{name: "redis", log: s.log}}
	if s.cfg.Monitor != nil && s.cfg.Redis != nil {
		err := s.cfg.Monitor.Metrics.RegisterGaugeFunc(monitor.MetricRedisUp,
			"1 when Redis answered a PING (at scrape time), else 0; without Redis the replica serves from PostgreSQL.",
			func() int64 {
				ctx, cancel := context.WithTimeout(context.Background(), readyProbeTimeout)
				defer cancel()
				if s.redisUp(ctx) {
					return 1
				}
				return 0
			})
		if err != nil {
			s.log.Warn("register "+monitor.MetricRedisUp, "err", err)
		}
	}
	return h
}

// redisUp pings Redis; true when it answers (or when there is no Redis to
// ask).
func (s *Server) redisUp(ctx context.Context) bool {
	if s.cfg.Redis == nil {
		return true
	}
	return s.health.redis.report(s.cfg.Redis.Ping(ctx).Err())
}

// serveReady answers /readyz: 200 "ready" when PostgreSQL answers, with a
// "degraded: redis" line when Redis does not (503 with ReadyRequiresRedis);
// 503 while draining or when PostgreSQL does not answer.
func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if s.draining.Load() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readyProbeTimeout)
	defer cancel()
	if !s.health.postgres.report(s.pool.Ping(ctx)) {
		http.Error(w, "not ready: postgres does not answer", http.StatusServiceUnavailable)
		return
	}
	if !s.redisUp(ctx) {
		if s.cfg.ReadyRequiresRedis {
			http.Error(w, "not ready: redis does not answer (READY_REQUIRES_REDIS)", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready\ndegraded: redis")
		return
	}
	fmt.Fprintln(w, "ready")
}
