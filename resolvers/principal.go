package resolvers

import (
	"context"

	"orgpulse/auth"
)

// Who a request runs for. The server authenticates (server/auth.go) and
// puts the principal in the request's context; the resolvers bind its
// scope into every statement that starts from a root field (lookups,
// pages, connections and their totals, aggregates), as the parameter
// "scope" of queries/*.sql: NULL for an admin, whose statements fold to
// exactly what they were (postgres.Planned), else the array of the
// principal's organizations. Everything below a root row is reached by
// its foreign keys, within the same organization. A row outside the scope
// is not found, exactly as an unknown id.

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p auth.Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// principalOf is the principal of ctx; without one, the zero principal,
// which has no role and is scoped to nothing (fail closed).
func principalOf(ctx context.Context) auth.Principal {
	p, _ := ctx.Value(principalKey{}).(auth.Principal)
	return p
}

// scopeOf is the scope parameter of ctx's statements.
func scopeOf(ctx context.Context) []int64 { return principalOf(ctx).Scope() }

// requireWriter refuses a mutation to a principal that may not write at
// all: the server refuses such an operation before it runs (auth.Rules);
// this is the resolvers' own check.
func requireWriter(ctx context.Context) error {
	switch principalOf(ctx).Role {
	case auth.RoleAdmin, auth.RoleManager:
		return nil
	case auth.RoleMember:
		return Errorf(CodeForbidden, "", "the role member may not write")
	}
	return Errorf(CodeUnauthenticated, "", "mutations need a bearer token (Authorization: Bearer <token>)")
}

// requireAdmin refuses what only an admin may do.
func requireAdmin(ctx context.Context) error {
	if principalOf(ctx).Role != auth.RoleAdmin {
		return Errorf(CodeForbidden, "", "only the role admin may do this")
	}
	return nil
}

// requireOrg refuses a write naming an organization outside the caller's
// scope. The caller knows its own scope: saying FORBIDDEN tells it
// nothing about the organization.
func requireOrg(ctx context.Context, field string, orgID int64) error {
	if !principalOf(ctx).Sees(orgID) {
		return Errorf(CodeForbidden, field, "organization %d is outside the organizations this token may write to", orgID)
	}
	return nil
}

// inScope reports whether a row of organization orgID is the caller's to
// change; a row that is not answers NOT_FOUND, as an unknown id.
func inScope(ctx context.Context, orgID int64) bool { return principalOf(ctx).Sees(orgID) }
