package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"
	"github.com/vektah/gqlparser/v2/parser"
)

// ResumeVariable is the variable WithAfter passes the cursor in.
const ResumeVariable = "orgpulseAfter"

// Cursor returns the result's extensions.cursor (orgpulse's event
// subscriptions carry one in every result), or "".
func (r *Response) Cursor() string {
	if len(r.Extensions) == 0 {
		return ""
	}
	var ext struct {
		Cursor string `json:"cursor"`
	}
	if json.Unmarshal(r.Extensions, &ext) != nil {
		return ""
	}
	return ext.Cursor
}

// WithAfter returns req resuming after cursor: the after: argument of
// each field at the root of its operation is set to the variable
// ResumeVariable (declared when the document does not declare it), which
// carries cursor. Any after: the document had is replaced. The document
// is parsed and printed again, so it must be one the server can parse.
func WithAfter(req Request, cursor string) (Request, error) {
	doc, err := parser.ParseQuery(&ast.Source{Input: req.Query})
	if err != nil {
		return req, fmt.Errorf("parse the subscription to resume it: %w", err)
	}
	var op *ast.OperationDefinition
	switch {
	case req.OperationName != "":
		op = doc.Operations.ForName(req.OperationName)
	case len(doc.Operations) == 1:
		op = doc.Operations[0]
	}
	if op == nil {
		return req, errors.New("resume: the document has no operation to run (name it with operationName)")
	}
	fields := 0
	for _, sel := range op.SelectionSet {
		f, ok := sel.(*ast.Field)
		if !ok {
			continue
		}
		fields++
		args := f.Arguments[:0:0]
		for _, a := range f.Arguments {
			if a.Name != "after" {
				args = append(args, a)
			}
		}
		f.Arguments = append(args, &ast.Argument{Name: "after", Value: &ast.Value{Kind: ast.Variable, Raw: ResumeVariable}})
	}
	if fields == 0 {
		return req, errors.New("resume: the operation has no field at its root to pass after: to")
	}
	if op.VariableDefinitions.ForName(ResumeVariable) == nil {
		op.VariableDefinitions = append(op.VariableDefinitions, &ast.VariableDefinition{Variable: ResumeVariable, Type: ast.NamedType("String", nil)})
	}
	var buf bytes.Buffer
	formatter.NewFormatter(&buf, formatter.WithIndent("  ")).FormatQueryDocument(doc)
	out := req
	out.Query = buf.String()
	out.Variables = maps.Clone(req.Variables)
	if out.Variables == nil {
		out.Variables = map[string]any{}
	}
	out.Variables[ResumeVariable] = cursor
	return out, nil
}
