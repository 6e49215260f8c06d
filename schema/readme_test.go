package schema_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	graphql "github.com/graph-gophers/graphql-go"
	"github.com/graph-gophers/graphql-go/ast"

	"orgpulse/schema"
)

// An example is one GraphQL document a reader could paste, and where it came from.
type example struct {
	where string // README.md:LINE or the file's path
	doc   string
	vars  map[string]any // the variables it runs with; nil: not known here
}

var (
	fenceRe      = regexp.MustCompile("(?m)^```([a-z]*)\n((?s:.*?))^```\n")
	codeSpanRe   = regexp.MustCompile("`([^`]+)`")
	quotedRe     = regexp.MustCompile(`'([^']+)'`)
	operationRe  = regexp.MustCompile(`^(query|mutation|subscription)\b`)
	firstFieldRe = regexp.MustCompile(`^\{?\s*([_A-Za-z][_0-9A-Za-z]*)\s*(\(|\{)?`)
	argValueRe   = regexp.MustCompile(`^[_A-Za-z][_0-9A-Za-z]*\s*\([^)]*:`)
)

// roots maps every root field (Query, Mutation, Subscription) to the
// operation keyword that reaches it; a name on several roots goes to query.
func roots(t *testing.T, s *graphql.Schema) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, op := range []string{"subscription", "mutation", "query"} {
		nt, ok := s.ASTSchema().RootOperationTypes[op]
		if !ok {
			continue
		}
		obj, ok := nt.(*ast.ObjectTypeDefinition)
		if !ok {
			t.Fatalf("root %s is a %T", op, nt)
		}
		for _, f := range obj.Fields {
			out[f.Name] = op
		}
	}
	return out
}

// candidate turns a code span (or a quoted string in one) into a document,
// or "" when it is not an example: a whole operation, a selection set
// starting with a root field, or a root field with a selection or with
// argument values (`allEmployees(pageSize: 50) { name }`), which is
// wrapped into an operation. A root field with bare argument names
// (`organization(id)`) is a signature in prose, not an example.
func candidate(text string, rootOp map[string]string) string {
	text = strings.Join(strings.Fields(text), " ")
	if operationRe.MatchString(text) {
		return text
	}
	m := firstFieldRe.FindStringSubmatch(text)
	if m == nil {
		return ""
	}
	op, ok := rootOp[m[1]]
	if !ok {
		return ""
	}
	if strings.HasPrefix(text, "{") {
		return text
	}
	if !strings.Contains(text, "{") && !argValueRe.MatchString(text) {
		return ""
	}
	if op == "query" {
		return "{ " + text + " }"
	}
	return op + " { " + text + " }"
}

// readmeExamples collects every ```graphql block of README.md, and every
// inline code span, quoted string in a span or line of another fenced block,
// that candidate recognizes as GraphQL.
func readmeExamples(t *testing.T, readme string, rootOp map[string]string) []example {
	t.Helper()
	var out []example
	line := func(off int) string { return "README.md:" + strconv.Itoa(strings.Count(readme[:off], "\n")+1) }
	prose := []byte(readme)
	for _, m := range fenceRe.FindAllStringSubmatchIndex(readme, -1) {
		lang, body := readme[m[2]:m[3]], readme[m[4]:m[5]]
		if lang == "graphql" {
			out = append(out, example{where: line(m[0]), doc: body})
		} else {
			for _, q := range quotedRe.FindAllStringSubmatchIndex(body, -1) {
				if doc := candidate(body[q[2]:q[3]], rootOp); doc != "" {
					out = append(out, example{where: line(m[4] + q[0]), doc: doc})
				}
			}
		}
		// Blank the block (keeping line numbers) so no span is read in it.
		for i := m[0]; i < m[1]; i++ {
			if prose[i] != '\n' {
				prose[i] = ' '
			}
		}
	}
	for _, s := range codeSpanRe.FindAllSubmatchIndex(prose, -1) {
		span := string(prose[s[2]:s[3]])
		texts := []string{span}
		for _, q := range quotedRe.FindAllStringSubmatch(span, -1) {
			texts = append(texts, q[1])
		}
		for _, text := range texts {
			if doc := candidate(text, rootOp); doc != "" {
				out = append(out, example{where: line(s[0]), doc: doc})
			}
		}
	}
	return out
}

// curlExamples reads every operation file scripts/curl runs, with the
// variables of NAME.json beside it when there is one (as run-all.sh sends).
func curlExamples(t *testing.T) []example {
	t.Helper()
	var out []example
	err := filepath.WalkDir(filepath.Join("..", "scripts", "curl"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".graphql" {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		ex := example{where: path, doc: string(b)}
		if j, err := os.ReadFile(strings.TrimSuffix(path, ".graphql") + ".json"); err == nil {
			if err := json.Unmarshal(j, &ex.vars); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
		}
		out = append(out, ex)
		return nil
	})
	if err != nil {
		t.Fatalf("read scripts/curl: %v", err)
	}
	return out
}

// TestExamplesValidate validates every GraphQL example a reader could paste
// from README.md, and every operation in scripts/curl, against the schema,
// so that neither drifts from it.
func TestExamplesValidate(t *testing.T) {
	s, err := graphql.ParseSchema(schema.String(), nil, graphql.UseStringDescriptions())
	if err != nil {
		t.Fatalf("parse schema: %v", err)
	}
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatalf("read README.md: %v", err)
	}
	fromReadme := readmeExamples(t, string(readme), roots(t, s))
	// The README has 7 today; fewer than 6 means the extraction broke.
	if got, least := len(fromReadme), 6; got < least {
		t.Fatalf("found %d GraphQL examples in README.md, want at least %d: %+v", got, least, fromReadme)
	}
	for _, ex := range append(fromReadme, curlExamples(t)...) {
		t.Logf("%s: %s", ex.where, strings.Join(strings.Fields(ex.doc), " "))
		for _, e := range s.ValidateWithVariables(ex.doc, ex.vars) {
			// Without the values a script fills in, only the document
			// itself can be judged, not the values of its variables.
			if ex.vars == nil && e.Rule == "VariablesOfCorrectType" {
				continue
			}
			t.Errorf("%s: %v\n%s", ex.where, e, ex.doc)
		}
	}
}
