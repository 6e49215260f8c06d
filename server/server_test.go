package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"orgpulse/server"
	"orgpulse/testsupport"
)

const (
	mediaJSON            = "application/json"
	mediaGraphQLResponse = "application/graphql-response+json"
)

// send makes one raw request to the test server and returns the decoded
// GraphQL response (testsupport fails the test when the body is not JSON).
// It never sends X-Debug, so the body is what any client sees.
func send(t *testing.T, srv *testsupport.Server, method, target, contentType string, body []byte, header http.Header) *testsupport.Response {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.URL+target, r)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	return srv.Do(t, req)
}

func postJSON(t *testing.T, srv *testsupport.Server, accept string, payload any) *testsupport.Response {
	t.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	if accept != "" {
		h.Set("Accept", accept)
	}
	return send(t, srv, http.MethodPost, "/graphql", "application/json", b, h)
}

func getQuery(t *testing.T, srv *testsupport.Server, accept string, params url.Values) *testsupport.Response {
	t.Helper()
	h := http.Header{}
	if accept != "" {
		h.Set("Accept", accept)
	}
	return send(t, srv, http.MethodGet, "/graphql?"+params.Encode(), "", nil, h)
}

// mediaType returns the media type of a Content-Type header, without
// parameters.
func mediaType(t *testing.T, h http.Header) string {
	t.Helper()
	ct := h.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		t.Errorf("Content-Type %q does not parse: %v", ct, err)
	}
	return mt
}

// noSQL fails the test when a client-facing body shows SQL or driver text.
func noSQL(t *testing.T, raw []byte) {
	t.Helper()
	body := strings.ToLower(string(raw))
	for _, leak := range []string{"select ", " from ", "insert ", "sqlstate", "pgx", "postgres", "relation ", "sqlc"} {
		if strings.Contains(body, leak) {
			t.Errorf("response shows %q: %s", leak, raw)
		}
	}
}

func TestGraphQLOverHTTPSuccess(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)
	const q = `{ allEmployees(pageSize: 3) { id name } }`
	wantIDs := db.MustQueryInt64s(t, "SELECT id FROM employees ORDER BY id LIMIT 3")

	check := func(t *testing.T, res *testsupport.Response, wantMedia string) {
		t.Helper()
		if got, want := res.Status, http.StatusOK; got != want {
			t.Errorf("status: got %d, want %d: %s", got, want, res.Raw)
		}
		if got, want := mediaType(t, res.Header), wantMedia; got != want {
			t.Errorf("Content-Type: got %q, want %q", got, want)
		}
		var data struct{ AllEmployees []struct{ ID string } }
		res.MustDecode(t, &data)
		if len(data.AllEmployees) != len(wantIDs) {
			t.Fatalf("got %d employees, want %d", len(data.AllEmployees), len(wantIDs))
		}
		for i, e := range data.AllEmployees {
			if got, want := testsupport.ParseID(t, e.ID), wantIDs[i]; got != want {
				t.Errorf("employee %d: got id %d, want %d", i, got, want)
			}
		}
	}

	t.Run("POST application/json", func(t *testing.T) {
		check(t, postJSON(t, srv, "", map[string]any{"query": q}), mediaJSON)
	})
	t.Run("POST Accept application/json", func(t *testing.T) {
		check(t, postJSON(t, srv, mediaJSON, map[string]any{"query": q}), mediaJSON)
	})
	t.Run("POST Accept graphql-response+json", func(t *testing.T) {
		check(t, postJSON(t, srv, mediaGraphQLResponse, map[string]any{"query": q}), mediaGraphQLResponse)
	})
	t.Run("POST Accept both", func(t *testing.T) {
		check(t, postJSON(t, srv, mediaGraphQLResponse+", "+mediaJSON+";q=0.9", map[string]any{"query": q}), mediaGraphQLResponse)
	})
	t.Run("POST with charset", func(t *testing.T) {
		res := send(t, srv, http.MethodPost, "/graphql", "application/json; charset=utf-8", []byte(`{"query":"`+q+`"}`), nil)
		check(t, res, mediaJSON)
	})
	t.Run("POST with variables and operationName", func(t *testing.T) {
		res := postJSON(t, srv, "", map[string]any{
			"query":         `query A($n: Int) { allEmployees(pageSize: $n) { id name } } query B { allOrganizations { id } }`,
			"operationName": "A",
			"variables":     map[string]any{"n": 3},
		})
		check(t, res, mediaJSON)
	})
	t.Run("GET query", func(t *testing.T) {
		check(t, getQuery(t, srv, "", url.Values{"query": {q}}), mediaJSON)
	})
	t.Run("GET query with variables", func(t *testing.T) {
		res := getQuery(t, srv, mediaGraphQLResponse, url.Values{
			"query":     {`query($n: Int) { allEmployees(pageSize: $n) { id name } }`},
			"variables": {`{"n": 3}`},
		})
		check(t, res, mediaGraphQLResponse)
	})
	t.Run("GET named query among several", func(t *testing.T) {
		res := getQuery(t, srv, "", url.Values{
			"query":         {`query Q { allEmployees(pageSize: 3) { id name } } mutation M { x }`},
			"operationName": {"Q"},
		})
		// The mutation in the document is not the operation that runs, so
		// GET is fine; the document is still validated as a whole.
		if res.Status == http.StatusMethodNotAllowed {
			t.Errorf("GET of a query named in a document with a mutation: status 405: %s", res.Raw)
		}
	})
	t.Run("GET with a browser's Accept and a query runs it", func(t *testing.T) {
		check(t, getQuery(t, srv, "text/html,application/xhtml+xml,*/*;q=0.8", url.Values{"query": {q}}), mediaJSON)
	})
}

func TestGraphQLOverHTTPErrors(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)
	big := append([]byte(`{"query":"{ __typename }",`), bytes.Repeat([]byte(" "), 1<<20)...)
	big = append(big, `"operationName":null}`...)

	tests := []struct {
		name        string
		method      string
		target      string
		contentType string
		accept      string
		body        string
		wantStatus  int
		wantCode    string
		wantMedia   string
	}{
		{name: "syntax error, graphql-response+json", method: "POST", contentType: mediaJSON, accept: mediaGraphQLResponse,
			body: `{"query":"{ allEmployees { id }"}`, wantStatus: 400, wantCode: "GRAPHQL_PARSE_FAILED", wantMedia: mediaGraphQLResponse},
		{name: "syntax error, application/json", method: "POST", contentType: mediaJSON, accept: mediaJSON,
			body: `{"query":"{ allEmployees { id }"}`, wantStatus: 200, wantCode: "GRAPHQL_PARSE_FAILED", wantMedia: mediaJSON},
		{name: "syntax error, no Accept", method: "POST", contentType: mediaJSON,
			body: `{"query":"query {"}`, wantStatus: 200, wantCode: "GRAPHQL_PARSE_FAILED", wantMedia: mediaJSON},
		{name: "validation error, graphql-response+json", method: "POST", contentType: mediaJSON, accept: mediaGraphQLResponse,
			body: `{"query":"{ noSuchField }"}`, wantStatus: 400, wantCode: "GRAPHQL_VALIDATION_FAILED", wantMedia: mediaGraphQLResponse},
		{name: "validation error, application/json", method: "POST", contentType: mediaJSON, accept: mediaJSON,
			body: `{"query":"{ noSuchField }"}`, wantStatus: 200, wantCode: "GRAPHQL_VALIDATION_FAILED", wantMedia: mediaJSON},
		{name: "validation error over GET, graphql-response+json", method: "GET", accept: mediaGraphQLResponse,
			target: "/graphql?" + url.Values{"query": {"{ allEmployees { nope } }"}}.Encode(), wantStatus: 400, wantCode: "GRAPHQL_VALIDATION_FAILED", wantMedia: mediaGraphQLResponse},
		{name: "missing required variable, graphql-response+json", method: "POST", contentType: mediaJSON, accept: mediaGraphQLResponse,
			body: `{"query":"query($id: ID!) { organization(id: $id) { id } }"}`, wantStatus: 400, wantMedia: mediaGraphQLResponse},
		{name: "resolver error with data, graphql-response+json", method: "POST", contentType: mediaJSON, accept: mediaGraphQLResponse,
			body: `{"query":"{ organization(id: \"abc\") { id } }"}`, wantStatus: 200, wantCode: "BAD_USER_INPUT", wantMedia: mediaGraphQLResponse},
		{name: "mutation over GET", method: "GET",
			target: "/graphql?" + url.Values{"query": {"mutation { x }"}}.Encode(), wantStatus: 405, wantCode: "METHOD_NOT_ALLOWED", wantMedia: mediaJSON},
		{name: "named mutation over GET", method: "GET", accept: mediaGraphQLResponse,
			target:     "/graphql?" + url.Values{"query": {"query Q { __typename } mutation M { x }"}, "operationName": {"M"}}.Encode(),
			wantStatus: 405, wantCode: "METHOD_NOT_ALLOWED", wantMedia: mediaGraphQLResponse},
		{name: "subscription over POST", method: "POST", contentType: mediaJSON,
			body: `{"query":"subscription { x }"}`, wantStatus: 400, wantCode: "BAD_REQUEST", wantMedia: mediaJSON},
		{name: "PUT", method: "PUT", contentType: mediaJSON,
			body: `{"query":"{ __typename }"}`, wantStatus: 405, wantCode: "METHOD_NOT_ALLOWED", wantMedia: mediaJSON},
		{name: "DELETE", method: "DELETE", wantStatus: 405, wantCode: "METHOD_NOT_ALLOWED", wantMedia: mediaJSON},
		{name: "body over 1 MiB", method: "POST", contentType: mediaJSON, body: string(big),
			wantStatus: 413, wantCode: "BAD_REQUEST", wantMedia: mediaJSON},
		{name: "text/plain", method: "POST", contentType: "text/plain",
			body: `{"query":"{ __typename }"}`, wantStatus: 415, wantCode: "BAD_REQUEST", wantMedia: mediaJSON},
		{name: "form", method: "POST", contentType: "application/x-www-form-urlencoded",
			body: `query=%7B+__typename+%7D`, wantStatus: 415, wantCode: "BAD_REQUEST", wantMedia: mediaJSON},
		{name: "no Content-Type", method: "POST",
			body: `{"query":"{ __typename }"}`, wantStatus: 415, wantCode: "BAD_REQUEST", wantMedia: mediaJSON},
		{name: "malformed JSON", method: "POST", contentType: mediaJSON,
			body: `{"query": "{ __typename }"`, wantStatus: 400, wantCode: "BAD_REQUEST", wantMedia: mediaJSON},
		{name: "JSON of the wrong shape", method: "POST", contentType: mediaJSON,
			body: `["{ __typename }"]`, wantStatus: 400, wantCode: "BAD_REQUEST", wantMedia: mediaJSON},
		{name: "malformed JSON, graphql-response+json", method: "POST", contentType: mediaJSON, accept: mediaGraphQLResponse,
			body: `not json`, wantStatus: 400, wantCode: "BAD_REQUEST", wantMedia: mediaGraphQLResponse},
		{name: "empty body", method: "POST", contentType: mediaJSON,
			body: ``, wantStatus: 400, wantCode: "BAD_REQUEST", wantMedia: mediaJSON},
		{name: "empty query", method: "POST", contentType: mediaJSON,
			body: `{"query":""}`, wantStatus: 400, wantCode: "BAD_REQUEST", wantMedia: mediaJSON},
		{name: "blank query", method: "POST", contentType: mediaJSON,
			body: `{"query":"  \n\t "}`, wantStatus: 400, wantCode: "BAD_REQUEST", wantMedia: mediaJSON},
		{name: "no query", method: "POST", contentType: mediaJSON,
			body: `{"variables":{}}`, wantStatus: 400, wantCode: "BAD_REQUEST", wantMedia: mediaJSON},
		{name: "GET without query", method: "GET", accept: mediaJSON,
			target: "/graphql", wantStatus: 400, wantCode: "BAD_REQUEST", wantMedia: mediaJSON},
		{name: "GET with malformed variables", method: "GET",
			target: "/graphql?" + url.Values{"query": {"{ __typename }"}, "variables": {"{nope"}}.Encode(), wantStatus: 400, wantCode: "BAD_REQUEST", wantMedia: mediaJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := tt.target
			if target == "" {
				target = "/graphql"
			}
			h := http.Header{}
			if tt.accept != "" {
				h.Set("Accept", tt.accept)
			}
			var body []byte
			if tt.body != "" {
				body = []byte(tt.body)
			}
			res := send(t, srv, tt.method, target, tt.contentType, body, h)
			if got, want := res.Status, tt.wantStatus; got != want {
				t.Errorf("status: got %d, want %d: %s", got, want, res.Raw)
			}
			if got, want := mediaType(t, res.Header), tt.wantMedia; got != want {
				t.Errorf("Content-Type: got %q, want %q", got, want)
			}
			if len(res.Errors) == 0 {
				t.Fatalf("no errors in the response: %s", res.Raw)
			}
			got := res.Code()
			if got == "" {
				t.Errorf("error without extensions.code: %s", res.Raw)
			}
			if want := tt.wantCode; want != "" && got != want {
				t.Errorf("extensions.code: got %q, want %q: %s", got, want, res.Raw)
			}
			if res.Errors[0].Message == "" {
				t.Errorf("error without a message: %s", res.Raw)
			}
			if got == "INTERNAL" {
				t.Errorf("a client mistake is reported as INTERNAL: %s", res.Raw)
			}
			if tt.wantStatus == http.StatusMethodNotAllowed && res.Header.Get("Allow") == "" {
				t.Errorf("405 without an Allow header")
			}
			if res.Header.Get("X-Request-Id") == "" {
				t.Errorf("no X-Request-Id")
			}
			noSQL(t, res.Raw)
		})
	}
}

func TestBodyLimitBoundary(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)
	body := func(n int) []byte {
		head, tail := []byte(`{"query":"{ __typename }",`), []byte(`"operationName":null}`)
		return append(append(head, bytes.Repeat([]byte(" "), n-len(head)-len(tail))...), tail...)
	}
	for _, tt := range []struct {
		size int
		want int
	}{
		{1 << 20, http.StatusOK},
		{1<<20 + 1, http.StatusRequestEntityTooLarge},
		{4 << 20, http.StatusRequestEntityTooLarge},
	} {
		res := send(t, srv, http.MethodPost, "/graphql", mediaJSON, body(tt.size), nil)
		if got, want := res.Status, tt.want; got != want {
			t.Errorf("%d-byte body: status %d, want %d: %.200s", tt.size, got, want, res.Raw)
		}
	}
}

func TestMutationOverGETDoesNotExecute(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)
	const name = "Created Over GET"
	auth := http.Header{}
	auth.Set("Authorization", "Bearer "+testsupport.APIToken)
	tests := []struct {
		name, query, operationName string
		header                     http.Header
	}{
		{"anonymous", `mutation { createOrganization(input: {name: "` + name + `"}) { id } }`, "", auth},
		{"after a comment", `# a comment
		mutation Create { createOrganization(input: {name: "` + name + `"}) { id } }`, "", auth},
		{"after a fragment", `fragment F on Organization { id } mutation { createOrganization(input: {name: "` + name + `"}) { ...F } }`, "", auth},
		{"named among queries", `query Q { __typename } mutation M { createOrganization(input: {name: "` + name + `"}) { id } }`, "M", auth},
		// graphql-go ignores a byte order mark, as the spec does: so must
		// the server's parse.
		{"behind a byte order mark", "\ufeffmutation { createOrganization(input: {name: \"" + name + "\"}) { id } }", "", auth},
		{"behind two byte order marks and a comment", "\ufeff# c\r\ufeffmutation M { createOrganization(input: {name: \"" + name + "\"}) { id } }", "M", auth},
		{"behind a byte order mark, no token", "\ufeffmutation { createOrganization(input: {name: \"" + name + "\"}) { id } }", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := url.Values{"query": {tt.query}}
			if tt.operationName != "" {
				v.Set("operationName", tt.operationName)
			}
			res := send(t, srv, http.MethodGet, "/graphql?"+v.Encode(), "", nil, tt.header)
			if got, want := res.Status, http.StatusMethodNotAllowed; got != want {
				t.Errorf("status: got %d, want %d: %s", got, want, res.Raw)
			}
			if got, want := res.Code(), "METHOD_NOT_ALLOWED"; got != want {
				t.Errorf("extensions.code: got %q, want %q", got, want)
			}
			if !strings.Contains(res.Header.Get("Allow"), "POST") {
				t.Errorf("Allow %q, want POST", res.Header.Get("Allow"))
			}
			if len(res.Data) != 0 {
				t.Errorf("405 with data %s", res.Data)
			}
		})
	}
	// graphql-go's lexer (text/scanner) accepts Unicode letters in names,
	// the spec does not: refused before graphql-go sees them.
	for _, q := range []string{
		`mutation é { createOrganization(input: {name: "` + name + `"}) { id } }`,
		`mutation Créer { createOrganization(input: {name: "` + name + `"}) { id } }`,
	} {
		res := send(t, srv, http.MethodGet, "/graphql?"+url.Values{"query": {q}}.Encode(), "", nil, auth)
		if got, want := res.Code(), server.CodeParseFailed; got != want || len(res.Data) != 0 {
			t.Errorf("%s: code %q, want %q: %s", q, got, want, res.Raw)
		}
	}
	if n := db.MustQueryInt64(t, "SELECT count(*) FROM organizations WHERE name = $1", name); n != 0 {
		t.Errorf("a mutation sent over GET created %d organizations", n)
	}
}

func TestGraphiQLAndHealth(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)
	fetch := func(t *testing.T, path, accept string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res, string(b)
	}
	tests := []struct {
		name, path, accept string
		wantStatus         int
		wantMedia          string
		wantBody           string
	}{
		{"GraphiQL at /graphql for a browser", "/graphql", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", 200, "text/html", "<title>orgpulse GraphiQL</title>"},
		{"GraphiQL at /graphiql", "/graphiql", "text/html", 200, "text/html", "<title>orgpulse GraphiQL</title>"},
		{"healthz", "/healthz", "", 200, "text/plain", "ok"},
		{"readyz", "/readyz", "", 200, "text/plain", "ready"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := fetch(t, tt.path, tt.accept)
			if got, want := res.StatusCode, tt.wantStatus; got != want {
				t.Errorf("status: got %d, want %d", got, want)
			}
			if got, want := mediaType(t, res.Header), tt.wantMedia; got != want {
				t.Errorf("Content-Type: got %q, want %q", got, want)
			}
			if !strings.Contains(body, tt.wantBody) {
				t.Errorf("body does not contain %q: %.300s", tt.wantBody, body)
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)
	body := []byte(`{"query":"{ __typename }"}`)
	tests := []struct {
		name, sent string
		echoed     bool
	}{
		{"none sent", "", false},
		{"echoed", "req-1234.abc_XYZ", true},
		{"echoed on error", "err-req-42", true},
		{"too long", strings.Repeat("a", 65), false},
		{"not a token", "has spaces; and=stuff", false},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.sent != "" {
				h.Set("X-Request-Id", tt.sent)
			}
			b := body
			if tt.name == "echoed on error" {
				b = []byte(`{"query":"{ nope }"}`)
			}
			res := send(t, srv, http.MethodPost, "/graphql", mediaJSON, b, h)
			got := res.Header.Get("X-Request-Id")
			if got == "" {
				t.Fatal("no X-Request-Id in the response")
			}
			if tt.echoed {
				if want := tt.sent; got != want {
					t.Errorf("X-Request-Id: got %q, want the one sent, %q", got, want)
				}
			} else {
				if got == tt.sent {
					t.Errorf("X-Request-Id: an unusable id %q was echoed", got)
				}
				if seen[got] {
					t.Errorf("X-Request-Id %q was handed out twice", got)
				}
				seen[got] = true
			}
		})
	}
}
