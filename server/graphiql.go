package server

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// graphiqlPage is the IDE page. It loads only the assets listed in
// graphiql/manifest.json, by absolute path under graphiqlAssetsPrefix.
//
//go:embed graphiql.html
var graphiqlPage []byte

// graphiqlAssetsPrefix is where AssetHandler expects to be mounted.
const graphiqlAssetsPrefix = "/graphiql/assets/"

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

// GraphiQL serves the in-browser IDE page and its assets: by default the
// copy embedded in the binary, so /graphiql works offline from any working
// directory.
type GraphiQL struct {
	assets map[string]graphiqlAsset
	page   []byte // graphiqlPage, with pre-filled headers if any (WithHeaders)
}

// WithHeaders makes the page pre-fill GraphiQL's headers editor with h (a
// meta element the page's script reads: its hash in the CSP stays).
func (g *GraphiQL) WithHeaders(h map[string]string) {
	raw, _ := json.MarshalIndent(h, "", "  ")
	meta := `<meta name="orgpulse-headers" content="` + html.EscapeString(string(raw)) + `">`
	g.page = bytes.Replace(graphiqlPage, []byte("<head>\n"), []byte("<head>\n"+meta+"\n"), 1)
}

func (g *GraphiQL) pageBytes() []byte {
	if g.page != nil {
		return g.page
	}
	return graphiqlPage
}

type graphiqlAsset struct {
	body        []byte
	gzip        []byte // body gzip-compressed; nil when served from a directory
	contentType string
	etag        string
}

//go:generate go run ./graphiql/gen

// graphiqlFiles is GraphiQL's assets as server/graphiql/gen copied them from
// the npm packages pinned in package-lock.json: manifest.json lists them,
// assets/<name>.gz holds each one gzip-compressed.
//
//go:embed graphiql/manifest.json graphiql/assets
var graphiqlFiles embed.FS

// graphiqlManifestAsset is one entry of graphiql/manifest.json (written by
// server/graphiql/gen, which documents the fields).
type graphiqlManifestAsset struct {
	Name        string `json:"name"`
	File        string `json:"file"`
	ContentType string `json:"contentType"`
	SHA256      string `json:"sha256"`
}

// NewGraphiQL loads the assets the page loads. With dir empty they come
// from the copy embedded in the binary, checked against the manifest's
// hashes. Otherwise dir is a node_modules directory (after npm ci) that
// overrides the embedded copy, and the error names any missing file. The
// assets are read once, here.
func NewGraphiQL(dir string) (*GraphiQL, error) {
	b, err := graphiqlFiles.ReadFile("graphiql/manifest.json")
	if err != nil {
		return nil, fmt.Errorf("graphiql: %w", err)
	}
	var manifest struct{ Assets []graphiqlManifestAsset }
	if err := json.Unmarshal(b, &manifest); err != nil || len(manifest.Assets) == 0 {
		return nil, fmt.Errorf("graphiql: bad embedded manifest.json: %v", err)
	}
	g := &GraphiQL{assets: make(map[string]graphiqlAsset, len(manifest.Assets))}
	for _, m := range manifest.Assets {
		a := graphiqlAsset{contentType: m.ContentType}
		if dir == "" {
			a.body, a.gzip, err = embeddedAsset(m)
		} else {
			a.body, err = assetFromDir(dir, m)
		}
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(a.body)
		a.etag = hex.EncodeToString(sum[:16])
		g.assets[m.Name] = a
	}
	return g, nil
}

// embeddedAsset returns the embedded file, uncompressed and compressed,
// refusing a copy whose hash is not the manifest's.
func embeddedAsset(m graphiqlManifestAsset) (body, gz []byte, err error) {
	gz, err = graphiqlFiles.ReadFile("graphiql/assets/" + m.Name + ".gz")
	if err == nil {
		var zr *gzip.Reader
		if zr, err = gzip.NewReader(bytes.NewReader(gz)); err == nil {
			body, err = io.ReadAll(zr)
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("graphiql: embedded %s: %w", m.Name, err)
	}
	if sum := sha256.Sum256(body); hex.EncodeToString(sum[:]) != m.SHA256 {
		return nil, nil, fmt.Errorf("graphiql: embedded %s does not match manifest.json: run go generate ./server/", m.Name)
	}
	return body, gz, nil
}

func assetFromDir(dir string, m graphiqlManifestAsset) ([]byte, error) {
	path := filepath.Join(dir, filepath.FromSlash(m.File))
	body, err := os.ReadFile(path)
	if err == nil && len(body) == 0 {
		err = fmt.Errorf("%s is empty", path)
	}
	if err != nil {
		return nil, fmt.Errorf("graphiql: missing asset %s (%w); the directory must be a node_modules holding the npm packages pinned in package-lock.json: run npm ci (in the repository root), or unset it to use the copy built into the binary", path, err)
	}
	return body, nil
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
	page := g.pageBytes()
	h.Set("Content-Length", fmt.Sprint(len(page)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(page)
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
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Vary", "Accept-Encoding")
		body, etag := a.body, a.etag
		if a.gzip != nil && acceptsGzip(r) {
			// Each encoding is its own representation: its own ETag.
			body, etag = a.gzip, a.etag+"-gzip"
			h.Set("Content-Encoding", "gzip")
		}
		h.Set("ETag", `"`+etag+`"`)
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(body))
	})
}

// acceptsGzip reports whether the request's Accept-Encoding lists gzip (or
// *) with a nonzero quality. A value it cannot read counts as no: the
// identity body is always acceptable.
func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for _, part := range strings.Split(v, ",") {
			coding, params, _ := strings.Cut(part, ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			if coding != "gzip" && coding != "*" {
				continue
			}
			key, q, hasQ := strings.Cut(strings.TrimSpace(params), "=")
			if params == "" {
				return true
			}
			if hasQ && strings.TrimSpace(key) == "q" {
				f, err := strconv.ParseFloat(strings.TrimSpace(q), 64)
				return err == nil && f > 0
			}
			return false
		}
	}
	return false
}
