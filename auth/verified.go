package auth

import (
	"crypto/sha256"
	"sync"
	"time"
)

// Verifying a JWT (base64, JSON, an HMAC or a public-key signature) cost
// 5.6 µs and 67 allocations per request (HS256, 2-core VM, before this
// cache; BenchmarkVerify: about 1 µs and 1 allocation with it), about a
// tenth of a cached response's whole cost: clients send the same token
// with every request, so a verified token's principal is kept, by the
// SHA-256 of the token (the token itself is not kept in memory), until the
// token expires. A hit checks only the token's time window again; a forged
// or altered token hashes elsewhere and is verified in full. A kept token
// stays accepted until it expires even if its key leaves the JWKS file:
// tokens are short-lived, and the file is read again only for a new kid.

// maxVerified bounds the tokens kept; when full, the cache starts over.
const maxVerified = 10000

// verifiedToken is a kept verification: the principal, and when it holds.
type verifiedToken struct {
	p         Principal
	notBefore time.Time // nbf minus the leeway (zero: none)
}

type verifiedCache struct {
	mu sync.RWMutex
	m  map[[sha256.Size]byte]verifiedToken
}

// get returns the principal of token if it was verified and holds at now.
func (c *verifiedCache) get(key [sha256.Size]byte, now time.Time) (Principal, bool) {
	c.mu.RLock()
	v, ok := c.m[key]
	c.mu.RUnlock()
	if !ok || now.Before(v.notBefore) || !now.Before(v.p.Expires) {
		return Principal{}, false
	}
	return v.p, true
}

// put keeps a verified token's principal; one that never expires is not
// kept (Verify requires exp, so none does).
func (c *verifiedCache) put(key [sha256.Size]byte, v verifiedToken) {
	if v.p.Expires.IsZero() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxVerified {
		c.m = make(map[[sha256.Size]byte]verifiedToken)
	}
	c.m[key] = v
}
