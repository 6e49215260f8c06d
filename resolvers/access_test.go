package resolvers_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"orgpulse/auth"
	"orgpulse/realtime"
	"orgpulse/resolvers"
	"orgpulse/server"
	"orgpulse/testsupport"
)

// Access control through HTTP, as a client: who sees which rows and
// fields, who may write, with serve's default ANONYMOUS_ROLE=none.

// acWho is one caller of the matrix.
type acWho struct {
	name  string
	token string
	scope []int64 // nil: every organization (admin)
}

// acFixture is a seeded server and the rows the matrix names: org 3 and
// org 4 with an employee and a project each.
type acFixture struct {
	db                   *testsupport.DB
	srv                  *testsupport.Server
	org3, org4           int64
	emp3, emp4           int64
	proj3, proj4         int64
	anon, member3, mgr3  acWho
	mgr4, admin, adminJW acWho
}

func newACFixture(t *testing.T, tweaks ...func(*testing.T) testsupport.Tweak) *acFixture {
	t.Helper()
	db := testsupport.MustOpenSeededDB(t)
	f := &acFixture{db: db, org3: 3, org4: 4}
	tw := []testsupport.Tweak{testsupport.Anonymous(auth.RoleNone)}
	for _, m := range tweaks {
		tw = append(tw, m(t))
	}
	f.srv = testsupport.MustStartServer(t, db, tw...)
	f.emp3 = db.MustQueryInt64(t, `SELECT min(id) FROM employees WHERE organization_id = 3`)
	f.emp4 = db.MustQueryInt64(t, `SELECT min(id) FROM employees WHERE organization_id = 4`)
	f.proj3 = db.MustQueryInt64(t, `SELECT min(project_id) FROM project_members pm JOIN projects p ON p.id = pm.project_id WHERE p.organization_id = 3`)
	f.proj4 = db.MustQueryInt64(t, `SELECT min(id) FROM projects WHERE organization_id = 4`)
	f.anon = acWho{name: "anonymous", scope: []int64{}}
	f.member3 = acWho{"member of 3", testsupport.Token(t, auth.RoleMember, 3), []int64{3}}
	f.mgr3 = acWho{"manager of 3", testsupport.Token(t, auth.RoleManager, 3), []int64{3}}
	f.mgr4 = acWho{"manager of 4", testsupport.Token(t, auth.RoleManager, 4), []int64{4}}
	f.admin = acWho{"admin (API_TOKEN)", testsupport.APIToken, nil}
	f.adminJW = acWho{"admin (JWT)", testsupport.Token(t, auth.RoleAdmin), nil}
	return f
}

func (f *acFixture) everyone() []acWho {
	return []acWho{f.anon, f.member3, f.mgr3, f.mgr4, f.admin, f.adminJW}
}

// acOIDs collects every value under the key "oid" in data: the queries
// alias each organization id they reach as oid.
func acOIDs(t *testing.T, data json.RawMessage) []int64 {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	var out []int64
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				if k == "oid" {
					var id int64
					fmt.Sscan(fmt.Sprint(c), &id)
					out = append(out, id)
				} else {
					walk(c)
				}
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(v)
	return out
}

// Outcomes of the matrix.
const (
	acAllowed  = "allowed"  // data, every organization reached within the caller's scope
	acFiltered = "filtered" // allowed, and the scope hides rows: no organization outside it
	acNull     = "null"     // the looked-up row is null, as an unknown id
	acEmpty    = "empty"    // the list is empty
	acForbid   = "FORBIDDEN"
	acUnauth   = "UNAUTHENTICATED"
	acNotFound = "NOT_FOUND"
)

// acOutcome classifies a response for who.
func acOutcome(t *testing.T, who acWho, res *testsupport.Response) string {
	t.Helper()
	if len(res.Errors) > 0 {
		code := res.Code()
		if (code == acUnauth && res.Status != 401) || (code == acForbid && res.Status != 403 && len(res.Data) == 0) {
			t.Errorf("%s: %s answered with status %d", who.name, code, res.Status)
		}
		if code == acForbid || code == acUnauth {
			if len(res.Data) > 0 && string(res.Data) != "null" && !strings.Contains(string(res.Data), "null") {
				t.Errorf("%s: %s with data: %s", who.name, code, res.Raw)
			}
		}
		return code
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(res.Data, &top); err != nil {
		t.Fatalf("%s: %s", who.name, res.Raw)
	}
	for _, v := range top {
		switch s := string(v); {
		case s == "null":
			return acNull
		case s == "[]":
			return acEmpty
		}
	}
	oids := acOIDs(t, res.Data)
	for _, id := range oids {
		if who.scope != nil && !slices.Contains(who.scope, id) {
			t.Errorf("%s reached organization %d outside its scope: %s", who.name, id, res.Raw)
		}
	}
	if who.scope != nil {
		return acFiltered
	}
	return acAllowed
}

func TestAuthorizationMatrix(t *testing.T) {
	f := newACFixture(t)
	type expect map[string]string // who.name → outcome; missing: the default
	id := func(n int64) string { return fmt.Sprint(n) }
	// Every admin row below expects acAllowed; the scoped callers' rows
	// acFiltered unless the case says otherwise.
	cases := []struct {
		name string
		doc  string
		vars map[string]any
		exp  expect
	}{
		{"organization of 3", `query($id: ID!) { organization(id: $id) { oid: id name employeeCount } }`, map[string]any{"id": id(f.org3)},
			expect{f.mgr4.name: acNull}},
		{"employee of 3", `query($id: ID!) { employee(id: $id) { id name organization { oid: id } projects { id } } }`, map[string]any{"id": id(f.emp3)},
			expect{f.mgr4.name: acNull}},
		{"project of 3", `query($id: ID!) { project(id: $id) { id teamSize teamMembers { id organization { oid: id } } organization { oid: id } } }`, map[string]any{"id": id(f.proj3)},
			expect{f.mgr4.name: acNull}},
		{"allOrganizations", `{ allOrganizations { oid: id employees(first: 2) { totalCount nodes { id } } } }`, nil, nil},
		{"organizations", `{ organizations(first: 100) { totalCount nodes { oid: id projects { id } } } }`, nil, nil},
		{"allEmployees", `{ allEmployees(pageSize: 100) { id organization { oid: id } } }`, nil, nil},
		{"employees", `{ employees(first: 100) { totalCount nodes { id organization { oid: id } } } }`, nil, nil},
		{"employeesByOrganization of 3", `query($o: ID!) { employeesByOrganization(organizationId: $o) { id organization { oid: id } } }`, map[string]any{"o": id(f.org3)},
			expect{f.mgr4.name: acEmpty}},
		{"allProjects", `{ allProjects(pageSize: 100) { id organization { oid: id } teamMembers { id } } }`, nil, nil},
		{"projects", `{ projects(first: 100) { totalCount nodes { id organization { oid: id } } } }`, nil, nil},
		{"employeeStats counts", `{ employeeStats { total active inactive } }`, nil, nil},
		{"departmentStats counts", `{ departmentStats { department count } }`, nil, nil},
		{"Employee.salary", `query($id: ID!) { employee(id: $id) { salary organization { oid: id } } }`, map[string]any{"id": id(f.emp3)},
			expect{f.member3.name: acForbid, f.mgr4.name: acNull}},
		{"Employee.email in a fragment", `query($id: ID!) { employee(id: $id) { ...E } } fragment E on Employee { email organization { oid: id } }`, map[string]any{"id": id(f.emp3)},
			expect{f.member3.name: acForbid, f.mgr4.name: acNull}},
		{"Employee.salary in an inline fragment of a list", `{ allEmployees(pageSize: 5) { ... on Employee { salary organization { oid: id } } } }`, nil,
			expect{f.member3.name: acForbid}},
		{"employeeStats salary", `{ employeeStats { averageSalary } }`, nil, expect{f.member3.name: acForbid}},
		{"departmentStats salary", `query($id: ID!) { organization(id: $id) { oid: id departmentStats { maxSalary } } }`, map[string]any{"id": id(f.org3)},
			expect{f.member3.name: acForbid, f.mgr4.name: acNull}},
		{"performanceSummary", `{ performanceSummary(metricType: "api_response") { count } }`, nil,
			expect{f.member3.name: acForbid, f.mgr3.name: acForbid, f.mgr4.name: acForbid}},
		{"slowestEndpoints", `{ slowestEndpoints { value } }`, nil,
			expect{f.member3.name: acForbid, f.mgr3.name: acForbid, f.mgr4.name: acForbid}},
		{"endpointStats", `{ endpointStats { count } }`, nil,
			expect{f.member3.name: acForbid, f.mgr3.name: acForbid, f.mgr4.name: acForbid}},
		// Mutations: admin everything, manager within their organizations,
		// member nothing.
		{"updateOrganization 3", `mutation($id: ID!) { updateOrganization(id: $id, input: {industry: "Audited"}) { oid: id } }`, map[string]any{"id": id(f.org3)},
			expect{f.member3.name: acForbid, f.mgr4.name: acForbid}},
		{"createOrganization", `mutation($n: String!) { createOrganization(input: {name: $n}) { id } }`, nil,
			expect{f.member3.name: acForbid, f.mgr3.name: acForbid, f.mgr4.name: acForbid}},
		{"createEmployee in 3", `mutation($mail: String!, $o: ID!) { createEmployee(input: {organizationId: $o, name: "New", email: $mail, department: "QA", salary: 1}) { organization { oid: id } } }`,
			map[string]any{"o": id(f.org3)}, expect{f.member3.name: acForbid, f.mgr4.name: acForbid}},
		{"updateEmployee of 3", `mutation($id: ID!) { updateEmployee(id: $id, input: {title: "Lead"}) { organization { oid: id } } }`, map[string]any{"id": id(f.emp3)},
			expect{f.member3.name: acForbid, f.mgr4.name: acNotFound}},
		{"move an employee of 3 to 4", `mutation($id: ID!, $o: ID!) { updateEmployee(id: $id, input: {organizationId: $o}) { organization { oid: id } } }`,
			map[string]any{"id": id(f.emp3), "o": id(f.org4)}, expect{f.member3.name: acForbid, f.mgr3.name: acForbid, f.mgr4.name: acNotFound, f.admin.name: "skip", f.adminJW.name: "skip"}},
		{"updateProject of 3", `mutation($id: ID!) { updateProject(id: $id, input: {status: "active"}) { organization { oid: id } } }`, map[string]any{"id": id(f.proj3)},
			expect{f.member3.name: acForbid, f.mgr4.name: acNotFound}},
		{"createProject in 4", `mutation($o: ID!) { createProject(input: {organizationId: $o, name: "P"}) { organization { oid: id } } }`, map[string]any{"o": id(f.org4)},
			expect{f.member3.name: acForbid, f.mgr3.name: acForbid, f.mgr4.name: acFiltered}},
		{"addTeamMember of 4 to a project of 3", `mutation($p: ID!, $e: ID!) { addTeamMember(projectId: $p, employeeId: $e) { id } }`,
			map[string]any{"p": id(f.proj3), "e": id(f.emp4)}, expect{f.member3.name: acForbid, f.mgr3.name: acNotFound, f.mgr4.name: acNotFound, f.admin.name: "BAD_USER_INPUT", f.adminJW.name: "BAD_USER_INPUT"}},
		{"recordMetric", `mutation { recordMetric(input: {metricType: "page_load", value: 1}) { id } }`, nil,
			expect{f.member3.name: acForbid, f.mgr3.name: acForbid, f.mgr4.name: acForbid}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for i, who := range f.everyone() {
				want := c.exp[who.name]
				switch {
				case want == "skip":
					continue
				case want != "":
				case who.name == f.anon.name:
					want = acUnauth
				case who.scope == nil:
					want = acAllowed
				default:
					want = acFiltered
				}
				vars := map[string]any{}
				for k, v := range c.vars {
					vars[k] = v
				}
				vars["n"] = fmt.Sprintf("Org of %s %d", c.name, i)
				vars["mail"] = fmt.Sprintf("ac.%d.%d@example.com", len(c.name), i)
				res := f.srv.QueryAs(t, who.token, c.doc, onlyUsed(c.doc, vars))
				if got := acOutcome(t, who, res); got != want {
					t.Errorf("%s: got %s, want %s: %s", who.name, got, want, res.Raw)
				}
				if res.Code() == acForbid && len(res.Data) == 0 {
					if field, _ := res.Errors[0].Extensions["field"].(string); field == "" {
						t.Errorf("%s: FORBIDDEN without extensions.field: %s", who.name, res.Raw)
					}
				}
			}
		})
	}
}

// onlyUsed drops the variables doc does not declare (graphql-go refuses
// unknown ones).
func onlyUsed(doc string, vars map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range vars {
		if strings.Contains(doc, "$"+k+":") {
			out[k] = v
		}
	}
	return out
}

// The counts a scoped caller gets are those of its organizations, counted
// in SQL, and a member selecting a salary figure gets no data at all.
func TestScopedCountsAndRefusedFields(t *testing.T) {
	f := newACFixture(t)
	var got struct {
		EmployeeStats struct{ Total int64 } `json:"employeeStats"`
		Employees     struct{ TotalCount int64 }
		Projects      struct{ TotalCount int64 }
		Organizations struct{ TotalCount int64 }
	}
	doc := `{ employeeStats { total } employees { totalCount } projects { totalCount } organizations { totalCount } }`
	f.srv.QueryAs(t, f.member3.token, doc, nil).MustDecode(t, &got)
	if want := f.db.MustQueryInt64(t, `SELECT count(*) FROM employees WHERE organization_id = 3`); got.EmployeeStats.Total != want || got.Employees.TotalCount != want {
		t.Errorf("member of 3 counts %d / %d employees, want %d", got.EmployeeStats.Total, got.Employees.TotalCount, want)
	}
	if want := f.db.MustQueryInt64(t, `SELECT count(*) FROM projects WHERE organization_id = 3`); got.Projects.TotalCount != want {
		t.Errorf("member of 3 counts %d projects, want %d", got.Projects.TotalCount, want)
	}
	if got.Organizations.TotalCount != 1 {
		t.Errorf("member of 3 counts %d organizations, want 1", got.Organizations.TotalCount)
	}
	// Refused before anything runs: no data, no SQL.
	res := f.srv.QueryAs(t, f.member3.token, `{ allOrganizations { id } employee(id: 1) { salary } }`, nil)
	if res.Code() != acForbid || len(res.Data) != 0 || res.Status != 403 || res.Errors[0].Extensions["field"] != "Employee.salary" {
		t.Errorf("member selecting a salary: %s", res.Raw)
	}
	// A token with no org_ids sees nothing.
	none := testsupport.Token(t, auth.RoleMember)
	f.srv.QueryAs(t, none, doc, nil).MustDecode(t, &got)
	if got.EmployeeStats.Total != 0 || got.Employees.TotalCount != 0 || got.Organizations.TotalCount != 0 {
		t.Errorf("a member of no organization counts %+v", got)
	}
}

// 200 random ids of other organizations' employees and projects, through
// every lookup and list: a member of organization 3 gets nothing of them.
func TestCrossTenantProbe(t *testing.T) {
	f := newACFixture(t)
	rng := rand.New(rand.NewPCG(19, 3))
	emps := f.db.MustQueryInt64s(t, `SELECT id FROM employees WHERE organization_id <> 3`)
	projs := f.db.MustQueryInt64s(t, `SELECT id FROM projects WHERE organization_id <> 3`)
	orgs := f.db.MustQueryInt64s(t, `SELECT id FROM organizations WHERE id <> 3`)
	pick := func(ids []int64, n int) []int64 {
		out := make([]int64, n)
		for i := range out {
			out[i] = ids[rng.IntN(len(ids))]
		}
		return out
	}
	tok := f.member3.token
	probe := func(field string, ids []int64, sel string) {
		for start := 0; start < len(ids); start += 25 {
			var b strings.Builder
			b.WriteString("{")
			for i, id := range ids[start:min(start+25, len(ids))] {
				fmt.Fprintf(&b, " a%d: %s(id: %d) %s", i, field, id, sel)
			}
			b.WriteString(" }")
			res := f.srv.QueryAs(t, tok, b.String(), nil)
			var data map[string]json.RawMessage
			res.MustDecode(t, &data)
			for k, v := range data {
				if string(v) != "null" {
					t.Errorf("%s %s: %s", field, k, v)
				}
			}
		}
	}
	probe("employee", pick(emps, 200), "{ id name }")
	probe("project", pick(projs, 200), "{ id name }")
	probe("organization", pick(orgs, 50), "{ id name }")
	// Lists filtered by another organization: empty, counted as 0.
	for _, org := range pick(orgs, 20) {
		var got struct {
			A []struct{ ID string }                 `json:"a"`
			B struct{ TotalCount int }              `json:"b"`
			C []struct{ ID string }                 `json:"c"`
			D struct{ TotalCount int }              `json:"d"`
			E []struct{ ID string }                 `json:"e"`
			F struct{ Total int }                   `json:"f"`
			G []struct{ Department string }         `json:"g"`
			H struct{ Nodes []struct{ ID string } } `json:"h"`
		}
		f.srv.QueryAs(t, tok, `query($o: ID!) { a: allEmployees(organizationId: $o) { id } b: employees(organizationId: $o) { totalCount }
			c: allProjects(organizationId: $o) { id } d: projects(organizationId: $o) { totalCount } e: employeesByOrganization(organizationId: $o) { id }
			f: employeeStats(organizationId: $o) { total } g: departmentStats(organizationId: $o) { department } h: employees(organizationId: $o, first: 100) { nodes { id } } }`,
			map[string]any{"o": fmt.Sprint(org)}).MustDecode(t, &got)
		if len(got.A)+got.B.TotalCount+len(got.C)+got.D.TotalCount+len(got.E)+got.F.Total+len(got.G)+len(got.H.Nodes) != 0 {
			t.Errorf("organization %d leaked to a member of 3: %+v", org, got)
		}
	}
	// The same ids answer an admin: the probe can fail.
	res := f.srv.QueryAs(t, f.admin.token, fmt.Sprintf(`{ employee(id: %d) { id } }`, emps[0]), nil)
	if strings.Contains(string(res.Data), "null") {
		t.Fatalf("admin does not see employee %d: %s", emps[0], res.Raw)
	}
}

// A response or aggregate cached for one scope is never served to
// another: a member of 3 warms every cacheable query, then a member of 4
// sends the same documents and sees only organization 4.
func TestCachesAreKeptPerScope(t *testing.T) {
	f := newACFixture(t, func(*testing.T) testsupport.Tweak { return testsupport.WithResponseCache })
	docs := []string{
		`{ allOrganizations { oid: id employeeCount employeeStats { total } departmentStats { department count } } }`,
		`{ organizations(first: 100) { totalCount nodes { oid: id employeeCount } } }`,
		`{ allEmployees(pageSize: 100) { id organization { oid: id } } }`,
		`{ employees(first: 100) { totalCount nodes { organization { oid: id } } } }`,
		`{ allProjects(pageSize: 100) { organization { oid: id } } }`,
		`{ projects(first: 100) { totalCount nodes { organization { oid: id } } } }`,
		`{ employeeStats { total } departmentStats { department count } }`,
		`{ organization(id: 3) { oid: id employeeCount } }`,
	}
	m3 := f.member3
	m4 := acWho{"member of 4", testsupport.Token(t, auth.RoleMember, 4), []int64{4}}
	first := map[string][]byte{}
	for _, doc := range docs {
		f.srv.ReadAs(t, m3.token, doc, nil)
		res := f.srv.ReadAs(t, m3.token, doc, nil)
		if res.Header.Get("X-Orgpulse-Cache") != "hit" {
			t.Fatalf("the member of 3 did not warm %s: %s", doc, res.Header.Get("X-Orgpulse-Cache"))
		}
		first[doc] = res.Data
	}
	for _, doc := range docs {
		res := f.srv.ReadAs(t, m4.token, doc, nil)
		if len(res.Errors) > 0 {
			t.Fatalf("%s: %s", doc, res.Raw)
		}
		if got := res.Header.Get("X-Orgpulse-Cache"); got != "miss" {
			t.Errorf("%s: the member of 4 got %q, want miss", doc, got)
		}
		for _, id := range acOIDs(t, res.Data) {
			if id != 4 {
				t.Errorf("%s: the member of 4 saw organization %d: %s", doc, id, res.Raw)
			}
		}
		if strings.Contains(doc, "organization(id: 3)") {
			if string(res.Data) != `{"organization":null}` {
				t.Errorf("the member of 4 got organization 3: %s", res.Raw)
			}
		} else if string(res.Data) == string(first[doc]) {
			t.Errorf("%s: the member of 4 got the member of 3's answer: %s", doc, res.Raw)
		}
	}
}

// Subscriptions: each event is filtered by the subscriber's scope (a
// member of 3 never gets an event of organization 4, even unfiltered),
// forbidden fields and the performance feeds are refused at subscribe, and
// the socket is closed with 4403 when the token expires.
func TestSubscriptionsByScope(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartLiveServer(t, db, testsupport.LiveOptions{
		Tweak: func(s *server.Config, _ *resolvers.Config, _ *realtime.Config) { s.AnonymousRole = auth.RoleNone },
	})
	emp3 := db.MustQueryInt64(t, `SELECT min(id) FROM employees WHERE organization_id = 3`)
	emp4 := db.MustQueryInt64(t, `SELECT min(id) FROM employees WHERE organization_id = 4`)
	proj3 := db.MustQueryInt64(t, `SELECT min(id) FROM projects WHERE organization_id = 3`)
	proj4 := db.MustQueryInt64(t, `SELECT min(id) FROM projects WHERE organization_id = 4`)

	member := testsupport.DialWS(t, srv.WSURL, testsupport.WSDialOptions{})
	member.Init(map[string]any{"Authorization": "Bearer " + testsupport.Token(t, auth.RoleMember, 3)})
	member.Subscribe("emp", `subscription { employeeChanged { action organizationId employee { id name } } }`, nil)
	member.Subscribe("org", `subscription { organizationUpdated { id } }`, nil)
	member.Subscribe("proj", `subscription { projectUpdated { id organization { id } } }`, nil)
	member.Subscribe("salary", `subscription { employeeChanged { employee { salary } } }`, nil)
	member.Subscribe("metric", `subscription { metricRecorded { value } }`, nil)
	member.Subscribe("summary", `subscription { performanceSummaryUpdated(metricType: "api_response") { count } }`, nil)
	for _, id := range []string{"salary", "metric", "summary"} {
		m := member.NextFor(id, 5*time.Second)
		if m.Type != "error" || !strings.Contains(string(m.Payload), acForbid) {
			t.Errorf("%s: got %s %s, want a FORBIDDEN error", id, m.Type, m.Payload)
		}
	}
	member.Sync()

	admin := srv.Server
	mutate := func(doc string, vars map[string]any) {
		t.Helper()
		if res := admin.QueryAs(t, testsupport.APIToken, doc, vars); len(res.Errors) > 0 {
			t.Fatalf("%s: %s", doc, res.Raw)
		}
	}
	// Organization 4 first, then 3: the first event the member gets must
	// be organization 3's.
	for _, ids := range [][2]int64{{emp4, proj4}, {emp3, proj3}} {
		mutate(`mutation($id: ID!) { updateEmployee(id: $id, input: {title: "Probe"}) { id } }`, map[string]any{"id": fmt.Sprint(ids[0])})
		mutate(`mutation($id: ID!) { updateProject(id: $id, input: {description: "Probe"}) { id } }`, map[string]any{"id": fmt.Sprint(ids[1])})
	}
	for _, tt := range []struct{ id, want string }{
		{"emp", fmt.Sprintf(`"organizationId":"3","employee":{"id":"%d"`, emp3)},
		{"proj", fmt.Sprintf(`{"projectUpdated":{"id":"%d","organization":{"id":"3"}}}`, proj3)},
	} {
		m := member.NextFor(tt.id, 5*time.Second)
		if m.Type != "next" || !strings.Contains(string(m.Payload), tt.want) {
			t.Errorf("%s: got %s %s, want %s", tt.id, m.Type, m.Payload, tt.want)
		}
	}
	mutate(`mutation { updateOrganization(id: 4, input: {industry: "Probe"}) { id } }`, nil)
	mutate(`mutation { updateOrganization(id: 3, input: {industry: "Probe"}) { id } }`, nil)
	if m := member.NextFor("org", 5*time.Second); !strings.Contains(string(m.Payload), `{"organizationUpdated":{"id":"3"}}`) {
		t.Errorf("org: got %s %s, want organization 3", m.Type, m.Payload)
	}
	member.Sync()
	if m, ok := member.TryNext(300 * time.Millisecond); ok {
		t.Errorf("the member of 3 got more: %s %s %s", m.ID, m.Type, m.Payload)
	}

	// A token that expires closes the socket with 4403. exp lies within
	// the leeway in the past: the token is valid for one more second.
	short := testsupport.TokenWith(t, auth.IssueConfig{Role: auth.RoleMember, OrgIDs: []int64{3},
		TTL: time.Second, Now: time.Now().Add(-auth.Leeway)})
	c := testsupport.DialWS(t, srv.WSURL, testsupport.WSDialOptions{})
	c.Init(map[string]any{"Authorization": "Bearer " + short})
	c.Subscribe("emp", `subscription { employeeChanged { action } }`, nil)
	c.Sync()
	if code, reason := c.WaitClosed(10 * time.Second); code != 4403 {
		t.Errorf("the socket of an expired token closed with %d %q, want 4403", code, reason)
	}
}
