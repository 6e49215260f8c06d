package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	graphql "github.com/graph-gophers/graphql-go"
	gqlerrors "github.com/graph-gophers/graphql-go/errors"
	"github.com/jackc/pgx/v5/pgconn"

	"orgpulse/auth"
	"orgpulse/resolvers"
)

// These tests run the server over a stand-in schema (no database): the
// error edge must hold for failures no real resolver can be made to
// produce on demand.

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type boomResolver struct{}

func (boomResolver) Boom() *int32 { panic("kaboom: SELECT secret FROM vault at resolver.go:42") }
func (boomResolver) Fine() int32  { return 7 }

const boomSDL = `type Query { boom: Int fine: Int! }`

// standIn returns a server whose schema is sdl over res, and its log.
func standIn(t *testing.T, sdl string, res any) (*httptest.Server, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	s, err := New(nil, resolvers.New(nil, resolvers.Config{}), Config{Logger: log, AnonymousRole: auth.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	if res != nil {
		s.schema = graphql.MustParseSchema(sdl, res, graphql.PanicHandler(panicHandler{log: log}))
	} else {
		s.schema = graphql.MustParseSchema(sdl, nil) // Exec panics: "schema created without resolver"
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	return hs, logs
}

type wireResponse struct {
	Data   map[string]any `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

func post(t *testing.T, url, query string) (*http.Response, wireResponse, string) {
	t.Helper()
	res, err := http.Post(url+"/graphql", "application/json", strings.NewReader(`{"query":"`+query+`"}`))
	if err != nil {
		t.Fatalf("the connection failed (a panic escaped?): %v", err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out wireResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("not JSON: %v: %s", err, raw)
	}
	return res, out, string(raw)
}

func TestResolverPanicIsInternalForThatRequestOnly(t *testing.T) {
	hs, logs := standIn(t, boomSDL, &boomResolver{})
	res, out, raw := post(t, hs.URL, "{ boom fine }")
	reqID := res.Header.Get("X-Request-Id")
	if len(out.Errors) != 1 || out.Errors[0].Extensions["code"] != resolvers.CodeInternal || out.Errors[0].Extensions["requestId"] != reqID {
		t.Fatalf("want one INTERNAL error carrying the request id %s: %s", reqID, raw)
	}
	if !strings.Contains(out.Errors[0].Message, reqID) {
		t.Errorf("message does not name the request id: %s", raw)
	}
	for _, leak := range []string{"kaboom", "SELECT", "vault", ".go:", "goroutine"} {
		if strings.Contains(raw, leak) {
			t.Errorf("response shows %q: %s", leak, raw)
		}
	}
	if out.Data["fine"] != 7.0 {
		t.Errorf("the other field of the same request: %s", raw)
	}
	// The log has the request id next to the panic's value, and the stack.
	var found bool
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"request_id":"`+reqID+`"`) && strings.Contains(line, "kaboom") {
			found = true
		}
	}
	if !found || !strings.Contains(logs.String(), "goroutine") {
		t.Errorf("no log line with the request id and the panic:\n%s", logs.String())
	}
	// The server goes on serving.
	if _, out, raw := post(t, hs.URL, "{ fine }"); len(out.Errors) > 0 || out.Data["fine"] != 7.0 {
		t.Errorf("after the panic: %s", raw)
	}
}

func TestExecutionPanicIsInternal(t *testing.T) {
	hs, logs := standIn(t, boomSDL, nil)
	res, out, raw := post(t, hs.URL, "{ fine }")
	reqID := res.Header.Get("X-Request-Id")
	if res.StatusCode != http.StatusOK || len(out.Errors) != 1 || out.Errors[0].Extensions["code"] != resolvers.CodeInternal || out.Errors[0].Extensions["requestId"] != reqID {
		t.Fatalf("status %d: %s", res.StatusCode, raw)
	}
	if !strings.Contains(logs.String(), reqID) || !strings.Contains(logs.String(), "schema created without resolver") {
		t.Errorf("log:\n%s", logs.String())
	}
}

func TestTranslateErrors(t *testing.T) {
	logs := &syncBuffer{}
	s := &Server{log: slog.New(slog.NewJSONHandler(logs, nil))}
	wrapped := func(err error) error { return fmt.Errorf("list employees: %w", err) }
	tests := []struct {
		name string
		err  *gqlerrors.QueryError
		code string
	}{
		{"graphql-go depth backstop", &gqlerrors.QueryError{Message: "Field \"x\" has depth 21", Rule: "MaxDepthExceeded"}, CodeDepthLimit},
		{"graphql-go selections backstop", &gqlerrors.QueryError{Message: "query expands to too many selections", Err: graphql.ErrTooManySelections}, CodeTooManySels},
		{"graphql-go length backstop", &gqlerrors.QueryError{Message: "query length 30000 exceeds the maximum allowed query length of 20000 bytes"}, CodeQueryTooLong},
		{"other validation", &gqlerrors.QueryError{Message: "Cannot query field", Rule: "FieldsOnCorrectType"}, "GRAPHQL_VALIDATION_FAILED"},
		{"syntax", &gqlerrors.QueryError{Message: "syntax error: unexpected"}, "GRAPHQL_PARSE_FAILED"},
		{"request deadline", &gqlerrors.QueryError{Message: context.DeadlineExceeded.Error()}, CodeTimeout},
		{"resolver deadline", &gqlerrors.QueryError{Message: "x", ResolverError: wrapped(context.DeadlineExceeded)}, CodeTimeout},
		{"client went away", &gqlerrors.QueryError{Message: context.Canceled.Error()}, "CANCELLED"},
		{"connect failed", &gqlerrors.QueryError{Message: "x", ResolverError: wrapped(&pgconn.ConnectError{})}, resolvers.CodeServiceUnavailable},
		{"server shutting down", &gqlerrors.QueryError{Message: "x", ResolverError: wrapped(&pgconn.PgError{Code: "57P01"})}, resolvers.CodeServiceUnavailable},
		{"cannot connect now", &gqlerrors.QueryError{Message: "x", ResolverError: wrapped(&pgconn.PgError{Code: "57P03"})}, resolvers.CodeServiceUnavailable},
		{"too many connections", &gqlerrors.QueryError{Message: "x", ResolverError: wrapped(&pgconn.PgError{Code: "53300"})}, resolvers.CodeServiceUnavailable},
		{"connection broken", &gqlerrors.QueryError{Message: "x", ResolverError: wrapped(io.ErrUnexpectedEOF)}, resolvers.CodeServiceUnavailable},
		{"NUL in text", &gqlerrors.QueryError{Message: "x", ResolverError: wrapped(&pgconn.PgError{Code: "22021"})}, resolvers.CodeBadUserInput},
		{"syntax error in our SQL is ours", &gqlerrors.QueryError{Message: "x", ResolverError: wrapped(&pgconn.PgError{Code: "42601", Message: "syntax error at or near SELECT"})}, resolvers.CodeInternal},
		{"anything else", &gqlerrors.QueryError{Message: "x", ResolverError: errors.New("pgx: conn busy")}, resolvers.CodeInternal},
		{"coded", &gqlerrors.QueryError{Message: "x", ResolverError: resolvers.Errorf(resolvers.CodeNotFound, "id", "no")}, resolvers.CodeNotFound},
	}
	for _, tt := range tests {
		e := s.translateErrors(context.Background(), "rid", []*gqlerrors.QueryError{tt.err})[0]
		if e.Extensions["code"] != tt.code {
			t.Errorf("%s: code %v, want %s", tt.name, e.Extensions["code"], tt.code)
		}
		if tt.code == resolvers.CodeInternal || tt.code == resolvers.CodeServiceUnavailable || tt.code == CodeTimeout {
			if e.Extensions["requestId"] != "rid" {
				t.Errorf("%s: no request id", tt.name)
			}
			if strings.Contains(e.Message, "pgx") || strings.Contains(e.Message, "SELECT") || strings.Contains(e.Message, "list employees") {
				t.Errorf("%s: message %q", tt.name, e.Message)
			}
		}
	}
}

func TestStatusFor(t *testing.T) {
	errOf := func(code string) []*gqlerrors.QueryError {
		return []*gqlerrors.QueryError{{Message: "x", Extensions: map[string]any{"code": code}}}
	}
	tests := []struct {
		media string
		data  string
		code  string
		want  int
	}{
		{mediaJSON, "", "GRAPHQL_VALIDATION_FAILED", 200},
		{mediaJSON, "", CodeTimeout, 200},
		{mediaGraphQLResponse, "", "GRAPHQL_VALIDATION_FAILED", 400},
		{mediaGraphQLResponse, "", CodeTimeout, 504},
		{mediaGraphQLResponse, "", resolvers.CodeServiceUnavailable, 503},
		{mediaGraphQLResponse, "", resolvers.CodeInternal, 500},
		{mediaGraphQLResponse, "null", resolvers.CodeServiceUnavailable, 200},
	}
	for _, tt := range tests {
		if got := statusFor(tt.media, json.RawMessage(tt.data), errOf(tt.code)); got != tt.want {
			t.Errorf("%s, data %q, %s: %d, want %d", tt.media, tt.data, tt.code, got, tt.want)
		}
	}
}
