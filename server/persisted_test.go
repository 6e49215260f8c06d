package server_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"orgpulse/resolvers"
	"orgpulse/server"
	"orgpulse/testsupport"
)

// The persisted operations of persisted.go, through HTTP and WebSocket as
// a client sends them.

func sha(doc string) string {
	sum := sha256.Sum256([]byte(doc))
	return hex.EncodeToString(sum[:])
}

// apqExt is Apollo's extensions.persistedQuery for doc.
func apqExt(doc string) map[string]any {
	return map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": sha(doc)}}
}

// apqPost POSTs doc by hash, with its text when withText.
func apqPost(t *testing.T, srv *testsupport.Server, doc string, vars map[string]any, withText bool) *testsupport.Response {
	t.Helper()
	payload := map[string]any{"extensions": apqExt(doc), "variables": vars}
	if withText {
		payload["query"] = doc
	}
	return rawRequest(t, srv, http.MethodPost, "/graphql", ctJSON, "", postBody(t, payload), nil)
}

// apqGet GETs doc by hash as Apollo's link does with useGETForHashedQueries.
func apqGet(t *testing.T, srv *testsupport.Server, doc string, vars map[string]any, withText bool, header http.Header) *testsupport.Response {
	t.Helper()
	return rawRequest(t, srv, http.MethodGet, "/graphql?"+apqQuery(t, doc, vars, withText).Encode(), "", "", nil, header)
}

func apqQuery(t *testing.T, doc string, vars map[string]any, withText bool) url.Values {
	t.Helper()
	q := url.Values{"extensions": {string(postBody(t, apqExt(doc)))}}
	if vars != nil {
		q.Set("variables", string(postBody(t, vars)))
	}
	if withText {
		q.Set("query", doc)
	}
	return q
}

// mustNotFound checks Apollo's exact answer to an unknown hash: HTTP 200,
// errors[0].message PersistedQueryNotFound, code PERSISTED_QUERY_NOT_FOUND.
func mustNotFound(t *testing.T, res *testsupport.Response) {
	t.Helper()
	if res.Status != http.StatusOK || len(res.Errors) != 1 || res.Errors[0].Message != "PersistedQueryNotFound" ||
		res.Code() != server.CodePersistedQueryNotFound || hasData(t, res) {
		t.Fatalf("want HTTP 200 with PersistedQueryNotFound, got %d: %s", res.Status, res.Raw)
	}
}

func mustData(t *testing.T, res *testsupport.Response) {
	t.Helper()
	if res.Status != http.StatusOK || len(res.Errors) > 0 || len(res.Data) == 0 {
		t.Fatalf("want data, got %d: %s", res.Status, res.Raw)
	}
}

// TestAPQRoundTrip: not found, then registered with its text, then run by
// hash alone: over POST and over GET, on one replica and, through Redis,
// on another.
func TestAPQRoundTrip(t *testing.T) {
	a, b := livePair(t, nil)
	orgID := a.DB.MustQueryInt64(t, "SELECT min(id) FROM organizations")
	vars := map[string]any{"id": orgID}
	for _, method := range []string{http.MethodPost, http.MethodGet} {
		t.Run(method, func(t *testing.T) {
			doc := fmt.Sprintf("query Org%s($id: ID!) { organization(id: $id) { id name } }", method)
			send := func(srv *testsupport.Server, withText bool) *testsupport.Response {
				if method == http.MethodGet {
					return apqGet(t, srv, doc, vars, withText, nil)
				}
				return apqPost(t, srv, doc, vars, withText)
			}
			mustNotFound(t, send(a.Server, false))
			registered := send(a.Server, true)
			mustData(t, registered)
			hit := send(a.Server, false)
			mustData(t, hit)
			if string(hit.Data) != string(registered.Data) {
				t.Fatalf("by hash: %s, want %s", hit.Data, registered.Data)
			}
			// The other replica has it from Redis.
			other := send(b.Server, false)
			mustData(t, other)
			if string(other.Data) != string(registered.Data) {
				t.Fatalf("on the other replica: %s, want %s", other.Data, registered.Data)
			}
		})
	}
	// The answer is 200 whatever the media type: the clients look for it.
	res := rawRequest(t, a.Server, http.MethodPost, "/graphql", ctJSON, ctResponse, postBody(t, map[string]any{"extensions": apqExt("{ unknown }")}), nil)
	mustNotFound(t, res)
}

// TestAPQWithoutRedis: the document cache alone serves, when there is no
// Redis and when Redis fails (a request never fails for it).
func TestAPQWithoutRedis(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	broken := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	t.Cleanup(func() { _ = broken.Close() })
	for name, rdb := range map[string]redis.UniversalClient{"none": nil, "unreachable": broken} {
		t.Run(name, func(t *testing.T) {
			srv := testsupport.MustStartServer(t, db, func(c *server.Config, _ *resolvers.Config) { c.Redis = rdb })
			const doc = `{ employeeStats { total } }`
			mustNotFound(t, apqPost(t, srv, doc, nil, false))
			mustData(t, apqPost(t, srv, doc, nil, true))
			mustData(t, apqPost(t, srv, doc, nil, false))
		})
	}
}

// TestAPQRefusals: a hash that is not the text's, a document over
// MAX_QUERY_LENGTH, a bad version or hash, a mutation over GET: refused,
// and nothing refused is stored.
func TestAPQRefusals(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db, func(c *server.Config, _ *resolvers.Config) { c.MaxQueryLength = 200 })
	const doc = `{ employeeStats { total } }`
	other := `{ employeeStats { active } }`
	body := postBody(t, map[string]any{"query": doc, "extensions": apqExt(other)})
	rawRequest(t, srv, http.MethodPost, "/graphql", ctJSON, "", body, nil).MustError(t, server.CodeBadUserInput)
	mustNotFound(t, apqPost(t, srv, other, nil, false))

	long := "{ employeeStats { total " + strings.Repeat("active ", 40) + "} }"
	apqPost(t, srv, long, nil, true).MustError(t, server.CodeQueryTooLong)
	mustNotFound(t, apqPost(t, srv, long, nil, false))

	for ext, code := range map[string]string{
		`{"persistedQuery": {"version": 2, "sha256Hash": "` + sha(doc) + `"}}`: server.CodeBadRequest,
		`{"persistedQuery": {"version": 1, "sha256Hash": "abc"}}`:              server.CodeBadUserInput,
		`{"persistedQuery": "x"}`: server.CodeBadRequest,
	} {
		res := rawRequest(t, srv, http.MethodPost, "/graphql", ctJSON, "", []byte(`{"extensions": `+ext+`}`), nil)
		if res.Code() != code {
			t.Errorf("extensions %s: got %s, want %s", ext, res.Raw, code)
		}
	}

	// A mutation registered over POST is still refused over GET by hash.
	const mutation = `mutation { recordMetric(input: {metricType: "api_response", value: 1, endpoint: "apq"}) { id } }`
	mustData(t, apqPost(t, srv, mutation, nil, true))
	res := apqGet(t, srv, mutation, nil, false, nil)
	if res.Status != http.StatusMethodNotAllowed || res.Code() != server.CodeMethodNotAllowed {
		t.Fatalf("a persisted mutation over GET: %d %s", res.Status, res.Raw)
	}
	// Nor can a GET register one.
	const mutation2 = `mutation { recordMetric(input: {metricType: "api_response", value: 2, endpoint: "apq"}) { id } }`
	if res := apqGet(t, srv, mutation2, nil, true, nil); res.Code() != server.CodeMethodNotAllowed {
		t.Fatalf("registering a mutation over GET: %d %s", res.Status, res.Raw)
	}
	mustNotFound(t, apqPost(t, srv, mutation2, nil, false))
}

// TestAPQOverWebSocket: a subscribe message's extensions.persistedQuery
// runs the registered document, on the same path as HTTP.
func TestAPQOverWebSocket(t *testing.T) {
	s := liveOne(t, nil)
	const doc = `{ employeeStats { total } }`
	c := connect(t, s)
	c.Send(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"extensions": apqExt(doc)}})
	m := c.NextFor("1", 5*time.Second)
	if m.Type != "error" || !strings.Contains(string(m.Payload), "PersistedQueryNotFound") || !strings.Contains(string(m.Payload), server.CodePersistedQueryNotFound) {
		t.Fatalf("unknown hash over WebSocket: %s %s", m.Type, m.Payload)
	}
	mustData(t, apqPost(t, s.Server, doc, nil, true))
	c.Send(map[string]any{"id": "2", "type": "subscribe", "payload": map[string]any{"extensions": apqExt(doc)}})
	m = c.NextFor("2", 5*time.Second)
	if m.Type != "next" || !strings.Contains(string(m.Payload), `"employeeStats"`) {
		t.Fatalf("registered hash over WebSocket: %s %s", m.Type, m.Payload)
	}
}

// TestDocumentCacheBoundsAPQ: with DOCUMENT_CACHE_SIZE=2 and no Redis, the
// third document registered evicts the first (least recently used).
func TestDocumentCacheBoundsAPQ(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db, func(c *server.Config, _ *resolvers.Config) {
		c.Redis, c.DocumentCacheSize = nil, 2
	})
	docs := []string{`{ employeeStats { total } }`, `{ employeeStats { active } }`, `{ employeeStats { inactive } }`}
	for _, d := range docs {
		mustData(t, apqPost(t, srv, d, nil, true))
	}
	mustNotFound(t, apqPost(t, srv, docs[0], nil, false))
	mustData(t, apqPost(t, srv, docs[2], nil, false))
	mustData(t, apqPost(t, srv, docs[1], nil, false))
}

// TestGetETagAndNotModified: a GET answered from the response cache has an
// ETag; If-None-Match with it is 304 without a body; a mutation or
// another role changes it. Answers to GET are private, never public.
func TestGetETagAndNotModified(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db, testsupport.WithResponseCache)
	orgID := db.MustQueryInt64(t, "SELECT min(id) FROM organizations")
	doc := `query($id: ID!) { organization(id: $id) { id name } }`
	vars := map[string]any{"id": orgID}
	mustData(t, apqPost(t, srv, doc, vars, true))
	target := srv.URL + "/graphql?" + apqQuery(t, doc, vars, false).Encode()
	get := func(token, ifNoneMatch string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, target, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if ifNoneMatch != "" {
			req.Header.Set("If-None-Match", ifNoneMatch)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		if cc := res.Header.Get("Cache-Control"); cc != "private, no-cache" {
			t.Errorf("Cache-Control %q, want private, no-cache", cc)
		}
		if !strings.Contains(strings.Join(res.Header.Values("Vary"), ","), "Authorization") {
			t.Errorf("Vary %q does not name Authorization", res.Header.Values("Vary"))
		}
		return res, string(body)
	}
	first, _ := get(testsupport.APIToken, "") // the POST above filled the cache
	if first.Header.Get(headerCache) != "hit" || first.Header.Get("ETag") == "" {
		t.Fatalf("first GET: %s %q, ETag %q", headerCache, first.Header.Get(headerCache), first.Header.Get("ETag"))
	}
	tag := first.Header.Get("ETag")
	hit, body := get(testsupport.APIToken, "")
	if hit.StatusCode != 200 || hit.Header.Get(headerCache) != "hit" || hit.Header.Get("ETag") != tag || !strings.Contains(body, `"data"`) {
		t.Fatalf("second GET: %d %s=%q ETag %q (want %q): %s", hit.StatusCode, headerCache, hit.Header.Get(headerCache), hit.Header.Get("ETag"), tag, body)
	}
	notModified, body := get(testsupport.APIToken, `"other", `+tag)
	if notModified.StatusCode != http.StatusNotModified || body != "" || notModified.Header.Get("ETag") != tag {
		t.Fatalf("If-None-Match: %d ETag %q body %q", notModified.StatusCode, notModified.Header.Get("ETag"), body)
	}
	// Another role's answer is another entry, with another ETag.
	manager := testsupport.Token(t, "manager", orgID)
	get(manager, "")
	asManager, _ := get(manager, tag)
	if asManager.StatusCode != 200 || asManager.Header.Get("ETag") == tag {
		t.Fatalf("another role with the admin's ETag: %d, ETag %q", asManager.StatusCode, asManager.Header.Get("ETag"))
	}
	// A mutation moves the version on: the old ETag is no longer current.
	srv.Mutate(t, `mutation($id: ID!) { updateOrganization(id: $id, input: {name: "ETag Co"}) { id } }`, vars)
	srv.WaitDelivered(t)
	after, body := get(testsupport.APIToken, tag)
	if after.StatusCode != 200 || after.Header.Get("ETag") == tag || !strings.Contains(body, "ETag Co") {
		t.Fatalf("after a mutation: %d ETag %q: %s", after.StatusCode, after.Header.Get("ETag"), body)
	}
	// POST answers carry no ETag.
	if res := apqPost(t, srv, doc, vars, false); res.Header.Get("ETag") != "" {
		t.Fatalf("a POST has ETag %q", res.Header.Get("ETag"))
	}
}

// TestDocumentCacheKeepsVariablesApart: the document cache keeps an
// operation's limits and cost only when no variable sets a page size; a
// document whose cost its variables decide is measured for each request.
func TestDocumentCacheKeepsVariablesApart(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db, func(c *server.Config, _ *resolvers.Config) { c.MaxCost = 50 })
	const doc = `query($n: Int) { allEmployees(pageSize: $n) { id } }`
	for _, n := range []int{10, 100, 10, 100} {
		res := srv.Query(t, doc, map[string]any{"n": n})
		if refused := res.Code() == server.CodeCostLimit; refused != (n > 50) {
			t.Fatalf("pageSize %d: %s", n, res.Raw)
		}
	}
	const fixed = `{ allEmployees(pageSize: 100) { id } }`
	for range 2 {
		srv.Query(t, fixed, nil).MustError(t, server.CodeCostLimit)
	}
}
