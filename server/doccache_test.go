package server

import (
	"crypto/sha256"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// TestDocCacheBound: the cache keeps at most its size in documents, and
// at most maxCachedDocText bytes of their text, evicting the least
// recently used; size 0 keeps nothing.
func TestDocCacheBound(t *testing.T) {
	c := newDocCache(3)
	doc := func(i int) string { return fmt.Sprintf("{ employee(id: %d) { id } }", i) }
	parse := func(d string) *parsed { return c.parse(sha256.Sum256([]byte(d)), d) }
	for i := range 5 {
		parse(doc(i))
		if i == 2 {
			parse(doc(0)) // used: 1 is now the least recently used
		}
	}
	if c.len() != 3 {
		t.Fatalf("kept %d documents, want 3", c.len())
	}
	for i, want := range []bool{true, false, false, true, true} {
		if got := c.get(sha256.Sum256([]byte(doc(i)))) != nil; got != want {
			t.Errorf("document %d kept: %v, want %v", i, got, want)
		}
	}
	if p := parse(doc(4)); p.text != doc(4) || p.doc == nil {
		t.Fatalf("a kept document: %+v", p)
	}

	// The text bound: documents of a quarter of it each, at most four kept.
	big := newDocCache(1000)
	for i := range 10 {
		d := fmt.Sprintf("{ employee(id: %d) { id } }", i) + strings.Repeat(" ", maxCachedDocText/4-40)
		big.parse(sha256.Sum256([]byte(d)), d)
	}
	if n := big.len(); n < 1 || n > 4 {
		t.Fatalf("kept %d documents of %d bytes each, want at most 4", n, maxCachedDocText/4)
	}
	if got := big.text.Load(); got > maxCachedDocText {
		t.Fatalf("kept %d bytes of text, over %d", got, maxCachedDocText)
	}

	none := newDocCache(0)
	none.parse(sha256.Sum256([]byte(doc(1))), doc(1))
	if none.len() != 0 || none.get(sha256.Sum256([]byte(doc(1)))) != nil {
		t.Fatal("a cache of size 0 kept a document")
	}
}

// TestParsedTreeSize measures the heap a kept parse holds per byte of its
// text, for documents of about 4 KiB and 20 KB (MAX_QUERY_LENGTH's
// default) of aliased fields: the ratio behind maxCachedDocText, which
// assumes about 26 (go test ./server/ -run TestParsedTreeSize -v prints
// it). It fails when the ratio passes 40: the text bound would then let the
// cache hold much more than it says.
func TestParsedTreeSize(t *testing.T) {
	for _, n := range []int{4 << 10, 20000} {
		var sb strings.Builder
		sb.WriteString("query Q { ")
		for i := 0; sb.Len() < n-40; i++ {
			fmt.Fprintf(&sb, "a%d: organization(id: 1) { id name } ", i)
		}
		sb.WriteString("}")
		doc := sb.String()
		kept := make([]*parsed, 0, 50)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for k := range 50 {
			kept = append(kept, parseText(doc+strings.Repeat(" ", k)))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(kept)
		perParse := float64(after.HeapAlloc-before.HeapAlloc) / 50
		ratio := perParse / float64(len(doc))
		t.Logf("a %d-byte document: %.0f KiB kept per parse, %.1f bytes per byte of text", len(doc), perParse/1024, ratio)
		if ratio > 40 {
			t.Errorf("a parse holds %.1f bytes per byte of text: maxCachedDocText's bound assumes about 26", ratio)
		}
	}
}
