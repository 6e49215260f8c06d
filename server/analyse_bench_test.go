package server

import "testing"

// benchDocs are typical documents: a page with nested objects, a mutation,
// and GraphiQL's introspection query.
var benchDocs = map[string]string{
	"query":         `query Employees($n: Int) { employees(first: $n) { totalCount edges { cursor node { id name email organization { id name } projects { id name status } } } } }`,
	"mutation":      `mutation Create($name: String!) { createOrganization(input: {name: $name, industry: "Space"}) { id name } }`,
	"introspection": graphiqlIntrospection,
}

// BenchmarkAnalyse is the server's own work on a document before
// graphql-go sees it: the parse, the operation, the limits and cost.
func BenchmarkAnalyse(b *testing.B) {
	_, si := testSchema(b)
	for name, doc := range benchDocs {
		b.Run(name, func(b *testing.B) {
			vars := map[string]any{"n": int32(20)}
			b.ReportAllocs()
			for b.Loop() {
				d := parseDocument(doc, "")
				if d.refused != nil {
					b.Fatal(d.refused)
				}
				if _, r := si.check(d, vars, testLimits); r != nil {
					b.Fatal(r)
				}
			}
		})
		// As the server does it: the parse kept from an earlier request.
		b.Run(name+"/cached", func(b *testing.B) {
			var docs docCache
			vars := map[string]any{"n": int32(20)}
			b.ReportAllocs()
			for b.Loop() {
				d := docs.parse(doc).pick("")
				if _, r := si.check(d, vars, testLimits); r != nil {
					b.Fatal(r)
				}
			}
		})
	}
}
