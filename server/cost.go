package server

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/graph-gophers/graphql-go/ast"
	gqlast "github.com/vektah/gqlparser/v2/ast"

	"orgpulse/auth"
	"orgpulse/resolvers"
)

// Query limits are checked here, before graphql-go executes anything: a
// walk of the operation that would run (document.go parsed it), typed
// against the schema's AST. graphql-go's MaxDepth, MaxSelections and
// MaxQueryLength stay on as a backstop.

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

// refusal is a request refused before execution. Status is its HTTP
// status when it is not that of a GraphQL error (see refusalStatus), header
// the HTTP headers that go with it.
type refusal struct {
	Code    string
	Message string
	Ext     map[string]any // extra extensions, e.g. cost and budget
	Status  int
	header  map[string]string
}

// opStats measures the operation that would run.
type opStats struct {
	Selections    int   // fields, fragment spreads and inline fragments after expansion
	Aliases       int   // explicit aliases after expansion
	Depth         int   // deepest field; ofType chains under introspection add none
	Cost          int64 // estimated nodes
	Introspection bool  // selects __schema or __type
	Truncated     bool  // Selections passed the walk's budget: the other numbers are partial
	// Restricted are the fields selected that auth.Rules does not open to
	// every role ("Employee.salary"), fragments included.
	Restricted []string
	// varDependent: a page size came from a variable, so the numbers hold
	// for this request's variables only (the document cache keeps the
	// others, docCache).
	varDependent bool
}

// limits are the server's limits on one operation.
func (s *Server) limits() limits {
	return limits{MaxDepth: s.cfg.MaxDepth, MaxSelections: s.cfg.MaxSelections, MaxAliases: s.cfg.MaxAliases,
		MaxCost: int64(s.cfg.MaxCost), Introspection: s.cfg.introspectionAllowed()}
}

// check measures d's operation and refuses it when it breaks a limit.
func (si *schemaInfo) check(d *document, vars map[string]any, lim limits) (opStats, *refusal) {
	st := si.measure(d, vars, lim.MaxSelections)
	switch {
	case lim.MaxSelections > 0 && st.Selections > lim.MaxSelections:
		return st, &refusal{Code: CodeTooManySels,
			Message: fmt.Sprintf("the operation has more than %d selections (fields, fragment spreads and inline fragments, with fragments expanded)", lim.MaxSelections),
			Ext:     map[string]any{"limit": lim.MaxSelections}}
	case lim.MaxDepth > 0 && st.Depth > lim.MaxDepth:
		return st, &refusal{Code: CodeDepthLimit,
			Message: fmt.Sprintf("the operation nests fields %d deep; the limit is %d", st.Depth, lim.MaxDepth),
			Ext:     map[string]any{"depth": st.Depth, "limit": lim.MaxDepth}}
	case lim.MaxAliases > 0 && st.Aliases > lim.MaxAliases:
		return st, &refusal{Code: CodeTooManyAliases,
			Message: fmt.Sprintf("the operation uses %d aliases; the limit is %d", st.Aliases, lim.MaxAliases),
			Ext:     map[string]any{"aliases": st.Aliases, "limit": lim.MaxAliases}}
	case lim.MaxCost > 0 && st.Cost > lim.MaxCost:
		return st, &refusal{Code: CodeCostLimit,
			Message: fmt.Sprintf("the operation's estimated cost %d exceeds the budget of %d (the cost is the number of objects the operation may return: list sizes, given by first, pageSize or limit, multiply down the nesting; ask for smaller pages or nest less)", st.Cost, lim.MaxCost),
			Ext:     map[string]any{"cost": st.Cost, "budget": lim.MaxCost}}
	case st.Introspection && !lim.Introspection:
		return st, &refusal{Code: CodeIntrospectionOff, Message: "introspection is disabled on this server"}
	}
	return st, nil
}

// measure walks d's operation. It stops expanding once more than maxSels
// selections are seen (0: no bound), so a document whose fragments expand
// exponentially costs at most that much work.
func (si *schemaInfo) measure(d *document, vars map[string]any, maxSels int) opStats {
	w := &walker{si: si, doc: d.doc, op: d.op, vars: vars, budget: maxSels, active: map[string]bool{}}
	w.walk(d.op.SelectionSet, si.roots[string(d.op.Operation)], 1, 1, -1, false)
	return w.st
}

type walker struct {
	si     *schemaInfo
	doc    *gqlast.QueryDocument
	op     *gqlast.OperationDefinition
	vars   map[string]any
	budget int
	active map[string]bool // fragments being expanded (cycles are graphql-go's to report)
	st     opStats
}

// walk visits one selection set of typeName, whose fields are at depth,
// under mult parent objects. page is the page size a connection passes to
// its edges and nodes (-1: none). intro marks an introspection subtree,
// which reads no database: it costs nothing.
func (w *walker) walk(sels gqlast.SelectionSet, typeName string, depth int, mult int64, page int64, intro bool) {
	for _, sel := range sels {
		if w.st.Truncated {
			return
		}
		w.st.Selections++
		if w.budget > 0 && w.st.Selections > w.budget {
			w.st.Truncated = true
			return
		}
		switch sel := sel.(type) {
		case *gqlast.FragmentSpread:
			frag := w.doc.Fragments.ForName(sel.Name)
			if frag == nil || w.active[sel.Name] {
				continue
			}
			w.active[sel.Name] = true
			w.walk(frag.SelectionSet, typeOr(frag.TypeCondition, typeName), depth, mult, page, intro)
			delete(w.active, sel.Name)
		case *gqlast.InlineFragment:
			w.walk(sel.SelectionSet, typeOr(sel.TypeCondition, typeName), depth, mult, page, intro)
		case *gqlast.Field:
			w.field(sel, typeName, depth, mult, page, intro)
		}
	}
}

// restricted notes a field auth.Rules restricts, once: which roles may
// run the operation is decided per request (pipeline.go, forbidden).
func (w *walker) restricted(field string) {
	if !slices.Contains(w.st.Restricted, field) {
		w.st.Restricted = append(w.st.Restricted, field)
	}
}

func typeOr(on, def string) string {
	if on != "" {
		return on
	}
	return def
}

func (w *walker) field(f *gqlast.Field, typeName string, depth int, mult int64, page int64, intro bool) {
	if f.Alias != "" && f.Alias != f.Name {
		w.st.Aliases++
	}
	// An ofType chain is linear, bounded by the type's wrappers: it does
	// not deepen a query in the sense the limit guards against, and
	// GraphiQL's own introspection query nests it nine levels.
	if !(intro && f.Name == "ofType") {
		if depth > w.st.Depth {
			w.st.Depth = depth
		}
		depth++
	}
	if intro || f.Name == "__schema" || f.Name == "__type" {
		if !intro {
			w.st.Introspection = true
		}
		if len(f.SelectionSet) > 0 {
			w.walk(f.SelectionSet, "", depth, 0, -1, true)
		}
		return
	}
	if auth.Rule(typeName, f.Name) != auth.Open {
		w.restricted(typeName + "." + f.Name)
	}
	fi := w.si.types[typeName][f.Name]
	if fi == nil || !fi.composite {
		// A scalar, or a field graphql-go will refuse: count what is
		// below it, cost nothing.
		if len(f.SelectionSet) > 0 {
			w.walk(f.SelectionSet, "", depth, 0, -1, false)
		}
		return
	}
	size := int64(1)
	childPage := int64(-1)
	if fi.pageArg != "" {
		n := w.pageSize(f, fi)
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
	if len(f.SelectionSet) > 0 {
		w.walk(f.SelectionSet, fi.typeName, depth, nodes, childPage, false)
	}
}

// pageSize is the value of the field's page argument: a literal, a
// variable (from the request, else its default in the operation), else
// the SDL default, capped to what the resolvers accept.
func (w *walker) pageSize(f *gqlast.Field, fi *fieldInfo) int64 {
	n := fi.pageDefault
	for _, a := range f.Arguments {
		if a.Name != fi.pageArg || a.Value == nil {
			continue
		}
		switch a.Value.Kind {
		case gqlast.IntValue:
			if i, err := strconv.ParseInt(a.Value.Raw, 10, 64); err == nil {
				n = i
			}
		case gqlast.Variable:
			w.st.varDependent = true
			if v, ok := w.vars[a.Value.Raw]; ok {
				if i, ok := intOf(v); ok {
					n = i
				}
			} else if def := w.op.VariableDefinitions.ForName(a.Value.Raw); def != nil && def.DefaultValue != nil && def.DefaultValue.Kind == gqlast.IntValue {
				if i, err := strconv.ParseInt(def.DefaultValue.Raw, 10, 64); err == nil {
					n = i
				}
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
