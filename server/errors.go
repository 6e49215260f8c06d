package server

import (
	"errors"

	gqlerrors "github.com/graph-gophers/graphql-go/errors"
)

// isContextError reports whether a request-level error is graphql-go's
// report of the request's context ending (it drops the resolvers' errors
// and answers only ctx.Err()).
func isContextError(e *gqlerrors.QueryError, target error) bool {
	return e.ResolverError == nil && e.Rule == "" && e.Message == target.Error()
}

// codedError is a request error with its own extensions.code.
type codedError struct {
	code string
	msg  string
}

func (e *codedError) Error() string { return e.msg }

func errorCode(err error, def string) string {
	var c *codedError
	if errors.As(err, &c) {
		return c.code
	}
	return def
}
