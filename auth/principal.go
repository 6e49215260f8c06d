// Package auth says who a request comes from and what it may see: the
// principal (a role and the organizations it is scoped to), the bearer
// tokens that carry it (JWTs, tokens.go) and the table of what each role
// may select (rules.go). It is a leaf: the server authenticates with it,
// the resolvers enforce the principal's scope in SQL.
package auth

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Role is what a principal may do: see rules.go for the table.
type Role string

// The roles. RoleNone is no role: ANONYMOUS_ROLE=none lets no request in
// without a token.
const (
	RoleNone    Role = "none"
	RoleAdmin   Role = "admin"
	RoleManager Role = "manager"
	RoleMember  Role = "member"
)

// ParseRole reads a role of a token's claim or ANONYMOUS_ROLE; none is
// accepted only when allowNone.
func ParseRole(s string, allowNone bool) (Role, error) {
	switch r := Role(s); r {
	case RoleAdmin, RoleManager, RoleMember:
		return r, nil
	case RoleNone:
		if allowNone {
			return r, nil
		}
	}
	if allowNone {
		return "", fmt.Errorf("want none, admin, manager or member, got %q", s)
	}
	return "", fmt.Errorf("want admin, manager or member, got %q", s)
}

// Principal is who an operation runs for. Admin sees every organization;
// manager and member only those of OrgIDs (sorted, unique), which may be
// none at all.
type Principal struct {
	Role    Role
	OrgIDs  []int64
	Subject string
	// Expires is when the token ends (zero: never, the API token and
	// anonymous access); a WebSocket is closed then.
	Expires time.Time
	// Token says a credential came with the request (not anonymous).
	Token bool
}

// NewPrincipal is a principal of role over orgIDs, which it sorts and
// de-duplicates; an admin's are dropped.
func NewPrincipal(role Role, orgIDs []int64) Principal {
	p := Principal{Role: role}
	if role != RoleAdmin {
		p.OrgIDs = slices.Compact(slices.Sorted(slices.Values(orgIDs)))
		if p.OrgIDs == nil {
			p.OrgIDs = []int64{} // scoped to nothing, never to everything
		}
	}
	return p
}

// Admin is the principal of API_TOKEN.
func Admin() Principal { return Principal{Role: RoleAdmin, Token: true} }

// Scope is the organizations the principal may see, as the SQL statements
// take it: nil (NULL) for an admin, who sees all, else a non-nil slice,
// empty for a principal scoped to none. Fail closed: a principal with no
// role is scoped to nothing.
func (p Principal) Scope() []int64 {
	if p.Role == RoleAdmin {
		return nil
	}
	if p.OrgIDs == nil {
		return []int64{}
	}
	return p.OrgIDs
}

// Sees reports whether the principal may see organization id.
func (p Principal) Sees(id int64) bool {
	if p.Role == RoleAdmin {
		return true
	}
	_, found := slices.BinarySearch(p.OrgIDs, id)
	return found
}

// CacheKey names what the principal may see: role and sorted scope, e.g.
// "admin" or "member:3,4". Cached whole responses are kept per key.
func (p Principal) CacheKey() string {
	if p.Role == RoleAdmin {
		return string(RoleAdmin)
	}
	return string(p.Role) + ":" + ScopeKey(p.OrgIDs)
}

// ScopeKey is a sorted scope as text ("3,4"; "" for none).
func ScopeKey(ids []int64) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(id, 10))
	}
	return b.String()
}
