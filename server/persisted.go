package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	gqlast "github.com/vektah/gqlparser/v2/ast"
)

// Persisted operations (README "Persisted operations"): a request names
// its document by hash instead of sending it.
//
//   - Automatic persisted queries, Apollo's protocol: extensions
//     .persistedQuery {version: 1, sha256Hash}. Without query, the
//     document is looked up (the trusted manifest, the document cache,
//     Redis); unknown, the answer is HTTP 200 with errors[0].message
//     "PersistedQueryNotFound", which the clients check for. With query,
//     the hash is verified, and the document is stored once admitted.
//   - Trusted documents (TRUSTED_DOCUMENTS): a manifest of documents,
//     runnable by hash (or by a Relay id, as documentId) from the start.
//     With TRUSTED_DOCUMENTS_ONLY, any other document is refused before it
//     is parsed (PERSISTED_QUERY_REQUIRED); only an introspection query
//     still runs, and only where INTROSPECTION allows it.
//
// A document found by hash goes through the same pipeline as one sent
// whole: it is the text that is analysed and admitted (no mutation over
// GET, limits, roles), whatever named it.

// PersistedConfig sets up persisted operations.
type PersistedConfig struct {
	// RedisPrefix is REDIS_PREFIX: APQ documents are shared by replicas in
	// Config.Redis under RedisPrefix + "apq:" + hash. Without Redis the
	// document cache alone keeps them.
	RedisPrefix string
	TTL         time.Duration // lifetime of an APQ document in Redis; default DefaultPersistedTTL
	// Manifest is the trusted documents (LoadManifest); nil: none.
	Manifest *Manifest
	// TrustedOnly refuses any document that is not in Manifest.
	TrustedOnly bool
}

// DefaultPersistedTTL is PERSISTED_QUERY_TTL's default.
const DefaultPersistedTTL = 24 * time.Hour

// msgPersistedQueryNotFound is the message Apollo's clients look for.
const msgPersistedQueryNotFound = "PersistedQueryNotFound"

// docRef is how a request named its document.
type docRef struct {
	key    string   // the manifest key: the hex hash, or a Relay id
	sum    [32]byte // the SHA-256, when key is one
	hashed bool
}

// persistedRef reads the request's extensions.persistedQuery or
// documentId; ok is false when it has neither.
func persistedRef(req *request) (ref docRef, ok bool, bad *refusal) {
	if req.DocumentID != "" {
		// GraphQL over HTTP's persisted documents: "sha256:<hex>", or an
		// id of the manifest's own (Relay).
		if h, found := strings.CutPrefix(req.DocumentID, "sha256:"); found {
			return hashRef(h)
		}
		return docRef{key: req.DocumentID}, true, nil
	}
	pq, found := req.Extensions["persistedQuery"]
	if !found || pq == nil {
		return docRef{}, false, nil
	}
	m, isObj := pq.(map[string]any)
	if !isObj {
		return docRef{}, false, badRequest("extensions.persistedQuery must be an object {version: 1, sha256Hash}")
	}
	if v := fmt.Sprint(m["version"]); v != "1" {
		return docRef{}, false, badRequest("extensions.persistedQuery.version must be 1 (Apollo's protocol), got " + truncate(v, 20))
	}
	h, _ := m["sha256Hash"].(string)
	return hashRef(h)
}

// hashRef is a reference by a hex SHA-256.
func hashRef(h string) (docRef, bool, *refusal) {
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != sha256.Size {
		return docRef{}, false, &refusal{Code: CodeBadUserInput,
			Message: "the persisted query's sha256Hash must be 64 hexadecimal digits"}
	}
	ref := docRef{key: strings.ToLower(h), hashed: true}
	copy(ref.sum[:], b)
	return ref, true, nil
}

func badRequest(msg string) *refusal {
	return &refusal{Code: CodeBadRequest, Message: msg, Status: http.StatusBadRequest}
}

// resolveDocument finds the request's document (by hash, or its text),
// refuses what trusted-only mode does not run, and analyses it. It sets
// c.req.Query to the document found.
func (s *Server) resolveDocument(ctx context.Context, c *call) *document {
	req := c.req
	ref, persisted, bad := persistedRef(req)
	trusted := s.cfg.Persisted.Manifest
	switch {
	case bad != nil:
		return &document{refused: bad}
	case persisted && req.Query == "":
		text, sum, r := s.storedDocument(ctx, ref)
		if r != nil {
			return &document{refused: r}
		}
		req.Query = text
		d := s.analyse(sum, text, req.OperationName, req.Variables)
		s.docs.markPersisted(sum) // read from Redis: this replica's cache answers it from now on
		return d
	}
	sum := sha256.Sum256([]byte(req.Query))
	inManifest := trusted.has(sum)
	if persisted && !(ref.hashed && sum == ref.sum || !ref.hashed && trusted.text(ref.key) == req.Query) {
		return &document{refused: &refusal{Code: CodeBadUserInput,
			Message: "provided sha does not match query: the persisted query's hash is not the SHA-256 of the query sent"}}
	}
	if s.cfg.Persisted.TrustedOnly && !inManifest {
		return s.untrusted(sum, req)
	}
	d := s.analyse(sum, req.Query, req.OperationName, req.Variables)
	d.register = persisted && ref.hashed && !inManifest
	return d
}

// untrusted is the analysis of a document outside the manifest in
// trusted-only mode: refused before it is parsed, unless introspection is
// on and it is an introspection query.
func (s *Server) untrusted(sum [32]byte, req *request) *document {
	required := &document{refused: &refusal{Code: CodePersistedQueryRequired,
		Message: "this server runs only its trusted documents (TRUSTED_DOCUMENTS_ONLY): send a registered document's hash in extensions.persistedQuery"}}
	if !s.cfg.introspectionAllowed() || len(req.Query) > s.cfg.MaxQueryLength {
		return required
	}
	d := s.analyse(sum, req.Query, req.OperationName, req.Variables)
	if d.op == nil || d.kind != "query" || !introspectionOnly(d.doc, d.op.SelectionSet, map[string]bool{}) {
		return required
	}
	return d
}

// introspectionOnly reports whether sels select nothing but __schema,
// __type and __typename (through fragments too). A fragment spread again
// inside itself is not (gqlparser parses cycles; graphql-go refuses them):
// the walk ends there, and fails closed.
func introspectionOnly(doc *gqlast.QueryDocument, sels gqlast.SelectionSet, seen map[string]bool) bool {
	for _, sel := range sels {
		switch sel := sel.(type) {
		case *gqlast.Field:
			if sel.Name != "__schema" && sel.Name != "__type" && sel.Name != "__typename" {
				return false
			}
		case *gqlast.InlineFragment:
			if !introspectionOnly(doc, sel.SelectionSet, seen) {
				return false
			}
		case *gqlast.FragmentSpread:
			f := doc.Fragments.ForName(sel.Name)
			if f == nil || seen[sel.Name] {
				return false
			}
			seen[sel.Name] = true
			ok := introspectionOnly(doc, f.SelectionSet, seen)
			delete(seen, sel.Name)
			if !ok {
				return false
			}
		}
	}
	return true
}

// storedDocument is the text of the document ref names, and its SHA-256:
// from the manifest, else (unless trusted-only) the document cache, else
// Redis.
func (s *Server) storedDocument(ctx context.Context, ref docRef) (string, [32]byte, *refusal) {
	if e, ok := s.cfg.Persisted.Manifest.entry(ref.key); ok {
		return e.text, e.sum, nil
	}
	if ref.hashed && !s.cfg.Persisted.TrustedOnly {
		if p := s.docs.get(ref.sum); p != nil && p.persisted.Load() {
			return p.text, ref.sum, nil
		}
		if text, ok := s.apq.get(ctx, ref); ok {
			return text, ref.sum, nil
		}
	}
	return "", ref.sum, &refusal{Code: CodePersistedQueryNotFound, Message: msgPersistedQueryNotFound,
		Status: http.StatusOK} // Apollo's protocol: the clients expect 200
}

// register stores an admitted APQ document (sent with its hash): this
// replica's document cache answers its hash from now on, and Redis the
// other replicas'. A document that was only sent whole, or refused, is
// never found by hash.
func (s *Server) register(ctx context.Context, c *call, d *document) {
	if d.register {
		sum := sha256.Sum256([]byte(c.req.Query))
		s.docs.markPersisted(sum)
		s.apq.put(ctx, sum, c.req.Query)
	}
}

// apqStore keeps APQ documents in Redis. Redis is an accelerator here: an
// error or a slow answer is a miss (the client then sends the document),
// never a failed request, and Redis is left alone for a while after one.
type apqStore struct {
	s         *Server
	skipUntil atomic.Int64 // unix nanoseconds
	lastLog   atomic.Int64
}

const (
	apqTimeout = 250 * time.Millisecond // a Redis round trip longer than this is a miss
	apqBackoff = 5 * time.Second        // Redis is not asked for this long after an error
)

func (a *apqStore) key(sum [32]byte) string {
	return a.s.cfg.Persisted.RedisPrefix + "apq:" + hex.EncodeToString(sum[:])
}

func (a *apqStore) usable() bool {
	return a.s.cfg.Redis != nil && time.Now().UnixNano() >= a.skipUntil.Load()
}

// get reads ref's document from Redis, checking that it is what the hash
// says (a key anyone could write must not run another document).
func (a *apqStore) get(ctx context.Context, ref docRef) (string, bool) {
	if !a.usable() {
		return "", false
	}
	ctx, cancel := context.WithTimeout(ctx, apqTimeout)
	defer cancel()
	text, err := a.s.cfg.Redis.Get(ctx, a.key(ref.sum)).Result()
	if err != nil {
		a.fail("read", err)
		return "", false
	}
	if sha256.Sum256([]byte(text)) != ref.sum {
		a.s.log.Warn("a persisted query in Redis does not match its hash: ignored", "key", a.key(ref.sum))
		return "", false
	}
	return text, true
}

// put stores a verified document for TTL.
func (a *apqStore) put(ctx context.Context, sum [32]byte, text string) {
	if !a.usable() {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), apqTimeout)
	defer cancel()
	if err := a.s.cfg.Redis.Set(ctx, a.key(sum), text, a.s.cfg.Persisted.TTL).Err(); err != nil {
		a.fail("store", err)
	}
}

// fail notes a Redis error other than a missing key: Redis is skipped for
// apqBackoff, and one line per backoff is logged.
func (a *apqStore) fail(op string, err error) {
	if errors.Is(err, redis.Nil) {
		return
	}
	now := time.Now().UnixNano()
	a.skipUntil.Store(now + int64(apqBackoff))
	if last := a.lastLog.Load(); now-last >= int64(apqBackoff) && a.lastLog.CompareAndSwap(last, now) {
		a.s.log.Warn("persisted queries: Redis "+op+" failed; the document cache alone serves for a while", "err", err)
	}
}

// Manifest is a set of trusted documents: GraphQL Codegen's client preset
// persisted-documents.json ({"<sha256>": "<document>"}), or Relay's
// {"<id>": "<document>"}.
type Manifest struct {
	byKey map[string]manifestEntry
	bySum map[[32]byte]bool
}

type manifestEntry struct {
	text string
	sum  [32]byte
}

// ParseManifest reads a manifest. A key of 64 hex digits is a SHA-256 and
// must be that of its document: a mismatch is an error naming the key.
func ParseManifest(b []byte) (*Manifest, error) {
	var raw map[string]string
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("want a JSON object of documents by hash, {\"<sha256>\": \"<document>\"}: %w", err)
	}
	m := &Manifest{byKey: make(map[string]manifestEntry, len(raw)), bySum: make(map[[32]byte]bool, len(raw))}
	var errs []error
	for key, text := range raw {
		e := manifestEntry{text: text, sum: sha256.Sum256([]byte(text))}
		got := hex.EncodeToString(e.sum[:])
		if isSHA256Hex(key) && !strings.EqualFold(key, got) {
			errs = append(errs, fmt.Errorf("entry %q: want the SHA-256 of its document as its key, which is %s", key, got))
			continue
		}
		if strings.TrimSpace(text) == "" {
			errs = append(errs, fmt.Errorf("entry %q: want a document, got an empty string", key))
			continue
		}
		if isSHA256Hex(key) {
			key = got // lookups are by the lower-case hex
		}
		m.byKey[key] = e
		m.bySum[e.sum] = true
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return m, nil
}

func isSHA256Hex(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == sha256.Size
}

// Len is the number of documents.
func (m *Manifest) Len() int {
	if m == nil {
		return 0
	}
	return len(m.byKey)
}

func (m *Manifest) has(sum [32]byte) bool { return m != nil && m.bySum[sum] }

func (m *Manifest) entry(key string) (manifestEntry, bool) {
	if m == nil {
		return manifestEntry{}, false
	}
	e, ok := m.byKey[key]
	return e, ok
}

func (m *Manifest) text(key string) string {
	e, _ := m.entry(key)
	return e.text
}

// ManifestOf is the manifest of documents (by the file each came from),
// keyed by their SHA-256, as `orgpulse documents` writes it. A document
// the server would not parse is an error naming its file.
func ManifestOf(docs map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(docs))
	var errs []error
	for name, d := range docs {
		if p := parseText(d); p.refused != nil {
			errs = append(errs, fmt.Errorf("%s: %s", name, p.refused.Message))
			continue
		}
		sum := sha256.Sum256([]byte(d))
		out[hex.EncodeToString(sum[:])] = d
	}
	return out, errors.Join(errs...)
}

// LoadManifest reads the manifest file at path (TRUSTED_DOCUMENTS).
func LoadManifest(path string) (*Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("want a readable JSON manifest of trusted documents (orgpulse documents writes one): %w", err)
	}
	m, err := ParseManifest(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}
