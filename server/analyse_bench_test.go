package server

import (
	"crypto/sha256"
	"strconv"
	"testing"
)

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
		// As the server does it: the text hashed, its parse kept from an
		// earlier request (the walk is still done: $n sets a page size).
		b.Run(name+"/cached", func(b *testing.B) {
			docs := newDocCache(DefaultDocumentCacheSize)
			vars := map[string]any{"n": int32(20)}
			b.ReportAllocs()
			for b.Loop() {
				d := docs.parse(sha256.Sum256([]byte(doc)), doc).pick("")
				if _, r := si.check(d, vars, testLimits); r != nil {
					b.Fatal(r)
				}
			}
		})
	}
}

// BenchmarkDocumentSeenOnce is the document cache's cost on a document
// that is never sent again (DOCUMENT_CACHE_SIZE=0 against the default):
// the hash, the lookup that misses, and the insert and eviction.
func BenchmarkDocumentSeenOnce(b *testing.B) {
	_, si := testSchema(b)
	doc := benchDocs["query"]
	for _, size := range []int{0, DefaultDocumentCacheSize} {
		b.Run(map[int]string{0: "without", DefaultDocumentCacheSize: "with"}[size], func(b *testing.B) {
			docs := newDocCache(size)
			vars := map[string]any{"n": int32(20)}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				text := doc + " # " + strconv.Itoa(i) // a new document every time
				d := docs.parse(sha256.Sum256([]byte(text)), text).pick("")
				if _, r := si.check(d, vars, testLimits); r != nil {
					b.Fatal(r)
				}
			}
		})
	}
}
