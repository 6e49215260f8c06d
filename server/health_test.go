package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"orgpulse/monitor"
	"orgpulse/resolvers"
	"orgpulse/server"
	"orgpulse/testsupport"
)

// TestReadyzDuringRedisOutage: a replica serves without Redis, so /readyz
// stays 200 and says it is degraded, unless READY_REQUIRES_REDIS asks for
// the strict answer; orgpulse_redis_up follows Redis either way, and no
// driver text reaches the answer.
func TestReadyzDuringRedisOutage(t *testing.T) {
	tests := []struct {
		name          string
		requiresRedis bool
		wantStatus    int
		wantBody      string
	}{
		{"default", false, http.StatusOK, "ready\ndegraded: redis\n"},
		{"READY_REQUIRES_REDIS", true, http.StatusServiceUnavailable, "not ready: redis does not answer (READY_REQUIRES_REDIS)\n"},
	}
	db := testsupport.MustOpenDB(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rp := testsupport.MustStartRedisProcess(t)
			withMon, _ := testsupport.WithMonitor(t, db, monitor.Config{})
			srv := testsupport.MustStartServer(t, db, withMon, func(c *server.Config, _ *resolvers.Config) {
				c.Redis = rp.Client(t)
				c.ReadyRequiresRedis = tt.requiresRedis
			})
			if code, body := getStatus(t, srv.URL+"/readyz"); code != http.StatusOK || body != "ready\n" {
				t.Fatalf("/readyz with Redis up: %d %q, want 200 \"ready\\n\"", code, body)
			}
			if got, want := single(t, scrapeMetrics(t, srv), monitor.MetricRedisUp), 1.0; got != want {
				t.Fatalf("%s with Redis up: got %v, want %v", monitor.MetricRedisUp, got, want)
			}

			rp.Stop(t)
			code, body := getStatus(t, srv.URL+"/readyz")
			if code != tt.wantStatus || body != tt.wantBody {
				t.Errorf("/readyz with Redis stopped: got %d %q, want %d %q", code, body, tt.wantStatus, tt.wantBody)
			}
			if got, want := single(t, scrapeMetrics(t, srv), monitor.MetricRedisUp), 0.0; got != want {
				t.Errorf("%s with Redis stopped: got %v, want %v", monitor.MetricRedisUp, got, want)
			}
			// Reads still work: the replica was right to stay in.
			srv.Query(t, `{ allOrganizations { id } }`, nil).MustDecode(t, &struct{}{})
			getStatus(t, srv.URL+"/readyz") // a second poll of the same state logs nothing new

			rp.Start(t)
			waitStatus(t, srv.URL+"/readyz", http.StatusOK, 5*time.Second)
			if got := strings.Count(srv.Logs(), `"msg":"readiness: redis does not answer"`); got != 1 {
				t.Errorf("the outage was logged %d times, want once:\n%s", got, srv.Logs())
			}
			if got := strings.Count(srv.Logs(), `"msg":"readiness: redis answers again"`); got != 1 {
				t.Errorf("the recovery was logged %d times, want once", got)
			}
		})
	}
}
