package resolvers

import (
	"errors"
	"fmt"
)

// Error codes carried in a GraphQL error's extensions.code.
const (
	CodeBadUserInput    = "BAD_USER_INPUT"
	CodeNotFound        = "NOT_FOUND"
	CodeConflict        = "CONFLICT"
	CodeUnauthenticated = "UNAUTHENTICATED"
	// CodeForbidden: the principal's role may not do this (a field it may
	// not select, a write outside its organizations).
	CodeForbidden          = "FORBIDDEN"
	CodeInternal           = "INTERNAL"
	CodeServiceUnavailable = "SERVICE_UNAVAILABLE"
	// CodeOutcomeUnknown: a mutation's COMMIT was sent but its answer did
	// not come within CommitWait; the change may or may not have been made.
	CodeOutcomeUnknown = "OUTCOME_UNKNOWN"
	// CodeCommitted: a mutation committed, but its answer could not be read
	// before the request's context ended (see RequestContext).
	CodeCommitted = "COMMITTED"
	// CodeCursorExpired: a subscription's after: cursor is older than the
	// change log keeps (REPLAY_WINDOW), or a bulk change followed it: the
	// client refetches and subscribes again without after.
	CodeCursorExpired = "CURSOR_EXPIRED"
)

// Error is the one error type a resolver hands to clients. Anything else a
// resolver returns is an internal error: the server logs it once and shows
// the client only INTERNAL and a request id.
type Error struct {
	Code    string
	Message string
	Field   string // the argument or input field at fault, when there is one
}

func (e *Error) Error() string { return e.Message }

// Extensions implements graphql-go's extension interface.
func (e *Error) Extensions() map[string]any {
	ext := map[string]any{"code": e.Code}
	if e.Field != "" {
		ext["field"] = e.Field
	}
	return ext
}

// Errorf returns an *Error with a formatted message.
func Errorf(code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err's *Error, or INTERNAL.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}
