package server

import "orgpulse/resolvers"

// Every extensions.code a client can receive, in one list. The codes the
// resolvers raise are defined next to resolvers.Error (the resolvers
// cannot import this package); they are named here too, so that this list
// is the whole set. The README's error table follows it.
const (
	// Refused before execution (document.go, cost.go, limits.go).
	CodeParseFailed      = "GRAPHQL_PARSE_FAILED"      // not a document both parsers read alike
	CodeValidationFailed = "GRAPHQL_VALIDATION_FAILED" // graphql-go's validation
	CodeQueryTooLong     = "QUERY_TOO_LONG"
	CodeTooManySels      = "TOO_MANY_SELECTIONS"
	CodeTooManyAliases   = "TOO_MANY_ALIASES"
	CodeDepthLimit       = "DEPTH_LIMIT_EXCEEDED"
	CodeCostLimit        = "COST_LIMIT_EXCEEDED"
	CodeVariablesTooBig  = "VARIABLES_TOO_LARGE"
	CodeIntrospectionOff = "INTROSPECTION_DISABLED"

	// Persisted operations (persisted.go).
	CodePersistedQueryNotFound = "PERSISTED_QUERY_NOT_FOUND" // APQ: unknown hash; HTTP 200, message PersistedQueryNotFound
	CodePersistedQueryRequired = "PERSISTED_QUERY_REQUIRED"  // TRUSTED_DOCUMENTS_ONLY: not a trusted document

	// The HTTP request itself (server.go, decode.go, admission.go).
	CodeBadRequest       = "BAD_REQUEST"
	CodeMethodNotAllowed = "METHOD_NOT_ALLOWED"
	CodeBodyReadTimeout  = "BODY_READ_TIMEOUT" // 408: the body did not arrive within BODY_READ_TIMEOUT; connection closed

	// The execution's end (translateErrors).
	CodeTimeout   = "TIMEOUT"
	CodeCancelled = "CANCELLED" // the client abandoned the request: a cancel, not an outage

	// Raised by the resolvers (resolvers/errors.go).
	CodeBadUserInput       = resolvers.CodeBadUserInput
	CodeNotFound           = resolvers.CodeNotFound
	CodeConflict           = resolvers.CodeConflict
	CodeUnauthenticated    = resolvers.CodeUnauthenticated
	CodeForbidden          = resolvers.CodeForbidden
	CodeInternal           = resolvers.CodeInternal
	CodeServiceUnavailable = resolvers.CodeServiceUnavailable
	CodeCommitted          = resolvers.CodeCommitted
	CodeOutcomeUnknown     = resolvers.CodeOutcomeUnknown
	CodeCursorExpired      = resolvers.CodeCursorExpired // a subscription's after: older than REPLAY_WINDOW
)
