package server_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"orgpulse/server"
)

// nodeModules is the repository's npm install (scripts/test.sh runs npm ci).
const nodeModules = "../node_modules"

func newGraphiQLServer(t *testing.T) *httptest.Server {
	t.Helper()
	g, err := server.NewGraphiQL(nodeModules)
	if err != nil {
		t.Fatalf("NewGraphiQL(%q): %v", nodeModules, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/graphiql", g.ServePage)
	mux.Handle("/graphiql/assets/", g.AssetHandler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// get fetches url without following redirects.
func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return resp, string(body)
}

func TestGraphiQLPageAndAssets(t *testing.T) {
	srv := newGraphiQLServer(t)

	resp, page := get(t, srv.URL+"/graphiql")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /graphiql: status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("GET /graphiql: Content-Type %q", ct)
	}
	for _, want := range []string{
		"<title>orgpulse GraphiQL</title>",
		"allOrganizations",
		"X-Debug",
		"Authorization",
		"Bearer",
		"GraphiQL.createFetcher",
		"graphqlWs.createClient",
		"'/graphql'",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page does not contain %q", want)
		}
	}
	// No CDN, no external anything: the page must work offline.
	if m := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`).FindString(page); m != "" {
		t.Errorf("page references an external URL: %q", m)
	}
	for _, scheme := range []string{"http://", "https://"} {
		if strings.Contains(strings.ToLower(page), scheme) {
			t.Errorf("page contains %q", scheme)
		}
	}

	refs := regexp.MustCompile(`(?:src|href)\s*=\s*"([^"]*)"`).FindAllStringSubmatch(page, -1)
	var js, css int
	for _, m := range refs {
		url := m[1]
		if !strings.HasPrefix(url, "/graphiql/assets/") {
			t.Errorf("asset %q is not under /graphiql/assets/", url)
			continue
		}
		resp, body := get(t, srv.URL+url)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d", url, resp.StatusCode)
			continue
		}
		if len(body) == 0 {
			t.Errorf("GET %s: empty body", url)
		}
		ct := resp.Header.Get("Content-Type")
		switch {
		case strings.HasSuffix(url, ".js"):
			js++
			if !strings.Contains(ct, "javascript") {
				t.Errorf("GET %s: Content-Type %q, want javascript", url, ct)
			}
		case strings.HasSuffix(url, ".css"):
			css++
			if !strings.Contains(ct, "css") {
				t.Errorf("GET %s: Content-Type %q, want css", url, ct)
			}
		default:
			t.Errorf("unexpected asset kind %s (Content-Type %q)", url, ct)
		}
		if resp.Header.Get("Cache-Control") == "" {
			t.Errorf("GET %s: no Cache-Control", url)
		}

		// Revalidation answers 304 Not Modified.
		if etag := resp.Header.Get("ETag"); etag != "" {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+url, nil)
			req.Header.Set("If-None-Match", etag)
			resp2, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("conditional GET %s: %v", url, err)
			}
			resp2.Body.Close()
			if resp2.StatusCode != http.StatusNotModified {
				t.Errorf("conditional GET %s: status %d, want 304", url, resp2.StatusCode)
			}
		}
	}
	// React, ReactDOM, graphql-ws, GraphiQL; GraphiQL's stylesheet.
	if js != 4 || css != 1 {
		t.Errorf("page references %d scripts and %d stylesheets, want 4 and 1: %q", js, css, refs)
	}
}

func TestGraphiQLAssetNotFound(t *testing.T) {
	srv := newGraphiQLServer(t)
	for _, path := range []string{
		"/graphiql/assets/..%2f..%2fgo.mod",
		"/graphiql/assets/..%2F..%2Fpackage.json",
		"/graphiql/assets/%2e%2e/%2e%2e/go.mod",
		"/graphiql/assets/nope.js",
		"/graphiql/assets/react/umd/react.production.min.js",
		"/graphiql/assets/graphiql.min.js.map",
		"/graphiql/assets/",
	} {
		resp, body := get(t, srv.URL+path)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", path, resp.StatusCode)
		}
		if strings.Contains(body, "module orgpulse") || strings.Contains(body, "orgpulse-graphiql") {
			t.Errorf("GET %s: leaked a repository file", path)
		}
	}

	// Straight to the handler, past any cleaning a mux does.
	g, err := server.NewGraphiQL(nodeModules)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{
		"/graphiql/assets/../../go.mod",
		"/graphiql/assets/../graphiql/graphiql.min.js",
		"/graphiql/assets/./graphiql.min.js",
		"/graphiql/assets/graphiql.min.js/",
	} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.Path = path
		rec := httptest.NewRecorder()
		g.AssetHandler().ServeHTTP(rec, req)
		if rec.Code != http.StatusNotFound {
			t.Errorf("handler %s: status %d, want 404", path, rec.Code)
		}
	}
}

func TestNewGraphiQLMissingAssets(t *testing.T) {
	_, err := server.NewGraphiQL(t.TempDir())
	if err == nil {
		t.Fatal("NewGraphiQL on an empty directory: no error")
	}
	if !strings.Contains(err.Error(), "npm ci") {
		t.Errorf("error does not say to run npm ci: %v", err)
	}
	if !strings.Contains(err.Error(), ".js") && !strings.Contains(err.Error(), ".css") {
		t.Errorf("error does not name the missing file: %v", err)
	}
}
