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

	"orgpulse/testsupport"
)

// BenchmarkMutationLatency measures one client's mutations one after
// another (concurrency 1) through HTTP against the seeded database, with
// the Redis cache on: updateEmployee renaming one employee, which logs one
// change (migrations/00005_change_log.sql) and retires its
// organization's versions. Besides ns/op it reports the median and the
// 99th percentile.
//
//	go test -run '^$' -bench MutationLatency -benchtime 2000x -count 5 ./resolvers/
func BenchmarkMutationLatency(b *testing.B) {
	db := testsupport.MustOpenSeededDB(b)
	empID := db.MustQueryInt64(b, "SELECT min(id) FROM employees")
	srv := testsupport.MustStartServer(b, db)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}}
	b.Cleanup(client.CloseIdleConnections)
	const doc = `mutation($id: ID!, $n: String) { updateEmployee(id: $id, input: {name: $n}) { id name } }`
	send := func(i int) {
		body, err := json.Marshal(map[string]any{"query": doc, "variables": map[string]any{"id": fmt.Sprint(empID), "n": fmt.Sprintf("Bench %d", i)}})
		if err != nil {
			b.Fatal(err)
		}
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/graphql", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+testsupport.APIToken)
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		out, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK || bytes.Contains(out, []byte(`"errors"`)) {
			b.Fatalf("status %d, %v: %s", res.StatusCode, err, out)
		}
	}
	send(-1)
	durations := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		send(i)
		durations = append(durations, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(durations)
	b.ReportMetric(float64(durations[len(durations)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(durations[len(durations)*99/100].Microseconds())/1000, "p99-ms")
}
