package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
)

// The bare handler serves, for the request loadgen http sends, the bytes
// the upstream answered it with once it answered from its cache, with
// their Content-Type and Content-Length; any other request is a 404.
func TestBareServesTheUpstreamsCachedBytes(t *testing.T) {
	const answer = `{"data":{"organization":{"name":"Acme"}}}`
	var requests atomic.Int32
	var seen atomic.Value
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		seen.Store(string(body))
		if r.Header.Get("Authorization") != "Bearer t" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/graphql-response+json")
		status := "hit"
		if requests.Add(1) == 1 {
			status = "miss"
		}
		w.Header().Set(headerOrgpulseCache, status)
		w.Write([]byte(answer))
	}))
	defer upstream.Close()
	dir := t.TempDir()
	file := filepath.Join(dir, "org.graphql")
	if err := os.WriteFile(file, []byte("{ organization(id: 1) { name } }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var hdr headerFlags
	if err := hdr.Set("Authorization: Bearer t"); err != nil {
		t.Fatal(err)
	}
	h, err := fetchAnswers(context.Background(), upstream.URL+"/graphql", []string{file}, hdr)
	if err != nil {
		t.Fatal(err)
	}
	if got := requests.Load(); got != 2 {
		t.Errorf("%d upstream requests, want 2 (a miss, then the hit served)", got)
	}
	// The body loadgen http sends for the same flags.
	hf := httpFlags{url: upstream.URL + "/graphql", file: file, headers: hdr}
	req, err := hf.build()
	if err != nil {
		t.Fatal(err)
	}
	if got := seen.Load(); got != string(req.body) {
		t.Errorf("upstream got %s, loadgen http sends %s", got, req.body)
	}
	bare := httptest.NewServer(h)
	defer bare.Close()

	res, err := http.Post(bare.URL+"/graphql", "application/json", bytes.NewReader(req.body))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(got) != answer || res.Header.Get("Content-Type") != "application/graphql-response+json" ||
		res.Header.Get("Content-Length") != strconv.Itoa(len(answer)) {
		t.Errorf("known body: %d %q (Content-Type %q, Content-Length %q), want 200 %q", res.StatusCode, got,
			res.Header.Get("Content-Type"), res.Header.Get("Content-Length"), answer)
	}
	// loadgen's own connection, as the benchmark drives it.
	c, err := newConn(&request{url: bare.URL + "/graphql", body: req.body})
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	var buf bytes.Buffer
	if b, err := c.do(context.Background(), &buf); err != nil || string(b) != answer {
		t.Errorf("loadgen conn: %q, %v", b, err)
	}

	for _, tc := range []struct{ method, path, body string }{
		{http.MethodPost, "/graphql", `{"query":"{ other }"}`},
		{http.MethodPost, "/other", string(req.body)},
		{http.MethodGet, "/graphql", ""},
	} {
		hr, _ := http.NewRequest(tc.method, bare.URL+tc.path, bytes.NewReader([]byte(tc.body)))
		res, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("%s %s %s: %d, want 404", tc.method, tc.path, tc.body, res.StatusCode)
		}
	}
}

// An upstream that never answers from its cache (but consults it) is an
// error: the bare server would serve an uncached answer.
func TestBareRefusesAnUpstreamThatNeverHits(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(headerOrgpulseCache, "miss")
		w.Write([]byte(`{"data":{}}`))
	}))
	defer upstream.Close()
	file := filepath.Join(t.TempDir(), "a.graphql")
	if err := os.WriteFile(file, []byte("{ a }"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := fetchAnswers(context.Background(), upstream.URL+"/graphql", []string{file}, nil); err == nil {
		t.Fatal("no error for an upstream that never hits")
	}
}
