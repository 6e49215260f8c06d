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
	"time"

	"orgpulse/resolvers"
	"orgpulse/server"
	"orgpulse/testsupport"
)

// FuzzGraphQLHandler sends random requests to a real server over a seeded
// database: POST bodies with any Content-Type and Accept, or GET with the
// body split at NUL bytes into query, variables and operationName. No
// Authorization header is sent, so nothing is written. Properties: the
// connection never fails (no panic escapes), the answer is never a 5xx
// (every request here is at worst a client's mistake), and it is JSON of
// the negotiated media type whose every error carries extensions.code,
// never INTERNAL. A small cost budget and a short deadline keep each
// iteration cheap.
//
//	go test -run '^$' -fuzz '^FuzzGraphQLHandler$' -fuzztime 30s ./server/
func FuzzGraphQLHandler(f *testing.F) {
	db := testsupport.MustOpenSeededDB(f)
	srv := testsupport.MustStartServer(f, db, func(c *server.Config, _ *resolvers.Config) {
		c.MaxCost = 500
		c.RequestTimeout = 5 * time.Second
	})
	client := &http.Client{Timeout: 20 * time.Second}
	f.Add(true, "application/json", "", []byte(`{"query":"{ allEmployees(pageSize: 2) { id name organization { name } } }"}`))
	f.Add(false, "", "application/graphql-response+json", []byte("query($n: Int) { employees(first: $n) { nodes { id } } }\x00{\"n\": 2}\x00"))

	f.Fuzz(func(t *testing.T, post bool, contentType, accept string, body []byte) {
		if len(body) > 64<<10 {
			return
		}
		var req *http.Request
		var err error
		if post {
			req, err = http.NewRequest(http.MethodPost, srv.URL+"/graphql", bytes.NewReader(body))
			if err == nil && contentType != "" {
				req.Header["Content-Type"] = []string{contentType}
			}
		} else {
			parts := strings.SplitN(string(body), "\x00", 3)
			v := url.Values{"query": {parts[0]}}
			if len(parts) > 1 {
				v.Set("variables", parts[1])
			}
			if len(parts) > 2 {
				v.Set("operationName", parts[2])
			}
			req, err = http.NewRequest(http.MethodGet, srv.URL+"/graphql?"+v.Encode(), nil)
		}
		if err != nil {
			return
		}
		if !validHeader(accept) || !validHeader(contentType) || strings.Contains(accept, "text/html") {
			return // not a header a client can send; GraphiQL's page
		}
		if accept != "" {
			req.Header["Accept"] = []string{accept}
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("request failed (did a panic escape the handler?): %v", err)
		}
		defer res.Body.Close()
		raw, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatalf("read response: %v", err)
		}
		if res.StatusCode >= 500 {
			t.Fatalf("status %d for a client's request: %s", res.StatusCode, raw)
		}
		mt, _, err := mime.ParseMediaType(res.Header.Get("Content-Type"))
		if err != nil || (mt != "application/json" && mt != "application/graphql-response+json") {
			t.Fatalf("Content-Type %q: %s", res.Header.Get("Content-Type"), raw)
		}
		var out struct {
			Data   json.RawMessage `json:"data"`
			Errors []struct {
				Message    string         `json:"message"`
				Extensions map[string]any `json:"extensions"`
			} `json:"errors"`
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		if err := dec.Decode(&out); err != nil {
			t.Fatalf("response is not JSON: %v: %s", err, raw)
		}
		if len(out.Data) == 0 && len(out.Errors) == 0 {
			t.Fatalf("neither data nor errors: %s", raw)
		}
		for _, e := range out.Errors {
			code, _ := e.Extensions["code"].(string)
			if code == "" || e.Message == "" {
				t.Fatalf("error without code or message: %s", raw)
			}
			if code == resolvers.CodeInternal || code == resolvers.CodeServiceUnavailable {
				t.Fatalf("%s for a client's request: %s", code, raw)
			}
		}
	})
}

// validHeader: what net/http's client accepts as a header value.
func validHeader(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
