package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"orgpulse/app"
	"orgpulse/resolvers"
	"orgpulse/server"
	"orgpulse/testsupport"
)

// curlOperation is one scripts/curl file with the variables run-all.sh
// sends with it (NAME.json beside it), as schema/readme_test.go reads them.
type curlOperation struct {
	path, doc string
	vars      map[string]any
}

func curlOperations(t *testing.T, dir string) []curlOperation {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "scripts", "curl", dir, "*.graphql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no operations in scripts/curl/%s: %v", dir, err)
	}
	var out []curlOperation
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		op := curlOperation{path: f, doc: string(b)}
		if j, err := os.ReadFile(strings.TrimSuffix(f, ".graphql") + ".json"); err == nil {
			if err := json.Unmarshal(j, &op.vars); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
		}
		out = append(out, op)
	}
	return out
}

// trustedServer serves the manifest `orgpulse documents` writes for every
// scripts/curl operation, in trusted-only mode.
func trustedServer(t *testing.T, db *testsupport.DB, introspection bool) *testsupport.Server {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join("..", "scripts", "curl", "*.graphql"))
	more, _ := filepath.Glob(filepath.Join("..", "scripts", "curl", "mutations", "*.graphql"))
	var out bytes.Buffer
	if err := app.Documents(append(files, more...), &bytes.Buffer{}, &out); err != nil {
		t.Fatalf("orgpulse documents: %v", err)
	}
	path := filepath.Join(t.TempDir(), "manifest.json")
	if err := os.WriteFile(path, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := server.LoadManifest(path)
	if err != nil {
		t.Fatalf("load the manifest orgpulse documents wrote: %v", err)
	}
	if m.Len() != len(files)+len(more) {
		t.Fatalf("the manifest has %d documents, want %d", m.Len(), len(files)+len(more))
	}
	return testsupport.MustStartServer(t, db, func(c *server.Config, _ *resolvers.Config) {
		c.Persisted.Manifest, c.Persisted.TrustedOnly = m, true
		c.Introspection = &introspection
	})
}

// TestTrustedDocumentsOnly: every scripts/curl operation runs by hash from
// the manifest `orgpulse documents` wrote; an ad-hoc document, or one sent
// for registration, is refused before it is parsed, and introspection
// runs only where INTROSPECTION allows it.
func TestTrustedDocumentsOnly(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := trustedServer(t, db, true)
	for _, op := range curlOperations(t, "") {
		res := apqPost(t, srv, op.doc, op.vars, false)
		if len(res.Errors) > 0 || len(res.Data) == 0 {
			t.Errorf("%s by hash: %s", op.path, res.Raw)
		}
		// The text itself is in the manifest too.
		if res := srv.Query(t, op.doc, op.vars); len(res.Errors) > 0 {
			t.Errorf("%s sent whole: %s", op.path, res.Raw)
		}
	}
	runCurlMutations(t, srv)

	const adHoc = `{ employeeStats { total } }`
	srv.Query(t, adHoc, nil).MustError(t, server.CodePersistedQueryRequired)
	apqPost(t, srv, adHoc, nil, true).MustError(t, server.CodePersistedQueryRequired)
	mustNotFound(t, apqPost(t, srv, adHoc, nil, false))
	// Not even parsed: a syntax error is not reported as one.
	srv.Query(t, `{ employeeStats { total `, nil).MustError(t, server.CodePersistedQueryRequired)
	// Introspection alone runs where it is allowed; mixed with data, not.
	const intro = `{ __schema { queryType { name } } }`
	if res := srv.Query(t, intro, nil); len(res.Errors) > 0 {
		t.Fatalf("introspection with INTROSPECTION on: %s", res.Raw)
	}
	srv.Query(t, `{ __schema { queryType { name } } employeeStats { total } }`, nil).MustError(t, server.CodePersistedQueryRequired)
	// A fragment cycle (which gqlparser parses) ends the walk, refused.
	srv.Query(t, `{ ...A } fragment A on Query { __typename ...A }`, nil).MustError(t, server.CodePersistedQueryRequired)
	if res := srv.Query(t, `{ ...A } fragment A on Query { __schema { queryType { name } } }`, nil); len(res.Errors) > 0 {
		t.Fatalf("introspection through a fragment: %s", res.Raw)
	}
	closed := trustedServer(t, db, false)
	closed.Query(t, intro, nil).MustError(t, server.CodePersistedQueryRequired)
}

// runCurlMutations runs scripts/curl/mutations as its run-all.sh does,
// each by hash, each feeding the next its ids.
func runCurlMutations(t *testing.T, srv *testsupport.Server) {
	t.Helper()
	docs, ran := map[string]string{}, map[string]bool{}
	for _, op := range curlOperations(t, "mutations") {
		docs[strings.TrimSuffix(filepath.Base(op.path), ".graphql")] = op.doc
	}
	// run runs one mutation and returns the id it answered ("" if none).
	run := func(name string, vars map[string]any) string {
		t.Helper()
		res := apqPost(t, srv, docs[name], vars, false)
		var data map[string]json.RawMessage
		if len(res.Errors) > 0 || json.Unmarshal(res.Data, &data) != nil {
			t.Fatalf("%s by hash: %s", name, res.Raw)
		}
		ran[name] = true
		for _, v := range data {
			var obj struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(v, &obj) // deleteEmployee answers a Boolean
			return obj.ID
		}
		return ""
	}
	org := run("create-organization", map[string]any{"name": "Trusted Co"})
	other := run("create-organization", map[string]any{"name": "Trusted Co B"})
	emp := run("create-employee", map[string]any{"organizationId": org, "email": "ada@trusted.example"})
	proj := run("create-project", map[string]any{"organizationId": org})
	run("add-team-member", map[string]any{"projectId": proj, "employeeId": emp})
	run("remove-team-member", map[string]any{"projectId": proj, "employeeId": emp})
	run("update-project", map[string]any{"id": proj, "status": "completed"})
	run("update-employee", map[string]any{"id": emp, "salary": 190000, "organizationId": other})
	run("record-metric", nil)
	run("delete-employee", map[string]any{"id": emp})
	run("update-organization", map[string]any{"id": org, "isActive": false})
	if len(ran) != len(docs) {
		t.Errorf("ran %d of the %d mutations: %v", len(ran), len(docs), ran)
	}
}

// TestTrustedDocumentsByRelayID: a Relay manifest's own ids name documents
// as documentId; the ids are not hashes, so only the key matters.
func TestTrustedDocumentsByRelayID(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	m, err := server.ParseManifest([]byte(`{"EmployeeStatsQuery": "query EmployeeStatsQuery { employeeStats { total } }"}`))
	if err != nil {
		t.Fatal(err)
	}
	srv := testsupport.MustStartServer(t, db, func(c *server.Config, _ *resolvers.Config) {
		c.Persisted.Manifest, c.Persisted.TrustedOnly = m, true
	})
	res := rawRequest(t, srv, http.MethodPost, "/graphql", ctJSON, "", []byte(`{"documentId": "EmployeeStatsQuery"}`), nil)
	mustData(t, res)
	res = rawRequest(t, srv, http.MethodGet, "/graphql?documentId=EmployeeStatsQuery", "", "", nil, nil)
	mustData(t, res)
	res = rawRequest(t, srv, http.MethodPost, "/graphql", ctJSON, "", []byte(`{"documentId": "Nope"}`), nil)
	mustNotFound(t, res)
}
