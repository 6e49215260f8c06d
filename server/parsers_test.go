package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	graphql "github.com/graph-gophers/graphql-go"
	gqlerrors "github.com/graph-gophers/graphql-go/errors"
	"github.com/graph-gophers/graphql-go/introspection"
	"github.com/graph-gophers/graphql-go/trace/tracer"
)

// Two parsers read every request: gqlparser, whose parse decides what runs
// (document.go), and graphql-go's, which runs it. FuzzParsersAgree feeds
// both the same documents and executes them in graphql-go against a small
// schema whose every field resolves (so a document runs as deep as it is
// written), tracing what graphql-go really runs: the operation's name, its
// root type, the deepest field. Whenever graphql-go runs a document the
// analyser admitted, those must be what the analyser read. A document the
// analyser refuses is fine whatever graphql-go does: refusing is the safe
// side.
//
//	go test -run '^$' -fuzz '^FuzzParsersAgree$' -fuzztime 30s ./server/

const agreeSDL = `
schema { query: Query mutation: Mutation subscription: Subscription }
type Query {
	node: Node
	nodes(first: Int): [Node!]!
	s(a: String, i: Int, f: Float, b: Boolean, l: [String], o: In, e: E): String
}
type Mutation {
	change: Node
	set(a: String, i: Int): String
}
type Subscription { tick: Node }
type Node {
	id: ID!
	child: Node
	children(first: Int): [Node!]!
	s(a: String, i: Int, f: Float, l: [Int], o: In): String
}
input In { a: String, i: Int, l: [In] }
enum E { A B }
`

type agreeIn struct {
	A *string
	I *int32
	L *[]*agreeIn
}

type agreeArgs struct {
	A *string
	I *int32
	F *float64
	B *bool
	L *[]*string
	O *agreeIn
	E *string
}

type agreeRoot struct{}

func (*agreeRoot) Node() *agreeNode                          { return &agreeNode{} }
func (*agreeRoot) Nodes(struct{ First *int32 }) []*agreeNode { return []*agreeNode{{}} }
func (*agreeRoot) S(agreeArgs) *string                       { return nil }
func (*agreeRoot) Change() *agreeNode                        { return &agreeNode{} }
func (*agreeRoot) Set(struct {
	A *string
	I *int32
}) *string {
	return nil
}
func (*agreeRoot) Tick(ctx context.Context) <-chan *agreeNode { return make(chan *agreeNode) }

type agreeNode struct{}

func (*agreeNode) ID() graphql.ID                               { return "1" }
func (*agreeNode) Child() *agreeNode                            { return &agreeNode{} }
func (*agreeNode) Children(struct{ First *int32 }) []*agreeNode { return []*agreeNode{{}} }
func (*agreeNode) S(struct {
	A *string
	I *int32
	F *float64
	L *[]*int32
	O *agreeIn
}) *string {
	return nil
}

// agreeRun is what graphql-go ran for one document.
type agreeRun struct {
	mu       sync.Mutex
	ran      bool
	name     string // the operation's name, as graphql-go traces it
	rootType string // the type of the root fields: Query, Mutation
	depth    int    // the deepest field run, not counting introspection's
}

type agreeRunKey struct{}

// agreeBudget is the selections the fuzz expands, as the server's
// MaxSelections.
const agreeBudget = DefaultMaxSelections

type agreeDepthKey struct{}

// agreeTracer records an agreeRun from graphql-go's tracing hooks: the
// depth of a field is its parent's plus one, carried in the context.
type agreeTracer struct{}

func (agreeTracer) TraceQuery(ctx context.Context, _ string, opName string, _ map[string]any, _ map[string]*introspection.Type) (context.Context, tracer.QueryFinishFunc) {
	if r, ok := ctx.Value(agreeRunKey{}).(*agreeRun); ok {
		r.mu.Lock()
		r.ran, r.name = true, opName
		r.mu.Unlock()
	}
	return context.WithValue(ctx, agreeDepthKey{}, 0), func([]*gqlerrors.QueryError) {}
}

func (agreeTracer) TraceField(ctx context.Context, _, typeName, fieldName string, _ bool, _ map[string]any) (context.Context, tracer.FieldFinishFunc) {
	depth, _ := ctx.Value(agreeDepthKey{}).(int)
	depth++
	if r, ok := ctx.Value(agreeRunKey{}).(*agreeRun); ok {
		r.mu.Lock()
		if depth == 1 {
			r.rootType = typeName
		}
		if depth > r.depth && !strings.HasPrefix(typeName, "__") && !strings.HasPrefix(fieldName, "__") {
			r.depth = depth
		}
		r.mu.Unlock()
	}
	return context.WithValue(ctx, agreeDepthKey{}, depth), func(*gqlerrors.QueryError) {}
}

func agreeSchema(tb testing.TB) (*graphql.Schema, *schemaInfo) {
	tb.Helper()
	// graphql-go's MaxSelections bounds a fragment bomb the analyser
	// would not see (it never should: then the fuzz finds it).
	s, err := graphql.ParseSchema(agreeSDL, &agreeRoot{}, graphql.Tracer(agreeTracer{}), graphql.MaxParallelism(1),
		graphql.MaxSelections(4*agreeBudget))
	if err != nil {
		tb.Fatal(err)
	}
	return s, newSchemaInfo(s.AST())
}

// runAgree executes doc in graphql-go; subscription is true when graphql-go
// validated it as a subscription (Exec refuses to run those).
func runAgree(s *graphql.Schema, doc, opName string) (run *agreeRun, subscription bool, panicked any) {
	run = &agreeRun{}
	defer func() {
		if v := recover(); v != nil {
			panicked = v
		}
	}()
	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), agreeRunKey{}, run), 5*time.Second)
	defer cancel()
	res := s.Exec(ctx, doc, opName, nil)
	for _, e := range res.Errors {
		if strings.Contains(e.Message, "panic") {
			return run, false, e.Message
		}
		if e.Message == "graphql-ws protocol header is missing" {
			subscription = true
		}
	}
	return run, subscription, nil
}

func FuzzParsersAgree(f *testing.F) {
	s, si := agreeSchema(f)
	for _, seed := range agreeSeeds() {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, doc, opName string) {
		if len(doc) > 4096 {
			return
		}
		d := parseDocument(doc, opName)
		if d.refused != nil {
			return // refused before graphql-go sees it
		}
		// The server refuses more selections than its limit; a document
		// that expands beyond it (a fragment bomb) is not run here either,
		// where graphql-go would take exponential time.
		st := si.measure(d, nil, agreeBudget)
		if st.Truncated {
			return
		}
		run, subscription, panicked := runAgree(s, doc, opName)
		if panicked != nil {
			t.Fatalf("graphql-go panics (%v) on a document the analyser admits", panicked)
		}
		if subscription {
			if d.kind != "subscription" {
				t.Fatalf("graphql-go reads a subscription, the analyser a %s", d.kind)
			}
			return
		}
		if !run.ran {
			return // graphql-go refused it: nothing ran
		}
		if run.rootType != "" && strings.ToLower(run.rootType) != d.kind {
			t.Fatalf("graphql-go runs a %s, the analyser read a %s", strings.ToLower(run.rootType), d.kind)
		}
		if run.name != d.name {
			t.Fatalf("graphql-go runs the operation %q, the analyser read %q", run.name, d.name)
		}
		if !st.Introspection && run.depth > st.Depth {
			t.Fatalf("graphql-go runs fields %d deep, the analyser measured %d", run.depth, st.Depth)
		}
	})
}

// TestParsersAgreeOnSeeds runs the differential check on its seeds in
// every test run, and checks the check can fail: a document graphql-go
// reads otherwise is admitted when divergence is skipped.
func TestParsersAgreeOnSeeds(t *testing.T) {
	s, _ := agreeSchema(t)
	doc := `query X { s(a: """\""") } mutation M { change { id } } #""") } query M { node { id } }`
	qd := parseDocument(doc, "M")
	if qd.refused == nil {
		t.Fatalf("the divergent document is admitted as a %s", qd.kind)
	}
	run, _, _ := runAgree(s, doc, "M")
	if !run.ran || run.rootType != "Mutation" {
		t.Fatalf("graphql-go no longer runs the mutation of %s (%+v): pick another divergence", doc, run)
	}
}

// unicodeSpaces are the characters Unicode calls white space (and the
// zero-width ones often taken for it). The spec ignores only tab, space,
// the line terminators, the comma and the byte order mark.
var unicodeSpaces = []rune{
	'\t', '\n', '\v', '\f', '\r', ' ', 0x85, 0xA0, 0x1680, 0x180E,
	0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200A,
	0x200B, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF,
}

// agreeSeeds are FuzzParsersAgree's seeds (also in
// testdata/fuzz/FuzzParsersAgree, written by TestWriteAgreeCorpus): byte
// order marks, escapes, comments, commas, block strings, every Unicode
// space between tokens, and the divergences document.go refuses.
func agreeSeeds() [][2]string {
	seeds := [][2]string{
		{"\ufeffmutation { change { id } }", ""},
		{"\ufeff\ufeffquery Q { node { child { child { id } } } }", "Q"},
		{"{ node { id } }\ufeff", ""},
		{"query A { node { id } } \ufeff mutation B { change { id } }", "B"},
		{`{ s(a: "\u0041\u00e9\uD83D\uDE00\u{1F600}") }`, ""},
		{`{ s(a: "\uD800") }`, ""},
		{`{ s(a: "\"\\\/\b\f\n\r\t") }`, ""},
		{`{ s(a: "\x41\101\U0001F600") }`, ""},
		{"# mutation { change { id } }\n{ node { id } }", ""},
		{"# comment\rmutation { change { id } }", ""},
		{"{ node { id } } # \"\"\" \\u0041\nmutation M { change { id } }", "M"},
		{",,{,node,{,id,},},,", ""},
		{`{ s(a: """block "" \""" string""") }`, ""},
		{`{ s(a: """a""""), node { id } }`, ""},
		{`{ s(l: ["x""", "y"]) }`, ""},
		{`query X { s(a: """\""") } mutation M { change { id } } #""") } query M { node { id } }`, "M"},
		{`query X { s(l: ["x""", "]) } mutation M { change { id } } #"""]) } query M { node { id } }`, "M"},
		{"{ s(i: 0x10, f: 1_0) }", ""},
		{"{ s(f: 1.e5) node { . . . on Node { id } } }", ""},
		{"{ é: node { id } }", ""},
		{"{ s(i: 99999999999999999999) }", ""},
		{"query($v: Float = -99999999999999999999) { s(f: $v) }", ""},
		{"subscription S { tick { id } }", "S"},
		{"query Q { node { ...F } } fragment F on Node { child { child { ...G } } } fragment G on Node { children(first: 2) { id } }", "Q"},
	}
	for _, r := range unicodeSpaces {
		sp := string(r)
		seeds = append(seeds,
			[2]string{sp + "mutation" + sp + "M" + sp + "{" + sp + "change" + sp + "{" + sp + "id" + sp + "}" + sp + "}" + sp, ""},
			[2]string{"query Q { node" + sp + "{ child { id } } }", "Q"},
			[2]string{"{ s(a: \"x" + sp + "y\") } #" + sp + "\nmutation { change { id } }", ""},
		)
	}
	return seeds
}

// TestWriteAgreeCorpus writes agreeSeeds as FuzzParsersAgree's corpus when
// ORGPULSE_WRITE_CORPUS=1.
func TestWriteAgreeCorpus(t *testing.T) {
	if os.Getenv("ORGPULSE_WRITE_CORPUS") != "1" {
		t.Skip("set ORGPULSE_WRITE_CORPUS=1 to rewrite testdata/fuzz/FuzzParsersAgree")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzParsersAgree")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range agreeSeeds() {
		body := fmt.Sprintf("go test fuzz v1\nstring(%q)\nstring(%q)\n", s[0], s[1])
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%03d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
