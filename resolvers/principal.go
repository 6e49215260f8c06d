package resolvers

import (
	"context"

	"github.com/graph-gophers/graphql-go"
	"github.com/jackc/pgx/v5"

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

// writableOrgID parses the organization id a write names (field) and
// refuses one outside the caller's scope.
func writableOrgID(ctx context.Context, field string, raw graphql.ID) (int64, error) {
	id, err := parseID(field, raw)
	if err != nil {
		return 0, err
	}
	return id, requireOrg(ctx, field, id)
}

// ownRow is the outcome of reading (and locking) the row a write names:
// NOT_FOUND when it does not exist, and exactly the same when it belongs
// to an organization outside the caller's scope, so that the caller
// learns nothing of its existence. lookupErr and orgID are the read's.
func ownRow(ctx context.Context, lookupErr error, orgID int64, field, what string) error {
	if lookupErr == nil && !principalOf(ctx).Sees(orgID) {
		lookupErr = pgx.ErrNoRows
	}
	return missing(lookupErr, field, what)
}
