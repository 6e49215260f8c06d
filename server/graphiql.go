package server

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// graphiqlPage is the IDE page. It loads only the assets in graphiqlAssets,
// by absolute path under graphiqlAssetsPrefix.
//
//go:embed graphiql.html
var graphiqlPage []byte

// graphiqlAssetsPrefix is where AssetHandler expects to be mounted.
const graphiqlAssetsPrefix = "/graphiql/assets/"

const (
	contentTypeJS  = "text/javascript; charset=utf-8"
	contentTypeCSS = "text/css; charset=utf-8"
)

// graphiqlAssets is the fixed table of files the page loads: URL name ->
// file under node_modules, from the packages pinned in package.json. These
// are the prebuilt browser (UMD) bundles; each sets a global the page uses.
var graphiqlAssets = []struct {
	name        string // last element of the URL path
	file        string // slash-separated, relative to node_modules
	contentType string
}{
	{"react.production.min.js", "react/umd/react.production.min.js", contentTypeJS},             // window.React
	{"react-dom.production.min.js", "react-dom/umd/react-dom.production.min.js", contentTypeJS}, // window.ReactDOM
	{"graphql-ws.min.js", "graphql-ws/umd/graphql-ws.min.js", contentTypeJS},                    // window.graphqlWs
	{"graphiql.min.js", "graphiql/graphiql.min.js", contentTypeJS},                              // window.GraphiQL (needs React, ReactDOM)
	{"graphiql.min.css", "graphiql/graphiql.min.css", contentTypeCSS},                           // fonts inlined as data: URLs
}

// graphiqlCSP allows the page to load nothing but this server's assets and
// its own inline script, and to talk to nothing but this server (HTTP and
// WebSocket): a stray CDN reference fails loudly instead of silently
// needing the internet.
var graphiqlCSP = func() string {
	var hashes []string
	for _, m := range regexp.MustCompile(`(?s)<script>(.*?)</script>`).FindAllSubmatch(graphiqlPage, -1) {
		sum := sha256.Sum256(m[1])
		hashes = append(hashes, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
	}
	return strings.Join([]string{
		"default-src 'none'",
		"script-src 'self' " + strings.Join(hashes, " "),
		"style-src 'self' 'unsafe-inline'", // React and CodeMirror set style attributes
		"font-src 'self' data:",
		"img-src 'self' data:",
		"connect-src 'self' ws: wss:", // 'self' does not cover ws: in every browser
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'none'",
	}, "; ")
}()

// GraphiQL serves the in-browser IDE page and its assets from an npm install.
type GraphiQL struct {
	assets map[string]graphiqlAsset
}

type graphiqlAsset struct {
	body        []byte
	contentType string
	etag        string
}

// NewGraphiQL checks that every asset exists under nodeModules (the path of a
// node_modules directory) and returns an error naming the missing file and
// the command to fix it if not. The assets are read once, here.
func NewGraphiQL(nodeModules string) (*GraphiQL, error) {
	g := &GraphiQL{assets: make(map[string]graphiqlAsset, len(graphiqlAssets))}
	for _, a := range graphiqlAssets {
		path := filepath.Join(nodeModules, filepath.FromSlash(a.file))
		body, err := os.ReadFile(path)
		if err == nil && len(body) == 0 {
			err = fmt.Errorf("%s is empty", path)
		}
		if err != nil {
			return nil, fmt.Errorf("graphiql: missing asset %s (%w); install the npm packages pinned in package-lock.json: run: npm ci (in the repository root; scripts/dev.sh does it)", path, err)
		}
		sum := sha256.Sum256(body)
		g.assets[a.name] = graphiqlAsset{
			body:        body,
			contentType: a.contentType,
			etag:        `"` + hex.EncodeToString(sum[:16]) + `"`,
		}
	}
	return g, nil
}

// ServePage writes the HTML page (Content-Type text/html; charset=utf-8).
func (g *GraphiQL) ServePage(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Security-Policy", graphiqlCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Length", fmt.Sprint(len(graphiqlPage)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(graphiqlPage)
	}
}

// AssetHandler serves GET /graphiql/assets/<name> for the fixed set of asset
// names, with their Content-Type, an ETag and Cache-Control: no-cache (the
// URLs are not versioned, so browsers revalidate and get 304 Not Modified),
// and 404 for any other name. The name only selects an entry of a fixed
// table: it is never joined into a file path. The handler also works behind
// http.StripPrefix.
func (g *GraphiQL) AssetHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, graphiqlAssetsPrefix)
		name = strings.TrimPrefix(name, "/")
		a, ok := g.assets[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
		h.Set("X-Content-Type-Options", "nosniff")
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
	})
}
