package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"orgpulse/client"
)

// Bounds of any run, whatever the flags say.
const (
	maxDuration = 10 * time.Minute
	maxRequests = 10_000_000
	maxConc     = 1024
)

// Result is what a latency run reports. Times are milliseconds.
type Result struct {
	URL         string  `json:"url"`
	Concurrency int     `json:"concurrency"`
	Count       int     `json:"count"`
	Errors      int     `json:"errors"`
	Warmup      int     `json:"warmup"` // requests sent before measuring, not in Count
	ElapsedS    float64 `json:"elapsedS"`
	RPS         float64 `json:"rps"`
	Mean        float64 `json:"mean"`
	P50         float64 `json:"p50"`
	P90         float64 `json:"p90"`
	P99         float64 `json:"p99"`
	Max         float64 `json:"max"`
	FirstError  string  `json:"firstError,omitempty"`
	// SQLCount is set by sqlcount: statements of one request.
	SQLCount   *int     `json:"sqlCount,omitempty"`
	Statements []string `json:"statements,omitempty"`
}

// summarize fills the latency fields from per-request durations.
func (r *Result) summarize(d []time.Duration, elapsed time.Duration) {
	slices.Sort(d)
	r.Count = len(d)
	r.ElapsedS = elapsed.Seconds()
	if elapsed > 0 {
		r.RPS = float64(len(d)) / elapsed.Seconds()
	}
	if len(d) == 0 {
		return
	}
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	r.Mean = ms(sum / time.Duration(len(d)))
	r.P50 = ms(percentile(d, 0.50))
	r.P90 = ms(percentile(d, 0.90))
	r.P99 = ms(percentile(d, 0.99))
	r.Max = ms(d[len(d)-1])
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// request is one prepared GraphQL request.
type request struct {
	url     string
	body    []byte
	headers [][2]string
}

type httpFlags struct {
	url, query, file, vars, body, opName string
	headers                              headerFlags
}

func (f *httpFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "url", "http://127.0.0.1:8080/graphql", "GraphQL endpoint (loopback only)")
	fs.StringVar(&f.query, "query", "", "GraphQL document")
	fs.StringVar(&f.file, "file", "", "file holding the GraphQL document (.graphql) or the whole JSON body (.json)")
	fs.StringVar(&f.vars, "vars", "", "variables as a JSON object")
	fs.StringVar(&f.body, "body", "", "the whole JSON request body (instead of -query/-file)")
	fs.StringVar(&f.opName, "operation", "", "operationName")
	fs.Var(&f.headers, "H", "extra header 'Name: value' (repeatable)")
}

func (f *httpFlags) build() (*request, error) {
	if err := requireLoopback(f.url); err != nil {
		return nil, err
	}
	req := &request{url: f.url, headers: f.headers}
	if f.body != "" {
		req.body = []byte(f.body)
		return req, validJSON(req.body)
	}
	query := f.query
	if f.file != "" {
		b, err := os.ReadFile(f.file)
		if err != nil {
			return nil, err
		}
		if strings.HasSuffix(f.file, ".json") {
			req.body = b
			return req, validJSON(b)
		}
		query = string(b)
	}
	if strings.TrimSpace(query) == "" {
		return nil, errors.New("give -query, -file or -body")
	}
	body := client.Request{Query: query, OperationName: f.opName}
	if f.vars != "" {
		if err := json.Unmarshal([]byte(f.vars), &body.Variables); err != nil {
			return nil, fmt.Errorf("-vars: %w", err)
		}
	}
	var err error
	req.body, err = json.Marshal(body)
	return req, err
}

func validJSON(b []byte) error {
	if !json.Valid(b) {
		return errors.New("the request body is not valid JSON")
	}
	return nil
}

func newClient(conc int) *http.Client {
	return &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        conc * 2,
			MaxIdleConnsPerHost: conc * 2,
			DisableCompression:  true,
			IdleConnTimeout:     time.Minute,
		},
	}
}

// send posts req once with extra headers through the GraphQL client; a
// transport error, a status other than 200, a GraphQL error or a missing
// data key is an error. The body is sent as prepared (-body and .json
// files are sent as given).
func (req *request) send(ctx context.Context, hc *http.Client, extra ...[2]string) (*client.Response, error) {
	h := http.Header{"Accept": {"application/json"}}
	for _, kv := range append(req.headers, extra...) {
		h.Set(kv[0], kv[1])
	}
	c, err := client.New(req.url, client.Options{HTTPClient: hc, Header: h})
	if err != nil {
		return nil, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL(), bytes.NewReader(req.body))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	res, err := c.Send(hr)
	if err == nil {
		err = res.Err()
	}
	if err == nil && len(res.Data) == 0 {
		err = fmt.Errorf("no data: %.300s", res.Raw)
	}
	return res, err
}

func runHTTP(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("http", flag.ContinueOnError)
	var hf httpFlags
	hf.add(fs)
	conc := fs.Int("c", 1, "concurrent clients (each sends its next request when the last one is answered)")
	dur := fs.Duration("d", 5*time.Second, "stop after this long (at most 10m)")
	n := fs.Int("n", 0, "stop after this many requests (0: only the duration bounds the run)")
	warmup := fs.Int("warmup", 10, "requests sent (and checked) before measuring")
	out := fs.String("o", "", "write the JSON result here (default stdout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	req, err := hf.build()
	if err != nil {
		return err
	}
	if *conc < 1 || *conc > maxConc {
		return fmt.Errorf("-c must be 1..%d", maxConc)
	}
	if *dur <= 0 || *dur > maxDuration {
		return fmt.Errorf("-d must be in (0, %s]", maxDuration)
	}
	if *n < 0 || *n > maxRequests {
		return fmt.Errorf("-n must be 0..%d", maxRequests)
	}
	res, err := load(ctx, req, *conc, *dur, *n, *warmup)
	if err != nil {
		return err
	}
	return writeJSON(*out, res)
}

// load runs the closed-loop benchmark: conc workers, each with its own
// connection (conn, rawhttp.go), until dur has passed or n requests were
// answered.
func load(ctx context.Context, req *request, conc int, dur time.Duration, n, warmup int) (*Result, error) {
	conns := make([]*conn, conc)
	for i := range conns {
		c, err := newConn(req)
		if err != nil {
			return nil, err
		}
		conns[i] = c
		defer c.close()
	}
	// Warm-up: fail early on a broken request.
	var buf bytes.Buffer
	for i := range max(warmup, 1) {
		if _, err := conns[i%conc].do(ctx, &buf); err != nil {
			return nil, fmt.Errorf("warm-up request %d: %w", i+1, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, dur+time.Minute)
	defer cancel()
	var (
		mu        sync.Mutex
		all       []time.Duration
		errs      int
		firstErr  string
		remaining = int64(n)
		wg        sync.WaitGroup
	)
	take := func() bool { // claims one request of the -n budget
		if n == 0 {
			return true
		}
		mu.Lock()
		defer mu.Unlock()
		if remaining == 0 {
			return false
		}
		remaining--
		return true
	}
	start := time.Now()
	deadline := start.Add(dur)
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer context.AfterFunc(ctx, c.interrupt)()
			var b bytes.Buffer
			local := make([]time.Duration, 0, 1024)
			lerrs, lfirst := 0, ""
			for time.Now().Before(deadline) && ctx.Err() == nil && take() {
				t := time.Now()
				_, err := c.do(ctx, &b)
				d := time.Since(t)
				if err != nil {
					if ctx.Err() != nil {
						break
					}
					lerrs++
					if lfirst == "" {
						lfirst = err.Error()
					}
					continue
				}
				local = append(local, d)
			}
			mu.Lock()
			all = append(all, local...)
			errs += lerrs
			if firstErr == "" {
				firstErr = lfirst
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	res := &Result{URL: req.url, Concurrency: conc, Errors: errs, FirstError: firstErr, Warmup: max(warmup, 1)}
	res.summarize(all, elapsed)
	return res, nil
}

func runSQLCount(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("sqlcount", flag.ContinueOnError)
	var hf httpFlags
	hf.add(fs)
	out := fs.String("o", "", "write the JSON result here (default stdout)")
	print := fs.Bool("print", false, "print the response body instead")
	if err := fs.Parse(args); err != nil {
		return err
	}
	req, err := hf.build()
	if err != nil {
		return err
	}
	gres, err := req.send(ctx, newClient(1), [2]string{"X-Debug", "1"})
	if err != nil {
		return err
	}
	if *print {
		_, err := os.Stdout.Write(append(gres.Raw, '\n'))
		return err
	}
	var ext struct {
		Debug *struct {
			SQLCount int `json:"sqlCount"`
			SQL      []struct {
				Statement string `json:"statement"`
			} `json:"sql"`
		} `json:"debug"`
	}
	if len(gres.Extensions) > 0 {
		if err := json.Unmarshal(gres.Extensions, &ext); err != nil {
			return fmt.Errorf("extensions: %w", err)
		}
	}
	if ext.Debug == nil {
		return errors.New("no extensions.debug in the response: start the server with DEBUG=1")
	}
	d := ext.Debug
	res := &Result{URL: req.url, SQLCount: &d.SQLCount}
	// The statement names (sqlc's /* Name */ comments) in order of first
	// appearance, each with how often it ran.
	var names []string
	count := map[string]int{}
	for _, s := range d.SQL {
		st := s.Statement
		if i := strings.Index(st, "*/"); strings.HasPrefix(st, "/*") && i > 0 {
			st = strings.TrimSpace(st[2:i])
		} else if len(st) > 60 {
			st = st[:60]
		}
		if count[st] == 0 {
			names = append(names, st)
		}
		count[st]++
	}
	for _, name := range names {
		if count[name] > 1 {
			name = fmt.Sprintf("%s x%d", name, count[name])
		}
		res.Statements = append(res.Statements, name)
	}
	if listed := len(d.SQL); listed < d.SQLCount {
		res.Statements = append(res.Statements, fmt.Sprintf("(the server lists the first %d of %d)", listed, d.SQLCount))
	}
	return writeJSON(*out, res)
}
