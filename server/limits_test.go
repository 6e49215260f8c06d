package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"orgpulse/resolvers"
	"orgpulse/server"
	"orgpulse/testsupport"
)

// Tests of issue #9's request limits and safe error surface, over HTTP.

const (
	ctJSON     = "application/json"
	ctResponse = "application/graphql-response+json"
)

// rawRequest sends one request and decodes the GraphQL response (failing
// the test when the body is not JSON).
func rawRequest(t testing.TB, srv *testsupport.Server, method, target, contentType, accept string, body []byte, header http.Header) *testsupport.Response {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	return srv.Do(t, req)
}

func postBody(t testing.TB, payload any) []byte {
	t.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// extensions decodes the top-level extensions of a response.
func extensions(t testing.TB, res *testsupport.Response) map[string]any {
	t.Helper()
	var body struct {
		Extensions map[string]any `json:"extensions"`
	}
	if err := json.Unmarshal(res.Raw, &body); err != nil {
		t.Fatal(err)
	}
	return body.Extensions
}

// hasData says whether the response has a data member at all.
func hasData(t testing.TB, res *testsupport.Response) bool {
	t.Helper()
	var body map[string]json.RawMessage
	if err := json.Unmarshal(res.Raw, &body); err != nil {
		t.Fatal(err)
	}
	_, ok := body["data"]
	return ok
}

// noLeak fails the test when a client-facing body shows SQL, driver or
// stack text.
func noLeak(t testing.TB, raw []byte) {
	t.Helper()
	body := strings.ToLower(string(raw))
	for _, leak := range []string{"select ", " from ", "insert ", "update ", "delete ", "sqlstate", "pgx", "pgconn", "postgres", "relation ",
		"sqlc", "goroutine ", ".go:", "panic", "dial tcp", "connection refused"} {
		if strings.Contains(body, leak) {
			t.Errorf("response shows %q: %s", leak, raw)
		}
	}
}

func nested(depth int) string {
	// employee > projects > teamMembers > projects ... > name: depth fields.
	q, tail := "employee(id: 1) { ", "}"
	for i := 2; i < depth; i++ {
		if i%2 == 0 {
			q += "projects { "
		} else {
			q += "teamMembers { "
		}
		tail += " }"
	}
	return "{ " + q + "name " + tail + " }"
}

func aliases(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, " a%d: __typename", i)
	}
	b.WriteString(" }")
	return b.String()
}

// fragmentBomb expands to 2^n selections.
func fragmentBomb(n int) string {
	var b strings.Builder
	b.WriteString("{ ...F0 }\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "fragment F%d on Query { ...F%d ...F%d }\n", i, i+1, i+1)
	}
	fmt.Fprintf(&b, "fragment F%d on Query { __typename }\n", n)
	return b.String()
}

const expensive = `{ allEmployees(pageSize: 100) { projects { teamMembers { projects { teamMembers { name } } } } } }`

func TestQueryLimitsRefusedBeforeExecution(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)

	tests := []struct {
		name, query, code string
		ext               map[string]any // expected extensions of the error, besides code
	}{
		{"depth 11", nested(11), server.CodeDepthLimit, map[string]any{"depth": 11.0, "limit": 10.0}},
		{"query over 20000 bytes", "{ __typename }" + strings.Repeat(" ", 20000-len("{ __typename }")) + "#", server.CodeQueryTooLong, map[string]any{"limit": 20000.0}},
		{"1001 selections", "{" + strings.Repeat(" __typename", 1001) + " }", server.CodeTooManySels, map[string]any{"limit": 1000.0}},
		{"fragments expanding to 2^40 selections", fragmentBomb(40), server.CodeTooManySels, nil},
		{"31 aliases", aliases(31), server.CodeTooManyAliases, map[string]any{"aliases": 31.0, "limit": 30.0}},
		{"cost", expensive, server.CodeCostLimit, map[string]any{"cost": 280600.0, "budget": 100000.0}},
		{"cost with a page size from a variable", `query($n: Int) { allEmployees(pageSize: $n) { projects { teamMembers { projects { teamMembers { id } } } } } }`, server.CodeCostLimit, nil},
		{"integer literal beyond 64 bits", `{ employee(id: 99999999999999999999) { id } }`, resolvers.CodeBadUserInput, nil},
		{"integer literal beyond 64 bits in a variable default", `query($v: Float = 99999999999999999999) { __typename }`, resolvers.CodeBadUserInput, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, accept := range []string{ctJSON, ctResponse} {
				start := time.Now()
				res := rawRequest(t, srv, http.MethodPost, "/graphql", ctJSON, accept,
					postBody(t, map[string]any{"query": tt.query, "variables": map[string]any{"n": 100}}), nil)
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("refusal took %v", d)
				}
				want := http.StatusOK // application/json: GraphQL-over-HTTP's 200 for request errors
				if accept == ctResponse {
					want = http.StatusBadRequest
				}
				if res.Status != want {
					t.Errorf("Accept %s: status %d, want %d: %s", accept, res.Status, want, res.Raw)
				}
				e := res.MustError(t, tt.code)
				for k, v := range tt.ext {
					if e.Extensions[k] != v {
						t.Errorf("extensions.%s = %v, want %v: %s", k, e.Extensions[k], v, res.Raw)
					}
				}
				if hasData(t, res) {
					t.Errorf("a refused request has data: it ran: %s", res.Raw)
				}
				noLeak(t, res.Raw)
			}
		})
	}
	t.Run("cost refusal names the cost and the budget", func(t *testing.T) {
		res := srv.Query(t, expensive, nil)
		msg := res.MustError(t, server.CodeCostLimit).Message
		if !strings.Contains(msg, "280600") || !strings.Contains(msg, "100000") {
			t.Errorf("message %q does not name the cost and the budget", msg)
		}
		if !strings.Contains(srv.Logs(), `"code":"`+server.CodeCostLimit+`"`) {
			t.Errorf("refusal not logged with its code")
		}
	})
}

func TestAcceptedQueriesReportTheirCost(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)
	tests := []struct {
		query string
		vars  map[string]any
		cost  float64
	}{
		{`{ allEmployees(pageSize: 5) { name projects { name } } }`, nil, 5 + 25},
		{`query($n: Int) { employees(first: $n) { nodes { name } pageInfo { hasNextPage } } }`, map[string]any{"n": 3}, 1 + 3 + 1},
		{`{ __typename }`, nil, 0},
	}
	for _, tt := range tests {
		res := srv.Query(t, tt.query, tt.vars)
		if len(res.Errors) > 0 {
			t.Fatalf("%s: %s", tt.query, res.Raw)
		}
		if got := extensions(t, res)["cost"]; got != tt.cost {
			t.Errorf("%s: extensions.cost = %v, want %v", tt.query, got, tt.cost)
		}
	}
	// The heaviest query of the statement-count tests stays under the
	// default budget.
	res := srv.Query(t, `query($n: Int) { organizations(first: $n) { nodes { employeeCount employees(first: 20) { nodes { organization { name } projects { teamMembers { name } } } } projects { teamSize } } } }`, map[string]any{"n": 50})
	if len(res.Errors) > 0 {
		t.Fatalf("%s", res.Raw)
	}
	if got := extensions(t, res)["cost"].(float64); got != 1+50+50+1000+1000+5000+50000+1000 {
		t.Errorf("cost %v", got)
	}
}

func TestLimitsAreConfigurable(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db, func(c *server.Config, _ *resolvers.Config) {
		c.MaxDepth, c.MaxQueryLength, c.MaxSelections, c.MaxAliases, c.MaxCost, c.MaxVariablesBytes = 3, 200, 6, 1, 20, 100
	})
	tests := []struct {
		query string
		vars  map[string]any
		code  string // "" accepted
	}{
		{`{ allEmployees { name } }`, nil, ""},                                 // cost 20
		{`{ allEmployees(pageSize: 21) { name } }`, nil, server.CodeCostLimit}, // cost 21
		{`{ employee(id: 1) { projects { name } } }`, nil, ""},                 // depth 3
		{`{ employee(id: 1) { projects { teamMembers { name } } } }`, nil, server.CodeDepthLimit},
		{`{ a: __typename }`, nil, ""},
		{`{ a: __typename b: __typename }`, nil, server.CodeTooManyAliases},
		{`{ __typename __typename __typename __typename __typename __typename }`, nil, ""},
		{`{ __typename __typename __typename __typename __typename __typename __typename }`, nil, server.CodeTooManySels},
		{"{ __typename }" + strings.Repeat(" ", 186), nil, ""},
		{"{ __typename }" + strings.Repeat(" ", 187), nil, server.CodeQueryTooLong},
		{`query($s: String) { __typename }`, map[string]any{"s": strings.Repeat("x", 100)}, server.CodeVariablesTooBig},
	}
	for _, tt := range tests {
		res := srv.Query(t, tt.query, tt.vars)
		if got := res.Code(); got != tt.code {
			t.Errorf("%.60s: code %q, want %q: %.300s", tt.query, got, tt.code, res.Raw)
		}
	}
}

// TestBadInputs lists every malformed request tried, with the status and
// code each must get. None may be a 5xx or INTERNAL, each answer is JSON
// whose every error has extensions.code, and none runs SQL by mistake.
func TestBadInputs(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)
	getURL := func(v url.Values) string { return "/graphql?" + v.Encode() }
	hugeVars := `{"s":"` + strings.Repeat("x", server.DefaultMaxVariablesBytes) + `"}`

	tests := []struct {
		name, method, target, contentType, accept string
		token                                     bool   // send an Authorization header
		header                                    string // its value; default the test token
		body                                      string
		status                                    int
		code                                      string
	}{
		// The body.
		{name: "malformed JSON", body: `{"query": "{ __typename }"`, status: 400, code: "BAD_REQUEST"},
		{name: "not JSON at all", body: `query { __typename }`, status: 400, code: "BAD_REQUEST"},
		{name: "empty body", body: ``, status: 400, code: "BAD_REQUEST"},
		{name: "data after the JSON object", body: `{"query": "{ __typename }"} {"query": "{ x }"}`, status: 400, code: "BAD_REQUEST"},
		{name: "JSON null", body: `null`, status: 400, code: "BAD_REQUEST"},
		{name: "JSON string", body: `"{ __typename }"`, status: 400, code: "BAD_REQUEST"},
		{name: "batch", body: `[{"query":"{ __typename }"},{"query":"{ __typename }"}]`, status: 400, code: "BAD_REQUEST"},
		{name: "batch with whitespace", body: " \n [{\"query\":\"{ __typename }\"}]", status: 400, code: "BAD_REQUEST"},
		{name: "query not a string", body: `{"query": 5}`, status: 400, code: "BAD_REQUEST"},
		{name: "operationName not a string", body: `{"query": "{ __typename }", "operationName": ["a"]}`, status: 400, code: "BAD_REQUEST"},
		{name: "variables not an object", body: `{"query": "{ __typename }", "variables": [1, 2]}`, status: 400, code: "BAD_REQUEST"},
		{name: "variables a string", body: `{"query": "{ __typename }", "variables": "{}"}`, status: 400, code: "BAD_REQUEST"},
		{name: "variables over 64 KiB", body: `{"query": "query($s: String) { __typename }", "variables": ` + hugeVars + `}`, status: 413, code: server.CodeVariablesTooBig},
		{name: "deeply nested variables", body: `{"query": "{ __typename }", "variables": {"a":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}}`, status: 400, code: "BAD_REQUEST"},
		{name: "empty query", body: `{"query": ""}`, status: 400, code: "BAD_REQUEST"},
		{name: "no query", body: `{"variables": {}}`, status: 400, code: "BAD_REQUEST"},
		{name: "null query", body: `{"query": null}`, status: 400, code: "BAD_REQUEST"},
		// The document.
		{name: "syntax error", body: `{"query": "{ allEmployees { id }"}`, status: 200, code: "GRAPHQL_PARSE_FAILED"},
		{name: "syntax error, graphql-response+json", accept: ctResponse, body: `{"query": "{ allEmployees { id }"}`, status: 400, code: "GRAPHQL_PARSE_FAILED"},
		{name: "unknown field", body: `{"query": "{ nope }"}`, status: 200, code: "GRAPHQL_VALIDATION_FAILED"},
		{name: "invalid UTF-8 in the query (JSON replaces it)", body: "{\"query\": \"{ employees(department: \\\"\xff\xfe\\\") { nodes { id } } }\"}", status: 200, code: ""},
		{name: "invalid UTF-8 in a GET query", method: "GET", target: "/graphql?query=%7B%20%FF%20%7D", status: 200, code: "GRAPHQL_PARSE_FAILED"},
		{name: "NUL in the query", body: `{"query": "{ __typename \u0000 }"}`, status: 200, code: "GRAPHQL_PARSE_FAILED"},
		{name: "escape graphql-go's parser panics on, in a description", body: `{"query": "\"\\700\" { __typename }"}`, status: 200, code: "GRAPHQL_PARSE_FAILED"},
		{name: "escape graphql-go's parser panics on, in an argument", body: `{"query": "{ employees(department: \"\\uDFFF\") { totalCount } }"}`, status: 200, code: "GRAPHQL_PARSE_FAILED"},
		{name: "NUL in a string argument", body: `{"query": "{ employees(department: \"a\\u0000b\") { nodes { id } } }"}`, status: 200, code: resolvers.CodeBadUserInput},
		{name: "NUL in a string variable", body: `{"query": "query($d: String) { employees(department: $d) { nodes { id } } }", "variables": {"d": "\u0000"}}`, status: 200, code: resolvers.CodeBadUserInput},
		{name: "unknown operation name", body: `{"query": "query A { __typename }", "operationName": "B"}`, status: 200, code: resolvers.CodeBadUserInput},
		{name: "several operations, no name", body: `{"query": "query A { __typename } query B { __typename }"}`, status: 200, code: resolvers.CodeBadUserInput},
		{name: "huge integer literal for an Int", body: `{"query": "{ allEmployees(pageSize: 99999999999) { id } }"}`, status: 200, code: "GRAPHQL_VALIDATION_FAILED"},
		{name: "huge integer literal for a Float", token: true, body: `{"query": "mutation { recordMetric(input: {metricType: \"database\", value: 123456789012345678901234567890}) { id } }"}`, status: 200, code: resolvers.CodeBadUserInput},
		{name: "huge integer in a variable default", body: `{"query": "query($f: Float = 99999999999999999999) { __typename }"}`, status: 200, code: resolvers.CodeBadUserInput},
		{name: "huge integer literal for an ID", body: `{"query": "{ employee(id: 99999999999999999999) { id } }"}`, status: 200, code: resolvers.CodeBadUserInput},
		{name: "huge integer variable for an Int", body: `{"query": "query($n: Int) { allEmployees(pageSize: $n) { id } }", "variables": {"n": 99999999999999999999}}`, status: 200, code: resolvers.CodeBadUserInput},
		{name: "Int variable out of 32 bits", body: `{"query": "query($n: Int) { allEmployees(pageSize: $n) { id } }", "variables": {"n": 2147483648}}`, status: 200, code: resolvers.CodeBadUserInput},
		{name: "page size out of range", body: `{"query": "{ allEmployees(pageSize: 1000) { id } }"}`, status: 200, code: resolvers.CodeBadUserInput},
		{name: "wrong type in variables", body: `{"query": "query($n: Int) { allEmployees(pageSize: $n) { id } }", "variables": {"n": "three"}}`, status: 200, code: resolvers.CodeBadUserInput},
		{name: "object for a scalar variable", body: `{"query": "query($n: Int) { allEmployees(pageSize: $n) { id } }", "variables": {"n": {"a": 1}}}`, status: 200, code: resolvers.CodeBadUserInput},
		{name: "missing required variable", body: `{"query": "query($id: ID!) { employee(id: $id) { id } }"}`, status: 200, code: "GRAPHQL_VALIDATION_FAILED"},
		{name: "malformed ID", body: `{"query": "{ employee(id: \"1 OR 1=1\") { id } }"}`, status: 200, code: resolvers.CodeBadUserInput},
		{name: "malformed cursor", body: `{"query": "{ employees(after: \"'; DROP TABLE employees; --\") { nodes { id } } }"}`, status: 200, code: resolvers.CodeBadUserInput},
		{name: "malformed DateTime", body: `{"query": "{ slowestEndpoints(since: \"yesterday\") { id } }"}`, status: 200, code: resolvers.CodeBadUserInput},
		{name: "mutation with a wrong token", body: `{"query": "mutation { deleteEmployee(id: 1) }"}`, token: true, header: "Bearer wrong-token", status: 401, code: resolvers.CodeUnauthenticated},
		{name: "mutation with a wrong token", token: true, header: "Bearer nope", body: `{"query": "mutation { deleteEmployee(id: 1) }"}`, status: 401, code: resolvers.CodeUnauthenticated},
		{name: "subscription over POST", body: `{"query": "subscription { metricRecorded { id } }"}`, status: 400, code: "BAD_REQUEST"},
		{name: "query over the length limit", body: `{"query": "{ __typename }` + strings.Repeat(" ", 20000) + `"}`, status: 200, code: server.CodeQueryTooLong},
		// The HTTP envelope.
		{name: "mutation over GET", method: "GET", target: getURL(url.Values{"query": {"mutation { deleteEmployee(id: 1) }"}}), status: 405, code: "METHOD_NOT_ALLOWED"},
		// graphql-go reads a string followed by quotes as a block string, the
		// spec as several strings: refused, whoever reads it.
		{name: "mutation over GET, read otherwise by graphql-go", method: "GET", target: getURL(url.Values{"query": {`mutation { recordMetric(input: {metricType: "database""""", value: 1}) { id } }`}}), status: 200, code: server.CodeParseFailed},
		{name: "mutation without token, read otherwise by graphql-go", body: `{"query": "mutation { recordMetric(input: {metricType: \"database\"\"\"\"\", value: 1}) { id } }"}`, status: 200, code: server.CodeParseFailed},
		{name: "GET variables not JSON", method: "GET", target: getURL(url.Values{"query": {"{ __typename }"}, "variables": {"{nope"}}), status: 400, code: "BAD_REQUEST"},
		{name: "GET variables over 64 KiB", method: "GET", target: getURL(url.Values{"query": {"{ __typename }"}, "variables": {hugeVars}}), status: 413, code: server.CodeVariablesTooBig},
		{name: "GET without query", method: "GET", target: "/graphql", status: 400, code: "BAD_REQUEST"},
		{name: "text/plain", contentType: "text/plain", body: `{"query": "{ __typename }"}`, status: 415, code: "BAD_REQUEST"},
		{name: "form", contentType: "application/x-www-form-urlencoded", body: `query=%7B__typename%7D`, status: 415, code: "BAD_REQUEST"},
		{name: "multipart", contentType: "multipart/form-data; boundary=x", body: "--x--", status: 415, code: "BAD_REQUEST"},
		{name: "garbage Content-Type", contentType: "application/json; ;;charset", body: `{"query": "{ __typename }"}`, status: 415, code: "BAD_REQUEST"},
		{name: "no Content-Type", contentType: "-", body: `{"query": "{ __typename }"}`, status: 415, code: "BAD_REQUEST"},
		{name: "PUT", method: "PUT", body: `{"query": "{ __typename }"}`, status: 405, code: "METHOD_NOT_ALLOWED"},
		{name: "PATCH", method: "PATCH", body: `{"query": "{ __typename }"}`, status: 405, code: "METHOD_NOT_ALLOWED"},
		{name: "body over 1 MiB", body: `{"query": "{ __typename }", "x": "` + strings.Repeat("x", 1<<20) + `"}`, status: 413, code: "BAD_REQUEST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method, target, ct := tt.method, tt.target, tt.contentType
			if method == "" {
				method = http.MethodPost
			}
			if target == "" {
				target = "/graphql"
			}
			switch ct {
			case "":
				if method == http.MethodPost {
					ct = ctJSON
				}
			case "-":
				ct = ""
			}
			var h http.Header
			if tt.token {
				h = http.Header{"Authorization": {"Bearer " + testsupport.APIToken}}
				if tt.header != "" {
					h.Set("Authorization", tt.header)
				}
			}
			res := rawRequest(t, srv, method, target, ct, tt.accept, []byte(tt.body), h)
			if res.Status != tt.status {
				t.Errorf("status %d, want %d: %.400s", res.Status, tt.status, res.Raw)
			}
			if got := res.Code(); got != tt.code {
				t.Errorf("code %q, want %q: %.400s", got, tt.code, res.Raw)
			}
			if res.Status >= 500 {
				t.Errorf("a client's mistake answered with %d", res.Status)
			}
			for _, e := range res.Errors {
				if c, _ := e.Extensions["code"].(string); c == "" || c == resolvers.CodeInternal {
					t.Errorf("error with code %q: %.400s", c, res.Raw)
				}
			}
			noLeak(t, res.Raw)
		})
	}
	if n := db.MustQueryInt64(t, "SELECT count(*) FROM performance_metrics WHERE value > 1e20"); n != 0 {
		t.Errorf("%d metrics with a huge value were written", n)
	}
	if strings.Contains(srv.Logs(), `"level":"ERROR"`) {
		t.Errorf("a client's mistake was logged as an error:\n%s", srv.Logs())
	}
}

func TestCORS(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	const allowed = "https://app.example.com"
	srv := testsupport.MustStartServer(t, db, func(c *server.Config, _ *resolvers.Config) {
		c.CORSOrigins = []string{allowed, "http://localhost:3000"}
	})
	plain := testsupport.MustStartServer(t, db)

	preflight := func(s *testsupport.Server, origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, s.URL+"/graphql", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type, authorization")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	t.Run("preflight from an allowed origin", func(t *testing.T) {
		res := preflight(srv, allowed)
		if res.StatusCode != http.StatusNoContent {
			t.Errorf("status %d, want 204", res.StatusCode)
		}
		h := res.Header
		if got := h.Get("Access-Control-Allow-Origin"); got != allowed {
			t.Errorf("Access-Control-Allow-Origin %q", got)
		}
		for _, m := range []string{"POST", "GET"} {
			if !strings.Contains(h.Get("Access-Control-Allow-Methods"), m) {
				t.Errorf("Access-Control-Allow-Methods %q lacks %s", h.Get("Access-Control-Allow-Methods"), m)
			}
		}
		for _, hd := range []string{"content-type", "authorization"} {
			if !strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), hd) {
				t.Errorf("Access-Control-Allow-Headers %q lacks %s", h.Get("Access-Control-Allow-Headers"), hd)
			}
		}
		if h.Get("Access-Control-Max-Age") == "" || !strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
			t.Errorf("headers %v", h)
		}
		if h.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("credentials allowed: the API authenticates with a bearer token, not cookies")
		}
	})
	t.Run("request from an allowed origin", func(t *testing.T) {
		res := rawRequest(t, srv, http.MethodPost, "/graphql", ctJSON, "", []byte(`{"query":"{ __typename }"}`), http.Header{"Origin": {allowed}})
		if res.Status != 200 || res.Header.Get("Access-Control-Allow-Origin") != allowed {
			t.Errorf("status %d, Access-Control-Allow-Origin %q", res.Status, res.Header.Get("Access-Control-Allow-Origin"))
		}
		if !strings.Contains(res.Header.Get("Access-Control-Expose-Headers"), "X-Request-Id") {
			t.Errorf("X-Request-Id not exposed")
		}
	})
	for _, origin := range []string{"https://evil.example.com", "https://app.example.com.evil.com", "http://app.example.com", "null"} {
		t.Run("origin "+origin+" gets no CORS header", func(t *testing.T) {
			res := preflight(srv, origin)
			if res.StatusCode == http.StatusNoContent || res.Header.Get("Access-Control-Allow-Origin") != "" || res.Header.Get("Access-Control-Allow-Methods") != "" {
				t.Errorf("preflight: status %d, headers %v", res.StatusCode, res.Header)
			}
			r := rawRequest(t, srv, http.MethodPost, "/graphql", ctJSON, "", []byte(`{"query":"{ __typename }"}`), http.Header{"Origin": {origin}})
			if r.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("Access-Control-Allow-Origin %q", r.Header.Get("Access-Control-Allow-Origin"))
			}
		})
	}
	t.Run("none by default", func(t *testing.T) {
		res := preflight(plain, allowed)
		if res.Header.Get("Access-Control-Allow-Origin") != "" || res.StatusCode == http.StatusNoContent {
			t.Errorf("preflight to a server without CORS_ORIGINS: status %d, headers %v", res.StatusCode, res.Header)
		}
	})
}

func TestIntrospectionSetting(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	off, on := false, true
	const q = `{ __schema { queryType { name } } }`
	tests := []struct {
		name  string
		tweak func(*server.Config, *resolvers.Config)
		want  bool
	}{
		{"default with DEBUG", func(*server.Config, *resolvers.Config) {}, true},
		{"default without DEBUG", func(c *server.Config, _ *resolvers.Config) { c.Debug = false }, false},
		{"INTROSPECTION=false with DEBUG", func(c *server.Config, _ *resolvers.Config) { c.Introspection = &off }, false},
		{"INTROSPECTION=true without DEBUG", func(c *server.Config, _ *resolvers.Config) { c.Debug, c.Introspection = false, &on }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := testsupport.MustStartServer(t, db, tt.tweak)
			res := srv.Query(t, q, nil)
			if tt.want {
				var data struct {
					Schema struct{ QueryType struct{ Name string } } `json:"__schema"`
				}
				res.MustDecode(t, &data)
				if data.Schema.QueryType.Name != "Query" {
					t.Errorf("introspection: %s", res.Raw)
				}
			} else {
				res.MustError(t, server.CodeIntrospectionOff)
				for _, q := range []string{`{ __type(name: "Query") { name } }`, `query { ... on Query { __schema { types { name } } } }`} {
					srv.Query(t, q, nil).MustError(t, server.CodeIntrospectionOff)
				}
			}
			// __typename is not introspection.
			if res := srv.Query(t, `{ __typename }`, nil); len(res.Errors) > 0 {
				t.Errorf("__typename: %s", res.Raw)
			}
		})
	}
}

// TestGraphiQLIntrospectionWithinLimits: the IDE's own schema query passes
// the default limits (its ofType chains nest nine levels).
func TestGraphiQLIntrospectionWithinLimits(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)
	typeRef := "kind name"
	for i := 0; i < 9; i++ {
		typeRef = "kind name ofType { " + typeRef + " }"
	}
	q := `query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args(includeDeprecated: true) { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description specifiedByURL
  fields(includeDeprecated: true) { name description args(includeDeprecated: true) { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue isDeprecated deprecationReason }
fragment TypeRef on __Type { ` + typeRef + ` }`
	res := srv.Query(t, q, nil)
	var data struct {
		Schema struct {
			Types []struct{ Name string }
		} `json:"__schema"`
	}
	res.MustDecode(t, &data)
	if len(data.Schema.Types) < 20 {
		t.Errorf("%d types", len(data.Schema.Types))
	}
}

// TestSlowQueryIsCancelled: a read blocked behind a lock ends at the
// request deadline with TIMEOUT, and its statement is cancelled in
// PostgreSQL, not left waiting.
func TestSlowQueryIsCancelled(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db, testsupport.NoCache, func(c *server.Config, _ *resolvers.Config) {
		c.RequestTimeout = time.Second
	})
	ctx := context.Background()
	locker, err := pgx.Connect(ctx, db.URL+"&application_name=locker")
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close(ctx)
	tx, err := locker.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "LOCK TABLE employees IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	// waiting counts the server's statements waiting on a lock.
	// pg_stat_activity is read once per transaction unless cleared.
	waiting := func() (int64, error) {
		var n int64
		if _, err := tx.Exec(ctx, "SELECT pg_stat_clear_snapshot()"); err != nil {
			return 0, err
		}
		err := tx.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = 'orgpulse' AND wait_event_type = 'Lock'`).Scan(&n)
		return n, err
	}

	for _, accept := range []string{ctJSON, ctResponse} {
		// The statement does wait on the lock while the request runs...
		sawWaiting := make(chan bool, 1)
		go func() {
			for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				if n, err := waiting(); err != nil || n > 0 {
					sawWaiting <- err == nil
					return
				}
			}
			sawWaiting <- false
		}()
		start := time.Now()
		res := rawRequest(t, srv, http.MethodPost, "/graphql", ctJSON, accept, []byte(`{"query":"{ allEmployees(pageSize: 5) { name } }"}`), nil)
		elapsed := time.Since(start)
		if !<-sawWaiting {
			t.Fatalf("the request never waited on the lock: %s", res.Raw)
		}
		if elapsed > 3*time.Second {
			t.Errorf("the request took %v with a 1s deadline", elapsed)
		}
		e := res.MustError(t, "TIMEOUT")
		if e.Extensions["requestId"] != res.Header.Get("X-Request-Id") {
			t.Errorf("TIMEOUT without the request id: %s", res.Raw)
		}
		want := http.StatusOK
		if accept == ctResponse {
			want = http.StatusGatewayTimeout
		}
		if res.Status != want {
			t.Errorf("Accept %s: status %d, want %d", accept, res.Status, want)
		}
		noLeak(t, res.Raw)
		// ...and is cancelled once it ends, while the lock is still held:
		// a statement left running would still be waiting on it.
		deadline := time.Now().Add(3 * time.Second)
		for {
			n, err := waiting()
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				t.Logf("Accept %s: answered in %v, statement gone %v after", accept, elapsed, time.Since(start)-elapsed)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d statements of the server still wait on the lock 3s after the request ended", n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	// And the pool recovered.
	if res := srv.Query(t, `{ allEmployees(pageSize: 5) { name } }`, nil); len(res.Errors) > 0 {
		t.Fatalf("after the lock: %s", res.Raw)
	}
}
