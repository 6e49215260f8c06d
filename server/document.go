package server

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	gqlast "github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/lexer"
	"github.com/vektah/gqlparser/v2/parser"

	"orgpulse/resolvers"
)

// A request's document is parsed once, here, by gqlparser (the
// spec-tested parser of gqlgen): its operation kind and name, and the
// limits and cost (cost.go), are all read from that one parse. A document
// it cannot parse, or whose operation it cannot pick, is refused before
// anything executes: the checks never fail open.
//
// graphql-go then parses the text again to execute it, with its own lexer
// (text/scanner, Go's rules, not the spec's). Where the two can read the
// same text differently, the document is refused here (divergence), so
// that graphql-go never runs an operation other than the one that was
// checked. FuzzParsersAgree feeds both parsers the same documents to find
// any such place that is not yet refused.

// document is the analysis of one request's document: the operation that
// would run, what it measures, or why it is refused.
type document struct {
	doc     *gqlast.QueryDocument
	op      *gqlast.OperationDefinition
	kind    string // query, mutation or subscription; "" when refused
	name    string // the operation's name; "" for an anonymous one
	stats   opStats
	refused *refusal
	// register: sent with its APQ hash, to be stored once admitted
	// (persisted.go).
	register bool
}

// analyse parses query (whose SHA-256 is sum) and picks the operation
// opName names (or the only one). Every transport calls it, once per
// operation (resolveDocument, persisted.go, finds the text and its sum).
func (s *Server) analyse(sum [32]byte, query, opName string, vars map[string]any) *document {
	if len(query) > s.cfg.MaxQueryLength {
		return &document{refused: &refusal{Code: CodeQueryTooLong,
			Message: fmt.Sprintf("the query is %d bytes long; the limit is %d", len(query), s.cfg.MaxQueryLength),
			Ext:     map[string]any{"length": len(query), "limit": s.cfg.MaxQueryLength}}}
	}
	p := s.docs.parse(sum, query)
	if d := p.checked(opName); d != nil {
		return d
	}
	d := p.pick(opName)
	if d.refused != nil {
		return d
	}
	d.stats, d.refused = s.info.check(d, vars, s.limits())
	if !d.stats.varDependent {
		p.remember(opName, d)
	}
	return d
}

// parseDocument parses doc and picks its operation, or says why not.
func parseDocument(doc, opName string) *document {
	return parseText(doc).pick(opName)
}

// parsed is a document's text parsed, or refused. It is shared by every
// request that sends the same text (docCache), so it is never modified,
// but for ops.
type parsed struct {
	text    string
	doc     *gqlast.QueryDocument
	refused *refusal
	// ops are the analyses of its operations whose limits and cost do not
	// depend on the variables (no page size given by a variable), by
	// operation name: a request that repeats one skips the walk too.
	mu  sync.Mutex
	ops map[string]*document
	// persisted: registered by APQ (or read from Redis), so its hash
	// names it (docCache.markPersisted).
	persisted atomic.Bool
}

// checked is a copy of the analysis of opName kept by remember, or nil.
func (p *parsed) checked(opName string) *document {
	p.mu.Lock()
	d := p.ops[opName]
	p.mu.Unlock()
	if d == nil {
		return nil
	}
	c := *d // the caller's own: the pipeline may set fields on it
	return &c
}

// remember keeps d, the analysis of opName, which picked an operation of
// p: the names kept are bounded by the document's operations.
func (p *parsed) remember(opName string, d *document) {
	c := *d
	p.mu.Lock()
	if p.ops == nil {
		p.ops = make(map[string]*document, 1)
	}
	p.ops[opName] = &c
	p.mu.Unlock()
}

// parseText parses doc, refusing what the two parsers may read
// differently.
func parseText(doc string) *parsed {
	if why := divergence(doc); why != "" {
		return &parsed{text: doc, refused: &refusal{Code: CodeParseFailed, Message: "syntax error: " + why}}
	}
	qd, err := parser.ParseQuery(&gqlast.Source{Input: doc})
	if err != nil {
		return &parsed{text: doc, refused: &refusal{Code: CodeParseFailed, Message: "syntax error: " + err.Error()}}
	}
	if lit := badLiteral(qd); lit != "" {
		// graphql-go deserializes integer literals with strconv.ParseInt
		// and panics on one that does not fit.
		return &parsed{text: doc, refused: &refusal{Code: resolvers.CodeBadUserInput,
			Message: fmt.Sprintf("the integer %s is not a 64-bit decimal integer", lit)}}
	}
	return &parsed{text: doc, doc: qd}
}

// pick is the analysis of the operation opName names in p.
func (p *parsed) pick(opName string) *document {
	if p.refused != nil {
		return &document{refused: p.refused}
	}
	d := &document{doc: p.doc}
	d.op, d.refused = pickOperation(p.doc, opName)
	if d.op != nil {
		d.kind, d.name = string(d.op.Operation), d.op.Name
	}
	return d
}

// pickOperation is the operation graphql-go would run: the one named
// opName, or the only one. Anything else is refused, never guessed.
func pickOperation(qd *gqlast.QueryDocument, opName string) (*gqlast.OperationDefinition, *refusal) {
	if len(qd.Operations) == 0 {
		return nil, &refusal{Code: CodeParseFailed, Message: "syntax error: the document contains no operation"}
	}
	if opName == "" {
		if len(qd.Operations) > 1 {
			return nil, &refusal{Code: resolvers.CodeBadUserInput, Message: "the document has several operations: say which one to run with operationName"}
		}
		return qd.Operations[0], nil
	}
	var found *gqlast.OperationDefinition
	for _, op := range qd.Operations {
		if op.Name != opName {
			continue
		}
		if found != nil {
			return nil, &refusal{Code: CodeValidationFailed, Message: fmt.Sprintf("there are several operations named %q", truncate(opName, 100))}
		}
		found = op
	}
	if found == nil {
		return nil, &refusal{Code: resolvers.CodeBadUserInput, Message: fmt.Sprintf("no operation named %q in the document", truncate(opName, 100))}
	}
	return found, nil
}

// divergence names a construct that graphql-go's lexer reads differently
// from the GraphQL spec (and gqlparser), or "" when there is none. Each
// was found with graphql-go v1.11 (FuzzParsersAgree's seeds keep them):
//   - a block string escape \""": graphql-go ends the block string there;
//   - a block string closed by four quotes or more: graphql-go closes at
//     the first three;
//   - a string followed at once by a quote ("x""" ...): graphql-go goes on
//     reading it as a block string;
//   - a number followed at once by a name, a number or a dot (0x10, 1_0,
//     1...): graphql-go reads one Go number where the spec reads several
//     tokens (or none: the spec forbids it).
//
// Invalid UTF-8 is refused too: the two decode it differently.
func divergence(doc string) string {
	if !utf8.ValidString(doc) {
		return "the document is not valid UTF-8"
	}
	if strings.Contains(doc, `\"""`) {
		return `an escaped triple quote (\""") in a block string is not accepted`
	}
	if strings.Contains(doc, `""""`) {
		return "four quotes in a row are not accepted: separate the strings"
	}
	quotes := strings.Contains(doc, `""`)
	if !quotes && !hasDigitThenNameChar(doc) {
		return "" // the usual document: no token pass needed
	}
	lx := lexer.New(&gqlast.Source{Input: doc})
	var prev lexer.Token
	for {
		t, err := lx.ReadToken()
		if err != nil || t.Kind == lexer.EOF {
			return "" // the parser reports it
		}
		adjacent := prev.Kind != lexer.Invalid && t.Pos.Start == prev.Pos.End
		switch {
		case adjacent && prev.Kind == lexer.String && (t.Kind == lexer.String || t.Kind == lexer.BlockString):
			return "a string followed at once by a quote is not accepted: separate the strings"
		case adjacent && (prev.Kind == lexer.Int || prev.Kind == lexer.Float) &&
			(t.Kind == lexer.Name || t.Kind == lexer.Int || t.Kind == lexer.Float || t.Kind == lexer.Spread):
			return "a number must not be followed at once by a name, a number or a dot"
		}
		prev = t
	}
}

// hasDigitThenNameChar reports whether a digit is followed at once by a
// letter, an underscore or a dot: the only way a number can be followed
// by such a token without a separator.
func hasDigitThenNameChar(doc string) bool {
	for i := 0; i+1 < len(doc); i++ {
		if c := doc[i]; c >= '0' && c <= '9' {
			n := doc[i+1]
			if n == '_' || n == '.' || n >= 'a' && n <= 'z' || n >= 'A' && n <= 'Z' {
				return true
			}
		}
	}
	return false
}

// badLiteral returns the first integer literal of the document that is not
// a 64-bit integer, or "".
func badLiteral(qd *gqlast.QueryDocument) string {
	var bad string
	var value func(v *gqlast.Value)
	value = func(v *gqlast.Value) {
		if v == nil || bad != "" {
			return
		}
		if v.Kind == gqlast.IntValue {
			if _, err := strconv.ParseInt(v.Raw, 10, 64); err != nil {
				bad = v.Raw
			}
		}
		for _, c := range v.Children {
			value(c.Value)
		}
	}
	directives := func(ds gqlast.DirectiveList) {
		for _, d := range ds {
			for _, a := range d.Arguments {
				value(a.Value)
			}
		}
	}
	var selections func(ss gqlast.SelectionSet)
	selections = func(ss gqlast.SelectionSet) {
		for _, sel := range ss {
			switch sel := sel.(type) {
			case *gqlast.Field:
				for _, a := range sel.Arguments {
					value(a.Value)
				}
				directives(sel.Directives)
				selections(sel.SelectionSet)
			case *gqlast.InlineFragment:
				directives(sel.Directives)
				selections(sel.SelectionSet)
			case *gqlast.FragmentSpread:
				directives(sel.Directives)
			}
		}
	}
	for _, op := range qd.Operations {
		for _, v := range op.VariableDefinitions {
			value(v.DefaultValue)
			directives(v.Directives)
		}
		directives(op.Directives)
		selections(op.SelectionSet)
	}
	for _, f := range qd.Fragments {
		directives(f.Directives)
		selections(f.SelectionSet)
	}
	return bad
}
