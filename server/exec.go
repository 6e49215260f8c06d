package server

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	graphql "github.com/graph-gophers/graphql-go"
	gqlerrors "github.com/graph-gophers/graphql-go/errors"

	"orgpulse/resolvers"
)

// exec runs the document. graphql-go recovers resolver panics itself (see
// panicHandler) but not every panic of its own: one here fails this
// request with INTERNAL, never the process or the connection.
func (s *Server) exec(ctx context.Context, reqID string, req *request) (res *graphql.Response) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("graphql execution panic", "request_id", reqID, "value", fmt.Sprint(v), "stack", string(debug.Stack()))
			res = &graphql.Response{Errors: []*gqlerrors.QueryError{{Message: "internal error", Err: panicError{value: v}}}}
		}
	}()
	res = s.schema.Exec(ctx, req.Query, req.OperationName, req.Variables)
	if len(res.Data) == 0 && resolvers.Committed(ctx) {
		// graphql-go dropped the data of a mutation that committed (its
		// context ended while the answer was read): never call it failed.
		e := resolvers.Errorf(resolvers.CodeCommitted, "", "the change was committed, but its answer could not be read before the deadline")
		res.Errors = []*gqlerrors.QueryError{{Message: e.Message, ResolverError: e, Extensions: e.Extensions()}}
	}
	return res
}

// subscribe is Schema.Subscribe with the same panic guard as exec: a
// document that crashes graphql-go fails its subscription, not the process.
func (s *Server) subscribe(ctx context.Context, query, opName string, vars map[string]any) (ch <-chan any, err error) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("graphql subscribe panic", "value", fmt.Sprint(v), "stack", string(debug.Stack()))
			ch, err = nil, errors.New("internal error")
		}
	}()
	return s.schema.Subscribe(ctx, query, opName, vars)
}
