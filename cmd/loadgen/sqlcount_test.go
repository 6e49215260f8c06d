package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"orgpulse/testsupport"
)

// sqlcount reads extensions.debug through the GraphQL client, whether
// the request is built from -query or sent as a raw -body.
func TestSQLCount(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartServer(t, db, testsupport.NoCache)
	for _, args := range [][]string{
		{"-query", `query Q($n: Int) { organizations(first: $n) { nodes { id } } }`, "-vars", `{"n": 2}`, "-operation", "Q"},
		{"-body", `{"query": "{ organizations(first: 2) { nodes { id } } }"}`},
	} {
		out := filepath.Join(t.TempDir(), "sqlcount.json")
		if err := runSQLCount(context.Background(), append(args, "-url", srv.URL+"/graphql", "-H", "Authorization: Bearer "+testsupport.APIToken, "-o", out)); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var res Result
		if err := json.Unmarshal(b, &res); err != nil {
			t.Fatal(err)
		}
		if res.SQLCount == nil || *res.SQLCount < 1 || len(res.Statements) == 0 {
			t.Errorf("%v: %s", args, b)
		}
	}
	err := runSQLCount(context.Background(), []string{"-url", srv.URL + "/graphql", "-H", "Authorization: Bearer " + testsupport.APIToken, "-query", "{ nope }", "-o", os.DevNull})
	if err == nil || !strings.Contains(err.Error(), "GRAPHQL_VALIDATION_FAILED") {
		t.Errorf("an invalid document: %v", err)
	}
}
