package server

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	graphql "github.com/graph-gophers/graphql-go"
	gqlerrors "github.com/graph-gophers/graphql-go/errors"

	"orgpulse/schema"
)

// testSchema is the service's schema without resolvers and without
// graphql-go's limits: what FuzzCost compares the parser against.
func testSchema(tb testing.TB) (*graphql.Schema, *schemaInfo) {
	tb.Helper()
	s, err := graphql.ParseSchema(schema.String(), nil, graphql.UseStringDescriptions())
	if err != nil {
		tb.Fatal(err)
	}
	return s, newSchemaInfo(s.AST())
}

// checkDoc parses doc and measures its operation as the server does.
func checkDoc(si *schemaInfo, doc, opName string, vars map[string]any, lim limits) (opStats, *refusal) {
	d := parseDocument(doc, opName)
	if d.refused != nil {
		return opStats{}, d.refused
	}
	return si.check(d, vars, lim)
}

var testLimits = limits{MaxDepth: 10, MaxSelections: DefaultMaxSelections, MaxAliases: DefaultMaxAliases, MaxCost: DefaultMaxCost, Introspection: true}

// graphiqlIntrospection is the query GraphiQL 3 sends (graphql-js 16's
// getIntrospectionQuery, inputValueDeprecation on): TypeRef nests ofType
// nine levels.
var graphiqlIntrospection = func() string {
	typeRef := "kind name"
	for i := 0; i < 9; i++ {
		typeRef = "kind name ofType { " + typeRef + " }"
	}
	return `query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args(includeDeprecated: true) { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args(includeDeprecated: true) { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue isDeprecated deprecationReason }
fragment TypeRef on __Type { ` + typeRef + ` }`
}()

func TestCostModel(t *testing.T) {
	_, si := testSchema(t)
	tests := []struct {
		name    string
		doc     string
		op      string
		vars    map[string]any
		cost    int64
		depth   int
		aliases int
	}{
		{name: "default page", doc: `{ allEmployees { name } }`, cost: 20, depth: 2},
		{name: "scalars cost nothing", doc: `{ employeeStats { total } }`, cost: 1, depth: 2},
		{name: "explicit page", doc: `{ allEmployees(pageSize: 50) { name organization { name } } }`, cost: 100, depth: 3},
		{name: "page capped at the resolvers' maximum", doc: `{ allEmployees(pageSize: 100000) { name } }`, cost: 100, depth: 2},
		{name: "negative page", doc: `{ allEmployees(pageSize: -5) { name } }`, cost: 0, depth: 2},
		{name: "issue example", doc: `{ allEmployees(pageSize: 100) { projects { teamMembers { projects { teamMembers { name } } } } } }`,
			cost: 100 + 500 + 5000 + 25000 + 250000, depth: 6},
		{name: "connection passes its page to edges and nodes",
			doc:  `{ employees(first: 50) { totalCount pageInfo { hasNextPage } edges { cursor node { name } } nodes { name } } }`,
			cost: 1 + 1 + 50 + 50 + 50, depth: 4},
		{name: "connection default page", doc: `{ organizations { nodes { employees { nodes { projects { name } } } } } }`,
			cost: 1 + 20 + 20 + 20*50 + 20*50*5, depth: 6},
		{name: "fixed estimates", doc: `{ allOrganizations { projects { teamMembers { name } } departmentStats { count } } departmentStats { count } employeesByOrganization(organizationId: 1) { name } }`,
			cost: 100 + 2000 + 20000 + 1000 + 10 + 1000, depth: 4},
		{name: "limit argument", doc: `{ slowestEndpoints(limit: 7) { value } }`, cost: 7, depth: 2},
		{name: "variable from the request", doc: `query($n: Int) { allEmployees(pageSize: $n) { name } }`, vars: map[string]any{"n": int32(3)}, cost: 3, depth: 2},
		{name: "variable default", doc: `query($n: Int = 7) { allEmployees(pageSize: $n) { name } }`, cost: 7, depth: 2},
		{name: "variable null takes the SDL default", doc: `query($n: Int) { allEmployees(pageSize: $n) { name } }`, vars: map[string]any{"n": nil}, cost: 20, depth: 2},
		{name: "variable missing takes the SDL default", doc: `query($n: Int) { allEmployees(pageSize: $n) { name } }`, cost: 20, depth: 2},
		{name: "fragments and inline fragments", doc: `query Q { ...F ... on Query { allEmployees(pageSize: 2) { ...E } } }
			fragment F on Query { allOrganizations { name } }
			fragment E on Employee { projects { name } }`, op: "Q", cost: 100 + 2 + 10, depth: 3},
		{name: "aliases", doc: `{ a: allEmployees { name } b: allEmployees { n: name } }`, cost: 40, depth: 2, aliases: 3},
		{name: "aliases in an expanded fragment count each time", doc: `{ x: employee(id: 1) { ...F } y: employee(id: 2) { ...F } } fragment F on Employee { a: name b: email }`,
			cost: 2, depth: 2, aliases: 6},
		{name: "strings, comments and directives skipped", doc: "# { allEmployees }\n{ allEmployees(department: \"}{\\\"#\", isActive: true) @include(if: true) { name @skip(if: false) } desc: employeeStats(department: \"\"\"\n}\n\"\"\") { total } }",
			cost: 21, depth: 2, aliases: 1},
		{name: "operation chosen by name", doc: `query A { allEmployees { name } } query B { allOrganizations { name } }`, op: "B", cost: 100, depth: 2},
		{name: "mutation", doc: `mutation { createOrganization(input: {name: "x"}) { id employees(first: 5) { nodes { id } } } }`, cost: 1 + 1 + 5, depth: 4},
		{name: "introspection costs nothing and ofType chains add no depth", doc: graphiqlIntrospection, depth: 6},
		{name: "introspection's lists still count depth", doc: `{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }`, depth: 8},
		{name: "leading byte order mark", doc: "\ufeff{ allEmployees(pageSize: 3) { name } }", cost: 3, depth: 2},
		{name: "ignored tokens", doc: "\ufeff{,\r\n\tallEmployees(pageSize: 3,),\ufeff{ name,},} # c\r", cost: 3, depth: 2},
	}
	lim := testLimits
	lim.MaxCost = 0 // measure only
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, r := checkDoc(si, tt.doc, tt.op, tt.vars, lim)
			if r != nil {
				t.Fatalf("refusal %+v", r)
			}
			if st.Cost != tt.cost || st.Depth != tt.depth || st.Aliases != tt.aliases {
				t.Errorf("got cost %d depth %d aliases %d, want cost %d depth %d aliases %d",
					st.Cost, st.Depth, st.Aliases, tt.cost, tt.depth, tt.aliases)
			}
		})
	}
}

// chain is a document whose fragments expand to 2^n copies of a field.
func chain(n int) string {
	var b strings.Builder
	b.WriteString("{ ...F0 }\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "fragment F%d on Query { ...F%d ...F%d }\n", i, i+1, i+1)
	}
	fmt.Fprintf(&b, "fragment F%d on Query { __typename }\n", n)
	return b.String()
}

func TestLimitRefusals(t *testing.T) {
	_, si := testSchema(t)
	deep := "{ employee(id: 1) { projects { teamMembers { projects { teamMembers { projects { teamMembers { projects { teamMembers { projects { name } } } } } } } } } } }"
	aliases := "{"
	for i := 0; i < 31; i++ {
		aliases += fmt.Sprintf(" a%d: __typename", i)
	}
	aliases += " }"
	tests := []struct {
		name, doc string
		lim       limits
		code      string
	}{
		{"depth", deep, testLimits, CodeDepthLimit},
		{"selections", "{" + strings.Repeat(" __typename", 1001) + " }", testLimits, CodeTooManySels},
		{"exponential fragments", chain(40), testLimits, CodeTooManySels},
		{"aliases", aliases, testLimits, CodeTooManyAliases},
		{"cost", `{ allEmployees(pageSize: 100) { projects { teamMembers { projects { teamMembers { name } } } } } }`, testLimits, CodeCostLimit},
		{"introspection off", `{ __type(name: "Query") { name } }`, limits{MaxCost: 10, Introspection: false}, CodeIntrospectionOff},
		{"integer beyond 64 bits", `mutation { recordMetric(input: {metricType: "database", value: 99999999999999999999}) { id } }`, testLimits, "BAD_USER_INPUT"},
		{"integer with underscores", `{ allEmployees(pageSize: 1_0) { id } }`, testLimits, CodeParseFailed},
		{"hexadecimal integer", `{ allEmployees(pageSize: 0x10) { id } }`, testLimits, CodeParseFailed},
		{"depth behind a byte order mark", "\ufeff" + deep, testLimits, CodeDepthLimit},
		{"aliases behind a byte order mark", "\ufeff" + aliases, testLimits, CodeTooManyAliases},
		{"non-ASCII alias", "{ é: __typename }", testLimits, CodeParseFailed},
		{"spread dots apart", "{ ... on Query { __typename } . . . F } fragment F on Query { __typename }", testLimits, CodeParseFailed},
		{"integer beyond 64 bits in a variable default", `query($v: Float = -99999999999999999999) { __typename }`, testLimits, "BAD_USER_INPUT"},
		// Escapes graphql-go's scanner accepts and strconv.Unquote does not:
		// graphql-go panics on them.
		{"octal escape beyond a byte in a description", `"\700"`, testLimits, "GRAPHQL_PARSE_FAILED"},
		{"escape beyond Unicode in a variable default", `query($s: String = "\U00110000") { __typename }`, testLimits, "GRAPHQL_PARSE_FAILED"},
		{"bad escape before a syntax error", `"\777" query {`, testLimits, "GRAPHQL_PARSE_FAILED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, r := checkDoc(si, tt.doc, "", nil, tt.lim)
			if r == nil {
				t.Fatalf("not refused")
			}
			if r.Code != tt.code {
				t.Errorf("code %s, want %s: %s", r.Code, tt.code, r.Message)
			}
		})
	}
	// The refusal names the cost and the budget.
	_, r := checkDoc(si, `{ allEmployees(pageSize: 100) { projects { teamMembers { projects { name } } } } }`, "", nil, limits{MaxCost: 1000})
	if r == nil || r.Ext["cost"] != int64(30600) || r.Ext["budget"] != int64(1000) || !strings.Contains(r.Message, "30600") {
		t.Errorf("cost refusal: %+v", r)
	}
}

// TestDivergentDocumentsAreRefused: documents that graphql-go reads
// otherwise than the spec, each of which graphql-go accepts, are refused.
// The last two run a mutation in graphql-go where the spec reads a query
// named M.
func TestDivergentDocumentsAreRefused(t *testing.T) {
	s, _ := testSchema(t)
	for _, tt := range []struct{ doc, op string }{
		{`mutation { recordMetric(input: {metricType: "x""""", value: 1}) { id } }`, ""},
		{`mutation { createOrganization(input: {name: "0"""""}) { id } }`, ""},
		{"mutation { createOrganization(input: {name: \"\"\"a\\\"\"\"}) { id } }", ""},
		{`query X { employees(department: """\""") { totalCount } } mutation M { deleteEmployee(id: 6) } #""") { totalCount } } query M { __typename }`, "M"},
		{`query X { employees(department: ["x""", "]) { totalCount } } mutation M { deleteEmployee(id: 6) } #"""]) { totalCount } } query M { __typename }`, "M"},
	} {
		if errs, panicked := validate(s, tt.doc); panicked != nil || len(errs) > 0 {
			t.Fatalf("%s: graphql-go does not accept it (%v %v): not a divergence", tt.doc, errs, panicked)
		}
		d := parseDocument(tt.doc, tt.op)
		if d.refused == nil || d.refused.Code != CodeParseFailed {
			t.Errorf("%s: kind %q, refusal %+v, want %s", tt.doc, d.kind, d.refused, CodeParseFailed)
		}
	}
}

func TestUnparsableDocumentsAreRefused(t *testing.T) {
	for _, tt := range []struct{ doc, op string }{
		{``, ""}, {`{`, ""}, {`{ }`, ""}, {`query Q(`, ""}, {`fragment F on X`, ""}, {`{ a(x: ) }`, ""}, {"{ a }}", ""},
		{`{ "unterminated }`, ""}, {`"""`, ""}, {"{ a \x00 }", ""}, {"{ a \xff }", ""}, {"{ a }\u00a0", ""},
		{`query A { a } query B { b }`, ""}, {`query A { a }`, "B"}, {`{ a }`, "A"}, {`query A { a } query A { b }`, "A"},
		{"# only a comment", ""},
	} {
		if d := parseDocument(tt.doc, tt.op); d.refused == nil || d.kind != "" {
			t.Errorf("%q (operationName %q): kind %q refusal %+v, want a refusal", tt.doc, tt.op, d.kind, d.refused)
		}
	}
}

// FuzzCost: the parse and the walk never panic, every refusal has a code,
// and graphql-go never panics on a document the analyser admits.
func FuzzCost(f *testing.F) {
	s, si := testSchema(f)
	for _, seed := range []string{
		`{ allEmployees(pageSize: 100) { projects { teamMembers { name } } } }`,
		`query Q($n: Int = 3) { employees(first: $n) { edges { cursor node { ...E } } } } fragment E on Employee { a: name projects { ... on Project { id } } }`,
		"mutation M { createOrganization(input: {name: \"x\", industry: \"\"\"y\"\"\"}) { id } } # c",
		graphiqlIntrospection,
		chain(12),
		`{ organization(id: "1") { departmentStats { department } projects(status: "active") { teamSize } } }`,
	} {
		f.Add(seed, "")
	}
	lim := testLimits
	lim.MaxSelections = 200
	f.Fuzz(func(t *testing.T, doc, opName string) {
		st, r := checkDoc(si, doc, opName, map[string]any{"n": int32(5)}, lim)
		if r != nil && r.Code == "" {
			t.Fatalf("refusal without a code: %+v", r)
		}
		if st.Cost < 0 || st.Selections < 0 || st.Depth < 0 {
			t.Fatalf("negative stats %+v", st)
		}
		if r != nil || len(doc) > 4096 {
			return
		}
		if _, panicked := validate(s, doc); panicked != nil {
			t.Fatalf("graphql-go panics (%v) on a document the analyser admits", panicked)
		}
	})
}

// validate is s.Validate, recovering graphql-go's panics.
func validate(s *graphql.Schema, doc string) (errs []*gqlerrors.QueryError, panicked any) {
	defer func() { panicked = recover() }()
	return s.Validate(doc), nil
}

// TestFuzzCorpusPresent keeps the seed corpora in testdata/fuzz.
func TestFuzzCorpusPresent(t *testing.T) {
	for _, name := range []string{"FuzzCost", "FuzzGraphQLHandler", "FuzzParsersAgree"} {
		files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", name, "*"))
		if len(files) == 0 {
			t.Errorf("no seed corpus in testdata/fuzz/%s", name)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil || !strings.HasPrefix(string(b), "go test fuzz v1\n") {
				t.Errorf("%s: not a go fuzz corpus file", f)
			}
		}
	}
}
