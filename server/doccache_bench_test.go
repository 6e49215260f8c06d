package server_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"

	"orgpulse/resolvers"
	"orgpulse/server"
	"orgpulse/testsupport"
)

// BenchmarkDocumentCacheOverHTTP is an uncached read over HTTP at
// concurrency 16 with the document cache (DOCUMENT_CACHE_SIZE's default)
// and without it (0), the two servers side by side: run it with -count to
// pair their rounds. The query is bench/ops/org.graphql's, whose SQL is
// one primary-key read, so the server's own work shows most.
func BenchmarkDocumentCacheOverHTTP(b *testing.B) {
	db := testsupport.MustOpenSeededDB(b)
	body := []byte(`{"query":"{ organization(id: 1) { name industry isActive } }"}`)
	servers := map[string]*testsupport.Server{}
	for name, n := range map[string]int{"with": server.DefaultDocumentCacheSize, "without": -1} {
		servers[name] = testsupport.MustStartServer(b, db, testsupport.NoCache, func(c *server.Config, _ *resolvers.Config) {
			c.DocumentCacheSize = n
		})
	}
	for round := range docCacheRounds {
		for _, name := range []string{"with", "without"} {
			benchRead(b, fmt.Sprintf("%s/r%d", name, round+1), servers[name], body)
		}
	}
}

const docCacheRounds = 8 // 4 were not enough to see past the noise of a shared 2-core machine

func benchRead(b *testing.B, name string, srv *testsupport.Server, body []byte) {
	b.Run(name, func(b *testing.B) {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+testsupport.APIToken)
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
	})
}
