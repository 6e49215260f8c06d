package resolvers_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

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
	timeRequests(b, func(i int) {
		body, err := json.Marshal(map[string]any{"query": doc, "variables": map[string]any{"id": fmt.Sprint(empID), "n": fmt.Sprintf("Bench %d", i)}})
		if err != nil {
			b.Fatal(err)
		}
		benchRequest(b, client, srv.URL, body)
	})
}
