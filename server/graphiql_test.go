package server_test

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"orgpulse/resolvers"
	"orgpulse/server"
	"orgpulse/testsupport"
)

func newGraphiQLServer(t *testing.T) *httptest.Server {
	t.Helper()
	g, err := server.NewGraphiQL("")
	if err != nil {
		t.Fatalf("NewGraphiQL(embedded): %v", err)
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

	refs := pageRefs(t, page)
	var js, css int
	for _, url := range refs {
		if url == "data:," { // the empty icon
			continue
		}
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
	g, err := server.NewGraphiQL("")
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

// pageRefs returns every src and href attribute of the page's elements.
func pageRefs(t *testing.T, page string) []string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatalf("parse page: %v", err)
	}
	var refs []string
	for n := range doc.Descendants() {
		for _, a := range n.Attr {
			if a.Key == "src" || a.Key == "href" {
				refs = append(refs, a.Val)
			}
		}
	}
	return refs
}

// A page without an icon makes every browser ask for /favicon.ico, a 404.
func TestGraphiQLPageLinksAnIcon(t *testing.T) {
	srv := newGraphiQLServer(t)
	_, page := get(t, srv.URL+"/graphiql")
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var icons []string
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode || n.Data != "link" {
			continue
		}
		var rel, href string
		for _, a := range n.Attr {
			switch a.Key {
			case "rel":
				rel = a.Val
			case "href":
				href = a.Val
			}
		}
		if slices.Contains(strings.Fields(strings.ToLower(rel)), "icon") {
			icons = append(icons, href)
		}
	}
	if len(icons) != 1 || !strings.HasPrefix(icons[0], "data:") {
		t.Errorf("page links icons %q, want one data: URL", icons)
	}
}

// Browsers get the embedded gzip copy as is; a client that refuses gzip
// gets the same bytes uncompressed.
func TestGraphiQLAssetGzip(t *testing.T) {
	srv := newGraphiQLServer(t)
	url := srv.URL + "/graphiql/assets/graphiql.min.js"
	fetch := func(acceptEncoding string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if acceptEncoding != "" {
			req.Header.Set("Accept-Encoding", acceptEncoding)
		}
		// No transparent decompression: see the bytes on the wire.
		client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}
	_, plain := fetch("")
	for _, tc := range []struct {
		acceptEncoding string
		wantGzip       bool
	}{
		{"", false},
		{"gzip", true},
		{"br, gzip, deflate", true},
		{"GZIP;q=0.5", true},
		{"*", true},
		{"gzip;q=0", false},
		{"gzip;q=nonsense", false},
		{"identity", false},
		{"br", false},
	} {
		resp, body := fetch(tc.acceptEncoding)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("Accept-Encoding %q: status %d", tc.acceptEncoding, resp.StatusCode)
		}
		if got := resp.Header.Get("Vary"); got != "Accept-Encoding" {
			t.Errorf("Accept-Encoding %q: Vary %q", tc.acceptEncoding, got)
		}
		if got := resp.Header.Get("Content-Encoding") == "gzip"; got != tc.wantGzip {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, want gzip %v", tc.acceptEncoding, resp.Header.Get("Content-Encoding"), tc.wantGzip)
			continue
		}
		if tc.wantGzip {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(body, plain) {
			t.Errorf("Accept-Encoding %q: body differs from the identity body", tc.acceptEncoding)
		}
	}
	if len(plain) < 100_000 {
		t.Errorf("graphiql.min.js is %d bytes: not the real bundle", len(plain))
	}
}

// The embedded copy is what package-lock.json pins: the manifest names the
// lockfile's versions and tarball hashes, the served files have the
// manifest's hashes, and an installed node_modules (npm ci) holds the same
// files. No network: a changed lockfile fails here until go generate runs.
func TestGraphiQLEmbeddedMatchesLockfile(t *testing.T) {
	var manifest struct {
		Assets []struct {
			Name, File, Package, Version, Integrity, SHA256 string
		}
	}
	readJSON(t, filepath.Join("graphiql", "manifest.json"), &manifest)
	var lock struct {
		Packages map[string]struct{ Version, Integrity string }
	}
	readJSON(t, filepath.Join("..", "package-lock.json"), &lock)
	if len(manifest.Assets) == 0 {
		t.Fatal("manifest.json lists no assets")
	}
	srv := newGraphiQLServer(t)
	for _, a := range manifest.Assets {
		locked := lock.Packages["node_modules/"+a.Package]
		if a.Version != locked.Version || a.Integrity != locked.Integrity {
			t.Errorf("%s: embedded %s %s (%s), package-lock.json has %q (%s): run npm ci && go generate ./server/",
				a.Name, a.Package, a.Version, a.Integrity, locked.Version, locked.Integrity)
		}
		resp, body := get(t, srv.URL+"/graphiql/assets/"+a.Name)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: status %d", a.Name, resp.StatusCode)
		}
		if got := sha256Hex([]byte(body)); got != a.SHA256 {
			t.Errorf("served %s has sha256 %s, manifest.json says %s", a.Name, got, a.SHA256)
		}
		installed, err := os.ReadFile(filepath.Join("..", "node_modules", filepath.FromSlash(a.File)))
		if errors.Is(err, fs.ErrNotExist) {
			continue // no npm ci here; the lockfile check above suffices
		}
		if err != nil {
			t.Fatal(err)
		}
		if got := sha256Hex(installed); got != a.SHA256 {
			t.Errorf("node_modules/%s differs from the embedded copy: run go generate ./server/ (or npm ci)", a.File)
		}
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// GRAPHIQL_ASSETS names a node_modules directory that replaces the
// embedded copy, file for file.
func TestGraphiQLAssetsOverride(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"react/umd/react.production.min.js":         "/* react */",
		"react-dom/umd/react-dom.production.min.js": "/* react-dom */",
		"graphql-ws/umd/graphql-ws.min.js":          "/* graphql-ws */",
		"graphiql/graphiql.min.js":                  "/* graphiql */",
		"graphiql/graphiql.min.css":                 "/* graphiql css */",
	}
	for f, body := range files {
		path := filepath.Join(dir, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	g, err := server.NewGraphiQL(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.AssetHandler())
	t.Cleanup(srv.Close)
	for f, want := range files {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/graphiql/assets/"+path.Base(f), nil)
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != want {
			t.Errorf("GET %s: status %d, body %q, want %q", path.Base(f), resp.StatusCode, body, want)
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

// With DEBUG and GRAPHIQL_TOKEN (dev.sh), the page pre-fills the headers
// editor with the token, in a meta element the page's script reads, so
// the script's hash in the CSP still holds; without DEBUG it never does.
func TestGraphiQLPrefillsTheToken(t *testing.T) {
	db := testsupport.MustOpenDB(t)
	for _, debug := range []bool{true, false} {
		srv := testsupport.MustStartServer(t, db, func(s *server.Config, _ *resolvers.Config) {
			s.Debug, s.GraphiQLToken = debug, "tok-123.abc"
		})
		res, err := http.Get(srv.URL + "/graphiql")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		has := strings.Contains(string(body), `<meta name="orgpulse-headers" content="{
  &#34;Authorization&#34;: &#34;Bearer tok-123.abc&#34;,`)
		if has != debug {
			t.Errorf("DEBUG=%v: token pre-filled %v:\n%.600s", debug, has, body)
		}
		if !strings.Contains(res.Header.Get("Content-Security-Policy"), "sha256-") || res.ContentLength != int64(len(body)) {
			t.Errorf("DEBUG=%v: CSP %q, length %d of %d", debug, res.Header.Get("Content-Security-Policy"), res.ContentLength, len(body))
		}
	}
}
