package server

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/graph-gophers/graphql-go/ast"

	"orgpulse/resolvers"
)

// Query limits are checked here, before graphql-go executes anything.
// graphql-go does not expose the document it parses, so this file holds a
// small parser of executable documents (operations, fragments, selection
// sets, arguments, variables; strings, block strings, comments and
// directives skipped) and a walk of the operation that would run, typed
// against the schema's AST. The parser is deliberately lenient: it accepts
// every document graphql-go accepts (FuzzCost checks it) and some it does
// not; a document it cannot parse is left to graphql-go, whose MaxDepth,
// MaxSelections and MaxQueryLength stay on as a backstop.

// Limit error codes (extensions.code).
const (
	CodeDepthLimit       = "DEPTH_LIMIT_EXCEEDED"
	CodeQueryTooLong     = "QUERY_TOO_LONG"
	CodeTooManySels      = "TOO_MANY_SELECTIONS"
	CodeTooManyAliases   = "TOO_MANY_ALIASES"
	CodeCostLimit        = "COST_LIMIT_EXCEEDED"
	CodeVariablesTooBig  = "VARIABLES_TOO_LARGE"
	CodeIntrospectionOff = "INTROSPECTION_DISABLED"
)

// Defaults of the limits (server.Config fields, main.go flags).
const (
	DefaultMaxQueryLength    = 20000
	DefaultMaxSelections     = 1000
	DefaultMaxAliases        = 30
	DefaultMaxCost           = 100000
	DefaultMaxVariablesBytes = 64 << 10
)

// fixedListEstimates are the sizes assumed for list fields that take no
// page argument: what the seed data and the resolvers' own caps suggest.
var fixedListEstimates = map[string]int64{
	"Project.teamMembers":           10,
	"Employee.projects":             5,
	"Organization.projects":         20,
	"Organization.departmentStats":  10,
	"Query.allOrganizations":        100,
	"Query.departmentStats":         10,
	"Query.employeesByOrganization": 1000,
}

// defaultListEstimate is the size of any other list without page argument.
const defaultListEstimate = 10

// pageArgs are the arguments that bound a list's length, and are capped
// at resolvers.MaxPageSize by the resolvers (a larger value is refused by
// them with BAD_USER_INPUT, so the estimate caps it too).
var pageArgs = []string{"first", "pageSize", "limit"}

// maxParserNesting mirrors graphql-go's parser limit on nested selection
// sets, lists and objects.
const maxParserNesting = 1000

// costCap keeps cost arithmetic far from overflow.
const costCap = int64(1) << 50

// fieldInfo is what the walk needs to know about one field of one type.
type fieldInfo struct {
	typeName    string // the named type, without list or non-null
	list        bool
	composite   bool   // an object, interface or union: it costs
	pageArg     string // first, pageSize or limit, when the field takes one
	pageDefault int64  // the page argument's SDL default, or the fixed estimate
}

// schemaInfo is the schema's AST reduced to field types and page sizes.
type schemaInfo struct {
	types map[string]map[string]*fieldInfo // type name → field name → info
	roots map[string]string                // "query" → "Query"
}

func newSchemaInfo(s *ast.Schema) *schemaInfo {
	si := &schemaInfo{types: map[string]map[string]*fieldInfo{}, roots: map[string]string{}}
	for op, t := range s.RootOperationTypes {
		si.roots[op] = t.TypeName()
	}
	for name, t := range s.Types {
		var fields ast.FieldsDefinition
		switch t := t.(type) {
		case *ast.ObjectTypeDefinition:
			fields = t.Fields
		case *ast.InterfaceTypeDefinition:
			fields = t.Fields
		default:
			continue
		}
		m := make(map[string]*fieldInfo, len(fields))
		for _, f := range fields {
			fi := &fieldInfo{}
			typ := f.Type
		unwrap:
			for {
				switch tt := typ.(type) {
				case *ast.NonNull:
					typ = tt.OfType
				case *ast.List:
					fi.list = true
					typ = tt.OfType
				default:
					break unwrap
				}
			}
			switch tt := typ.(type) {
			case *ast.TypeName:
				fi.typeName = tt.Name
			case ast.NamedType:
				fi.typeName = tt.TypeName()
			}
			switch s.Types[fi.typeName].(type) {
			case *ast.ObjectTypeDefinition, *ast.InterfaceTypeDefinition, *ast.Union:
				fi.composite = true
			}
			for _, a := range pageArgs {
				if arg := f.Arguments.Get(a); arg != nil {
					fi.pageArg = a
					if arg.Default != nil {
						if n, ok := intOf(arg.Default.Deserialize(nil)); ok {
							fi.pageDefault = n
						}
					}
					break
				}
			}
			if fi.pageArg == "" && fi.list {
				fi.pageDefault = defaultListEstimate
				if n, ok := fixedListEstimates[name+"."+f.Name]; ok {
					fi.pageDefault = n
				}
			}
			m[f.Name] = fi
		}
		si.types[name] = m
	}
	return si
}

// limits are the bounds an operation must stay within.
type limits struct {
	MaxDepth, MaxSelections, MaxAliases int
	MaxCost                             int64
	Introspection                       bool
}

// refusal is a request refused before execution.
type refusal struct {
	Code    string
	Message string
	Ext     map[string]any // extra extensions, e.g. cost and budget
}

// opStats measures the operation that would run.
type opStats struct {
	Kind, Name    string
	Selections    int    // fields, fragment spreads and inline fragments after expansion
	Aliases       int    // explicit aliases after expansion
	Depth         int    // deepest field; ofType chains under introspection add none
	Cost          int64  // estimated nodes
	Introspection bool   // selects __schema or __type
	BadLiteral    string // an integer or string literal graphql-go would panic on
	Truncated     bool   // Selections passed the walk's budget: the other numbers are partial
}

// check refuses an operation that breaks a limit. ok is false when the
// document could not be analysed (graphql-go will say why); then st is
// zero and r nil.
func (si *schemaInfo) check(doc, opName string, vars map[string]any, lim limits) (st opStats, ok bool, r *refusal) {
	d, err := parseDocument(doc)
	if d.badString != "" {
		return opStats{BadLiteral: d.badString}, true, &refusal{Code: "GRAPHQL_PARSE_FAILED",
			Message: fmt.Sprintf("syntax error: the string %.40s has an invalid escape sequence", d.badString)}
	}
	if err != nil {
		return opStats{}, false, nil
	}
	if d.badInt != "" {
		// graphql-go deserializes integer literals with strconv.ParseInt
		// and panics on one that does not fit: refuse it here.
		return opStats{BadLiteral: d.badInt}, true, &refusal{Code: resolvers.CodeBadUserInput,
			Message: fmt.Sprintf("the integer %s is not a 64-bit decimal integer", d.badInt)}
	}
	st, err = si.measure(d, opName, vars, lim.MaxSelections)
	if err != nil {
		return opStats{}, false, nil
	}
	switch {
	case lim.MaxSelections > 0 && st.Selections > lim.MaxSelections:
		return st, true, &refusal{Code: CodeTooManySels,
			Message: fmt.Sprintf("the operation has more than %d selections (fields, fragment spreads and inline fragments, with fragments expanded)", lim.MaxSelections),
			Ext:     map[string]any{"limit": lim.MaxSelections}}
	case lim.MaxDepth > 0 && st.Depth > lim.MaxDepth:
		return st, true, &refusal{Code: CodeDepthLimit,
			Message: fmt.Sprintf("the operation nests fields %d deep; the limit is %d", st.Depth, lim.MaxDepth),
			Ext:     map[string]any{"depth": st.Depth, "limit": lim.MaxDepth}}
	case lim.MaxAliases > 0 && st.Aliases > lim.MaxAliases:
		return st, true, &refusal{Code: CodeTooManyAliases,
			Message: fmt.Sprintf("the operation uses %d aliases; the limit is %d", st.Aliases, lim.MaxAliases),
			Ext:     map[string]any{"aliases": st.Aliases, "limit": lim.MaxAliases}}
	case lim.MaxCost > 0 && st.Cost > lim.MaxCost:
		return st, true, &refusal{Code: CodeCostLimit,
			Message: fmt.Sprintf("the operation's estimated cost %d exceeds the budget of %d (the cost is the number of objects the operation may return: list sizes, given by first, pageSize or limit, multiply down the nesting; ask for smaller pages or nest less)", st.Cost, lim.MaxCost),
			Ext:     map[string]any{"cost": st.Cost, "budget": lim.MaxCost}}
	case st.Introspection && !lim.Introspection:
		return st, true, &refusal{Code: CodeIntrospectionOff, Message: "introspection is disabled on this server"}
	}
	return st, true, nil
}

// measure walks the operation that would run (the one named opName, or
// the only one). It stops expanding once more than maxSels selections are
// seen (0: no bound), so a document whose fragments expand exponentially
// costs at most that much work.
func (si *schemaInfo) measure(d *document, opName string, vars map[string]any, maxSels int) (opStats, error) {
	var op *operation
	for _, o := range d.ops {
		if opName == "" && len(d.ops) == 1 || opName != "" && o.name == opName {
			op = o
			break
		}
	}
	if op == nil {
		return opStats{}, errors.New("no such operation")
	}
	w := &walker{si: si, d: d, op: op, vars: vars, budget: maxSels, active: map[string]bool{}}
	w.st.Kind, w.st.Name = op.kind, op.name
	root := si.roots[op.kind]
	w.walk(op.sels, root, 1, 1, -1, false)
	return w.st, nil
}

type walker struct {
	si     *schemaInfo
	d      *document
	op     *operation
	vars   map[string]any
	budget int
	active map[string]bool // fragments being expanded (cycles are graphql-go's to report)
	st     opStats
}

// walk visits one selection set of typeName, whose fields are at depth,
// under mult parent objects. page is the page size a connection passes to
// its edges and nodes (-1: none). intro marks an introspection subtree,
// which reads no database: it costs nothing.
func (w *walker) walk(sels []*selection, typeName string, depth int, mult int64, page int64, intro bool) {
	for _, sel := range sels {
		if w.st.Truncated {
			return
		}
		w.st.Selections++
		if w.budget > 0 && w.st.Selections > w.budget {
			w.st.Truncated = true
			return
		}
		switch sel.kind {
		case selSpread:
			frag := w.d.frags[sel.name]
			if frag == nil || w.active[sel.name] {
				continue
			}
			w.active[sel.name] = true
			w.walk(frag.sels, w.typeOr(frag.on, typeName), depth, mult, page, intro)
			delete(w.active, sel.name)
		case selInline:
			w.walk(sel.sels, w.typeOr(sel.on, typeName), depth, mult, page, intro)
		case selField:
			w.field(sel, typeName, depth, mult, page, intro)
		}
	}
}

func (w *walker) typeOr(on, def string) string {
	if on != "" {
		return on
	}
	return def
}

func (w *walker) field(sel *selection, typeName string, depth int, mult int64, page int64, intro bool) {
	if sel.alias != "" {
		w.st.Aliases++
	}
	// An ofType chain is linear, bounded by the type's wrappers: it does
	// not deepen a query in the sense the limit guards against, and
	// GraphiQL's own introspection query nests it nine levels.
	if !(intro && sel.name == "ofType") {
		if depth > w.st.Depth {
			w.st.Depth = depth
		}
		depth++
	}
	if intro || sel.name == "__schema" || sel.name == "__type" {
		if !intro {
			w.st.Introspection = true
		}
		if len(sel.sels) > 0 {
			w.walk(sel.sels, "", depth, 0, -1, true)
		}
		return
	}
	fi := w.si.types[typeName][sel.name]
	if fi == nil || !fi.composite {
		// A scalar, or a field graphql-go will refuse: count what is
		// below it, cost nothing.
		if len(sel.sels) > 0 {
			w.walk(sel.sels, "", depth, 0, -1, false)
		}
		return
	}
	size := int64(1)
	childPage := int64(-1)
	if fi.pageArg != "" {
		n := w.pageSize(sel, fi)
		if fi.list {
			size = n
		} else {
			childPage = n // a connection: its edges and nodes are the page
		}
	} else if fi.list {
		size = fi.pageDefault
		if page >= 0 && strings.HasSuffix(typeName, "Connection") {
			size = page
		}
	}
	nodes := satMul(mult, size)
	w.st.Cost = satAdd(w.st.Cost, nodes)
	if len(sel.sels) > 0 {
		w.walk(sel.sels, fi.typeName, depth, nodes, childPage, false)
	}
}

// pageSize is the value of the field's page argument: a literal, a
// variable (from the request, else its default in the operation), else
// the SDL default, capped to what the resolvers accept.
func (w *walker) pageSize(sel *selection, fi *fieldInfo) int64 {
	n := fi.pageDefault
	for _, a := range sel.args {
		if a.name != fi.pageArg {
			continue
		}
		switch a.val.kind {
		case valInt:
			n = a.val.n
		case valVar:
			if v, ok := w.vars[a.val.name]; ok {
				if i, ok := intOf(v); ok {
					n = i
				}
			} else if def := w.op.varDefaults[a.val.name]; def.kind == valInt {
				n = def.n
			}
		}
	}
	return min(max(n, 0), resolvers.MaxPageSize)
}

func intOf(v any) (int64, bool) {
	switch t := v.(type) {
	case int32:
		return int64(t), true
	case int:
		return int64(t), true
	case int64:
		return t, true
	case float64:
		if t >= -1<<53 && t <= 1<<53 && t == float64(int64(t)) {
			return int64(t), true
		}
	}
	return 0, false
}

func satAdd(a, b int64) int64 { return min(a+b, costCap) }

func satMul(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a > costCap/b {
		return costCap
	}
	return min(a*b, costCap)
}

// ---- the document parser ----

type document struct {
	ops       []*operation
	frags     map[string]*fragment
	badInt    string // the first integer literal graphql-go cannot deserialize
	badString string // the first string literal graphql-go cannot decode
}

type operation struct {
	kind, name  string
	varDefaults map[string]value
	sels        []*selection
}

type fragment struct {
	on   string
	sels []*selection
}

type selKind uint8

const (
	selField selKind = iota
	selSpread
	selInline
)

type selection struct {
	kind  selKind
	alias string     // fields: the alias, when one is written
	name  string     // fields: the field; spreads: the fragment
	on    string     // inline fragments: the type condition, if any
	args  []argument // fields
	sels  []*selection
}

type argument struct {
	name string
	val  value
}

type valKind uint8

const (
	valOther valKind = iota
	valInt
	valVar
)

type value struct {
	kind valKind
	n    int64
	name string
}

type tokKind uint8

const (
	tokEOF tokKind = iota
	tokPunct
	tokName
	tokInt
	tokFloat
	tokString
)

type token struct {
	kind tokKind
	text string // the punctuator, name, number; strings are not kept
}

type parser struct {
	src     string
	pos     int
	tok     token
	nesting int
	doc     *document
}

type syntaxErr string

func (e syntaxErr) Error() string { return string(e) }

// parseDocument parses an executable document. Errors are not reported to
// clients (graphql-go's parser does that), only used to skip the checks; on
// an error the partial document still says whether a bad literal was seen.
func parseDocument(src string) (d *document, err error) {
	p := &parser{src: src, doc: &document{frags: map[string]*fragment{}}}
	defer func() {
		if r := recover(); r != nil {
			se, ok := r.(syntaxErr)
			if !ok {
				panic(r)
			}
			d, err = p.doc, se // partial: badString still counts
		}
	}()
	p.next()
	for p.tok.kind != tokEOF {
		p.skipStrings() // descriptions
		if p.isPunct("{") {
			p.doc.ops = append(p.doc.ops, &operation{kind: "query", sels: p.selectionSet()})
			continue
		}
		switch w := p.name(); w {
		case "query", "mutation", "subscription":
			p.doc.ops = append(p.doc.ops, p.operation(w))
		case "fragment":
			name := p.name()
			if p.name() != "on" {
				p.fail("expected on")
			}
			f := &fragment{on: p.name()}
			p.directives()
			f.sels = p.selectionSet()
			if _, dup := p.doc.frags[name]; !dup {
				p.doc.frags[name] = f
			}
		default:
			p.fail("expected an operation or a fragment")
		}
	}
	return p.doc, nil
}

func (p *parser) fail(msg string) { panic(syntaxErr(msg)) }

func (p *parser) isPunct(s string) bool { return p.tok.kind == tokPunct && p.tok.text == s }

func (p *parser) expect(s string) {
	if !p.isPunct(s) {
		p.fail("expected " + s)
	}
	p.next()
}

func (p *parser) name() string {
	if p.tok.kind != tokName {
		p.fail("expected a name")
	}
	n := p.tok.text
	p.next()
	return n
}

func (p *parser) skipStrings() {
	for p.tok.kind == tokString {
		p.next()
	}
}

func (p *parser) descend() {
	p.nesting++
	if p.nesting > maxParserNesting {
		p.fail("nested too deep")
	}
}

func (p *parser) operation(kind string) *operation {
	op := &operation{kind: kind, varDefaults: map[string]value{}}
	if p.tok.kind == tokName {
		op.name = p.name()
	}
	if p.isPunct("(") {
		p.next()
		for !p.isPunct(")") {
			p.skipStrings()
			p.expect("$")
			p.skipStrings()
			name := p.name()
			p.expect(":")
			p.typeRef()
			if p.isPunct("=") {
				p.next()
				op.varDefaults[name] = p.value(true)
			}
			p.directives()
		}
		p.next()
	}
	p.directives()
	op.sels = p.selectionSet()
	return op
}

func (p *parser) typeRef() {
	if p.isPunct("[") {
		p.descend()
		p.next()
		p.typeRef()
		p.expect("]")
		p.nesting--
	} else {
		p.name()
	}
	if p.isPunct("!") {
		p.next()
	}
}

func (p *parser) directives() {
	for p.isPunct("@") {
		p.next()
		p.name()
		if p.isPunct("(") {
			p.arguments()
		}
	}
}

func (p *parser) arguments() []argument {
	var args []argument
	p.expect("(")
	for !p.isPunct(")") {
		name := p.name()
		p.expect(":")
		args = append(args, argument{name: name, val: p.value(false)})
		p.directives()
	}
	p.next()
	return args
}

func (p *parser) selectionSet() []*selection {
	p.descend()
	defer func() { p.nesting-- }()
	p.expect("{")
	var sels []*selection
	for {
		sels = append(sels, p.selection())
		if p.isPunct("}") {
			break
		}
	}
	p.next()
	return sels
}

func (p *parser) selection() *selection {
	if p.isPunct(".") {
		p.next()
		p.expect(".")
		p.expect(".")
		sel := &selection{kind: selInline}
		if p.tok.kind == tokName {
			n := p.name()
			if n != "on" {
				p.directives()
				return &selection{kind: selSpread, name: n}
			}
			sel.on = p.name()
		}
		p.directives()
		sel.sels = p.selectionSet()
		return sel
	}
	sel := &selection{kind: selField, name: p.name()}
	if p.isPunct(":") {
		p.next()
		sel.alias, sel.name = sel.name, p.name()
	}
	if p.isPunct("(") {
		sel.args = p.arguments()
	}
	p.directives()
	if p.isPunct("{") {
		sel.sels = p.selectionSet()
	}
	return sel
}

// value parses an input value; only integers and variables are kept.
func (p *parser) value(constOnly bool) value {
	switch {
	case p.isPunct("$"):
		if constOnly {
			p.fail("variable in a constant")
		}
		p.next()
		return value{kind: valVar, name: p.name()}
	case p.isPunct("-"):
		p.next()
		if p.tok.kind == tokEOF || p.tok.kind == tokPunct {
			p.fail("expected a literal after -")
		}
		return p.literal("-")
	case p.tok.kind == tokInt, p.tok.kind == tokFloat, p.tok.kind == tokString, p.tok.kind == tokName:
		return p.literal("")
	case p.isPunct("["):
		p.descend()
		p.next()
		for !p.isPunct("]") {
			p.value(constOnly)
		}
		p.next()
		p.nesting--
		return value{}
	case p.isPunct("{"):
		p.descend()
		p.next()
		for !p.isPunct("}") {
			p.name()
			p.expect(":")
			p.value(constOnly)
		}
		p.next()
		p.nesting--
		return value{}
	}
	p.fail("expected a value")
	return value{}
}

func (p *parser) literal(sign string) value {
	t := p.tok
	p.next()
	if t.kind != tokInt {
		return value{}
	}
	n, err := strconv.ParseInt(sign+t.text, 10, 64)
	if err != nil {
		if p.doc.badInt == "" {
			p.doc.badInt = sign + t.text
		}
		return value{}
	}
	return value{kind: valInt, n: n}
}

// next scans the next token. Like graphql-go's text/scanner-based lexer,
// it takes Go-style names and numbers and treats "..." as three dots.
func (p *parser) next() {
	s := p.src
	for p.pos < len(s) {
		switch c := s[p.pos]; c {
		case ' ', '\t', '\n', '\r', ',':
			p.pos++
			continue
		case '#':
			for p.pos < len(s) && s[p.pos] != '\n' && s[p.pos] != '\r' {
				p.pos++
			}
			continue
		}
		break
	}
	if p.pos >= len(s) {
		p.tok = token{kind: tokEOF}
		return
	}
	start := p.pos
	c := s[p.pos]
	switch {
	case c == '"':
		// graphql-go scans a Go-style string ("" for an empty one); when a
		// quote follows at once, the string goes on as a block string up to
		// the next three quotes in a row (or the end), escapes not
		// considered. That is how """block""" is read, and also what
		// "a"""" ... means to it.
		start := p.pos
		p.pos++
		for {
			if p.pos >= len(s) || s[p.pos] == '\n' { // a CR is text/scanner's string content
				p.fail("unterminated string")
			}
			if s[p.pos] == '\\' {
				p.pos += 2
				continue
			}
			p.pos++
			if s[p.pos-1] == '"' {
				break
			}
		}
		if p.pos >= len(s) || s[p.pos] != '"' {
			// graphql-go decodes this one with strconv.Unquote and panics
			// when it cannot (an escape like \777 or \uD800 its scanner let
			// through).
			if _, err := strconv.Unquote(s[start:p.pos]); err != nil && p.doc.badString == "" {
				p.doc.badString = s[start:p.pos]
			}
		} else {
			p.pos++
			for quotes := 0; p.pos < len(s) && quotes < 3; p.pos++ {
				if s[p.pos] == '"' {
					quotes++
				} else {
					quotes = 0
				}
			}
		}
		p.tok = token{kind: tokString}
		return
	case c >= '0' && c <= '9' || c == '.' && p.pos+1 < len(s) && s[p.pos+1] >= '0' && s[p.pos+1] <= '9':
		p.tok = token{kind: p.number(), text: s[start:p.pos]}
		return
	}
	if r, size := utf8.DecodeRuneInString(s[p.pos:]); isLetter(r) {
		p.pos += size
		for p.pos < len(s) {
			r, size := utf8.DecodeRuneInString(s[p.pos:])
			if !isLetter(r) && !unicode.IsDigit(r) {
				break
			}
			p.pos += size
		}
		p.tok = token{kind: tokName, text: s[start:p.pos]}
		return
	} else {
		p.pos += size
	}
	p.tok = token{kind: tokPunct, text: s[start:p.pos]}
}

func isLetter(r rune) bool {
	return r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= utf8.RuneSelf && unicode.IsLetter(r)
}

// number scans a Go-style number literal (what text/scanner accepts) and
// says whether it is an integer or a float.
func (p *parser) number() tokKind {
	s := p.src
	kind := tokInt
	base := 10
	if s[p.pos] == '0' && p.pos+1 < len(s) {
		switch s[p.pos+1] | 0x20 {
		case 'x':
			base = 16
		case 'o':
			base = 8
		case 'b':
			base = 2
		}
		if base != 10 {
			p.pos += 2
		}
	}
	digits := func() {
		for p.pos < len(s) && (s[p.pos] == '_' || isDigitOf(s[p.pos], base)) {
			p.pos++
		}
	}
	digits()
	if (base == 10 || base == 16) && p.pos < len(s) && s[p.pos] == '.' {
		kind = tokFloat
		p.pos++
		digits()
	}
	if p.pos < len(s) && (base == 10 && s[p.pos]|0x20 == 'e' || base == 16 && s[p.pos]|0x20 == 'p') {
		kind = tokFloat
		p.pos++
		if p.pos < len(s) && (s[p.pos] == '+' || s[p.pos] == '-') {
			p.pos++
		}
		for p.pos < len(s) && (s[p.pos] == '_' || s[p.pos] >= '0' && s[p.pos] <= '9') {
			p.pos++
		}
	}
	return kind
}

func isDigitOf(c byte, base int) bool {
	switch base {
	case 16:
		return c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'f'
	case 2:
		return c == '0' || c == '1'
	}
	return c >= '0' && c <= '9' // octal digits 8 and 9 are text/scanner's error, not ours
}
