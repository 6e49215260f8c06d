package server

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"

	"orgpulse/cache"
)

// HTTP caching of GET reads (README "Persisted operations"). A GET query
// that the response cache answered (or whose answer it is about to keep)
// carries an ETag derived from the cache entry: its key (which holds the
// principal's role and scope, the document and the variables), the cache
// generation and the version of the rows it read. Any mutation moves the
// version on, and so the ETag. A GET whose If-None-Match holds the current
// ETag of a cached answer is answered 304 without a body.
//
// Every answer to a GET says Cache-Control: CACHE_CONTROL, by default
// "private, no-cache": a browser may keep it but asks again (If-None-Match)
// before using it. Never "public": the answers depend on the credentials
// (app/config.go refuses public and s-maxage), and Vary: Authorization
// says so to any cache that looks.

// DefaultCacheControl is CACHE_CONTROL's default.
const DefaultCacheControl = "private, no-cache"

// getHeaders are the caching headers of every answer to a GET.
func (s *Server) getHeaders(h http.Header) {
	h.Set("Cache-Control", s.cfg.CacheControl)
	h.Add("Vary", "Authorization")
}

// etag is the ETag of e's value; "" when Redis was not used.
func etag(e cache.Entry) string {
	t := e.Tag()
	if t == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(t))
	// Weak: two replicas that computed the same entry at once may have
	// kept bytes that differ in nothing that matters.
	return `W/"` + hex.EncodeToString(sum[:16]) + `"`
}

// revalidate gives a GET's answer from (or for) entry its ETag, and turns
// a cache hit the client already holds into a 304.
func revalidate(c *call, o *outcome, e cache.Entry) {
	tag := etag(e)
	if !c.get || tag == "" {
		return
	}
	o.header = map[string]string{"ETag": tag}
	if o.cache == "hit" && etagMatches(c.ifNoneMatch, tag) {
		o.status, o.body = http.StatusNotModified, nil
	}
}

// etagMatches is If-None-Match's weak comparison (RFC 9110 13.1.2).
func etagMatches(ifNoneMatch, tag string) bool {
	for _, t := range strings.Split(ifNoneMatch, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == strings.TrimPrefix(tag, "W/") {
			return true
		}
	}
	return false
}
