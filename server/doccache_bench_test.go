package server_test

import (
	"fmt"
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
		order := []string{"with", "without"}
		if round%2 == 1 {
			order[0], order[1] = order[1], order[0] // each goes first in half the rounds
		}
		for _, name := range order {
			benchRead(b, fmt.Sprintf("%s/r%d", name, round+1), servers[name], body)
		}
	}
}

const docCacheRounds = 8 // 4 were not enough to see past the noise of a shared 2-core machine

func benchRead(b *testing.B, name string, srv *testsupport.Server, body []byte) {
	b.Run(name, func(b *testing.B) { postParallel(b, srv.URL+"/graphql", testsupport.APIToken, body) }) // http_bench_test.go
}
