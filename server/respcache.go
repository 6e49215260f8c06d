package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"orgpulse/auth"
	"orgpulse/cache"
	"orgpulse/resolvers"
)

// The whole-response cache (RESPONSE_CACHE, on whenever REDIS_URL is set):
// a query over HTTP whose answer had no errors and read only rows that
// mutations announce is kept in Redis, whole, as the bytes that were sent,
// and the next identical request (same query text, operation name and
// variables) is answered from there, once admitted (parsed, within the
// limits), without graphql-go validating or executing anything: one Redis
// round trip.
//
// It is never stale, by the cache package's versioned keys: every response
// is stored under the version resolvers.VersionRows it read before it ran,
// and every mutation but recordMetric moves that version on after its
// commit, so a response computed from rows older than the last commit is
// never served, on any replica. Responses that read performance samples
// (performanceSummary, slowestEndpoints), which the service records
// without a mutation, are not kept (resolvers.ResponseCacheable); those
// aggregates have their own short-lived cache. Requests with X-Debug: 1
// always execute, so that extensions.debug shows the real work, and so do
// introspection queries: whether introspection is allowed is each
// replica's own setting (INTROSPECTION), and a replica that refuses it
// must not serve another one's answer. The lookup and the store are steps
// of the one operation path (pipeline.go: execute, writeOutcome).
//
// The response says which path it took in X-Orgpulse-Cache: hit or miss
// (absent when the cache was not consulted). A request whose response was
// not kept because of what it read is remembered (uncacheableKeys), so the
// same request later executes without asking Redis first.

const headerCache = "X-Orgpulse-Cache"

// maxCachedResponse bounds one cached response; larger ones are served but
// not kept.
const maxCachedResponse = 1 << 20

// responseKey names a response by what determines it: the principal's
// role and sorted scope (a response cached for one scope is never served
// to another), the operation and the variables. Variables are encoded
// with sorted keys, so their order in the request does not matter.
func responseKey(req *request, p auth.Principal) cache.Key {
	vars, _ := json.Marshal(req.Variables) // decoded from JSON: always encodable
	h := sha256.New()
	h.Write([]byte(p.CacheKey()))
	h.Write([]byte{0})
	h.Write([]byte(req.OperationName))
	h.Write([]byte{0})
	h.Write([]byte(req.Query))
	h.Write([]byte{0})
	h.Write(vars)
	return cache.Key{Name: "resp:" + hex.EncodeToString(h.Sum(nil)), Version: resolvers.VersionRows}
}

// storeResponse keeps body for the entry a lookup missed. The response is
// flushed to the client first: storing is not on its critical path.
func (s *Server) storeResponse(ctx context.Context, w http.ResponseWriter, e cache.Entry, body []byte) {
	if len(body) > maxCachedResponse {
		return
	}
	_ = http.NewResponseController(w).Flush()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	s.cfg.ResponseCache.Put(ctx, e, body, s.cfg.ResponseCacheTTL)
}

// maxUncacheableKeys bounds the keys remembered as not cacheable; the set
// starts over when it is full.
const maxUncacheableKeys = 10000

// keySet is a bounded set of response keys.
type keySet struct {
	mu sync.Mutex
	m  map[string]struct{}
}

func (k *keySet) has(key string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	_, ok := k.m[key]
	return ok
}

func (k *keySet) add(key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil || len(k.m) >= maxUncacheableKeys {
		k.m = make(map[string]struct{})
	}
	k.m[key] = struct{}{}
}
