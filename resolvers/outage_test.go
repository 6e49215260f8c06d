package resolvers_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"orgpulse/cache"
	"orgpulse/resolvers"
	"orgpulse/server"
	"orgpulse/testsupport"
)

// Redis outages seen through HTTP: a server whose cache lives in a private
// redis-server that the test stops and restarts (its data survives the
// restart, the invalidations sent while it was down do not).

// wrReadOrgAgg reads an organization's aggregates, fails on any GraphQL error
// or any difference from the database, and returns the request's counts.
func wrReadOrgAgg(t testing.TB, srv *testsupport.Server, orgID int64, what string) wrCounts {
	t.Helper()
	res := srv.Query(t, wrOrgAggQuery, map[string]any{"id": wrStr(orgID)})
	var out struct {
		Organization wrOrgAgg `json:"organization"`
	}
	res.MustDecode(t, &out)
	wrCompareOrgAgg(t, fmt.Sprintf("%s: organization %d", what, orgID), out.Organization, wrWantOrgAgg(t, srv.DB, orgID))
	return wrCountsOf(t, res)
}

func TestRedisOutageHTTP(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	rp := testsupport.MustStartRedisProcess(t)
	raw := rp.Client(t)
	var c *cache.Cache
	srv := testsupport.MustStartServer(t, db, testsupport.SharedCache(rp.Client(t), "orgpulse:"), testsupport.CaptureCache(&c))
	p := wrPick(t, db)
	listCold, listWarm := wrCounts{sql: 1, misses: 1}, wrCounts{sql: 0, hits: 1}

	// Before: both cached.
	wrCheckOrgAgg(t, srv, p.orgA, wrAggCold, "before the outage")
	wrCheckOrgAgg(t, srv, p.orgA, wrAggWarm, "before the outage")
	wrCheckAllOrgs(t, srv, listCold, "before the outage")
	wrCheckAllOrgs(t, srv, listWarm, "before the outage")
	ctx := context.Background()
	keys, err := raw.Keys(ctx, "orgpulse:*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("keys before the outage: %v %v", keys, err)
	}

	rp.Stop(t)
	// Mutations succeed; their invalidations are lost.
	wrRun[wrEmpJSON](t, srv, mCreateEmp, map[string]any{"input": map[string]any{"organizationId": wrStr(p.orgA),
		"name": "Outage Hire", "email": "outage.hire@example.com", "department": "Outage", "salary": 123456}})
	wrRun[wrOrgJSON](t, srv, mUpdateOrg, map[string]any{"id": wrStr(p.orgA), "input": map[string]any{"name": "Renamed During Outage"}})
	wrRun[wrEmpJSON](t, srv, mUpdateEmp, map[string]any{"id": wrStr(p.memberA), "input": map[string]any{"isActive": false}})
	wrRun[wrMetricJSON](t, srv, mRecordMetric, map[string]any{"input": map[string]any{"metricType": "database", "value": 1}})
	// Reads succeed from PostgreSQL, every cached field counted as a miss.
	for range 3 {
		wrCheckOrgAgg(t, srv, p.orgA, wrAggCold, "during the outage")
		wrCheckAllOrgs(t, srv, listCold, "during the outage")
	}
	if c.Healthy() {
		t.Errorf("the cache reports Healthy while Redis is down")
	}

	rp.Start(t)
	for _, k := range keys {
		if n, err := raw.Exists(ctx, k).Result(); err != nil || n != 1 {
			t.Fatalf("key %s cached before the outage did not survive the restart (%d, %v): the test would prove nothing", k, n, err)
		}
	}
	// No read serves what was cached before the outage (the employee count,
	// stats and the organization's old name), and caching resumes by itself.
	deadline := time.Now().Add(5 * time.Second)
	var aggHit, listHit bool
	for first := true; !aggHit || !listHit; first = false {
		ac := wrReadOrgAgg(t, srv, p.orgA, "after the outage")
		res := srv.Query(t, wrAllOrgsQuery, nil)
		var out struct {
			AllOrganizations []wrOrgJSON `json:"allOrganizations"`
		}
		res.MustDecode(t, &out)
		renamed := slices.ContainsFunc(out.AllOrganizations, func(o wrOrgJSON) bool { return o.Name == "Renamed During Outage" })
		if !renamed {
			t.Fatalf("allOrganizations after the outage does not have the rename made during it: %s", res.Raw)
		}
		lc := wrCountsOf(t, res)
		if first && (ac.hits > 0 || lc.hits > 0) {
			t.Errorf("the first reads after the outage were cache hits (%+v, %+v): values from before it", ac, lc)
		}
		aggHit, listHit = aggHit || ac == wrAggWarm, listHit || lc == listWarm
		if time.Now().After(deadline) {
			t.Fatalf("caching did not resume within 5s after Redis came back: last counts %+v, %+v; stats %+v", ac, lc, c.Stats())
		}
	}
	if s := c.Stats(); s.GenerationBumps < 1 || !c.Healthy() {
		t.Errorf("stats after the outage %+v (healthy %v), want a generation bump", s, c.Healthy())
	}
	logs := srv.Logs()
	if !strings.Contains(logs, "redis unavailable") || !strings.Contains(logs, "cache generation moved on") {
		t.Errorf("the server logged neither the outage nor the recovery:\n%s", logs)
	}
}

// During an outage a request must cost at most about one failed Redis
// operation, and concurrent requests must not queue behind each other's
// attempts to reach Redis. The client is built as main.go builds it
// (redis.ParseURL defaults: 3 retries, 5 dial attempts), with socket
// timeouts cut from 3s to 200ms so the test is quick.
func TestRedisOutageHTTPLatency(t *testing.T) {
	for _, mode := range []string{"stopped", "frozen"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel() // mostly waiting for timeouts
			db := testsupport.MustOpenSeededDB(t)
			rp := testsupport.MustStartRedisProcess(t)
			opt, err := redis.ParseURL("redis://" + rp.Addr + "/0")
			if err != nil {
				t.Fatal(err)
			}
			opt.ReadTimeout, opt.WriteTimeout = 200*time.Millisecond, 200*time.Millisecond
			rdb := redis.NewClient(opt)
			t.Cleanup(func() { rdb.Close() })
			const requestTimeout, slow = 3 * time.Second, 2 * time.Second
			srv := testsupport.MustStartServer(t, db, testsupport.SharedCache(rdb, "orgpulse:"),
				func(s *server.Config, _ *resolvers.Config) { s.RequestTimeout = requestTimeout })
			p := wrPick(t, db)
			wrCheckOrgAgg(t, srv, p.orgA, wrAggCold, "before the outage")

			// Redis comes back before the server shuts down, so that requests
			// still queued drain quickly.
			if mode == "stopped" {
				rp.Stop(t)
				t.Cleanup(func() { rp.Start(t) })
			} else {
				rp.Pause(t)
				t.Cleanup(func() { rp.Resume(t) })
			}

			// One mutation.
			t0 := time.Now()
			res, err := wrPost(srv, wrBearer, mUpdateEmp, map[string]any{"id": wrStr(p.memberA), "input": map[string]any{"salary": 4242}})
			d := time.Since(t0)
			if err != nil {
				t.Fatal(err)
			}
			committed := wrEmp(t, db, p.memberA).Salary == 4242
			t.Logf("updateEmployee with Redis %s: %v, code %q, committed %v", mode, d, res.Code(), committed)
			if len(res.Errors) > 0 {
				t.Errorf("updateEmployee with Redis %s answered %s after %v although its transaction committed: %v", mode, res.Code(), d, committed)
			} else if d > slow {
				t.Errorf("updateEmployee with Redis %s took %v", mode, d)
			}

			// One read, then concurrent reads.
			t0 = time.Now()
			res, err = wrPost(srv, wrBearer, wrOrgAggQuery, map[string]any{"id": wrStr(p.orgA)})
			d = time.Since(t0)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("one read with Redis %s: %v, code %q", mode, d, res.Code())
			if len(res.Errors) > 0 || d > slow {
				t.Errorf("one read of 3 cached fields with Redis %s: %v, code %q", mode, d, res.Code())
			}

			const n = 5
			durations := make([]time.Duration, n)
			problems := make([]string, n)
			var wg sync.WaitGroup
			start := time.Now()
			for i := range n {
				wg.Go(func() {
					t0 := time.Now()
					res, err := wrPost(srv, wrBearer, wrOrgAggQuery, map[string]any{"id": wrStr(p.orgA)})
					durations[i] = time.Since(t0)
					switch {
					case err != nil:
						problems[i] = err.Error()
					case len(res.Errors) > 0:
						problems[i] = res.Code()
					}
				})
			}
			wg.Wait()
			failed := 0
			for _, pr := range problems {
				if pr != "" {
					failed++
				}
			}
			sorted := slices.Clone(durations)
			slices.Sort(sorted)
			t.Logf("%d concurrent reads with Redis %s: fastest %v, median %v, slowest %v, %d failed %v, all done after %v",
				n, mode, sorted[0], sorted[n/2], sorted[n-1], failed, problems, time.Since(start))
			if failed > 0 || sorted[n-1] > slow {
				t.Errorf("%d concurrent reads with Redis %s: %d failed, slowest %v (median %v)", n, mode, failed, sorted[n-1], sorted[n/2])
			}
		})
	}
}
