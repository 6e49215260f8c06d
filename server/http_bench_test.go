package server_test

import (
	"bytes"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	"orgpulse/auth"
	"orgpulse/testsupport"
)

// BenchmarkUncachedQueryOverHTTP is the hot path of a read: one POST of a
// page query with nested objects, without any cache, so that every
// request is parsed, checked, validated and executed against PostgreSQL.
// It runs as admin with the API token, as admin with a JWT, and as a
// member of one organization (scope bound into the SQL, the rule table
// checked): the cost of authorization. The query selects no field a
// member may not read (no email).
func BenchmarkUncachedQueryOverHTTP(b *testing.B) {
	db := testsupport.MustOpenSeededDB(b)
	srv := testsupport.MustStartServer(b, db, testsupport.NoCache)
	body := []byte(`{"query":"query Employees { allEmployees(pageSize: 20) { id name title organization { id name } } }"}`)
	for _, who := range []struct{ name, token string }{
		{"api-token", testsupport.APIToken},
		{"admin-jwt", testsupport.Token(b, auth.RoleAdmin)},
		{"member-jwt", testsupport.Token(b, auth.RoleMember, 3)},
	} {
		b.Run(who.name, func(b *testing.B) {
			b.ReportAllocs()
			postParallel(b, srv.URL+"/graphql", who.token, body)
		})
	}
}

// postParallel POSTs body to url with the bearer token from 8 goroutines
// per CPU until the benchmark has its b.N requests.
func postParallel(b *testing.B, url, token string, body []byte) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.SetParallelism(8)
	// CPU time of this process (server and client) per request: on a
	// shared machine it moves far less with the load than ns/op does.
	cpu0 := processCPU()
	defer func() { b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op") }()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+token)
			res, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				b.Errorf("status %d", res.StatusCode)
				return
			}
		}
	})
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
