package resolvers

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	graphql "github.com/graph-gophers/graphql-go"
)

// DateTime is the RFC 3339 scalar of the schema.
type DateTime struct{ time.Time }

// ImplementsGraphQLType binds DateTime to the SDL scalar.
func (DateTime) ImplementsGraphQLType(name string) bool { return name == "DateTime" }

// UnmarshalGraphQL parses an RFC 3339 string.
func (t *DateTime) UnmarshalGraphQL(input any) error {
	s, ok := input.(string)
	if !ok {
		return fmt.Errorf("DateTime must be an RFC 3339 string, got %T", input)
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("DateTime must be RFC 3339 (for example 2026-11-26T09:30:00Z): %q", s)
	}
	t.Time = v
	return nil
}

// MarshalJSON writes RFC 3339 in UTC.
func (t DateTime) MarshalJSON() ([]byte, error) {
	return json.Marshal(t.UTC().Format(time.RFC3339Nano))
}

func dateTime(t time.Time) DateTime { return DateTime{t} }

func gqlID(id int64) graphql.ID { return graphql.ID(strconv.FormatInt(id, 10)) }

// parseID turns a GraphQL ID into a row id. A malformed id is the client's
// mistake; a well-formed id that matches nothing is simply absent.
func parseID(field string, id graphql.ID) (int64, error) {
	n, err := strconv.ParseInt(string(id), 10, 64)
	if err != nil || n <= 0 {
		return 0, Errorf(CodeBadUserInput, field, "%s must be a positive integer id, got %q", field, string(id))
	}
	return n, nil
}

func parseOptionalID(field string, id *graphql.ID) (*int64, error) {
	if id == nil {
		return nil, nil
	}
	n, err := parseID(field, *id)
	if err != nil {
		return nil, err
	}
	return &n, nil
}

// Cursors are opaque to clients: base64 of "<kind>:<id>". The kind stops a
// project cursor from being replayed against employees.
func encodeCursor(kind string, id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + strconv.FormatInt(id, 10)))
}

func decodeCursor(kind string, after *string) (int64, error) {
	if after == nil || *after == "" {
		return 0, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(*after)
	if err == nil {
		if rest, ok := strings.CutPrefix(string(raw), kind+":"); ok {
			if id, err := strconv.ParseInt(rest, 10, 64); err == nil && id >= 0 {
				return id, nil
			}
		}
	}
	return 0, Errorf(CodeBadUserInput, "after", "after is not a cursor of this list: pass an endCursor or edge cursor returned by it")
}

// MaxPageSize bounds every page a client may ask for.
const MaxPageSize = 100

func checkFirst(first int32) error {
	if first < 0 || first > MaxPageSize {
		return Errorf(CodeBadUserInput, "first", "first must be between 0 and %d, got %d", MaxPageSize, first)
	}
	return nil
}

func checkPage(page, pageSize int32) error {
	if page < 1 {
		return Errorf(CodeBadUserInput, "page", "page must be at least 1, got %d", page)
	}
	if pageSize < 1 || pageSize > MaxPageSize {
		return Errorf(CodeBadUserInput, "pageSize", "pageSize must be between 1 and %d, got %d", MaxPageSize, pageSize)
	}
	if int64(page-1)*int64(pageSize) > math.MaxInt32 {
		return Errorf(CodeBadUserInput, "page", "page %d is beyond the end of any list", page)
	}
	return nil
}

// ProjectStatuses are the values a project status may take.
var ProjectStatuses = []string{"planning", "active", "completed", "on_hold"}

// MetricTypes are the values a metric type may take.
var MetricTypes = []string{"page_load", "api_response", "database", "cache_hit"}

func checkOneOf(field, value string, allowed []string) error {
	for _, a := range allowed {
		if value == a {
			return nil
		}
	}
	return Errorf(CodeBadUserInput, field, "%s must be one of %s, got %q", field, strings.Join(allowed, ", "), value)
}

func checkOptionalOneOf(field string, value *string, allowed []string) error {
	if value == nil {
		return nil
	}
	return checkOneOf(field, *value, allowed)
}

func int32Of(n int64) int32 {
	if n > math.MaxInt32 {
		return math.MaxInt32
	}
	return int32(n)
}
