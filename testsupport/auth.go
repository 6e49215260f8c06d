package testsupport

import (
	"net/http"
	"testing"
	"time"

	"orgpulse/auth"
	"orgpulse/resolvers"
	"orgpulse/server"
)

// JWTSecret is the HS256 key test servers verify tokens with.
const JWTSecret = "test-jwt-secret-0123456789abcdef0123"

// Token signs a token of role over orgIDs with JWTSecret, valid for an
// hour.
func Token(tb testing.TB, role auth.Role, orgIDs ...int64) string {
	tb.Helper()
	return TokenWith(tb, auth.IssueConfig{Role: role, OrgIDs: orgIDs, TTL: time.Hour})
}

// TokenWith signs c with JWTSecret (c.Secret, when empty).
func TokenWith(tb testing.TB, c auth.IssueConfig) string {
	tb.Helper()
	if c.Secret == "" {
		c.Secret = JWTSecret
	}
	tok, err := auth.Issue(c)
	if err != nil {
		tb.Fatalf("issue a token: %v", err)
	}
	return tok
}

// NoToken is the header of a request sent without a credential through
// Server.Do (which otherwise sends the API token).
func NoToken() http.Header { return http.Header{"Authorization": {""}} }

// Tweak changes a test server's configuration (MustStartServer).
type Tweak = func(*server.Config, *resolvers.Config)

// Anonymous is a MustStartServer tweak that sets ANONYMOUS_ROLE.
func Anonymous(r auth.Role) Tweak {
	return func(s *server.Config, _ *resolvers.Config) { s.AnonymousRole = r }
}

// QueryAs POSTs a GraphQL request with X-Debug: 1 and the bearer token
// ("" sends none).
func (s *Server) QueryAs(tb testing.TB, token, query string, vars map[string]any) *Response {
	tb.Helper()
	return s.post(tb, query, vars, token)
}

// ReadAs is Read with the bearer token: it may be answered from the
// whole-response cache.
func (s *Server) ReadAs(tb testing.TB, token, query string, vars map[string]any) *Response {
	tb.Helper()
	return s.send(tb, query, vars, token, false)
}
