package server

import (
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"
)

// docCache keeps recently seen documents parsed (document.go), with the
// analyses of their operations that do not depend on the variables, by
// the SHA-256 of their text: clients send the same few documents again
// and again, and the parse and the walk are most of the server's own work
// on a request (BenchmarkAnalyse). The SHA-256 is also the key of
// persisted queries (persisted.go), so an APQ hash finds its document here
// without hashing anything, and this is the in-process store of APQ
// documents in front of Redis: one cache, not two.
//
// It is an LRU (hashicorp/golang-lru/v2) of at most DOCUMENT_CACHE_SIZE
// documents, and at most maxCachedDocText bytes of their text: a parsed
// tree takes about 26 times its text (107 KiB for a 4 KiB document, 512
// KiB for 20 KB: TestParsedTreeSize), so a client sending large distinct
// documents evicts the others rather than growing the heap by hundreds of
// MiB.
//
// graphql-go parses and validates the text again when it executes it
// (exec.go): it has no entry point for a document parsed beforehand, so
// that work is not cached.
type docCache struct {
	lru  *lru.Cache[[32]byte, *parsed] // nil: nothing is kept (DOCUMENT_CACHE_SIZE=0)
	text *atomic.Int64                 // bytes of text kept
}

// maxCachedDocText bounds the text of the documents kept, about 55 MiB of
// parsed trees.
const maxCachedDocText = 2 << 20

// DefaultDocumentCacheSize is DOCUMENT_CACHE_SIZE's default.
const DefaultDocumentCacheSize = 1000

// newDocCache keeps at most size documents; size <= 0 keeps none.
func newDocCache(size int) docCache {
	if size <= 0 {
		return docCache{}
	}
	text := new(atomic.Int64)
	c, err := lru.NewWithEvict(size, func(_ [32]byte, p *parsed) { text.Add(-int64(len(p.text))) })
	if err != nil {
		panic(err) // only for size <= 0, excluded above
	}
	return docCache{lru: c, text: text}
}

// get is the document whose text has SHA-256 sum, when it is kept.
func (c docCache) get(sum [32]byte) *parsed {
	if c.lru == nil {
		return nil
	}
	p, _ := c.lru.Get(sum)
	return p
}

// parse is the parse of text, whose SHA-256 is sum: the one kept, or a
// new one, then kept.
func (c docCache) parse(sum [32]byte, text string) *parsed {
	if p := c.get(sum); p != nil {
		return p
	}
	p := parseText(text)
	if c.lru == nil || len(text) > maxCachedDocText/4 {
		return p
	}
	if prev, found, _ := c.lru.PeekOrAdd(sum, p); found {
		return prev // parsed at the same time by another request
	}
	// Evict the least recently used until the text fits in its bound.
	c.text.Add(int64(len(text)))
	for c.text.Load() > maxCachedDocText {
		if _, _, ok := c.lru.RemoveOldest(); !ok {
			break
		}
	}
	return p
}

// markPersisted makes the document kept under sum answer lookups by hash
// (persisted.go): it was registered, or read from Redis.
func (c docCache) markPersisted(sum [32]byte) {
	if p := c.get(sum); p != nil {
		p.persisted.Store(true)
	}
}

// len is the number of documents kept.
func (c docCache) len() int {
	if c.lru == nil {
		return 0
	}
	return c.lru.Len()
}
