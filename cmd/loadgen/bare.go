package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// runBare serves the floor of Go's HTTP stack for scripts/bench.sh: a
// plain net/http handler answering each benchmark operation with the bytes
// the cached orgpulse server answered it with, taken from that server at
// start. A cached orgpulse read does this and more (admission, parse, one
// Redis round trip), so the gap between the two is what orgpulse adds to
// HTTP alone (issue #22).
func runBare(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bare", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:18090", "loopback address to listen on")
	upstream := fs.String("url", "", "the cached orgpulse server whose answers are served (loopback only)")
	var files fileList
	fs.Var(&files, "file", "an operation, as loadgen http's -file (repeatable)")
	var headers headerFlags
	fs.Var(&headers, "H", "header 'Name: value' sent to -url, as loadgen http's -H (repeatable)")
	save := fs.String("save", "", "directory to write each answer into, as NAME.response (NAME: the file's name without its extension)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(files) == 0 || *upstream == "" {
		return errors.New("give -url and at least one -file")
	}
	if err := requireLoopback("http://" + *listen); err != nil {
		return err
	}
	h, err := fetchAnswers(ctx, *upstream, files, headers)
	if err != nil {
		return err
	}
	for _, a := range h.order {
		fmt.Fprintf(os.Stderr, "bare: %s: %d bytes (%s: %q)\n", a.file, len(a.body), headerOrgpulseCache, a.cache)
	}
	if *save != "" {
		if err := h.save(*save); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutCtx)
	}()
	fmt.Fprintf(os.Stderr, "bare: listening on %s, %d operations of %s\n", ln.Addr(), len(h.answers), *upstream)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// fileList collects repeated -file flags.
type fileList []string

func (f *fileList) String() string     { return strings.Join(*f, ",") }
func (f *fileList) Set(v string) error { *f = append(*f, v); return nil }

// bareAnswer is one upstream response: what a client needs of it.
type bareAnswer struct {
	file        string
	cache       string // the upstream's X-Orgpulse-Cache
	body        []byte
	contentType string
	length      string // Content-Length, formatted once
}

// bareHandler answers a POST to path whose body is one of the requests it
// knows with that request's answer, and anything else with 404.
type bareHandler struct {
	path    string
	answers map[string]*bareAnswer // by request body
	order   []*bareAnswer          // in -file order, for the log and -save
}

// maxBareBody bounds a request body, as any server bounds it.
const maxBareBody = 1 << 20

func (h *bareHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != h.path {
		http.NotFound(w, r)
		return
	}
	// The whole body is read, as a real server must before answering.
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBareBody))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	a, ok := h.answers[string(body)]
	if !ok {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", a.contentType)
	hd.Set("Content-Length", a.length)
	_, _ = w.Write(a.body)
}

// maxFetches bounds the requests for one answer: a cacheable operation is
// a hit by the second, one the server does not keep whole (its header is
// then absent) by the second too.
const maxFetches = 5

// fetchAnswers sends each file's request to upstream exactly as loadgen
// http builds and writes it (httpFlags.build, conn), so the bodies the
// load generator later sends to the bare server are byte for byte the
// ones fetched here. Each is sent until the server answers it from its
// response cache (X-Orgpulse-Cache: hit), or says it did not consult the
// cache (no header: the operation is not kept whole): the bytes served
// are then the cached server's steady-state answer.
func fetchAnswers(ctx context.Context, upstream string, files []string, headers headerFlags) (*bareHandler, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, err
	}
	h := &bareHandler{path: u.Path, answers: map[string]*bareAnswer{}}
	if h.path == "" {
		h.path = "/"
	}
	for _, f := range files {
		hf := httpFlags{url: upstream, file: f, headers: headers}
		req, err := hf.build()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if _, dup := h.answers[string(req.body)]; dup {
			return nil, fmt.Errorf("%s: the same request as another -file", f)
		}
		a, err := fetchAnswer(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		a.file = f
		h.answers[string(req.body)] = a
		h.order = append(h.order, a)
	}
	return h, nil
}

func fetchAnswer(ctx context.Context, req *request) (*bareAnswer, error) {
	c, err := newConn(req)
	if err != nil {
		return nil, err
	}
	defer c.close()
	for range maxFetches {
		res, _, err := c.roundTrip(ctx)
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		_, err = io.Copy(&buf, res.Body)
		res.Body.Close()
		if err != nil {
			return nil, err
		}
		if res.Close {
			c.close()
		}
		body, err := checkResponse(res.StatusCode, buf.Bytes())
		if err != nil {
			return nil, err
		}
		status := res.Header.Get(headerOrgpulseCache)
		if status == "hit" || status == "" {
			return &bareAnswer{cache: status, body: body, contentType: res.Header.Get("Content-Type"),
				length: strconv.Itoa(len(body))}, nil
		}
	}
	return nil, fmt.Errorf("no answer from the cache after %d requests (%s never hit)", maxFetches, headerOrgpulseCache)
}

// headerOrgpulseCache is server/respcache.go's headerCache.
const headerOrgpulseCache = "X-Orgpulse-Cache"

// save writes each answer to dir/NAME.response, for loadgen redis to
// store a value of the same size.
func (h *bareHandler) save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, a := range h.order {
		name := strings.TrimSuffix(filepath.Base(a.file), filepath.Ext(a.file))
		if err := os.WriteFile(filepath.Join(dir, name+".response"), a.body, 0o644); err != nil {
			return err
		}
	}
	return nil
}
