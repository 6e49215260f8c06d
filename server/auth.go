package server

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"

	"orgpulse/auth"
)

// Authentication is decided once per operation, in the one pipeline
// (pipeline.go), for HTTP and WebSocket alike: the transport hands over
// the credential it was given (the Authorization header, or the
// connection_init payload's "Authorization"), and authenticate turns it
// into the principal the resolvers see, or a 401 UNAUTHENTICATED that says
// what was wrong with it without quoting it.

// authenticate returns the principal of c's credential.
func (s *Server) authenticate(c *call) (auth.Principal, *refusal) {
	if c.queryToken {
		return auth.Principal{}, unauthenticated(c, "a token in the query string is refused (it would be logged by proxies): send the header Authorization: Bearer <token>")
	}
	p, why := s.principal(c.credential)
	if why != "" {
		return auth.Principal{}, unauthenticated(c, why)
	}
	return p, nil
}

// principal is the principal of an Authorization value, or why there is
// none.
func (s *Server) principal(credential string) (auth.Principal, string) {
	cred := strings.TrimSpace(credential)
	if cred == "" {
		if r := s.cfg.AnonymousRole; r != "" && r != auth.RoleNone {
			return auth.NewPrincipal(r, nil), ""
		}
		return auth.Principal{}, "the bearer token is missing"
	}
	scheme, token, ok := strings.Cut(cred, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return auth.Principal{}, "the bearer token is malformed: want Authorization: Bearer <token>"
	}
	if s.cfg.APIToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.cfg.APIToken)) == 1 {
		return auth.Admin(), ""
	}
	if s.cfg.Verifier == nil {
		return auth.Principal{}, "the bearer token is badly signed"
	}
	p, err := s.cfg.Verifier.Verify(token)
	if err != nil {
		return auth.Principal{}, err.Error()
	}
	return p, ""
}

func unauthenticated(c *call, msg string) *refusal {
	if c.transport == transportWS {
		msg += ` (send "Authorization": "Bearer <token>" in the connection_init payload)`
	}
	return &refusal{Code: CodeUnauthenticated, Message: msg,
		Status: http.StatusUnauthorized, header: map[string]string{"WWW-Authenticate": "Bearer"}}
}

// forbidden refuses an operation that selects a field the principal's
// role may not (auth.Rules), naming the field.
func forbidden(p auth.Principal, d *document) *refusal {
	for _, f := range d.stats.Restricted {
		typ, field, _ := strings.Cut(f, ".")
		if !auth.Rule(typ, field).Allows(p.Role) {
			return &refusal{Code: CodeForbidden, Status: http.StatusForbidden,
				Message: "the role " + string(p.Role) + " may not select " + f,
				Ext:     map[string]any{"field": f}}
		}
	}
	return nil
}

// queryStringTokenParams are the names a token may be sent under in a
// URL; a request carrying one is refused, whatever its value.
var queryStringTokenParams = []string{"access_token", "token", "authorization", "jwt", "bearer"}

func hasQueryToken(q url.Values) bool {
	for k := range q {
		for _, p := range queryStringTokenParams {
			if strings.EqualFold(k, p) {
				return true
			}
		}
	}
	return false
}
