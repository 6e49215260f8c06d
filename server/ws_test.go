package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"orgpulse/auth"
	dbq "orgpulse/db"
	"orgpulse/monitor"
	"orgpulse/realtime"
	"orgpulse/resolvers"
	"orgpulse/server"
	"orgpulse/testsupport"
)

// livePair starts two replicas over one seeded database and one Redis:
// clients subscribe on a, changes are made through b.
func livePair(t *testing.T, tweak func(*server.Config, *resolvers.Config, *realtime.Config)) (a, b *testsupport.LiveServer) {
	t.Helper()
	db := testsupport.MustOpenSeededDB(t)
	rdb, prefix := testsupport.MustRedisClient(t)
	opts := testsupport.LiveOptions{Redis: rdb, Prefix: prefix, Tweak: tweak}
	return testsupport.MustStartLiveServer(t, db, opts), testsupport.MustStartLiveServer(t, db, opts)
}

func liveOne(t *testing.T, tweak func(*server.Config, *resolvers.Config, *realtime.Config)) *testsupport.LiveServer {
	t.Helper()
	return testsupport.MustStartLiveServer(t, testsupport.MustOpenSeededDB(t), testsupport.LiveOptions{Tweak: tweak})
}

func wsConfig(f func(*server.WSConfig)) func(*server.Config, *resolvers.Config, *realtime.Config) {
	return func(c *server.Config, _ *resolvers.Config, _ *realtime.Config) { f(&c.WS) }
}

func connect(t *testing.T, s *testsupport.LiveServer) *testsupport.WSClient {
	t.Helper()
	c := testsupport.DialWS(t, s.WSURL, testsupport.WSDialOptions{})
	c.Init(nil)
	return c
}

// publish sends ev through s's hub, the path mutations use after commit.
func publish(t *testing.T, s *testsupport.LiveServer, topic string, ev resolvers.Event) {
	t.Helper()
	b, err := resolvers.EncodeEvent(ev)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Hub.Publish(context.Background(), topic, b); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

func queries(s *testsupport.LiveServer) *dbq.Queries { return dbq.New(s.DB.Pool) }

// assertJSON compares two JSON documents by value.
func assertJSON(t *testing.T, what string, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %v: %s", what, err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: bad want: %v", what, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%s:\n got %s\nwant %s", what, got, want)
	}
}

func expectNext(t *testing.T, c *testsupport.WSClient, id, wantPayload string) {
	t.Helper()
	m := c.NextFor(id, 10*time.Second)
	if m.Type != "next" && m.Type != "data" {
		t.Fatalf("%s: got %s %s, want a result", id, m.Type, m.Payload)
	}
	assertJSON(t, "payload of "+id, withoutCursor(t, m.Payload), wantPayload)
}

// withoutCursor checks a result's extensions.cursor, when it has one (an
// event from the change log), and returns the result without it.
func withoutCursor(t *testing.T, payload json.RawMessage) json.RawMessage {
	t.Helper()
	var p map[string]any
	if err := json.Unmarshal(payload, &p); err != nil {
		t.Fatalf("%v: %s", err, payload)
	}
	ext, _ := p["extensions"].(map[string]any)
	cursor, ok := ext["cursor"]
	if !ok {
		return payload
	}
	if c, _ := cursor.(string); c == "" {
		t.Fatalf("extensions without a cursor: %s", payload)
	}
	delete(ext, "cursor")
	if len(ext) == 0 {
		delete(p, "extensions")
	}
	out, _ := json.Marshal(p)
	return out
}

// expectNothing checks no message of id is queued, after a Sync that
// proves the socket is alive.
func expectNothing(t *testing.T, c *testsupport.WSClient, id string, wait time.Duration) {
	t.Helper()
	time.Sleep(wait)
	c.Sync()
	for {
		m, ok := c.TryNext(10 * time.Millisecond)
		if !ok {
			return
		}
		if m.ID == id {
			t.Fatalf("unexpected %s message for %s: %s", m.Type, id, m.Payload)
		}
	}
}

func errorCode(t *testing.T, m testsupport.WSMessage) string {
	t.Helper()
	var errs []testsupport.Error
	if err := json.Unmarshal(m.Payload, &errs); err != nil || len(errs) == 0 {
		t.Fatalf("%s payload is not a list of errors: %s", m.Type, m.Payload)
	}
	code, _ := errs[0].Extensions["code"].(string)
	return code
}

func TestSubscriptionDeliversAcrossReplicas(t *testing.T) {
	a, b := livePair(t, nil)
	q := queries(a)
	ctx := context.Background()
	orgID := a.DB.MustQueryInt64(t, "SELECT min(id) FROM organizations")
	active := a.DB.MustQueryInt64(t, "SELECT count(*) FROM employees WHERE organization_id = $1 AND is_active", orgID)

	c := connect(t, a)
	c.Subscribe("1", `subscription($id: ID) { organizationUpdated(id: $id) { id name employeeCount } }`, map[string]any{"id": fmt.Sprint(orgID)})

	org, err := q.GetOrganization(ctx, dbq.GetOrganizationParams{ID: orgID})
	if err != nil {
		t.Fatal(err)
	}
	org.Name = "Renamed in the event" // the row comes from the event, not the database
	publish(t, b, resolvers.TopicOrganization, resolvers.Event{Action: resolvers.ActionUpdated, OrganizationID: orgID, Organization: &org})
	expectNext(t, c, "1", fmt.Sprintf(`{"data":{"organizationUpdated":{"id":"%d","name":"Renamed in the event","employeeCount":%d}}}`, orgID, active))

	if st := a.Resolver.LiveStats(); st.Subscriptions != 1 || st.Topics != 1 || st.Events != 1 || st.Deliveries != 1 {
		t.Errorf("live stats of a: %+v", st)
	}
	if st := a.App.WebSocketStats(); st.Connections != 1 || st.Operations != 1 {
		t.Errorf("websocket stats of a: %+v", st)
	}
}

// TestMutationOnOtherReplicaReachesSubscriber goes end to end: a mutation
// over HTTP on b commits and publishes; the subscriber on a gets the row.
func TestMutationOnOtherReplicaReachesSubscriber(t *testing.T) {
	a, b := livePair(t, nil)
	orgID := a.DB.MustQueryInt64(t, "SELECT min(id) FROM organizations")
	projectID := a.DB.MustQueryInt64(t, "SELECT min(id) FROM projects WHERE organization_id = $1", orgID)

	c := connect(t, a)
	c.Subscribe("org", `subscription { organizationUpdated { id name } }`, nil)
	c.Subscribe("emp", fmt.Sprintf(`subscription { employeeChanged(organizationId: %d) { action organizationId employee { name email organization { id } } } }`, orgID), nil)
	c.Subscribe("proj", fmt.Sprintf(`subscription { projectUpdated(id: %d) { id name teamSize } }`, projectID), nil)

	res := b.Mutate(t, fmt.Sprintf(`mutation { updateOrganization(id: %d, input: {name: "Mutated Org"}) { id } }`, orgID), nil)
	res.MustDecode(t, &struct{}{})
	expectNext(t, c, "org", fmt.Sprintf(`{"data":{"organizationUpdated":{"id":"%d","name":"Mutated Org"}}}`, orgID))

	res = b.Mutate(t, fmt.Sprintf(`mutation { createEmployee(input: {organizationId: %d, name: "Ada Live", email: "ada.live@example.com", department: "Engineering", salary: 1}) { id } }`, orgID), nil)
	res.MustDecode(t, &struct{}{})
	expectNext(t, c, "emp", fmt.Sprintf(`{"data":{"employeeChanged":{"action":"CREATED","organizationId":"%d","employee":{"name":"Ada Live","email":"ada.live@example.com","organization":{"id":"%d"}}}}}`, orgID, orgID))
	// The new employee changes the organization's head count: an update.
	if m := c.NextFor("org", 10*time.Second); m.Type != "next" {
		t.Fatalf("org: %s %s", m.Type, m.Payload)
	}

	teamSize := a.DB.MustQueryInt64(t, "SELECT count(*) FROM project_members WHERE project_id = $1", projectID)
	res = b.Mutate(t, fmt.Sprintf(`mutation { updateProject(id: %d, input: {name: "Mutated Project"}) { id } }`, projectID), nil)
	res.MustDecode(t, &struct{}{})
	expectNext(t, c, "proj", fmt.Sprintf(`{"data":{"projectUpdated":{"id":"%d","name":"Mutated Project","teamSize":%d}}}`, projectID, teamSize))
}

func TestSubscriptionArgumentsFilter(t *testing.T) {
	a, b := livePair(t, nil)
	q := queries(a)
	ctx := context.Background()
	orgs := a.DB.MustQueryInt64s(t, "SELECT id FROM organizations ORDER BY id LIMIT 2")
	emps := a.DB.MustQueryInt64s(t, "SELECT min(id) FROM employees WHERE organization_id = ANY($1) GROUP BY organization_id ORDER BY organization_id", orgs)
	projects := a.DB.MustQueryInt64s(t, "SELECT min(id) FROM projects WHERE organization_id = ANY($1) GROUP BY organization_id ORDER BY organization_id", orgs)

	c := connect(t, a)
	c.Subscribe("emp", `subscription($org: ID) { employeeChanged(organizationId: $org) { action employeeId } }`, map[string]any{"org": fmt.Sprint(orgs[1])})
	c.Subscribe("projById", `subscription($id: ID) { projectUpdated(id: $id) { id } }`, map[string]any{"id": fmt.Sprint(projects[1])})
	c.Subscribe("projByOrg", `subscription($org: ID) { projectUpdated(organizationId: $org) { id } }`, map[string]any{"org": fmt.Sprint(orgs[0])})
	c.Subscribe("metric", `subscription { metricRecorded(metricType: "database", endpoint: "db:x") { metricType endpoint value } }`, nil)
	c.Subscribe("allMetrics", `subscription { metricRecorded { endpoint } }`, nil)

	for i, orgID := range orgs {
		e, err := q.GetEmployee(ctx, dbq.GetEmployeeParams{ID: emps[i]})
		if err != nil {
			t.Fatal(err)
		}
		publish(t, b, resolvers.TopicEmployee, resolvers.Event{Action: resolvers.ActionUpdated, EmployeeID: e.ID, OrganizationID: orgID, Employee: &e})
		p, err := q.GetProject(ctx, dbq.GetProjectParams{ID: projects[i]})
		if err != nil {
			t.Fatal(err)
		}
		publish(t, b, resolvers.TopicProject, resolvers.Event{Action: resolvers.ActionUpdated, ProjectID: p.Project.ID, OrganizationID: orgID, Project: &p.Project, TeamSize: p.TeamSize})
	}
	for _, m := range []dbq.PerformanceMetric{
		{ID: 1, MetricType: "database", Endpoint: "db:y", Value: 1},
		{ID: 2, MetricType: "api_response", Endpoint: "db:x", Value: 2},
		{ID: 3, MetricType: "database", Endpoint: "db:x", Value: 3},
	} {
		publish(t, b, resolvers.TopicMetric, resolvers.Event{Action: resolvers.ActionCreated, Metric: &m})
	}

	expectNext(t, c, "emp", fmt.Sprintf(`{"data":{"employeeChanged":{"action":"UPDATED","employeeId":"%d"}}}`, emps[1]))
	expectNext(t, c, "projById", fmt.Sprintf(`{"data":{"projectUpdated":{"id":"%d"}}}`, projects[1]))
	expectNext(t, c, "projByOrg", fmt.Sprintf(`{"data":{"projectUpdated":{"id":"%d"}}}`, projects[0]))
	expectNext(t, c, "metric", `{"data":{"metricRecorded":{"metricType":"database","endpoint":"db:x","value":3}}}`)
	for _, ep := range []string{"db:y", "db:x", "db:x"} {
		expectNext(t, c, "allMetrics", fmt.Sprintf(`{"data":{"metricRecorded":{"endpoint":%q}}}`, ep))
	}
	for _, id := range []string{"emp", "projById", "projByOrg", "metric", "allMetrics"} {
		expectNothing(t, c, id, 0)
	}
}

func TestEmployeeDeletedHasNoEmployee(t *testing.T) {
	a, b := livePair(t, nil)
	c := connect(t, a)
	c.Subscribe("1", `subscription { employeeChanged { action employeeId organizationId employee { name } } }`, nil)
	publish(t, b, resolvers.TopicEmployee, resolvers.Event{Action: resolvers.ActionDeleted, EmployeeID: 42, OrganizationID: 7})
	expectNext(t, c, "1", `{"data":{"employeeChanged":{"action":"DELETED","employeeId":"42","organizationId":"7","employee":null}}}`)
}

// TestOneEventOneLoaderSet: the nested fields of an event cost the same
// statements for one subscriber as for many, because every subscriber
// resolves the event's one resolver.
func TestOneEventOneLoaderSet(t *testing.T) {
	a, b := livePair(t, nil)
	ctx := context.Background()
	projectID := a.DB.MustQueryInt64(t, "SELECT project_id FROM project_members GROUP BY project_id HAVING count(*) >= 3 ORDER BY project_id LIMIT 1")
	p, err := queries(a).GetProject(ctx, dbq.GetProjectParams{ID: projectID})
	if err != nil {
		t.Fatal(err)
	}
	const doc = `subscription($id: ID) { projectUpdated(id: $id) { name teamSize organization { name employeeCount } teamMembers { name organization { name } } } }`
	var want json.RawMessage
	for _, n := range []int{1, 12} {
		clients := make([]*testsupport.WSClient, n)
		for i := range clients {
			clients[i] = connect(t, a)
			clients[i].Subscribe("p", doc, map[string]any{"id": fmt.Sprint(projectID)})
		}
		before := a.Resolver.LiveStats().SQLCount
		publish(t, b, resolvers.TopicProject, resolvers.Event{Action: resolvers.ActionUpdated, ProjectID: projectID, OrganizationID: p.Project.OrganizationID, Project: &p.Project, TeamSize: p.TeamSize})
		for _, c := range clients {
			m := c.NextFor("p", 10*time.Second)
			if m.Type != "next" || strings.Contains(string(m.Payload), "errors") {
				t.Fatalf("%s %s", m.Type, m.Payload)
			}
			if want == nil {
				want = m.Payload
			}
			assertJSON(t, "every subscriber gets the same result", m.Payload, string(want))
			c.Complete("p")
		}
		// organization (batched with the members' organizations),
		// employeeCount, teamMembers: 3 statements, or 4 when a member's
		// organization is asked for after the first batch ran.
		if got := a.Resolver.LiveStats().SQLCount - before; got < 3 || got > 4 {
			t.Errorf("%d subscribers: the event ran %d statements, want 3 or 4", n, got)
		}
	}
	if !strings.Contains(string(want), `"teamMembers":[{"name"`) {
		t.Errorf("no team members in %s", want)
	}
}

func TestCompleteStopsDelivery(t *testing.T) {
	a, b := livePair(t, nil)
	c := connect(t, a)
	c.Subscribe("stopped", `subscription { metricRecorded { value } }`, nil)
	c.Subscribe("kept", `subscription { metricRecorded { value } }`, nil)
	c.Complete("stopped")
	c.Sync()
	publish(t, b, resolvers.TopicMetric, resolvers.Event{Action: resolvers.ActionCreated, Metric: &dbq.PerformanceMetric{ID: 1, MetricType: "database", Value: 5}})
	expectNext(t, c, "kept", `{"data":{"metricRecorded":{"value":5}}}`)
	expectNothing(t, c, "stopped", 100*time.Millisecond)
	// The id is free again.
	c.Subscribe("stopped", `subscription { metricRecorded { value } }`, nil)
	publish(t, b, resolvers.TopicMetric, resolvers.Event{Action: resolvers.ActionCreated, Metric: &dbq.PerformanceMetric{ID: 2, MetricType: "database", Value: 6}})
	expectNext(t, c, "stopped", `{"data":{"metricRecorded":{"value":6}}}`)
	testsupport.Eventually(t, 5*time.Second, "the completed operation is gone", func() bool { return a.App.WebSocketStats().Operations == 2 })
}

func TestProtocolViolationsClose(t *testing.T) {
	s := liveOne(t, wsConfig(func(c *server.WSConfig) {
		c.InitTimeout = 300 * time.Millisecond
		c.MaxSubscriptionsPerConn = 2
		c.MaxMessageBytes = 4096
	}))
	const sub = `subscription { metricRecorded { value } }`
	tests := []struct {
		name   string
		run    func(c *testsupport.WSClient)
		code   websocket.StatusCode
		reason string
	}{
		{"no init within the timeout", func(c *testsupport.WSClient) {}, 4408, "Connection initialisation timeout"},
		{"malformed JSON", func(c *testsupport.WSClient) { c.Init(nil); c.SendRaw(`{"type":`) }, 4400, "Invalid message"},
		{"unknown type", func(c *testsupport.WSClient) { c.Init(nil); c.SendRaw(`{"type":"bogus"}`) }, 4400, "bogus"},
		{"subscribe without id", func(c *testsupport.WSClient) {
			c.Init(nil)
			c.Send(map[string]any{"type": "subscribe", "payload": map[string]any{"query": sub}})
		}, 4400, "id"},
		{"subscribe without query", func(c *testsupport.WSClient) {
			c.Init(nil)
			c.Send(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{}})
		}, 4400, "query"},
		{"duplicate id", func(c *testsupport.WSClient) {
			c.Init(nil)
			c.Subscribe("x", sub, nil)
			c.Send(map[string]any{"id": "x", "type": "subscribe", "payload": map[string]any{"query": sub}})
		}, 4409, "Subscriber for x already exists"},
		{"second init", func(c *testsupport.WSClient) { c.Init(nil); c.Send(map[string]any{"type": "connection_init"}) }, 4429, "Too many initialisation requests"},
		{"subscribe before ack", func(c *testsupport.WSClient) {
			c.Send(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": sub}})
		}, 4401, "Unauthorized"},
		{"too many subscriptions", func(c *testsupport.WSClient) {
			c.Init(nil)
			c.Subscribe("1", sub, nil)
			c.Subscribe("2", sub, nil)
			c.Send(map[string]any{"id": "3", "type": "subscribe", "payload": map[string]any{"query": sub}})
		}, websocket.StatusPolicyViolation, "too many subscriptions on this connection (max 2)"},
		{"message too big", func(c *testsupport.WSClient) {
			c.Init(nil)
			c.SendRaw(`{"type":"ping","payload":{"x":"` + strings.Repeat("x", 5000) + `"}}`)
		}, websocket.StatusMessageTooBig, "read limited at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testsupport.DialWS(t, s.WSURL, testsupport.WSDialOptions{})
			tt.run(c)
			c.ExpectClose(tt.code, tt.reason)
		})
	}
	t.Run("no subprotocol", func(t *testing.T) {
		c := testsupport.DialWS(t, s.WSURL, testsupport.WSDialOptions{NoSubprotocol: true})
		c.ExpectClose(4406, "Subprotocol not acceptable")
	})
	testsupport.Eventually(t, 5*time.Second, "every socket is closed", func() bool { return s.App.WebSocketStats().Connections == 0 })
}

func TestOriginCheck(t *testing.T) {
	s := liveOne(t, wsConfig(func(c *server.WSConfig) { c.AllowedOrigins = []string{"app.example.com"} }))
	dial := func(origin string) (*http.Response, error) {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		c, res, err := testsupport.DialWSErr(t, s.WSURL, testsupport.WSDialOptions{Header: h})
		if err == nil {
			c.Init(nil)
		}
		return res, err
	}
	for _, origin := range []string{"", s.URL, "http://app.example.com", "https://app.example.com"} {
		if _, err := dial(origin); err != nil {
			t.Errorf("origin %q refused: %v", origin, err)
		}
	}
	for _, origin := range []string{"http://evil.example.com", "http://app.example.com.evil.net", "null"} {
		res, err := dial(origin)
		if err == nil {
			t.Errorf("origin %q accepted", origin)
		} else if res == nil || res.StatusCode != http.StatusForbidden {
			t.Errorf("origin %q: %v, want 403", origin, err)
		}
	}
}

func TestConnectionLimit(t *testing.T) {
	s := liveOne(t, wsConfig(func(c *server.WSConfig) { c.MaxConnections = 2 }))
	first := connect(t, s)
	connect(t, s)
	third := testsupport.DialWS(t, s.WSURL, testsupport.WSDialOptions{})
	third.ExpectClose(websocket.StatusTryAgainLater, "too many WebSocket connections on this replica (max 2)")
	if st := s.App.WebSocketStats(); st.Refused != 1 {
		t.Errorf("stats: %+v", st)
	}
	_ = first.Conn.Close(websocket.StatusNormalClosure, "")
	testsupport.Eventually(t, 5*time.Second, "a slot frees up", func() bool { return s.App.WebSocketStats().Connections == 1 })
	connect(t, s)
}

func TestRefusedOperationsAreErrorMessages(t *testing.T) {
	a, b := livePair(t, nil)
	c := connect(t, a)
	tests := []struct {
		name, doc, code string
	}{
		{"unknown field", `subscription { nope }`, "GRAPHQL_VALIDATION_FAILED"},
		{"syntax error", `subscription {`, "GRAPHQL_PARSE_FAILED"},
		{"bad metricType", `subscription { performanceSummaryUpdated(metricType: "nope") { count } }`, resolvers.CodeBadUserInput},
		{"interval too short", `subscription { performanceSummaryUpdated(metricType: "database", intervalSeconds: 0) { count } }`, resolvers.CodeBadUserInput},
		{"interval too long", `subscription { performanceSummaryUpdated(metricType: "database", intervalSeconds: 3601) { count } }`, resolvers.CodeBadUserInput},
		{"bad id", `subscription { organizationUpdated(id: "x") { id } }`, resolvers.CodeBadUserInput},
		{"two fields", `subscription { organizationUpdated { id } metricRecorded { value } }`, "GRAPHQL_VALIDATION_FAILED"},
	}
	for i, tt := range tests {
		id := fmt.Sprint(i)
		c.Subscribe(id, tt.doc, nil)
		m := c.NextFor(id, 5*time.Second)
		if m.Type != "error" {
			t.Errorf("%s: got %s %s, want error", tt.name, m.Type, m.Payload)
			continue
		}
		if code := errorCode(t, m); code != tt.code {
			t.Errorf("%s: code %s, want %s (%s)", tt.name, code, tt.code, m.Payload)
		}
		expectNothing(t, c, id, 0) // an error message is final: no complete
	}
	// The socket is still usable.
	c.Subscribe("ok", `subscription { metricRecorded { value } }`, nil)
	publish(t, b, resolvers.TopicMetric, resolvers.Event{Action: resolvers.ActionCreated, Metric: &dbq.PerformanceMetric{ID: 1, Value: 1}})
	expectNext(t, c, "ok", `{"data":{"metricRecorded":{"value":1}}}`)
}

func TestQueriesAndMutationsOverWebSocket(t *testing.T) {
	a, _ := livePair(t, nil)
	orgID := a.DB.MustQueryInt64(t, "SELECT min(id) FROM organizations")
	name := a.DB.MustQueryStrings(t, "SELECT name FROM organizations WHERE id = $1", orgID)[0]

	c := testsupport.DialWS(t, a.WSURL, testsupport.WSDialOptions{})
	c.Init(map[string]any{"X-Debug": "1", "Authorization": "Bearer " + testsupport.Token(t, auth.RoleMember, orgID)})
	c.Subscribe("q", fmt.Sprintf(`{ organization(id: %d) { name } }`, orgID), nil)
	m := c.NextFor("q", 5*time.Second)
	var res struct {
		Data       json.RawMessage `json:"data"`
		Extensions struct {
			Debug struct{ SQLCount int } `json:"debug"`
		} `json:"extensions"`
	}
	if err := json.Unmarshal(m.Payload, &res); err != nil || m.Type != "next" {
		t.Fatalf("%s %s", m.Type, m.Payload)
	}
	assertJSON(t, "query over the socket", res.Data, fmt.Sprintf(`{"organization":{"name":%q}}`, name))
	if res.Extensions.Debug.SQLCount != 1 {
		t.Errorf("extensions.debug.sqlCount = %d, want 1", res.Extensions.Debug.SQLCount)
	}
	if m := c.NextFor("q", 5*time.Second); m.Type != "complete" {
		t.Fatalf("got %s, want complete", m.Type)
	}

	mutation := fmt.Sprintf(`mutation { updateOrganization(id: %d, input: {industry: "Space"}) { industry } }`, orgID)
	c.Subscribe("m", mutation, nil)
	if m := c.NextFor("m", 5*time.Second); !strings.Contains(string(m.Payload), resolvers.CodeForbidden) {
		t.Fatalf("a mutation of a member: %s %s", m.Type, m.Payload)
	}

	authed := testsupport.DialWS(t, a.WSURL, testsupport.WSDialOptions{})
	authed.Init(map[string]any{"Authorization": "Bearer " + testsupport.APIToken})
	authed.Subscribe("sub", fmt.Sprintf(`subscription { organizationUpdated(id: %d) { industry } }`, orgID), nil)
	authed.Subscribe("m", mutation, nil)
	expectNext(t, authed, "m", `{"data":{"updateOrganization":{"industry":"Space"}},"extensions":{"cost":1}}`)
	if m := authed.NextFor("m", 5*time.Second); m.Type != "complete" {
		t.Fatalf("got %s, want complete", m.Type)
	}
	expectNext(t, authed, "sub", `{"data":{"organizationUpdated":{"industry":"Space"}}}`)
}

func TestPingPongBothWays(t *testing.T) {
	s := liveOne(t, wsConfig(func(c *server.WSConfig) { c.KeepAlive = 100 * time.Millisecond }))
	c := testsupport.DialWS(t, s.WSURL, testsupport.WSDialOptions{KeepPings: true})
	c.Init(nil)
	c.Send(map[string]any{"type": "ping", "payload": map[string]any{"n": 1}})
	if m := c.Expect("pong", 5*time.Second); string(m.Payload) != `{"n":1}` {
		t.Errorf("pong payload %s", m.Payload)
	}
	c.Expect("ping", 5*time.Second) // the server's keep-alive
	c.Send(map[string]any{"type": "pong"})
	// A client that answers WebSocket pings stays connected.
	time.Sleep(500 * time.Millisecond)
	c.Sync()
}

// TestKeepAliveEveryInterval: an initialised socket that says nothing gets
// the keep-alive message of its protocol and a WebSocket ping every
// KeepAlive, again and again; none before connection_init.
func TestKeepAliveEveryInterval(t *testing.T) {
	const every = 100 * time.Millisecond
	s := liveOne(t, wsConfig(func(c *server.WSConfig) { c.KeepAlive = every }))
	for _, tt := range []struct{ proto, keepAlive string }{
		{"graphql-transport-ws", `{"type":"ping"}`},
		{"graphql-ws", `{"type":"ka"}`},
	} {
		t.Run(tt.proto, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			pings := make(chan time.Time, 256)
			c, _, err := websocket.Dial(ctx, s.WSURL, &websocket.DialOptions{
				Subprotocols: []string{tt.proto},
				OnPingReceived: func(context.Context, []byte) bool {
					select {
					case pings <- time.Now():
					default:
					}
					return true
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			type message struct {
				at   time.Time
				data string
			}
			msgs := make(chan message, 256)
			go func() {
				defer close(msgs)
				for {
					_, data, err := c.Read(ctx)
					if err != nil {
						return
					}
					msgs <- message{time.Now(), string(data)}
				}
			}()

			time.Sleep(3 * every)
			if len(pings) > 0 || len(msgs) > 0 {
				t.Fatalf("keep-alives before connection_init: %d pings, %d messages", len(pings), len(msgs))
			}
			if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"connection_init","payload":{"Authorization":"Bearer `+testsupport.APIToken+`"}}`)); err != nil {
				t.Fatal(err)
			}
			if m, ok := <-msgs; !ok || m.data != `{"type":"connection_ack"}` {
				t.Fatalf("got %q, want connection_ack", m.data)
			}
			var keepAlives []time.Time
			for len(keepAlives) < 5 {
				m, ok := <-msgs
				if !ok {
					t.Fatalf("the socket closed after %d keep-alives: %v", len(keepAlives), ctx.Err())
				}
				if m.data != tt.keepAlive {
					t.Fatalf("got %q, want %s", m.data, tt.keepAlive)
				}
				keepAlives = append(keepAlives, m.at)
			}
			// graphql-ws has one more at once after the ack.
			periodic := keepAlives[len(keepAlives)-4:]
			if gap := periodic[3].Sub(periodic[0]); gap < 2*every {
				t.Errorf("4 keep-alives within %s, want one per %s", gap, every)
			}
			if n := len(pings); n < 3 {
				t.Errorf("%d WebSocket pings with %d keep-alives, want one each", n, len(keepAlives))
			}
		})
	}
}

// TestUnansweredPingDropsSocket: a client that stops answering WebSocket
// pings is dropped, without a close frame, within about two KeepAlive.
func TestUnansweredPingDropsSocket(t *testing.T) {
	const every = 100 * time.Millisecond
	s := liveOne(t, wsConfig(func(c *server.WSConfig) { c.KeepAlive = every }))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, s.WSURL, &websocket.DialOptions{
		Subprotocols:   []string{"graphql-transport-ws"},
		OnPingReceived: func(context.Context, []byte) bool { return false }, // no pong
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"connection_init","payload":{"Authorization":"Bearer `+testsupport.APIToken+`"}}`)); err != nil {
		t.Fatal(err)
	}
	for {
		_, _, err := c.Read(ctx)
		if err == nil {
			continue // connection_ack, keep-alives
		}
		if ctx.Err() != nil {
			t.Fatal("the socket is still open")
		}
		if code := websocket.CloseStatus(err); code != -1 {
			t.Fatalf("closed with %d, want dropped: %v", code, err)
		}
		break
	}
	testsupport.Eventually(t, 5*time.Second, "the socket is gone", func() bool { return s.App.WebSocketStats().Connections == 0 })
}

// TestMessageWithTheUpgradeRequest: a client may send its first message
// right behind the upgrade request, without waiting for the 101; what
// net/http read ahead of the upgrade is not lost.
func TestMessageWithTheUpgradeRequest(t *testing.T) {
	s := liveOne(t, nil)
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))

	payload := []byte(`{"type":"connection_init","payload":{"Authorization":"Bearer ` + testsupport.APIToken + `"}}`)
	frame := []byte{0x81, 0x80 | byte(len(payload)), 1, 2, 3, 4} // text, masked with 1 2 3 4
	for i, b := range payload {
		frame = append(frame, b^frame[2+i%4])
	}
	req := "GET /graphql HTTP/1.1\r\nHost: " + u.Host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
	if _, err := conn.Write(append([]byte(req), frame...)); err != nil { // one write: one read for net/http
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", res.StatusCode)
	}
	head := make([]byte, 2)
	if _, err := io.ReadFull(br, head); err != nil {
		t.Fatalf("no message after the 101: %v", err)
	}
	if head[0] != 0x81 || head[1] >= 126 {
		t.Fatalf("frame header % x, want a short text frame", head)
	}
	body := make([]byte, head[1])
	if _, err := io.ReadFull(br, body); err != nil {
		t.Fatal(err)
	}
	if string(body) != `{"type":"connection_ack"}` {
		t.Fatalf("got %s, want connection_ack", body)
	}
}

func TestLegacyGraphQLWSProtocol(t *testing.T) {
	a, b := livePair(t, wsConfig(func(c *server.WSConfig) { c.KeepAlive = 200 * time.Millisecond }))
	orgID := a.DB.MustQueryInt64(t, "SELECT min(id) FROM organizations")
	c := testsupport.DialWS(t, a.WSURL, testsupport.WSDialOptions{Subprotocols: []string{"graphql-ws"}, KeepPings: true})
	if c.Protocol != "graphql-ws" {
		t.Fatalf("negotiated %q", c.Protocol)
	}
	c.Send(map[string]any{"type": "connection_init", "payload": map[string]any{}})
	c.Expect("connection_ack", 5*time.Second)
	c.Expect("ka", 5*time.Second) // at once after the ack
	c.Expect("ka", 5*time.Second) // and every KeepAlive

	c.Subscribe("1", `subscription { organizationUpdated { id } }`, nil)
	// Operations run in order: the answer to this query means "1" is live.
	c.Subscribe("2", fmt.Sprintf(`{ organization(id: %d) { id } }`, orgID), nil)
	expectNext(t, c, "2", fmt.Sprintf(`{"data":{"organization":{"id":"%d"}},"extensions":{"cost":1}}`, orgID))
	if m := c.NextFor("2", 5*time.Second); m.Type != "complete" {
		t.Fatalf("got %s, want complete", m.Type)
	}
	org, err := queries(a).GetOrganization(context.Background(), dbq.GetOrganizationParams{ID: orgID})
	if err != nil {
		t.Fatal(err)
	}
	publish(t, b, resolvers.TopicOrganization, resolvers.Event{Action: resolvers.ActionUpdated, OrganizationID: orgID, Organization: &org})
	expectNext(t, c, "1", fmt.Sprintf(`{"data":{"organizationUpdated":{"id":"%d"}}}`, orgID))

	c.Subscribe("3", `subscription { nope }`, nil)
	if m := c.NextFor("3", 5*time.Second); m.Type != "error" {
		t.Fatalf("got %s %s, want error", m.Type, m.Payload)
	}
	c.Complete("1") // stop
	c.Send(map[string]any{"type": "connection_terminate"})
	c.ExpectClose(websocket.StatusNormalClosure, "")
	testsupport.Eventually(t, 5*time.Second, "the operations ended", func() bool { return a.App.WebSocketStats().Operations == 0 })
}

// TestRedisRestartUnderOpenSubscriptions stops and starts the Redis both
// replicas share: the open subscription ends with SERVICE_UNAVAILABLE
// (what was published meanwhile is lost to it: it must resume from its
// cursor), the socket stays open, and a new subscription on it receives
// events once Redis is back.
func TestRedisRestartUnderOpenSubscriptions(t *testing.T) {
	p := testsupport.MustStartRedisProcess(t)
	db := testsupport.MustOpenSeededDB(t)
	tweak := func(_ *server.Config, _ *resolvers.Config, h *realtime.Config) {
		h.HealthCheck = 100 * time.Millisecond
	}
	a := testsupport.MustStartLiveServer(t, db, testsupport.LiveOptions{Redis: p.Client(t), Prefix: "t:", Tweak: tweak})
	b := testsupport.MustStartLiveServer(t, db, testsupport.LiveOptions{Redis: p.Client(t), Prefix: "t:", Tweak: tweak})
	c := connect(t, a)
	const doc = `subscription { metricRecorded { value } }`
	c.Subscribe("1", doc, nil)
	publish(t, b, resolvers.TopicMetric, resolvers.Event{Action: resolvers.ActionCreated, Metric: &dbq.PerformanceMetric{Value: 1}})
	expectNext(t, c, "1", `{"data":{"metricRecorded":{"value":1}}}`)

	p.Stop(t)
	testsupport.Eventually(t, 5*time.Second, "replica a notices the outage", func() bool { return !a.Hub.Stats().Connected })
	if m := c.NextFor("1", 10*time.Second); m.Type != "error" || errorCode(t, m) != resolvers.CodeServiceUnavailable {
		t.Fatalf("the open subscription during the outage: %s %s, want an error with code SERVICE_UNAVAILABLE", m.Type, m.Payload)
	}
	p.Start(t)
	deadline := time.Now().Add(15 * time.Second)
	for v, n := 2, 2; ; v++ {
		if time.Now().After(deadline) {
			t.Fatalf("no event after the restart; hub stats %+v", a.Hub.Stats())
		}
		id := fmt.Sprint(n)
		c.Subscribe(id, doc, nil) // refused (SERVICE_UNAVAILABLE) until the hub is back
		ev, _ := resolvers.EncodeEvent(resolvers.Event{Action: resolvers.ActionCreated, Metric: &dbq.PerformanceMetric{Value: float64(v)}})
		_ = b.Hub.Publish(context.Background(), resolvers.TopicMetric, ev)
		m, ok := c.TryNext(500 * time.Millisecond)
		if ok && m.Type == "next" {
			break
		}
		if c.Err() != nil {
			t.Fatalf("the socket closed: %v", c.Err())
		}
		if !ok {
			c.Complete(id)
		}
		n++
	}
	if st := a.Hub.Stats(); st.Reconnects < 1 || st.Gap <= 0 {
		t.Errorf("hub stats: %+v", st)
	}
	if !strings.Contains(a.Logs(), "redis pub/sub connection restored") {
		t.Error("the gap was not logged")
	}
}

// TestSlowConsumerIsDropped: a client that stops reading is closed once
// SendQueue messages wait for it, while another keeps getting every event.
func TestSlowConsumerIsDropped(t *testing.T) {
	a, b := livePair(t, wsConfig(func(c *server.WSConfig) {
		c.SendQueue = 8
		c.WriteTimeout = 2 * time.Second
	}))
	const doc = `subscription { metricRecorded { endpoint } }`
	fast := connect(t, a)
	fast.Subscribe("1", doc, nil)
	slow := testsupport.DialWS(t, a.WSURL, testsupport.WSDialOptions{ReceiveBuffer: 4096})
	slow.Init(nil)
	slow.Subscribe("1", doc, nil)
	slow.PauseReading()

	// How much the kernel buffers between the two ends hold depends on
	// autotuning and load, so events go out until the slow consumer is
	// dropped, not a fixed number of them: at most maxEvents (64 MiB). Each
	// event waits until the fast client has taken the one before, so the
	// fast client is never behind, however loaded the machine.
	const maxEvents = 4000
	endpoint := strings.Repeat("e", 16<<10) // 16 KiB per message
	taken := make(chan struct{})
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			m, ok := fast.TryNext(100 * time.Millisecond)
			if !ok {
				select {
				case <-done:
					return
				default:
					continue
				}
			}
			if m.ID != "1" {
				continue // a ping, for one
			}
			if !strings.Contains(string(m.Payload), endpoint) {
				t.Errorf("fast client: %s %.100s", m.Type, m.Payload)
				return
			}
			select {
			case taken <- struct{}{}:
			case <-done:
				return
			}
		}
	}()
	n := 0
	for n < maxEvents && a.App.WebSocketStats().SlowConsumers == 0 {
		publish(t, b, resolvers.TopicMetric, resolvers.Event{Action: resolvers.ActionCreated, Metric: &dbq.PerformanceMetric{ID: int64(n), Endpoint: endpoint}})
		n++
		select {
		case <-taken:
		case <-time.After(20 * time.Second):
			t.Fatalf("the fast client did not receive event %d within 20s (WebSocket stats %+v)", n, a.App.WebSocketStats())
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for st := a.App.WebSocketStats(); st.SlowConsumers != 1 || st.Connections != 1; st = a.App.WebSocketStats() {
		if time.Now().After(deadline) {
			t.Fatalf("after %d events: WebSocket stats %+v, want 1 slow consumer closed and the fast client's connection open", n, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// One rule, one counter: the socket's slow consumer is counted on
	// /metrics through the wiring serve uses, and no subscription was
	// interrupted for it (no inner stage waited for the client).
	fams := scrapeMetrics(t, a.Server)
	for name, want := range map[string]float64{monitor.MetricSlowConsumers: 1, monitor.MetricSubscriptionsStopped: 0} {
		if fam := fams[name]; fam == nil || len(fam.Metric) != 1 || fam.Metric[0].GetCounter().GetValue() != want {
			t.Errorf("/metrics %s: %v, want %v", name, fam, want)
		}
	}
	code, reason := slow.WaitClosed(10 * time.Second)
	got := 0
	for {
		if _, ok := slow.TryNext(0); !ok {
			break
		}
		got++
	}
	if got >= n {
		t.Errorf("the slow client received all %d events", got)
	}
	t.Logf("%d events published, each taken by the fast client; slow client: %d messages, then closed with %d %q", n, got, code, reason)
}

func TestPerformanceSummaryIsSharedPerReplica(t *testing.T) {
	s := liveOne(t, nil)
	const doc = `subscription($i: Int) { performanceSummaryUpdated(metricType: "api_response", intervalSeconds: $i) { metricType count } }`
	c1, c2, c3 := connect(t, s), connect(t, s), connect(t, s)
	before := s.Resolver.LiveStats().SQLCount
	start := time.Now()
	c1.Subscribe("s", doc, map[string]any{"i": 1})
	c2.Subscribe("s", doc, map[string]any{"i": 1})
	c3.Subscribe("s", doc, map[string]any{"i": 2})
	// c1 and c2 send the same document and variables: one execution
	// (wsshare.go) feeds both operations.
	if st, ws := s.Resolver.LiveStats(), s.App.WebSocketStats(); st.Summaries != 2 || st.Subscriptions != 2 || ws.Operations != 3 || ws.Shared != 2 {
		t.Errorf("live stats: %+v, WebSocket stats %+v, want 2 summaries and 2 executing subscriptions for 3 operations", st, ws)
	}
	res := s.Query(t, `{ performanceSummary(metricType: "api_response") { count } }`, nil)
	var want struct{ PerformanceSummary struct{ Count int } }
	res.MustDecode(t, &want)
	for range 3 {
		m := c1.NextFor("s", 5*time.Second)
		assertJSON(t, "summary", m.Payload, fmt.Sprintf(`{"data":{"performanceSummaryUpdated":{"metricType":"api_response","count":%d}}}`, want.PerformanceSummary.Count))
		c2.NextFor("s", 5*time.Second)
	}
	c3.NextFor("s", 5*time.Second)
	// Shared, each computation runs once at start and once per tick of its
	// interval, whatever the number of its subscribers (c1 and c2 share
	// the 1s one): per subscriber, the 1s one would run twice as often.
	got := s.Resolver.LiveStats().SQLCount - before
	elapsed := time.Since(start)
	shared := 2 + int(elapsed/time.Second) + int(elapsed/(2*time.Second))
	if got > shared+1 {
		t.Errorf("%d statements in %s, want one per tick of each interval (%d)", got, elapsed, shared)
	}
	for _, c := range []*testsupport.WSClient{c1, c2, c3} {
		c.Complete("s")
	}
	testsupport.Eventually(t, 5*time.Second, "the computations stop with their last subscriber", func() bool {
		return s.Resolver.LiveStats().Summaries == 0
	})
}

func TestHTTPSubscriptionStillRefused(t *testing.T) {
	s := liveOne(t, nil)
	res := s.Query(t, `subscription { metricRecorded { value } }`, nil)
	if res.Status != http.StatusBadRequest || !strings.Contains(string(res.Raw), "WebSocket") {
		t.Errorf("status %d: %s", res.Status, res.Raw)
	}
}

// TestInterruptedStreamIsAnErrorMessage: when the replica's event stream
// ends under a subscription, the client hears it as an error message,
// not as a normal complete, and the socket stays usable.
func TestInterruptedStreamIsAnErrorMessage(t *testing.T) {
	a := liveOne(t, nil)
	c := connect(t, a)
	c.Subscribe("1", `subscription { projectUpdated { id } }`, nil)
	a.Hub.Close()
	m := c.NextFor("1", 5*time.Second)
	if m.Type != "error" || errorCode(t, m) != resolvers.CodeServiceUnavailable {
		t.Fatalf("got %s %s, want an error with code SERVICE_UNAVAILABLE", m.Type, m.Payload)
	}
	expectNothing(t, c, "1", 0)
	// Without a bus new subscriptions are refused the same way.
	c.Subscribe("2", `subscription { projectUpdated { id } }`, nil)
	if m := c.NextFor("2", 5*time.Second); m.Type != "error" || errorCode(t, m) != resolvers.CodeServiceUnavailable {
		t.Fatalf("got %s %s", m.Type, m.Payload)
	}
}

// TestIdenticalSubscriptionsShareOneExecution: subscriptions of one
// document with the same variables share one execution per event, however
// many sockets and operation ids they come from; other variables are a
// subscription of their own; the last member out ends the shared one.
func TestIdenticalSubscriptionsShareOneExecution(t *testing.T) {
	a, b := livePair(t, nil)
	ctx := context.Background()
	ids := a.DB.MustQueryInt64s(t, "SELECT id FROM projects ORDER BY id LIMIT 2")
	p, err := queries(a).GetProject(ctx, dbq.GetProjectParams{ID: ids[0]})
	if err != nil {
		t.Fatal(err)
	}
	const doc = `subscription($id: ID) { projectUpdated(id: $id) { name teamSize } }`
	vars := func(id int64) map[string]any { return map[string]any{"id": fmt.Sprint(id)} }
	c1, c2, c3 := connect(t, a), connect(t, a), connect(t, a)
	c1.Subscribe("p", doc, vars(ids[0]))
	c1.Subscribe("q", doc, vars(ids[0]))
	c2.Subscribe("p", doc, vars(ids[0]))
	c3.Subscribe("other", doc, vars(ids[1]))
	shared := func(want int64) {
		t.Helper()
		testsupport.Eventually(t, 5*time.Second, fmt.Sprintf("%d shared subscriptions", want), func() bool { return a.App.WebSocketStats().Shared == want })
	}
	shared(2)
	if got, want := a.App.WebSocketStats().Operations, int64(4); got != want {
		t.Fatalf("%d operations, want %d", got, want)
	}

	publish(t, b, resolvers.TopicProject, resolvers.Event{Action: resolvers.ActionUpdated, ProjectID: ids[0], OrganizationID: p.Project.OrganizationID, Project: &p.Project, TeamSize: p.TeamSize})
	want := fmt.Sprintf(`{"data":{"projectUpdated":{"name":%q,"teamSize":%d}}}`, p.Project.Name, p.TeamSize)
	expectNext(t, c1, "p", want)
	expectNext(t, c1, "q", want)
	expectNext(t, c2, "p", want)
	expectNothing(t, c3, "other", 100*time.Millisecond)

	// Members leave one by one; the shared subscription stays until the
	// last one, and its other members still get events.
	c1.Complete("q")
	c2.Complete("p")
	c1.Sync() // both completes handled before the next event
	c2.Sync()
	shared(2)
	publish(t, b, resolvers.TopicProject, resolvers.Event{Action: resolvers.ActionUpdated, ProjectID: ids[0], OrganizationID: p.Project.OrganizationID, Project: &p.Project, TeamSize: p.TeamSize})
	expectNext(t, c1, "p", want)
	expectNothing(t, c1, "q", 100*time.Millisecond)
	expectNothing(t, c2, "p", 0)
	c1.Complete("p")
	shared(1)
	// A new subscriber of a document whose shared subscription ended
	// starts a new one.
	c2.Subscribe("again", doc, vars(ids[0]))
	shared(2)
	publish(t, b, resolvers.TopicProject, resolvers.Event{Action: resolvers.ActionUpdated, ProjectID: ids[0], OrganizationID: p.Project.OrganizationID, Project: &p.Project, TeamSize: p.TeamSize})
	expectNext(t, c2, "again", want)
	_ = c3.Conn.Close(websocket.StatusNormalClosure, "")
	shared(1)
}
