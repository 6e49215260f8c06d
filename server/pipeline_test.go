package server_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"orgpulse/auth"
	"orgpulse/monitor"
	"orgpulse/server"
	"orgpulse/testsupport"
)

const bom = "\ufeff"

func wsURL(srv *testsupport.Server) string {
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/graphql"
}

// TestByteOrderMarkBypassesNoLimit: graphql-go ignores a leading byte
// order mark, as the spec says; the server's checks read the document the
// same way, over HTTP and WebSocket alike.
func TestByteOrderMarkBypassesNoLimit(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	// Requests without a token are a member's, who may not write.
	srv := testsupport.MustStartServer(t, db, testsupport.Anonymous(auth.RoleMember))
	admin := http.Header{"Authorization": {"Bearer " + testsupport.APIToken}}
	deleted := db.MustQueryInt64(t, "SELECT min(id) FROM employees")
	mutation := bom + fmt.Sprintf("mutation { deleteEmployee(id: %d) }", deleted)
	tests := []struct {
		name, query string
		get         bool
		header      http.Header
		status      int
		code        string
	}{
		{"mutation over GET", mutation, true, admin, http.StatusMethodNotAllowed, server.CodeMethodNotAllowed},
		{"mutation as a member", mutation, false, testsupport.NoToken(), http.StatusForbidden, server.CodeForbidden},
		{"depth", bom + nested(11), false, nil, http.StatusOK, server.CodeDepthLimit},
		{"depth over GET", bom + bom + nested(12), true, nil, http.StatusOK, server.CodeDepthLimit},
		{"cost", bom + expensive, false, nil, http.StatusOK, server.CodeCostLimit},
		{"aliases", bom + aliases(31), false, nil, http.StatusOK, server.CodeTooManyAliases},
		{"selections", bom + "{" + strings.Repeat(" __typename", 1001) + " }", false, nil, http.StatusOK, server.CodeTooManySels},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var res *testsupport.Response
			if tt.get {
				res = send(t, srv, http.MethodGet, "/graphql?"+url.Values{"query": {tt.query}}.Encode(), "", nil, tt.header)
			} else {
				res = send(t, srv, http.MethodPost, "/graphql", mediaJSON, postBody(t, map[string]any{"query": tt.query}), tt.header)
			}
			if res.Status != tt.status || res.Code() != tt.code || len(res.Data) != 0 {
				t.Errorf("status %d code %q, want %d %q: %s", res.Status, res.Code(), tt.status, tt.code, res.Raw)
			}
		})
	}

	c := testsupport.DialWS(t, wsURL(srv), testsupport.WSDialOptions{Header: testsupport.NoToken()})
	c.Init(nil)
	for i, tt := range tests[1:] {
		id := fmt.Sprint(i)
		c.Subscribe(id, tt.query, nil)
		if m := c.NextFor(id, 5*time.Second); m.Type != "error" || errorCode(t, m) != tt.code {
			t.Errorf("websocket, %s: %s %s, want an error %s", tt.name, m.Type, m.Payload, tt.code)
		}
	}
	if n := db.MustQueryInt64(t, "SELECT count(*) FROM employees WHERE id = $1", deleted); n != 1 {
		t.Errorf("the mutation behind a byte order mark ran")
	}
}

// TestUnparsableDocumentsNeverExecute: a document the server cannot read as
// the spec does, or that graphql-go would read otherwise, never executes.
func TestUnparsableDocumentsNeverExecute(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)
	docs := []string{
		`{ allEmployees { id }`,
		`{ é: __typename }`,
		`{ allEmployees(pageSize: 0x10) { id } }`,
		`{ employees(department: """\""") { totalCount } }`,
		`{ employees(department: "a""") { totalCount } }`,
		"{ __typename }\u00a0",
	}
	for _, doc := range docs {
		res := srv.Query(t, doc, nil)
		if res.Code() != server.CodeParseFailed || len(res.Data) != 0 {
			t.Errorf("%q: %s, want %s", doc, res.Raw, server.CodeParseFailed)
		}
	}
	c := testsupport.DialWS(t, wsURL(srv), testsupport.WSDialOptions{})
	c.Init(nil)
	for i, doc := range docs {
		id := fmt.Sprint(i)
		c.Subscribe(id, doc, nil)
		if m := c.NextFor(id, 5*time.Second); m.Type != "error" || errorCode(t, m) != server.CodeParseFailed {
			t.Errorf("websocket, %q: %s %s, want %s", doc, m.Type, m.Payload, server.CodeParseFailed)
		}
	}
}

// operationSamples counts the api_response samples per endpoint and
// status.
func operationSamples(t *testing.T, db *testsupport.DB) map[string]int64 {
	t.Helper()
	rows := testsupport.MustQueryRows[struct {
		Endpoint string
		Status   int32
		N        int64
	}](t, db, "SELECT endpoint, status_code AS status, count(*) AS n FROM performance_metrics WHERE metric_type = 'api_response' GROUP BY 1, 2")
	out := map[string]int64{}
	for _, r := range rows {
		out[fmt.Sprintf("%s %d", r.Endpoint, r.Status)] = r.N
	}
	return out
}

// histogramCounts are the request-duration counts per operation label.
func histogramCounts(t *testing.T, srv *testsupport.Server) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	fam := scrapeMetrics(t, srv)[monitor.MetricRequestDuration]
	if fam == nil {
		return out // nothing observed yet
	}
	for _, m := range fam.Metric {
		for _, l := range m.Label {
			if l.GetName() == "operation" {
				out[l.GetValue()] += m.Histogram.GetSampleCount()
			}
		}
	}
	return out
}

// TestOperationsAreObservedAlikeOverHTTPAndWebSocket: a query and a
// mutation sent over WebSocket are counted and recorded exactly as the
// same operations sent over HTTP.
func TestOperationsAreObservedAlikeOverHTTPAndWebSocket(t *testing.T) {
	orgID := func(db *testsupport.DB) int64 { return db.MustQueryInt64(t, "SELECT min(id) FROM organizations") }
	query := func(id int64) string { return fmt.Sprintf(`query OrgName { organization(id: %d) { name } }`, id) }
	mutation := func(id int64) string {
		return fmt.Sprintf(`mutation Rename { updateOrganization(id: %d, input: {industry: "Space"}) { industry } }`, id)
	}
	type observed struct {
		histogram map[string]uint64
		samples   map[string]int64
	}
	run := func(ws bool) observed {
		db := testsupport.MustOpenSeededDB(t)
		db.MustExec(t, "DELETE FROM performance_metrics")
		srv, mon := startMonitored(t, db, monitor.Config{}, testsupport.NoCache)
		id := orgID(db)
		if ws {
			c := testsupport.DialWS(t, wsURL(srv), testsupport.WSDialOptions{})
			c.Init(map[string]any{"Authorization": "Bearer " + testsupport.APIToken})
			for i, doc := range []string{query(id), mutation(id)} {
				op := fmt.Sprint(i)
				c.Subscribe(op, doc, nil)
				if m := c.NextFor(op, 5*time.Second); m.Type != "next" {
					t.Fatalf("websocket %s: %s %s", doc, m.Type, m.Payload)
				}
				c.Expect("complete", 5*time.Second)
			}
		} else {
			srv.Mutate(t, query(id), nil).MustDecode(t, &struct{}{})
			srv.Mutate(t, mutation(id), nil).MustDecode(t, &struct{}{})
		}
		h := histogramCounts(t, srv) // before the flush: it adds nothing here
		flush(t, mon)
		return observed{histogram: h, samples: operationSamples(t, db)}
	}
	overHTTP, overWS := run(false), run(true)
	want := map[string]uint64{"OrgName": 1, "Rename": 1}
	if fmt.Sprint(overHTTP.histogram) != fmt.Sprint(want) {
		t.Fatalf("HTTP: histogram counts %v, want %v", overHTTP.histogram, want)
	}
	if got, want := fmt.Sprint(overWS.histogram), fmt.Sprint(overHTTP.histogram); got != want {
		t.Errorf("WebSocket: histogram counts %s, HTTP %s", got, want)
	}
	wantSamples := map[string]int64{"graphql:OrgName 200": 1, "graphql:Rename 200": 1}
	if fmt.Sprint(overHTTP.samples) != fmt.Sprint(wantSamples) {
		t.Fatalf("HTTP: samples %v, want %v", overHTTP.samples, wantSamples)
	}
	if got, want := fmt.Sprint(overWS.samples), fmt.Sprint(overHTTP.samples); got != want {
		t.Errorf("WebSocket: samples %s, HTTP %s", got, want)
	}
}

// TestRecordedOperationNames: only an authenticated client's valid
// document is recorded under its own name, cut to 100 characters; the
// rest are recorded under fixed names.
func TestRecordedOperationNames(t *testing.T) {
	db := testsupport.MustOpenDB(t)
	srv, mon := startMonitored(t, db, monitor.Config{}, testsupport.NoCache)
	long := strings.Repeat("N", 150)
	auth := http.Header{"Authorization": {"Bearer " + testsupport.APIToken}}
	post := func(doc string, h http.Header) {
		send(t, srv, http.MethodPost, "/graphql", mediaJSON, postBody(t, map[string]any{"query": doc}), h)
	}
	post(`query Named_1 { __typename }`, auth)
	post(`query `+long+` { __typename }`, auth)
	post(`{ __typename }`, auth)
	post(`query AdminLoginFailed { __typename }`, testsupport.NoToken())        // no token
	post(`query Broken { nope }`, auth)                                         // graphql-go's validation
	post(`query Deep `+nested(11), auth)                                        // refused by a limit
	post(`query Bad { é: __typename }`, auth)                                   // not parsed
	post(`mutation M { nope }`, http.Header{"Authorization": {"Bearer wrong"}}) // refused for the token
	flush(t, mon)

	want := map[string]int64{
		"graphql:Named_1 200":            1,
		"graphql:" + long[:100] + " 200": 1,
		"graphql:anonymous 200":          1,
		"graphql:invalid 200":            3,
		"graphql:unauthenticated 401":    2,
	}
	if got := operationSamples(t, db); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("samples %v\nwant %v", got, want)
	}
	wantLabels := map[string]uint64{"Named_1": 1, long[:100]: 1, "anonymous": 1, "unauthenticated": 2, "invalid": 3}
	if got := histogramCounts(t, srv); fmt.Sprint(got) != fmt.Sprint(wantLabels) {
		t.Errorf("histogram counts %v\nwant %v", got, wantLabels)
	}
}
