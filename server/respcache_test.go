package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"orgpulse/testsupport"
)

const headerCache = "X-Orgpulse-Cache"

// cachedRead reads q and checks how it was answered: "hit", "miss", or ""
// (the cache was not consulted).
func cachedRead(t *testing.T, srv *testsupport.Server, q string, vars map[string]any, want string) *testsupport.Response {
	t.Helper()
	res := srv.Read(t, q, vars)
	if res.Status != 200 {
		t.Fatalf("status %d: %s", res.Status, res.Raw)
	}
	if got := res.Header.Get(headerCache); got != want {
		t.Fatalf("%s: %s = %q, want %q", q, headerCache, got, want)
	}
	return res
}

// TestResponseCacheHitIsTheSameResponse: the second identical request is
// answered from Redis with the very bytes the first one got; a different
// query, operation or variables is another entry, variables in another
// order the same one.
func TestResponseCacheHitIsTheSameResponse(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db, testsupport.WithResponseCache)
	const q = `query($n: Int, $dept: String) { allEmployees(pageSize: $n, department: $dept) { name organization { name } } }`
	vars := map[string]any{"n": 5, "dept": "Engineering"}
	first := cachedRead(t, srv, q, vars, "miss")
	second := cachedRead(t, srv, q, vars, "hit")
	if got, want := string(second.Raw), string(first.Raw); got != want {
		t.Fatalf("hit body differs:\n%s\nwant\n%s", got, want)
	}
	// The key is computed from the decoded variables, not their bytes.
	reordered := srv.Do(t, mustPost(t, srv.URL+"/graphql", `{"variables": {"dept": "Engineering", "n": 5}, "query": `+quote(q)+`}`))
	if got := reordered.Header.Get(headerCache); got != "hit" {
		t.Errorf("variables in another order: %s = %q, want hit", headerCache, got)
	}
	cachedRead(t, srv, q, map[string]any{"n": 6, "dept": "Engineering"}, "miss")
	cachedRead(t, srv, `query Other($n: Int, $dept: String) { allEmployees(pageSize: $n, department: $dept) { name organization { name } } }`, vars, "miss")
}

// TestResponseCacheNeverStale: after each kind of mutation the next read
// of a cached response runs again (every mutation of rows moves
// resolvers.VersionRows on), and shows the change where the response
// holds it.
func TestResponseCacheNeverStale(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db, testsupport.WithResponseCache)
	orgID := db.MustQueryInt64(t, "SELECT min(id) FROM organizations")
	projectID := db.MustQueryInt64(t, "SELECT min(id) FROM projects WHERE organization_id = $1", orgID)
	outsider := db.MustQueryInt64(t, `SELECT min(e.id) FROM employees e WHERE e.organization_id = $1
		AND NOT EXISTS (SELECT 1 FROM project_members m WHERE m.project_id = $2 AND m.employee_id = e.id)`, orgID, projectID)
	q := fmt.Sprintf(`{ organization(id: %d) { name employeeCount projects { name teamSize } } }`, orgID)
	var newEmployee string

	mutations := []struct {
		name, mutation string
		vars           func() map[string]any
	}{
		{"updateOrganization", `mutation($id: ID!) { updateOrganization(id: $id, input: {name: "Renamed Org"}) { id } }`,
			func() map[string]any { return map[string]any{"id": orgID} }},
		{"createEmployee", `mutation($org: ID!) { createEmployee(input: {organizationId: $org, name: "New Hire", email: "new.hire@example.com", department: "Engineering", salary: 1}) { id } }`,
			func() map[string]any { return map[string]any{"org": orgID} }},
		{"updateEmployee", `mutation($id: ID!) { updateEmployee(id: $id, input: {title: "Lead"}) { id } }`,
			func() map[string]any { return map[string]any{"id": newEmployee} }},
		{"deleteEmployee", `mutation($id: ID!) { deleteEmployee(id: $id) }`,
			func() map[string]any { return map[string]any{"id": newEmployee} }},
		{"createProject", `mutation($org: ID!) { createProject(input: {organizationId: $org, name: "New Project"}) { id } }`,
			func() map[string]any { return map[string]any{"org": orgID} }},
		{"updateProject", `mutation($id: ID!) { updateProject(id: $id, input: {name: "Renamed Project"}) { id } }`,
			func() map[string]any { return map[string]any{"id": projectID} }},
		{"addTeamMember", `mutation($p: ID!, $e: ID!) { addTeamMember(projectId: $p, employeeId: $e) { id } }`,
			func() map[string]any { return map[string]any{"p": projectID, "e": outsider} }},
		{"removeTeamMember", `mutation($p: ID!, $e: ID!) { removeTeamMember(projectId: $p, employeeId: $e) { id } }`,
			func() map[string]any { return map[string]any{"p": projectID, "e": outsider} }},
		{"createOrganization", `mutation { createOrganization(input: {name: "Brand New Org"}) { id } }`,
			func() map[string]any { return nil }},
	}
	cachedRead(t, srv, q, nil, "miss")
	for _, m := range mutations {
		before := cachedRead(t, srv, q, nil, "hit")
		res := srv.Mutate(t, m.mutation, m.vars())
		if len(res.Errors) > 0 {
			t.Fatalf("%s: %s", m.name, res.Raw)
		}
		if m.name == "createEmployee" {
			var d struct{ CreateEmployee struct{ ID string } }
			res.MustDecode(t, &d)
			newEmployee = d.CreateEmployee.ID
		}
		// The relay retires the same version again moments later: wait
		// for it, so the next "hit" is not its miss.
		srv.WaitDelivered(t)
		after := cachedRead(t, srv, q, nil, "miss")
		fresh := srv.Query(t, q, nil) // X-Debug: always executes
		if got, want := string(after.Data), string(fresh.Data); got != want {
			t.Errorf("after %s the read answered\n%s\nwant\n%s", m.name, got, want)
		}
		changes := map[string]bool{"updateOrganization": true, "createEmployee": true, "deleteEmployee": true,
			"createProject": true, "updateProject": true, "addTeamMember": true, "removeTeamMember": true}
		if changes[m.name] && string(after.Data) == string(before.Data) {
			t.Errorf("after %s the response did not change: %s", m.name, after.Data)
		}
	}
}

// TestResponseCacheKeepsOnlyWhatMutationsAnnounce: responses with errors,
// responses reading performance samples (recorded without a mutation) and
// debug requests are never answered from the cache; recording a sample
// leaves the other cached responses alone.
func TestResponseCacheKeepsOnlyWhatMutationsAnnounce(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db, testsupport.WithResponseCache)

	// Once found uncacheable, a request no longer asks Redis at all.
	const summary = `{ performanceSummary(metricType: "api_response") { count } }`
	cachedRead(t, srv, summary, nil, "miss")
	cachedRead(t, srv, summary, nil, "")
	const slowest = `{ slowestEndpoints(limit: 3) { value } }`
	cachedRead(t, srv, slowest, nil, "miss")
	cachedRead(t, srv, slowest, nil, "")

	const bad = `{ organization(id: "not-a-number") { name } }`
	for range 2 {
		res := srv.Read(t, bad, nil)
		if len(res.Errors) == 0 || res.Header.Get(headerCache) != "miss" {
			t.Fatalf("bad id: %s = %q, want an error and miss: %s", headerCache, res.Header.Get(headerCache), res.Raw)
		}
	}

	const orgs = `{ allEmployees(pageSize: 2) { name } }`
	cachedRead(t, srv, orgs, nil, "miss")
	if res := srv.Mutate(t, `mutation { recordMetric(input: {metricType: "api_response", value: 12}) { id } }`, nil); len(res.Errors) > 0 {
		t.Fatal(string(res.Raw))
	}
	cachedRead(t, srv, orgs, nil, "hit")

	res := srv.Query(t, orgs, nil) // X-Debug: 1
	if got := res.Header.Get(headerCache); got != "" {
		t.Errorf("debug request: %s = %q, want none", headerCache, got)
	}
	if res.SQLCount(t) == 0 {
		t.Error("debug request ran no SQL: it was not executed")
	}
}

// TestResponseCacheAcrossReplicas: a mutation on one replica retires the
// response another replica cached, in the Redis both share.
func TestResponseCacheAcrossReplicas(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	rdb, prefix := testsupport.MustRedisClient(t)
	a := testsupport.MustStartServer(t, db, testsupport.SharedCache(rdb, prefix), testsupport.WithResponseCache)
	b := testsupport.MustStartServer(t, db, testsupport.SharedCache(rdb, prefix), testsupport.WithResponseCache)
	orgID := db.MustQueryInt64(t, "SELECT min(id) FROM organizations")
	q := fmt.Sprintf(`{ organization(id: %d) { name } }`, orgID)
	cachedRead(t, b, q, nil, "miss")
	// b stores the response once it is sent: wait for it, or a's read
	// may run first (and store one of its own).
	waitFor(t, "b's stored response", func() bool {
		keys, err := rdb.Keys(context.Background(), prefix+"*resp:*").Result()
		return err == nil && len(keys) > 0
	})
	cachedRead(t, a, q, nil, "hit") // shared
	if res := a.Mutate(t, `mutation($id: ID!) { updateOrganization(id: $id, input: {name: "Moved On"}) { id } }`, map[string]any{"id": orgID}); len(res.Errors) > 0 {
		t.Fatal(string(res.Raw))
	}
	res := cachedRead(t, b, q, nil, "miss")
	if got, want := string(res.Data), `{"organization":{"name":"Moved On"}}`; got != want {
		t.Errorf("replica b answered %s, want %s", got, want)
	}
}

func mustPost(t *testing.T, url, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return req
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestResponseCacheSkipsIntrospection: whether introspection is allowed
// is each replica's setting, so its answers are never shared through the
// cache; __typename is an ordinary field and does not count.
func TestResponseCacheSkipsIntrospection(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db, testsupport.WithResponseCache)
	for _, q := range []string{`{ __schema { queryType { name } } }`, `{ __type(name: "Project") { name } }`} {
		cachedRead(t, srv, q, nil, "")
		cachedRead(t, srv, q, nil, "")
	}
	const q = `{ allProjects(pageSize: 1) { __typename name } }`
	cachedRead(t, srv, q, nil, "miss")
	cachedRead(t, srv, q, nil, "hit")
}
