package changefeed_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"orgpulse/realtime"
	"orgpulse/resolvers"
	"orgpulse/server"
	"orgpulse/testsupport"
)

// The fault tests of issue #18, through the real wiring: replicas built
// by app.Build (each with its relay), one seeded PostgreSQL database, one
// Redis, the read cache and the whole-response cache on, subscribers on
// WebSockets.

// freshness is how soon every replica must show a committed change.
const freshness = 2 * time.Second

const orgDoc = `query($id: ID!) { organization(id: $id) { employeeStats { maxSalary } employees(first: 100) { nodes { id name } } } }`

const employeeSub = `subscription($org: ID) { employeeChanged(organizationId: $org) { action employee { name } } }`

const renameDoc = `mutation($id: ID!, $name: String) { updateEmployee(id: $id, input: {name: $name}) { id name } }`

// replicas starts n cached replicas over one seeded database and one
// Redis, in order: the first one's relay is the active one. tweak, when
// set, adjusts replica i.
func replicas(t testing.TB, n int, rdb redis.UniversalClient, prefix string,
	tweak func(i int, r *resolvers.Config)) []*testsupport.LiveServer {
	t.Helper()
	d := testsupport.MustOpenSeededDB(t)
	if rdb == nil {
		rdb, prefix = testsupport.MustRedisClient(t)
	}
	out := make([]*testsupport.LiveServer, n)
	for i := range out {
		opts := testsupport.LiveOptions{Redis: rdb, Prefix: prefix, Cached: true}
		if tweak != nil {
			opts.Tweak = func(_ *server.Config, r *resolvers.Config, _ *realtime.Config) { tweak(i, r) }
		}
		out[i] = testsupport.MustStartLiveServer(t, d, opts)
		if i == 0 {
			testsupport.Eventually(t, 5*time.Second, "the first replica's relay is active", func() bool { return out[0].Relay.Stats().Active })
		}
	}
	return out
}

// activeRelays counts the replicas whose relay is active.
func activeRelays(servers ...*testsupport.LiveServer) int {
	n := 0
	for _, s := range servers {
		if s.Relay.Stats().Active {
			n++
		}
	}
	return n
}

// anOrganization returns an organization with employees and its first
// employee.
func anOrganization(t testing.TB, s *testsupport.LiveServer) (org, emp int64) {
	t.Helper()
	org = s.DB.MustQueryInt64(t, "SELECT min(organization_id) FROM employees")
	emp = s.DB.MustQueryInt64(t, "SELECT min(id) FROM employees WHERE organization_id = $1", org)
	return org, emp
}

// warm reads the organization through s until the answer comes from the
// whole-response cache: a test that the cache could not fail is no test.
func warm(t *testing.T, s *testsupport.LiveServer, org int64) {
	t.Helper()
	vars := map[string]any{"id": fmt.Sprint(org)}
	testsupport.Eventually(t, 5*time.Second, "the read is answered from the response cache", func() bool {
		res := s.Read(t, orgDoc, vars)
		return len(res.Errors) == 0 && res.Header.Get("X-Orgpulse-Cache") == "hit"
	})
}

// freshIn reads the organization through s (as a client does, from the
// cache when it can) until the answer contains every want, and returns
// how long that took; ok is false when it did not within limit.
func freshIn(t *testing.T, s *testsupport.LiveServer, org int64, limit time.Duration, want ...string) (time.Duration, bool) {
	t.Helper()
	start := time.Now()
	vars := map[string]any{"id": fmt.Sprint(org)}
	for {
		res := s.Read(t, orgDoc, vars)
		ok := len(res.Errors) == 0
		for _, w := range want {
			ok = ok && strings.Contains(string(res.Data), w)
		}
		if ok {
			return time.Since(start), true
		}
		if time.Since(start) > limit {
			return time.Since(start), false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func subscribeEmployees(t *testing.T, s *testsupport.LiveServer, org int64) *testsupport.WSClient {
	t.Helper()
	c := testsupport.DialWS(t, s.WSURL, testsupport.WSDialOptions{})
	c.Init(nil)
	c.Subscribe("e", employeeSub, map[string]any{"org": fmt.Sprint(org)})
	return c
}

// employeeNames collects the employee names of employeeChanged events
// until want names arrived or wait passed.
func employeeNames(t *testing.T, c *testsupport.WSClient, want int, wait time.Duration) []string {
	t.Helper()
	var names []string
	deadline := time.Now().Add(wait)
	for len(names) < want {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		m, ok := c.TryNext(left)
		if !ok {
			break
		}
		if m.Type != "next" {
			t.Fatalf("subscription: %s %s", m.Type, m.Payload)
		}
		var p struct {
			Data struct {
				EmployeeChanged struct {
					Employee *struct{ Name string }
				}
			}
		}
		if err := json.Unmarshal(m.Payload, &p); err != nil {
			t.Fatal(err)
		}
		if e := p.Data.EmployeeChanged.Employee; e != nil {
			names = append(names, e.Name)
		}
	}
	return names
}

// TestOutOfBandWriteReachesCachesAndSubscribers: an UPDATE run as psql
// would run it, outside every mutation, is reflected in the cached reads
// of every replica within 2 s, and subscribers receive its event.
func TestOutOfBandWriteReachesCachesAndSubscribers(t *testing.T) {
	rs := replicas(t, 2, nil, "", nil)
	a, b := rs[0], rs[1]
	org, emp := anOrganization(t, a)
	warm(t, a, org)
	warm(t, b, org)
	c := subscribeEmployees(t, b, org)

	a.DB.MustExec(t, "UPDATE employees SET name = 'Changed By Psql', salary = 9999999.5 WHERE id = $1", emp)
	for _, s := range rs {
		took, ok := freshIn(t, s, org, freshness, "Changed By Psql", "9999999.5")
		if !ok {
			t.Fatalf("a cached read still shows the old row after %s", took)
		}
		t.Logf("fresh after %s", took.Round(time.Millisecond))
	}
	if got := employeeNames(t, c, 1, freshness); len(got) != 1 || got[0] != "Changed By Psql" {
		t.Fatalf("the subscriber got %q, want the out-of-band change", got)
	}
}

// TestCrashAfterCommit: one replica commits each mutation and then skips
// its own invalidation (the test failpoint resolvers.Config.FailAfterCommit,
// as if it died between COMMIT and the invalidation; the active relay is
// the other replica's). 20 times: the other replica's cached reads show
// the change within 2 s and its subscriber receives the event.
func TestCrashAfterCommit(t *testing.T) {
	rs := replicas(t, 2, nil, "", func(i int, r *resolvers.Config) {
		if i == 1 {
			r.FailAfterCommit = func() bool { return true }
		}
	})
	reader, crasher := rs[0], rs[1]
	org, emp := anOrganization(t, reader)
	c := subscribeEmployees(t, reader, org)
	const runs = 20
	var lost, stale int
	var worst time.Duration
	for i := range runs {
		warm(t, reader, org)
		name := fmt.Sprintf("Crash Run %02d", i)
		res := crasher.Mutate(t, renameDoc, map[string]any{"id": fmt.Sprint(emp), "name": name})
		if len(res.Errors) > 0 {
			t.Fatalf("run %d: %s", i, res.Raw)
		}
		took, ok := freshIn(t, reader, org, freshness, name)
		if !ok {
			stale++
		}
		worst = max(worst, took)
		if got := employeeNames(t, c, 1, freshness); len(got) != 1 || got[0] != name {
			lost++
			t.Logf("run %d: the subscriber got %q", i, got)
		}
	}
	t.Logf("crash after commit, %d runs: %d lost, %d stale beyond %s; slowest fresh read %s",
		runs, lost, stale, freshness, worst.Round(time.Millisecond))
	if lost > 0 || stale > 0 {
		t.Fatalf("%d lost, %d stale", lost, stale)
	}
}

// TestRelayTakeover: when the replica whose relay is active closes,
// another replica's relay takes over within 2 s and delivers what was
// committed meanwhile.
func TestRelayTakeover(t *testing.T) {
	rs := replicas(t, 2, nil, "", nil)
	first, second := rs[0], rs[1]
	org, emp := anOrganization(t, first)
	warm(t, second, org)
	c := subscribeEmployees(t, second, org)

	start := time.Now()
	first.Close()
	second.DB.MustExec(t, "UPDATE employees SET name = 'During Takeover' WHERE id = $1", emp)
	testsupport.Eventually(t, freshness, "the second replica's relay takes over", func() bool { return second.Relay.Stats().Active })
	took := time.Since(start)
	if _, ok := freshIn(t, second, org, freshness, "During Takeover"); !ok {
		t.Fatal("the change committed during the takeover never reached the cache")
	}
	if got := employeeNames(t, c, 1, freshness); len(got) != 1 || got[0] != "During Takeover" {
		t.Fatalf("the subscriber got %q", got)
	}
	t.Logf("takeover after %s", took.Round(time.Millisecond))
}

// TestRelayResumesAfterConnectionLoss: PostgreSQL terminates the relays'
// sessions (as a restart of PostgreSQL does) while changes are committed;
// the relay reconnects, takes the lock again and delivers every change in
// order. A session lost between publishing and recording publishes some
// events again; each replica's feed drops those repeats
// (resolvers/repeats.go), so the subscriber gets every change once.
func TestRelayResumesAfterConnectionLoss(t *testing.T) {
	rs := replicas(t, 2, nil, "", nil)
	org, emp := anOrganization(t, rs[0])
	c := subscribeEmployees(t, rs[1], org)
	const changes = 150
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range changes {
			rs[0].DB.MustExec(t, "UPDATE employees SET name = $1 WHERE id = $2", fmt.Sprintf("Resume %03d", i), emp)
			time.Sleep(10 * time.Millisecond)
		}
	}()
	terminated := 0
	for range 3 {
		time.Sleep(700 * time.Millisecond)
		n := rs[0].DB.MustQueryInt64(t, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'orgpulse-relay' AND datname = current_database()")
		terminated += int(n)
	}
	wg.Wait()
	var got []string
	seen := map[string]int{}
	dups := 0
	for deadline := time.Now().Add(10 * time.Second); len(seen) < changes && time.Now().Before(deadline); {
		for _, n := range employeeNames(t, c, changes-len(seen), time.Until(deadline)) {
			got = append(got, n)
			seen[n]++
			if seen[n] > 1 {
				dups++
			}
		}
	}
	// Anything after the last change would be a late repeat.
	for _, n := range employeeNames(t, c, 1, 300*time.Millisecond) {
		got = append(got, n)
		dups++
	}
	var missing []string
	for i := range changes {
		if n := fmt.Sprintf("Resume %03d", i); seen[n] == 0 {
			missing = append(missing, n)
		}
	}
	st0, st1 := rs[0].Relay.Stats(), rs[1].Relay.Stats()
	t.Logf("%d relay sessions terminated, %d failures, %d times a relay became active; %d changes: %d events received, %d missing, %d duplicated",
		terminated, st0.Failures+st1.Failures, st0.Sessions+st1.Sessions, changes, len(got), len(missing), dups)
	if terminated == 0 || st0.Sessions+st1.Sessions < 2 {
		t.Fatal("no active relay session was terminated and taken over again: the test tested nothing")
	}
	if len(missing) > 0 || dups > 0 {
		t.Fatalf("missing %v, %d duplicates", missing, dups)
	}
	for i := 1; i < len(got); i++ {
		if got[i] < got[i-1] {
			t.Fatalf("out of order: %q after %q", got[i], got[i-1])
		}
	}
}

// TestRedisOutage: Redis stops while mutations run. Every mutation
// succeeds; once Redis is back, the relay delivers the outage's events in
// order and retires the cache.
func TestRedisOutage(t *testing.T) {
	p := testsupport.MustStartRedisProcess(t)
	const prefix = "t:"
	rs := replicas(t, 2, p.Client(t), prefix, nil)
	org, emp := anOrganization(t, rs[0])
	warm(t, rs[1], org)

	p.Stop(t)
	const mutations = 15
	for i := range mutations {
		res := rs[0].Mutate(t, renameDoc, map[string]any{"id": fmt.Sprint(emp), "name": fmt.Sprintf("Outage %02d", i)})
		if len(res.Errors) > 0 {
			t.Fatalf("mutation %d during the outage: %s", i, res.Raw)
		}
		time.Sleep(200 * time.Millisecond) // 5 mutations/s
	}
	p.Start(t)
	// A subscriber of Redis's own channel, there from the moment Redis
	// answers again (the relay retries every 500 ms).
	rdb := p.Client(t)
	sub := rdb.Subscribe(context.Background(), prefix+resolvers.TopicEmployee)
	defer sub.Close()
	if _, err := sub.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}
	latest := rs[0].DB.MustQueryInt64(t, "SELECT max(position) FROM change_log")
	testsupport.Eventually(t, 10*time.Second, "the relay delivers the outage's changes", func() bool {
		return rs[0].DB.MustQueryInt64(t, "SELECT position FROM change_relay") >= latest
	})
	var names []string
	ch := sub.Channel()
	for len(names) < mutations {
		select {
		case m := <-ch:
			var ev struct {
				D struct {
					Position int64
					Employee *struct{ Name string }
				} `json:"d"`
			}
			if err := json.Unmarshal([]byte(m.Payload), &ev); err != nil {
				t.Fatal(err)
			}
			if ev.D.Employee != nil {
				names = append(names, ev.D.Employee.Name)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("after Redis returned, %d of %d events arrived: %q", len(names), mutations, names)
		}
	}
	for i, n := range names {
		if want := fmt.Sprintf("Outage %02d", i); n != want {
			t.Fatalf("event %d is %q, want %q (all: %q)", i, n, want, names)
		}
	}
	took, ok := freshIn(t, rs[1], org, freshness, fmt.Sprintf("Outage %02d", mutations-1))
	if !ok {
		t.Fatal("the cache still serves a value from before the outage")
	}
	t.Logf("%d mutations during the outage, all answered; %d events delivered in order after Redis returned; cache fresh after %s",
		mutations, len(names), took.Round(time.Millisecond))
}

// TestRelayMetrics: /metrics says which replica's relay is active and how
// far it delivered.
func TestRelayMetrics(t *testing.T) {
	rs := replicas(t, 2, nil, "", nil)
	rs[0].DB.MustExec(t, "UPDATE organizations SET industry = 'metrics' WHERE id = (SELECT min(id) FROM organizations)")
	rs[0].WaitDelivered(t)
	want := rs[0].DB.MustQueryInt64(t, "SELECT position FROM change_relay")
	for i, line := range []string{"orgpulse_relay_active 1", "orgpulse_relay_active 0"} {
		res, err := http.Get(rs[i].URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !strings.Contains(string(body), line+"\n") {
			t.Errorf("replica %d: no %q in /metrics", i, line)
		}
		if i == 0 && !strings.Contains(string(body), fmt.Sprintf("orgpulse_relay_delivered_position %d\n", want)) {
			t.Errorf("the active relay's /metrics does not say it delivered position %d", want)
		}
	}
}
