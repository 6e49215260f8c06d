package server

import (
	"errors"
	"strings"
)

// operationOf finds the type ("query", "mutation", "subscription") and name
// of the operation a document would run, without executing it: the server
// must refuse a mutation over GET, and route subscriptions, before
// graphql-go executes anything. It only skips strings, comments and nested
// selections; full validation stays with graphql-go.
func operationOf(doc, operationName string) (kind, name string, err error) {
	type op struct{ kind, name string }
	var ops []op
	depth, parens := 0, 0
	expectName := ""
	for i := 0; i < len(doc); {
		c := doc[i]
		switch {
		case c == '#':
			for i < len(doc) && doc[i] != '\n' && doc[i] != '\r' {
				i++
			}
			continue
		case c == '"':
			if strings.HasPrefix(doc[i:], `"""`) {
				end := strings.Index(doc[i+3:], `"""`)
				if end < 0 {
					return "", "", errors.New("unterminated block string")
				}
				i += 3 + end + 3
				continue
			}
			i++
			for i < len(doc) && doc[i] != '"' {
				if doc[i] == '\\' {
					i++
				}
				i++
			}
			i++
			continue
		case c == '{':
			if depth == 0 && expectName == "" {
				// An anonymous shorthand query, or the body of a named one.
				if len(ops) == 0 || ops[len(ops)-1].kind == "" {
					ops = append(ops, op{kind: "query"})
				}
			}
			expectName = ""
			depth++
		case c == '}':
			depth--
			if depth == 0 && len(ops) > 0 && ops[len(ops)-1].kind == "fragment" {
				ops = ops[:len(ops)-1]
			}
		case c == '(':
			parens++
			expectName = ""
		case c == ')':
			parens--
		case c == '@':
			expectName = ""
		case isNameStart(c):
			j := i
			for j < len(doc) && isNameChar(doc[j]) {
				j++
			}
			word := doc[i:j]
			if depth == 0 && parens == 0 {
				switch {
				case expectName != "":
					ops[len(ops)-1].name = word
					expectName = ""
				case word == "query" || word == "mutation" || word == "subscription" || word == "fragment":
					ops = append(ops, op{kind: word})
					expectName = word
				}
			}
			i = j
			continue
		}
		i++
	}
	if len(ops) == 0 {
		return "", "", errors.New("the document contains no operation")
	}
	if operationName == "" {
		if len(ops) > 1 {
			return "", "", errors.New("the document has several operations: say which one to run with operationName")
		}
		return ops[0].kind, ops[0].name, nil
	}
	for _, o := range ops {
		if o.name == operationName {
			return o.kind, o.name, nil
		}
	}
	return "", "", errors.New("no operation named " + operationName + " in the document")
}

// isNameStart accepts any non-ASCII byte too: graphql-go's lexer takes
// Unicode letters in names, and this lexer must see the same names.
func isNameStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80
}

func isNameChar(c byte) bool { return isNameStart(c) || (c >= '0' && c <= '9') }
