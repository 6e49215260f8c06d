package server

import (
	"encoding/json"
	"net/http"

	gqlerrors "github.com/graph-gophers/graphql-go/errors"
)

// refusalStatus is the HTTP status of a refused operation: its own when
// it has one (405, 401), else that of a GraphQL error answered without
// data: 400 with application/graphql-response+json, 200 with
// application/json.
func refusalStatus(media string, r *refusal) int {
	switch {
	case r.Status != 0:
		return r.Status
	case media == mediaGraphQLResponse:
		return http.StatusBadRequest
	}
	return http.StatusOK
}

// statusFor is the HTTP status of an executed request's response.
// GraphQL-over-HTTP: with application/json always 200; with
// application/graphql-response+json a response without data is a 4xx when
// the client is at fault and a 5xx when the service is.
func statusFor(media string, data json.RawMessage, errs []*gqlerrors.QueryError) int {
	if media != mediaGraphQLResponse || len(data) > 0 || len(errs) == 0 {
		return http.StatusOK
	}
	switch code, _ := errs[0].Extensions["code"].(string); code {
	case CodeTimeout:
		return http.StatusGatewayTimeout
	case CodeServiceUnavailable:
		return http.StatusServiceUnavailable
	case CodeInternal:
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}
