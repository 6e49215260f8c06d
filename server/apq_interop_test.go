package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"orgpulse/testsupport"
)

// apolloScript runs a query twice through Apollo Client's persisted-query
// link (each time in a new client, as two page loads would), over POST and
// then with useGETForHashedQueries, hashing with node's crypto. It prints
// each result, then every request the link sent.
const apolloScript = `
const { ApolloClient, InMemoryCache, HttpLink, gql } = require('@apollo/client');
const { PersistedQueryLink } = require('@apollo/client/link/persisted-queries');
const { createHash } = require('crypto');
const [url, token, orgId] = process.argv.slice(1);
const sha256 = (s) => createHash('sha256').update(s).digest('hex');
const sent = [];
const logged = (uri, opts) => {
  const u = new URL(String(uri));
  const body = opts.body ? JSON.parse(opts.body) : {};
  const ext = body.extensions || (u.searchParams.get('extensions') && JSON.parse(u.searchParams.get('extensions')));
  sent.push({ method: opts.method || 'POST', hash: !!(ext && ext.persistedQuery), query: !!(body.query || u.searchParams.get('query')) });
  return fetch(uri, opts);
};
const client = (useGETForHashedQueries) => new ApolloClient({
  cache: new InMemoryCache(),
  link: new PersistedQueryLink({ sha256, useGETForHashedQueries }).concat(
    new HttpLink({ uri: url, fetch: logged, headers: { Authorization: 'Bearer ' + token } })),
});
(async () => {
  for (const get of [false, true]) {
    const query = gql('query Org' + (get ? 'Get' : 'Post') + '($id: ID!) { organization(id: $id) { id name } }');
    for (let i = 0; i < 2; i++) {
      const res = await client(get).query({ query, variables: { id: orgId } });
      console.log(JSON.stringify({ get, data: res.data, error: res.error && res.error.message }));
    }
  }
  console.log(JSON.stringify({ sent }));
})().catch((e) => { console.error('ERR', e && e.message, JSON.stringify(sent)); process.exit(1); });
`

// TestApolloPersistedQueryLinkInterop: Apollo Client's own persisted-query
// link against the server: a hash the server does not know, the retry
// with the document, then the hash alone (over POST, then GET).
func TestApolloPersistedQueryLinkInterop(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	root, _ := filepath.Abs("..")
	if _, err := os.Stat(filepath.Join(root, "node_modules", "@apollo", "client", "package.json")); err != nil {
		t.Skip("@apollo/client is not installed: run npm ci")
	}
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db)
	orgID := db.MustQueryInt64(t, "SELECT min(id) FROM organizations")
	name := db.MustQueryStrings(t, "SELECT name FROM organizations WHERE id = $1", orgID)[0]

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, node, "-e", apolloScript, srv.URL+"/graphql", testsupport.APIToken, fmt.Sprint(orgID))
	cmd.Dir = root // require() finds node_modules from here
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node: %v\n%s%s", err, out.String(), stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("node printed:\n%s%s", out.String(), stderr.String())
	}
	for i, get := range []bool{false, false, true, true} {
		assertJSON(t, "result "+fmt.Sprint(i), json.RawMessage(lines[i]),
			fmt.Sprintf(`{"get":%v,"data":{"organization":{"__typename":"Organization","id":"%d","name":%q}}}`, get, orgID, name))
	}
	// POST: hash (not found), hash and document, hash. GET: hash (not
	// found), the document over POST (the link's retry), hash over GET.
	assertJSON(t, "requests the link sent", json.RawMessage(lines[4]), `{"sent":[
		{"method":"POST","hash":true,"query":false},
		{"method":"POST","hash":true,"query":true},
		{"method":"POST","hash":true,"query":false},
		{"method":"GET","hash":true,"query":false},
		{"method":"POST","hash":true,"query":true},
		{"method":"GET","hash":true,"query":false}]}`)
}
