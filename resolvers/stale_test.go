package resolvers_test

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"orgpulse/testsupport"
)

// Two replicas share one Redis cache. While a writer mutates through either
// replica, readers on both hammer cached fields. A read that starts after a
// mutation returned must reflect that mutation, whichever replica serves it.

// wrStaleState is what the readers can observe, computed with SQL after
// each mutation.
type wrStaleState struct {
	xCount                     int64   // organization X: employeeCount
	xTotal, xActive, xInactive int64   // organization X: employeeStats
	xMax                       float64 // organization X: employeeStats.maxSalary
	zCount                     int64   // organization Z: employeeCount
	yName                      string  // organization Y's name in allOrganizations
}

func wrStaleSnapshot(t testing.TB, db *testsupport.DB, x, y, z int64) wrStaleState {
	t.Helper()
	var s wrStaleState
	db.MustScan(t, []any{&s.xTotal, &s.xActive, &s.xMax}, `SELECT count(*), count(*) FILTER (WHERE is_active),
		coalesce(max(salary), 0)::float8 FROM employees WHERE organization_id = $1`, x)
	s.xInactive = s.xTotal - s.xActive
	s.xCount = s.xActive
	s.zCount = db.MustQueryInt64(t, `SELECT count(*) FROM employees WHERE organization_id = $1 AND is_active`, z)
	db.MustScan(t, []any{&s.yName}, `SELECT name FROM organizations WHERE id = $1`, y)
	return s
}

// One statement per read when warm (the organization row of x); everything
// else comes from the cache: x's aggregates, and the list with every active
// organization's employeeCount (z's among them) and name (y's among them).
const wrStaleQuery = `query($x: ID!) {
	x: organization(id: $x) { employeeCount employeeStats { total active inactive maxSalary } }
	allOrganizations { id name employeeCount }
}`

type wrStaleRead struct {
	replica       int
	before, after int64 // mutations returned before the read started / after it ended
	xCount        int64
	xStats        wrStatsJSON
	zCount        int64
	yName         string
	yFound        bool
}

func TestStaleReadsTwoReplicas(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	rdb, prefix := testsupport.MustRedisClient(t)
	shared := testsupport.SharedCache(rdb, prefix)
	replicas := []*testsupport.Server{testsupport.MustStartServer(t, db, shared), testsupport.MustStartServer(t, db, shared)}

	orgs := db.MustQueryInt64s(t, `SELECT o.id FROM organizations o WHERE o.is_active AND
		(SELECT count(*) FROM employees e WHERE e.organization_id = o.id AND e.is_active) >= 20 ORDER BY o.id LIMIT 3`)
	if len(orgs) != 3 {
		t.Fatalf("need 3 active organizations with 20 active employees, seed has %d", len(orgs))
	}
	x, y, z := orgs[0], orgs[1], orgs[2]
	const mutations, readers = 60, 8
	const kinds = 5
	movers := db.MustQueryInt64s(t, `SELECT id FROM employees WHERE organization_id = $1 AND is_active ORDER BY id LIMIT $2`, z, mutations/kinds)
	if len(movers) != mutations/kinds {
		t.Fatalf("organization %d has %d active employees", z, len(movers))
	}

	states := make([]wrStaleState, mutations+1)
	states[0] = wrStaleSnapshot(t, db, x, y, z)
	var done atomic.Int64 // mutations that have returned (and whose state is recorded)
	var stop atomic.Bool
	vars := map[string]any{"x": wrStr(x)}

	var mu sync.Mutex
	var reads []wrStaleRead
	var readErrs []string
	var wg sync.WaitGroup
	for r := range readers {
		wg.Go(func() {
			srv := replicas[r%2]
			var mine []wrStaleRead
			for last := false; !last; {
				last = stop.Load() // one more read after the writer finished
				before := done.Load()
				res, err := wrPost(srv, wrBearer, wrStaleQuery, vars)
				after := done.Load()
				if err == nil && len(res.Errors) > 0 {
					err = fmt.Errorf("GraphQL errors: %s", res.Raw)
				}
				var out struct {
					X struct {
						EmployeeCount int64       `json:"employeeCount"`
						EmployeeStats wrStatsJSON `json:"employeeStats"`
					} `json:"x"`
					AllOrganizations []struct {
						ID            string `json:"id"`
						Name          string `json:"name"`
						EmployeeCount int64  `json:"employeeCount"`
					} `json:"allOrganizations"`
				}
				if err == nil {
					err = json.Unmarshal(res.Data, &out)
				}
				if err != nil {
					mu.Lock()
					readErrs = append(readErrs, fmt.Sprintf("replica %d: %v", r%2, err))
					mu.Unlock()
					return
				}
				rd := wrStaleRead{replica: r % 2, before: before, after: after,
					xCount: out.X.EmployeeCount, xStats: out.X.EmployeeStats, zCount: -1}
				for _, o := range out.AllOrganizations {
					switch o.ID {
					case wrStr(y):
						rd.yName, rd.yFound = o.Name, true
					case wrStr(z):
						rd.zCount = o.EmployeeCount
					}
				}
				mine = append(mine, rd)
				time.Sleep(10 * time.Millisecond) // hammer, but leave the writer some CPU
			}
			mu.Lock()
			reads = append(reads, mine...)
			mu.Unlock()
		})
	}

	// The writer: five kinds of mutation in turn, through alternating replicas.
	time.Sleep(50 * time.Millisecond) // let the readers warm the cache
	var created int64
	// At most 60 mutations; on a machine too loaded to do them in 15s, stop
	// after a full cycle (at least two cycles are required).
	last := int64(mutations)
	writerDeadline := time.Now().Add(15 * time.Second)
	for j := 1; j <= mutations; j++ {
		if (j-1)%kinds == 0 && j > 2*kinds && time.Now().After(writerDeadline) {
			last = int64(j - 1)
			t.Logf("the machine is slow: stopping after %d mutations", last)
			break
		}
		srv := replicas[j%2]
		cycle := (j - 1) / kinds
		switch (j - 1) % kinds {
		case 0:
			e := wrRun[wrEmpJSON](t, srv, mCreateEmp, map[string]any{"input": map[string]any{"organizationId": wrStr(x),
				"name": fmt.Sprintf("Stale Probe %d", j), "email": fmt.Sprintf("stale.probe.%d@example.com", j),
				"department": "Stale Lab", "salary": 50000}})
			created = testsupport.ParseID(t, e.ID)
		case 1:
			wrRun[wrEmpJSON](t, srv, mUpdateEmp, map[string]any{"id": wrStr(created), "input": map[string]any{"salary": 1_000_000 + j}})
		case 2:
			wrRun[wrEmpJSON](t, srv, mUpdateEmp, map[string]any{"id": wrStr(created), "input": map[string]any{"isActive": false}})
		case 3:
			wrRun[wrOrgJSON](t, srv, mUpdateOrg, map[string]any{"id": wrStr(y), "input": map[string]any{"name": fmt.Sprintf("Stale Rename %d", j)}})
		case 4:
			wrRun[wrEmpJSON](t, srv, mUpdateEmp, map[string]any{"id": wrStr(movers[cycle]), "input": map[string]any{"organizationId": wrStr(x)}})
		}
		states[j] = wrStaleSnapshot(t, db, x, y, z)
		done.Store(int64(j))
		time.Sleep(2 * time.Millisecond) // give the readers a chance at each state
	}
	stop.Store(true)
	wg.Wait()
	for _, e := range readErrs {
		t.Error(e)
	}

	// Check every read: each value must be the state after some mutation j
	// with before <= j <= after+1 (after+1: committed but not yet returned).
	stale := 0
	perReplica := [2]int{}
	fresh := 0
	for _, rd := range reads {
		perReplica[rd.replica]++
		lo, hi := rd.before, min(rd.after+1, last)
		match := func(what string, ok func(s wrStaleState) bool, got any) {
			for j := lo; j <= hi; j++ {
				if ok(states[j]) {
					return
				}
			}
			stale++
			if stale <= 20 {
				var seen []int
				for j := range states[:last+1] {
					if ok(states[j]) {
						seen = append(seen, j)
					}
				}
				t.Errorf("replica %d, read started after mutation %d and ended after %d: %s = %v matches only the states after mutations %v",
					rd.replica, rd.before, rd.after, what, got, seen)
			}
		}
		match("x.employeeCount", func(s wrStaleState) bool { return s.xCount == rd.xCount }, rd.xCount)
		match("x.employeeStats", func(s wrStaleState) bool {
			return s.xTotal == rd.xStats.Total && s.xActive == rd.xStats.Active && s.xInactive == rd.xStats.Inactive &&
				math.Abs(s.xMax-rd.xStats.MaxSalary) < 0.005
		}, fmt.Sprintf("%+v", rd.xStats))
		match("z.employeeCount", func(s wrStaleState) bool { return s.zCount == rd.zCount }, rd.zCount)
		if !rd.yFound {
			t.Errorf("replica %d: organization %d missing from allOrganizations", rd.replica, y)
		} else {
			match("allOrganizations name of y", func(s wrStaleState) bool { return s.yName == rd.yName }, rd.yName)
		}
		if rd.before == last {
			fresh++
		}
	}
	if stale > 20 {
		t.Errorf("... %d stale values in all", stale)
	}
	t.Logf("%d mutations; %d reads checked (replica 0: %d, replica 1: %d; %d started after the last mutation), 4 values each; %d stale",
		last, len(reads), perReplica[0], perReplica[1], fresh, stale)
	if perReplica[0] < int(last) || perReplica[1] < int(last) || fresh < readers {
		t.Errorf("too few reads to prove anything: %v per replica, %d after the last mutation", perReplica, fresh)
	}
	if s := states[last]; s.xTotal-states[0].xTotal != 2*last/kinds || !strings.HasPrefix(s.yName, "Stale Rename") {
		t.Errorf("the writer did not do what it meant to: %+v -> %+v", states[0], s)
	}
}
