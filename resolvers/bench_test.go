package resolvers_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"orgpulse/resolvers"
	"orgpulse/server"
	"orgpulse/testsupport"
)

// BenchmarkOperations measures, through HTTP against the seeded database,
// the latency a client sees for each operation of the N+1 table
// (TestStatementCounts): with the Redis cache off (every request reaches
// PostgreSQL), with it on, and with whole responses cached too (what a
// server with REDIS_URL does). Besides ns/op it reports the median and the
// 99th percentile of the per-request durations.
//
//	go test -run '^$' -bench Operations -benchtime 200x ./resolvers/
func BenchmarkOperations(b *testing.B) {
	db := testsupport.MustOpenSeededDB(b)
	projectID := db.MustQueryInt64(b, "SELECT min(id) FROM projects")
	ops := []struct{ name, query string }{
		{"allEmployees_with_organization", `{ allEmployees(pageSize: 50) { name organization { name } } }`},
		{"project_with_organization_team_size", fmt.Sprintf(`{ project(id: %d) { name organization { name } teamMembers { name } teamSize } }`, projectID)},
		{"allProjects_with_organization_team", `{ allProjects(pageSize: 20) { name organization { name } teamMembers { name } } }`},
		{"organizations_employees_projects", `{ organizations(first: 50) { nodes { employees(first: 50) { nodes { projects { name } } } } } }`},
		{"performanceSummary", `{ performanceSummary(metricType: "api_response") { metricType averageValue count maxValue minValue p50 p95 p99 } }`},
		{"employeeStats", `{ employeeStats { total active inactive averageSalary maxSalary minSalary } }`},
		{"departmentStats", `{ departmentStats { department count averageSalary } }`},
	}
	servers := []struct {
		name   string
		tweaks []func(*server.Config, *resolvers.Config)
	}{
		{"nocache", []func(*server.Config, *resolvers.Config){testsupport.NoCache}},
		{"cache", nil}, // aggregates and lists cached, responses executed
		{"responsecache", []func(*server.Config, *resolvers.Config){testsupport.WithResponseCache}},
	}
	for _, s := range servers {
		srv := testsupport.MustStartServer(b, db, s.tweaks...)
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
		b.Cleanup(client.CloseIdleConnections)
		for _, op := range ops {
			body, err := json.Marshal(map[string]any{"query": op.query})
			if err != nil {
				b.Fatal(err)
			}
			b.Run(s.name+"/"+op.name, func(b *testing.B) {
				timeRequests(b, func(int) { benchRequest(b, client, srv.URL, body) })
			})
		}
	}
}

// timeRequests calls send once before the clock starts (connections are
// open and, with the cache on, the answer is cached), then b.N times, i
// from 0, and reports the median and the 99th percentile besides ns/op.
func timeRequests(b *testing.B, send func(i int)) {
	send(-1)
	durations := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		send(i)
		durations = append(durations, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(durations)
	b.ReportMetric(percentileMs(durations, 0.50), "p50-ms")
	b.ReportMetric(percentileMs(durations, 0.99), "p99-ms")
}

// benchRequest POSTs one GraphQL request and fails the benchmark on any
// HTTP or GraphQL error.
func benchRequest(b *testing.B, client *http.Client, url string, body []byte) {
	req, err := http.NewRequest(http.MethodPost, url+"/graphql", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testsupport.APIToken) // every operation needs a token
	res, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		b.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || bytes.Contains(raw, []byte(`"errors"`)) {
		b.Fatalf("status %d: %.300s", res.StatusCode, raw)
	}
}

// percentileMs is the nearest-rank percentile of sorted durations, in
// milliseconds.
func percentileMs(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	i = min(max(i, 0), len(sorted)-1)
	return float64(sorted[i].Microseconds()) / 1000
}
