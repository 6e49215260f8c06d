// Command clustertest checks an orgpulse cluster started by
// scripts/cluster.sh: replicas behind nginx that share PostgreSQL and Redis.
// scripts/cluster-test.sh starts the cluster and runs it; it is not meant
// to be run by hand against anything else.
//
//  1. Subscriptions through nginx: WebSocket clients, spread by nginx over
//     the replicas, receive the events of mutations that nginx sent to other
//     replicas (every response and the upgrade carry X-Orgpulse-Replica).
//  2. The shared cache: cached fields read through every replica's own port
//     and through nginx show a mutation's result at once.
//  3. A rolling restart under a steady load of GET requests through nginx:
//     each replica in turn gets SIGTERM (/readyz must turn 503 at once, the
//     replica keeps serving through its drain, exits 0 and flushes its
//     metric samples), is started again and must become ready. No request
//     may fail; subscribers closed with 1001 reconnect through nginx to
//     another replica and resume after the cursor of the last event they
//     received: every event arrives, once, in commit order.
//  4. SIGKILL of one replica under load: requests keep succeeding through
//     nginx; the replica is started again.
//
// It prints a summary and exits 1 on any failure. Everything is bounded:
// the request rate, each phase's length and the whole run (-timeout).
// Traffic goes only to the addresses in the cluster's state directory
// (127.0.0.1).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"orgpulse/client"
)

type config struct {
	stateDir     string
	script       string
	token        string
	subscribers  int
	loadRate     int
	loadDuration time.Duration
	killDuration time.Duration
	mutateEvery  time.Duration
	drain        time.Duration
	timeout      time.Duration

	// Added for scripts/scale-test.sh (failover.go).
	phases      string        // comma-separated phases to run, in order
	killCmd     string        // sh -c command the failover phase runs under load
	failoverMax time.Duration // longest wait for the service to recover after killCmd
	after       time.Duration // load kept up after the recovery
	resultFile  string        // key=value summary for the calling script
}

func main() {
	var cfg config
	flag.StringVar(&cfg.stateDir, "state", "", "the cluster's state directory (CLUSTER_DIR of scripts/cluster.sh)")
	flag.StringVar(&cfg.script, "script", "scripts/cluster.sh", "scripts/cluster.sh, run as `SCRIPT start-replica I` to start a replica again")
	flag.StringVar(&cfg.token, "token", os.Getenv("API_TOKEN"), "API token for mutations (env API_TOKEN)")
	flag.IntVar(&cfg.subscribers, "subscribers", 6, "WebSocket subscribers held through nginx")
	flag.IntVar(&cfg.loadRate, "rate", 50, "GET requests per second through nginx during the restarts")
	flag.DurationVar(&cfg.loadDuration, "load-duration", 30*time.Second, "least length of the rolling-restart load")
	flag.DurationVar(&cfg.killDuration, "kill-duration", 12*time.Second, "length of the SIGKILL phase's load")
	flag.DurationVar(&cfg.mutateEvery, "mutate-every", 200*time.Millisecond, "pause between two mutations while the load runs")
	flag.DurationVar(&cfg.drain, "drain", envDuration("SHUTDOWN_DRAIN", 2*time.Second), "the replicas' SHUTDOWN_DRAIN")
	flag.DurationVar(&cfg.timeout, "timeout", 150*time.Second, "limit of the whole run")
	flag.StringVar(&cfg.phases, "phases", "1,2,3,4", "phases to run, in order: 1 subscriptions, 2 cache, 3 rolling restart, 4 SIGKILL of a replica, "+
		"stale (mutations and reads through every replica), failover (-kill-cmd under load)")
	flag.StringVar(&cfg.killCmd, "kill-cmd", "", "shell command the failover phase runs under load (e.g. kill -KILL of a Redis master)")
	flag.DurationVar(&cfg.failoverMax, "failover-max", 60*time.Second, "longest wait for caching and events to resume after -kill-cmd")
	flag.DurationVar(&cfg.after, "after", 4*time.Second, "load kept up after the service recovered from -kill-cmd")
	flag.StringVar(&cfg.resultFile, "result", "", "write the summary's figures as key=value lines to this file")
	flag.Parse()
	if cfg.stateDir == "" || cfg.token == "" {
		fmt.Fprintln(os.Stderr, "clustertest: -state and API_TOKEN are required (scripts/cluster-test.sh passes them)")
		os.Exit(2)
	}
	if cfg.loadRate < 1 || cfg.loadRate > 200 || cfg.subscribers < 2 || cfg.subscribers > 50 {
		fmt.Fprintln(os.Stderr, "clustertest: -rate must be 1..200 and -subscribers 2..50")
		os.Exit(2)
	}
	sigCtx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(sigCtx, cfg.timeout)
	defer cancel()

	d, err := newDriver(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "clustertest:", err)
		os.Exit(2)
	}
	runErr := d.run(ctx)
	if runErr != nil {
		d.fail("run", "%v", runErr)
	}
	d.printSummary(os.Stdout)
	if d.failed() {
		os.Exit(1)
	}
}

func envDuration(name string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

// ---------------------------------------------------------------- driver

type replica struct {
	idx  int
	id   string
	port int
	url  string // http://127.0.0.1:port
}

type driver struct {
	cfg      config
	lb       string // http://127.0.0.1:port of nginx
	replicas []*replica
	client   *http.Client
	runID    string // this run's marker, in every title and name it writes
	start    time.Time

	eventsOrg, cacheOrg, subject string // ids

	phase atomic.Value // string: the phase running

	mu        sync.Mutex
	failures  []string
	nFailures int
	sent      map[string]int // requests by kind
	failedBy  map[string]int
	muts      []*mutation
	byMarker  map[string]*mutation
	seq       int
	notes     []string // summary lines of the phases

	mutLock sync.Mutex // held around each mutation; SIGKILL waits for it

	subs []*subscriber

	fo failoverState // failover.go
}

func newDriver(cfg config) (*driver, error) {
	d := &driver{
		cfg:      cfg,
		client:   &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 128}},
		runID:    strconv.FormatInt(time.Now().UnixNano()/1e6, 36),
		start:    time.Now(),
		sent:     map[string]int{},
		failedBy: map[string]int{},
		byMarker: map[string]*mutation{},
	}
	d.phase.Store("setup")
	b, err := os.ReadFile(filepath.Join(cfg.stateDir, "url"))
	if err != nil {
		return nil, fmt.Errorf("read the balancer's URL: %w (is the cluster up?)", err)
	}
	d.lb = strings.TrimSpace(string(b))
	f, err := os.Open(filepath.Join(cfg.stateDir, "replicas"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r replica
		if _, err := fmt.Sscanf(sc.Text(), "%d %s %d", &r.idx, &r.id, &r.port); err != nil {
			return nil, fmt.Errorf("bad line %q in replicas: %v", sc.Text(), err)
		}
		r.url = fmt.Sprintf("http://127.0.0.1:%d", r.port)
		d.replicas = append(d.replicas, &r)
	}
	if len(d.replicas) < 2 {
		return nil, fmt.Errorf("the cluster has %d replica(s); the test needs at least 2", len(d.replicas))
	}
	if u, err := url.Parse(d.lb); err != nil || u.Hostname() != "127.0.0.1" {
		return nil, fmt.Errorf("the balancer's URL %q is not on 127.0.0.1", d.lb)
	}
	return d, nil
}

func (d *driver) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "clustertest [%5.1fs %s] %s\n", time.Since(d.start).Seconds(), d.phase.Load(), fmt.Sprintf(format, args...))
}

// fail records a failure; the run goes on where it can.
func (d *driver) fail(kind, format string, args ...any) {
	msg := fmt.Sprintf("[%s] %s: %s", d.phase.Load(), kind, fmt.Sprintf(format, args...))
	d.mu.Lock()
	d.nFailures++
	if len(d.failures) < 40 {
		d.failures = append(d.failures, msg)
	}
	d.mu.Unlock()
	d.logf("FAIL %s", msg)
}

func (d *driver) failed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.nFailures > 0
}

func (d *driver) note(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	d.mu.Lock()
	d.notes = append(d.notes, line)
	d.mu.Unlock()
	d.logf("%s", line)
}

// ---------------------------------------------------------------- GraphQL over HTTP

// gqlResult is what the driver reads of a response.
type gqlResult struct {
	Status  int
	Replica string
	Data    json.RawMessage
	Debug   *struct {
		CacheHits   int `json:"cacheHits"`
		CacheMisses int `json:"cacheMisses"`
	}
}

// gql sends one operation to base (nginx or a replica's own URL): a GET
// for a query, a POST with the token for a mutation. kind names the
// request in the counts. Any transport error, status other than 200,
// GraphQL error or missing data is an error, counted as a failed request.
func (d *driver) gql(ctx context.Context, kind, base, query, opName string, vars map[string]any, mutation, debug bool) (*gqlResult, error) {
	res, err := d.gqlOnce(ctx, base, query, opName, vars, mutation, debug)
	d.mu.Lock()
	d.sent[kind]++
	if err != nil {
		d.failedBy[kind]++
	}
	d.mu.Unlock()
	return res, err
}

func (d *driver) gqlOnce(ctx context.Context, base, query, opName string, vars map[string]any, mutation, debug bool) (*gqlResult, error) {
	c, err := client.New(base, client.Options{HTTPClient: d.client, MaxResponseBytes: 4 << 20,
		Header: http.Header{"Accept": {"application/json"}}})
	if err != nil {
		return nil, err
	}
	// The token on reads too: only an authenticated client's operation
	// names are recorded (checkSamples counts graphql:ClusterLoad).
	c = c.WithHeader("Authorization", "Bearer "+d.cfg.token)
	if debug {
		c = c.WithHeader("X-Debug", "1")
	}
	req := client.Request{Query: query, OperationName: opName, Variables: vars}
	var gres *client.Response
	if mutation {
		gres, err = c.Do(ctx, req)
	} else {
		gres, err = c.Get(ctx, req)
	}
	if gres == nil {
		return nil, err
	}
	res := &gqlResult{Status: gres.Status, Replica: gres.Header.Get("X-Orgpulse-Replica"), Data: gres.Data}
	if err != nil {
		return res, fmt.Errorf("from %q: %w", res.Replica, err)
	}
	if gres.Status != http.StatusOK {
		return res, fmt.Errorf("status %d from %q: %.300s", gres.Status, res.Replica, gres.Raw)
	}
	if len(gres.Errors) > 0 {
		return res, fmt.Errorf("from %s: GraphQL errors: %.300s", res.Replica, gres.Raw)
	}
	if len(res.Data) == 0 || string(res.Data) == "null" {
		return res, fmt.Errorf("from %s: no data: %.300s", res.Replica, gres.Raw)
	}
	if res.Replica == "" {
		return res, fmt.Errorf("no X-Orgpulse-Replica header: %.300s", gres.Raw)
	}
	if len(gres.Extensions) > 0 {
		var ext struct{ Debug json.RawMessage }
		if err := json.Unmarshal(gres.Extensions, &ext); err == nil && len(ext.Debug) > 0 {
			_ = json.Unmarshal(ext.Debug, &res.Debug)
		}
	}
	return res, nil
}

// probe is a plain GET of a replica's path (readyz); errors are expected
// while a replica restarts, so probes are not requests of the summary.
func (d *driver) probe(ctx context.Context, base, path string) int {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	resp, err := d.client.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// ---------------------------------------------------------------- mutations and their events

type mutation struct {
	seq      int
	kind     string // "employee" (updateEmployee title) or "organization" (updateOrganization industry)
	marker   string
	phase    string
	sentAt   time.Time
	doneAt   time.Time
	replica  string
	ok       bool
	required bool // every subscriber must receive it (phase 1, final markers)
}

const (
	updateTitle = `mutation ClusterMutateEmployee($id: ID!, $title: String!) {
  updateEmployee(id: $id, input: {title: $title}) { id title } }`
	updateIndustry = `mutation ClusterMutateOrganization($id: ID!, $industry: String!) {
  updateOrganization(id: $id, input: {industry: $industry}) { id industry } }`
	subEmployee = `subscription ClusterEmployees($org: ID!, $after: String) {
  employeeChanged(organizationId: $org, after: $after) { action employeeId employee { title } } }`
	subOrganization = `subscription ClusterOrganization($org: ID!, $after: String) {
  organizationUpdated(id: $org, after: $after) { id industry } }`
)

// mutate runs one event-producing mutation through nginx. It is
// registered before it is sent, so its event can be matched even if it
// arrives before the response.
func (d *driver) mutate(ctx context.Context, kind string, required bool, label string) *mutation {
	d.mutLock.Lock()
	defer d.mutLock.Unlock()
	d.mu.Lock()
	d.seq++
	m := &mutation{seq: d.seq, kind: kind, phase: d.phase.Load().(string), required: required}
	m.marker = fmt.Sprintf("ct-%s-%d%s", d.runID, m.seq, label)
	d.muts = append(d.muts, m)
	d.byMarker[m.marker] = m
	d.mu.Unlock()

	m.sentAt = time.Now()
	var res *gqlResult
	var err error
	if kind == "employee" {
		res, err = d.gql(ctx, "mutation", d.lb, updateTitle, "ClusterMutateEmployee",
			map[string]any{"id": d.subject, "title": m.marker}, true, false)
	} else {
		res, err = d.gql(ctx, "mutation", d.lb, updateIndustry, "ClusterMutateOrganization",
			map[string]any{"id": d.eventsOrg, "industry": m.marker}, true, false)
	}
	m.doneAt = time.Now()
	if res != nil {
		m.replica = res.Replica
	}
	m.ok = err == nil
	if err != nil {
		d.fail("mutation", "%s %s: %v", kind, m.marker, err)
	}
	return m
}

// mutator mutates every d.cfg.mutateEvery, alternating the two kinds,
// until stop is closed.
func (d *driver) mutator(ctx context.Context, stop <-chan struct{}, done chan<- int) {
	n := 0
	t := time.NewTicker(d.cfg.mutateEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			done <- n
			return
		case <-ctx.Done():
			done <- n
			return
		case <-t.C:
		}
		kind := "employee"
		if n%2 == 1 {
			kind = "organization"
		}
		d.mutate(ctx, kind, false, "")
		n++
	}
}

// ---------------------------------------------------------------- subscribers

type receipt struct {
	cursor  string // extensions.cursor of the event that carried the marker first
	at      time.Time
	replica string
}

type session struct {
	replica    string
	start, end time.Time // start: subscriptions live (pong after subscribe); end: closed (zero while open)
}

type closeRec struct {
	at          time.Time
	phase       string
	replica     string
	code        websocket.StatusCode
	reason      string
	established bool
}

type subscriber struct {
	k int
	d *driver

	mu       sync.Mutex
	sessions []*session
	got      map[int]receipt
	dupes    int
	// Per operation ("e", "o"): the cursor of the last event received,
	// which a new socket resumes after, and its log position and index,
	// which must only grow.
	cursors    map[string]string
	lastPos    map[string][2]int64
	outOfOrder int
	closes     []closeRec
	dialFails  int
	upgrades   int
	problems   []string
	connected  chan struct{} // signalled on each new session
}

func (d *driver) newSubscriber(k int) *subscriber {
	return &subscriber{k: k, d: d, got: map[int]receipt{}, cursors: map[string]string{}, lastPos: map[string][2]int64{},
		connected: make(chan struct{}, 1)}
}

// current returns the open session, or nil.
func (s *subscriber) current() *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.sessions); n > 0 && s.sessions[n-1].end.IsZero() {
		return s.sessions[n-1]
	}
	return nil
}

func (s *subscriber) run(ctx context.Context) {
	for ctx.Err() == nil {
		code := s.connect(ctx)
		if ctx.Err() != nil {
			return
		}
		// A replica going away (1001) is left at once; anything else
		// after a short pause.
		pause := 100 * time.Millisecond
		if code == websocket.StatusGoingAway {
			pause = 10 * time.Millisecond
		}
		_ = sleep(ctx, pause)
	}
}

func (s *subscriber) problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.mu.Lock()
	s.problems = append(s.problems, msg)
	s.mu.Unlock()
	s.d.fail(fmt.Sprintf("subscriber %d", s.k), "%s", msg)
}

// connect holds one socket through nginx until it closes; it returns the
// close code (-1 for none).
func (s *subscriber) connect(ctx context.Context) websocket.StatusCode {
	d := s.d
	gql, err := client.New(d.lb, client.Options{MaxResponseBytes: 1 << 20})
	if err == nil {
		// Every operation needs a bearer token (ANONYMOUS_ROLE=none): it
		// goes with the upgrade.
		gql = gql.WithHeader("Authorization", "Bearer "+d.cfg.token)
	}
	if err != nil {
		s.problem("%v", err)
		return -1
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	c, resp, err := gql.Dial(dctx, client.DialOptions{})
	cancel()
	d.mu.Lock()
	d.sent["websocket upgrade"]++
	if err != nil && ctx.Err() == nil {
		d.failedBy["websocket upgrade"]++
	}
	d.mu.Unlock()
	if err != nil {
		if ctx.Err() != nil {
			return -1
		}
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		s.mu.Lock()
		s.dialFails++
		s.mu.Unlock()
		d.fail(fmt.Sprintf("subscriber %d", s.k), "WebSocket upgrade through nginx failed: status %d: %v", status, err)
		return -1
	}
	defer c.CloseNow()
	rep := resp.Header.Get("X-Orgpulse-Replica")
	s.mu.Lock()
	s.upgrades++
	s.mu.Unlock()
	if rep == "" {
		s.problem("the upgrade response has no X-Orgpulse-Replica header")
	}
	err = c.Init(ctx, nil)
	if err == nil {
		err = c.Subscribe(ctx, "e", client.Request{Query: subEmployee, Variables: s.vars("e")})
	}
	if err == nil {
		err = c.Subscribe(ctx, "o", client.Request{Query: subOrganization, Variables: s.vars("o")})
	}
	if err == nil {
		// Once the ping after them is answered both are live.
		err = c.Sync(ctx)
	}
	if err != nil {
		return s.closed(ctx, rep, nil, err)
	}
	sess := &session{replica: rep, start: time.Now()}
	s.mu.Lock()
	s.sessions = append(s.sessions, sess)
	s.mu.Unlock()
	select {
	case s.connected <- struct{}{}:
	default:
	}
	return s.receive(ctx, c, rep, sess)
}

// vars are the variables of operation id: after the cursor of the last
// event it received, so that a new socket resumes where the last one
// stopped (issue #18).
func (s *subscriber) vars(id string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	vars := map[string]any{"org": s.d.eventsOrg}
	if c := s.cursors[id]; c != "" {
		vars["after"] = c
	}
	return vars
}

// receive records the events of an established session until it closes.
func (s *subscriber) receive(ctx context.Context, c *client.Conn, rep string, sess *session) websocket.StatusCode {
	for {
		msg, err := c.Read(ctx)
		var de *client.DecodeError
		if errors.As(err, &de) {
			s.problem("a message that is not JSON: %.200s", de.Data)
			continue
		}
		if err != nil {
			return s.closed(ctx, rep, sess, err)
		}
		switch msg.Type {
		case client.TypePong:
		case client.TypeNext:
			s.event(msg.ID, msg.Payload, rep)
		case client.TypeError, client.TypeComplete:
			if msg.Type == client.TypeError && interrupted(msg.Payload) {
				// The replica's event stream was cut (its Redis pub/sub
				// connection failed over): not a failure, a resume. The
				// new socket continues after the operations' cursors.
				_ = c.Close(websocket.StatusNormalClosure, "")
				return s.closed(ctx, rep, sess, errInterrupted)
			}
			s.problem("%s for operation %q on %s: %.300s", msg.Type, msg.ID, rep, msg.Payload)
			_ = c.Close(websocket.StatusNormalClosure, "")
			return s.closed(ctx, rep, sess, errors.New(msg.Type))
		default:
			s.problem("unexpected %q message from %s", msg.Type, rep)
		}
	}
}

// errInterrupted ends a socket whose event stream the server interrupted;
// its close is listed as codeInterrupted.
var errInterrupted = errors.New("interrupted (SERVICE_UNAVAILABLE): resumed on a new socket")

const codeInterrupted websocket.StatusCode = -2

// interrupted reports whether an error message ends its operation with
// SERVICE_UNAVAILABLE: the server interrupted the event stream and asks
// for a resume after the last cursor.
func interrupted(payload json.RawMessage) bool {
	var errs []struct {
		Extensions struct{ Code string } `json:"extensions"`
	}
	return json.Unmarshal(payload, &errs) == nil && len(errs) > 0 && errs[0].Extensions.Code == "SERVICE_UNAVAILABLE"
}

// closed records the end of a socket.
func (s *subscriber) closed(ctx context.Context, rep string, sess *session, err error) websocket.StatusCode {
	now := time.Now()
	code := websocket.CloseStatus(err)
	if errors.Is(err, errInterrupted) {
		code = codeInterrupted
	}
	s.mu.Lock()
	if sess != nil {
		sess.end = now
	}
	if ctx.Err() == nil {
		var ce websocket.CloseError
		reason := err.Error()
		if errors.As(err, &ce) {
			reason = ce.Reason
		}
		s.closes = append(s.closes, closeRec{at: now, phase: s.d.phase.Load().(string), replica: rep, code: code, reason: reason, established: sess != nil})
	}
	s.mu.Unlock()
	return code
}

func (s *subscriber) event(id string, payload json.RawMessage, rep string) {
	var p struct {
		Data struct {
			EmployeeChanged *struct {
				Action     string `json:"action"`
				EmployeeID string `json:"employeeId"`
				Employee   *struct {
					Title string `json:"title"`
				} `json:"employee"`
			} `json:"employeeChanged"`
			OrganizationUpdated *struct {
				ID       string `json:"id"`
				Industry string `json:"industry"`
			} `json:"organizationUpdated"`
		} `json:"data"`
		Errors     []client.Error `json:"errors"`
		Extensions struct {
			Cursor string `json:"cursor"`
		} `json:"extensions"`
	}
	if err := json.Unmarshal(payload, &p); err != nil || len(p.Errors) > 0 || p.Extensions.Cursor == "" {
		s.problem("bad event on %q from %s: %.300s", id, rep, payload)
		return
	}
	s.mu.Lock()
	s.cursors[id] = p.Extensions.Cursor
	s.mu.Unlock()
	var marker string
	switch {
	case p.Data.EmployeeChanged != nil:
		e := p.Data.EmployeeChanged
		if e.Action != "UPDATED" || e.EmployeeID != s.d.subject || e.Employee == nil {
			return // not one of ours
		}
		marker = e.Employee.Title
	case p.Data.OrganizationUpdated != nil:
		marker = p.Data.OrganizationUpdated.Industry
	default:
		s.problem("an event without data from %s: %.300s", rep, payload)
		return
	}
	s.d.mu.Lock()
	m := s.d.byMarker[marker]
	s.d.mu.Unlock()
	if m == nil {
		// organizationUpdated also fires for other changes of the
		// organization; they carry the industry of an older mutation,
		// which is then a duplicate below. Markers of earlier runs are
		// ignored.
		return
	}
	pos, ok := cursorPosition(p.Extensions.Cursor)
	if !ok {
		s.problem("an event on %q from %s with a cursor that is not 1.<position>.<index>: %q", id, rep, p.Extensions.Cursor)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Order is the log's: each operation's cursors only grow.
	if last := s.lastPos[id]; pos[0] < last[0] || (pos[0] == last[0] && pos[1] <= last[1]) {
		s.outOfOrder++
	}
	s.lastPos[id] = pos
	if r, seen := s.got[m.seq]; seen {
		// The same event twice has the same cursor. Another event may
		// carry a marker again: organizationUpdated of an employee's
		// arrival or departure carries only the organization's id and
		// shows its state when it runs, which can already hold a later
		// mutation's industry (the change feed's README section).
		if r.cursor == p.Extensions.Cursor {
			s.dupes++
		}
		return
	}
	s.got[m.seq] = receipt{at: time.Now(), replica: rep, cursor: p.Extensions.Cursor}
}

// cursorPosition reads the log position and index of an event cursor:
// base64url (unpadded) of "1.<position>.<index>" (resolvers/cursor.go).
func cursorPosition(c string) ([2]int64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return [2]int64{}, false
	}
	parts := strings.Split(string(b), ".")
	if len(parts) != 3 || parts[0] != "1" {
		return [2]int64{}, false
	}
	p, err1 := strconv.ParseInt(parts[1], 10, 64)
	i, err2 := strconv.ParseInt(parts[2], 10, 64)
	return [2]int64{p, i}, err1 == nil && err2 == nil
}

func (s *subscriber) has(seq int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.got[seq]
	return ok
}

// waitAllConnected waits until every subscriber has a live session.
func (d *driver) waitAllConnected(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		n := 0
		for _, s := range d.subs {
			if s.current() != nil {
				n++
			}
		}
		if n == len(d.subs) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d subscribers are connected after %s", n, len(d.subs), within)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

// waitReceived waits until every subscriber received every mutation in ms.
func (d *driver) waitReceived(ctx context.Context, ms []*mutation, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		missing := 0
		for _, s := range d.subs {
			for _, m := range ms {
				if m.ok && !s.has(m.seq) {
					missing++
				}
			}
		}
		if missing == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d deliveries still missing after %s", missing, within)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

// finalMarker sends a mutation every subscriber must receive, once all are
// connected again.
func (d *driver) finalMarker(ctx context.Context, label string) {
	if err := d.waitAllConnected(ctx, 20*time.Second); err != nil {
		d.fail("subscribers", "before the final marker: %v", err)
	}
	ms := []*mutation{d.mutate(ctx, "employee", true, label), d.mutate(ctx, "organization", true, label)}
	if err := d.waitReceived(ctx, ms, 10*time.Second); err != nil {
		d.fail("events", "final marker %s: %v", label, err)
		return
	}
	d.note("final marker %s: both events reached all %d subscribers", label, len(d.subs))
}

// ---------------------------------------------------------------- load

type loadStats struct {
	name      string
	sent, ok  int
	failed    int
	byReplica map[string]int
	start     time.Time
	elapsed   time.Duration
	maxMs     float64
}

const loadQuery = `query %s($org: ID!, $emp: ID!) {
  organization(id: $org) { id name employeeCount }
  employee(id: $emp) { id title }
}`

// load sends GET requests through nginx at d.cfg.loadRate per second until
// stop is closed (or at most maxDur), with at most 100 in flight.
func (d *driver) load(ctx context.Context, opName string, stop <-chan struct{}, maxDur time.Duration) *loadStats {
	st := &loadStats{name: opName, byReplica: map[string]int{}, start: time.Now()}
	query := fmt.Sprintf(loadQuery, opName)
	vars := map[string]any{"org": d.eventsOrg, "emp": d.subject}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 100)
	t := time.NewTicker(time.Second / time.Duration(d.cfg.loadRate))
	defer t.Stop()
	hard := time.After(maxDur)
loop:
	for {
		select {
		case <-stop:
			break loop
		case <-hard:
			break loop
		case <-ctx.Done():
			break loop
		case <-t.C:
		}
		select {
		case sem <- struct{}{}:
		default:
			d.fail("load", "100 requests in flight: the cluster is not keeping up")
			continue
		}
		mu.Lock()
		st.sent++
		mu.Unlock()
		wg.Go(func() {
			defer func() { <-sem }()
			t0 := time.Now()
			res, err := d.gql(ctx, "GET load", d.lb, query, opName, vars, false, false)
			ms := float64(time.Since(t0).Microseconds()) / 1000
			if err == nil && !bytes.Contains(res.Data, []byte(`"id":"`+d.eventsOrg+`"`)) {
				err = fmt.Errorf("unexpected data: %.200s", res.Data)
			}
			mu.Lock()
			defer mu.Unlock()
			st.maxMs = max(st.maxMs, ms)
			if err != nil {
				st.failed++
				d.fail("GET load", "%v", err)
				return
			}
			st.ok++
			st.byReplica[res.Replica]++
		})
	}
	wg.Wait()
	st.elapsed = time.Since(st.start)
	return st
}

func (st *loadStats) String() string {
	return fmt.Sprintf("%s: %d GET requests in %.1fs (%.0f/s), %d ok, %d failed, slowest %.0fms, served by %s",
		st.name, st.sent, st.elapsed.Seconds(), float64(st.sent)/st.elapsed.Seconds(), st.ok, st.failed, st.maxMs, formatCounts(st.byReplica))
}

func formatCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

// ---------------------------------------------------------------- run

func (d *driver) run(ctx context.Context) error {
	if err := d.setup(ctx); err != nil {
		return err
	}
	subCtx, stopSubs := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		stopSubs()
		wg.Wait()
	}()
	for k := 1; k <= d.cfg.subscribers; k++ {
		s := d.newSubscriber(k)
		d.subs = append(d.subs, s)
		wg.Go(func() { s.run(subCtx) })
	}
	if err := d.runPhases(ctx); err != nil {
		return err
	}
	d.phase.Store("end")
	stopSubs()
	wg.Wait()
	d.checkEvents()
	return nil
}

func (d *driver) setup(ctx context.Context) error {
	for _, r := range d.replicas {
		if err := d.waitReady(ctx, r, 30*time.Second); err != nil {
			return err
		}
	}
	if st := d.probe(ctx, d.lb, "/healthz"); st != 200 {
		return fmt.Errorf("nginx at %s: /healthz answered %d", d.lb, st)
	}
	var err error
	if d.eventsOrg, err = d.ensureOrg(ctx, "clustertest events"); err != nil {
		return err
	}
	if d.cacheOrg, err = d.ensureOrg(ctx, "clustertest cache"); err != nil {
		return err
	}
	// The employee whose title the events carry.
	res, err := d.gql(ctx, "setup", d.lb, `query ($org: ID!) { employeesByOrganization(organizationId: $org) { id email } }`, "",
		map[string]any{"org": d.eventsOrg}, false, false)
	if err != nil {
		return err
	}
	var emps struct {
		List []struct{ ID, Email string } `json:"employeesByOrganization"`
	}
	_ = json.Unmarshal(res.Data, &emps)
	for _, e := range emps.List {
		if e.Email == "clustertest-subject@example.com" {
			d.subject = e.ID
		}
	}
	if d.subject == "" {
		d.subject, err = d.createEmployee(ctx, d.eventsOrg, "clustertest-subject@example.com")
		if err != nil {
			return err
		}
	}
	d.logf("balancer %s, replicas %s; events organization %s, employee %s; cache organization %s; run %s",
		d.lb, d.replicaList(), d.eventsOrg, d.subject, d.cacheOrg, d.runID)
	return nil
}

func (d *driver) replicaList() string {
	parts := make([]string, len(d.replicas))
	for i, r := range d.replicas {
		parts[i] = fmt.Sprintf("%s :%d", r.id, r.port)
	}
	return strings.Join(parts, ", ")
}

// ensureOrg finds the active organization whose name starts with prefix
// (left by an earlier run) or creates it.
func (d *driver) ensureOrg(ctx context.Context, prefix string) (string, error) {
	res, err := d.gql(ctx, "setup", d.lb, `{ allOrganizations { id name } }`, "", nil, false, false)
	if err != nil {
		return "", err
	}
	var all struct {
		List []struct{ ID, Name string } `json:"allOrganizations"`
	}
	_ = json.Unmarshal(res.Data, &all)
	for _, o := range all.List {
		if strings.HasPrefix(o.Name, prefix) {
			return o.ID, nil
		}
	}
	res, err = d.gql(ctx, "setup", d.lb, `mutation ($name: String!) { createOrganization(input: {name: $name, industry: "Testing"}) { id } }`, "",
		map[string]any{"name": prefix + " " + d.runID}, true, false)
	if err != nil {
		return "", err
	}
	var created struct {
		Org struct{ ID string } `json:"createOrganization"`
	}
	_ = json.Unmarshal(res.Data, &created)
	return created.Org.ID, nil
}

func (d *driver) createEmployee(ctx context.Context, org, email string) (string, error) {
	res, err := d.gql(ctx, "mutation", d.lb, `mutation ($input: CreateEmployeeInput!) { createEmployee(input: $input) { id } }`, "",
		map[string]any{"input": map[string]any{
			"organizationId": org, "name": "Cluster Test", "email": email,
			"department": "Engineering", "title": "start", "salary": 1000,
		}}, true, false)
	if err != nil {
		return "", err
	}
	var created struct {
		Emp struct{ ID string } `json:"createEmployee"`
	}
	_ = json.Unmarshal(res.Data, &created)
	return created.Emp.ID, nil
}

// ---------------------------------------------------------------- phase 1

func (d *driver) phase1(ctx context.Context) error {
	d.phase.Store("1 subscriptions")
	if err := d.waitAllConnected(ctx, 15*time.Second); err != nil {
		return err
	}
	where := map[string]int{}
	for _, s := range d.subs {
		where[s.current().replica]++
	}
	if len(where) < 2 {
		d.fail("subscribers", "nginx put all %d subscribers on one replica: %s", len(d.subs), formatCounts(where))
	}
	var ms []*mutation
	for i := range 4 * len(d.replicas) {
		kind := "employee"
		if i%2 == 1 {
			kind = "organization"
		}
		ms = append(ms, d.mutate(ctx, kind, true, ""))
	}
	if err := d.waitReceived(ctx, ms, 10*time.Second); err != nil {
		d.fail("events", "phase 1: %v", err)
	}
	servedBy := map[string]int{}
	cross := map[string]int{} // mutation replica -> events delivered to subscribers on other replicas
	for _, m := range ms {
		servedBy[m.replica]++
		for _, s := range d.subs {
			s.mu.Lock()
			r, ok := s.got[m.seq]
			s.mu.Unlock()
			if ok && r.replica != m.replica {
				cross[m.replica]++
			}
		}
	}
	if len(cross) < 2 {
		d.fail("events", "events crossed replicas from %d replica(s) only (%s); want at least 2", len(cross), formatCounts(cross))
	}
	d.note("phase 1: %d subscribers through nginx on %s; %d mutations through nginx served by %s; events delivered to a subscriber on another replica than the mutation's: %s",
		len(d.subs), formatCounts(where), len(ms), formatCounts(servedBy), formatCounts(cross))
	return nil
}

// ---------------------------------------------------------------- phase 2

const cacheQuery = `query ClusterCache($id: ID!) {
  organization(id: $id) { name employeeCount }
  allOrganizations { id name }
}`

type cacheView struct {
	count   int
	name    string // organization(id).name
	listed  string // its name in allOrganizations ("" when missing)
	replica string
	hits    int
	debug   bool
}

func (d *driver) readCache(ctx context.Context, base string) (cacheView, error) {
	res, err := d.gql(ctx, "cache read", base, cacheQuery, "ClusterCache", map[string]any{"id": d.cacheOrg}, false, true)
	if err != nil {
		return cacheView{}, err
	}
	var data struct {
		Org struct {
			Name          string `json:"name"`
			EmployeeCount int    `json:"employeeCount"`
		} `json:"organization"`
		All []struct{ ID, Name string } `json:"allOrganizations"`
	}
	if err := json.Unmarshal(res.Data, &data); err != nil {
		return cacheView{}, err
	}
	v := cacheView{count: data.Org.EmployeeCount, name: data.Org.Name, replica: res.Replica}
	for _, o := range data.All {
		if o.ID == d.cacheOrg {
			v.listed = o.Name
		}
	}
	if dbg := res.Debug; dbg != nil {
		v.debug, v.hits = true, dbg.CacheHits
	}
	return v, nil
}

// cacheTargets are every replica's own URL and nginx (once per replica, so
// that its round robin reaches each).
func (d *driver) cacheTargets() []struct{ label, base string } {
	var ts []struct{ label, base string }
	for _, r := range d.replicas {
		ts = append(ts, struct{ label, base string }{r.id + " direct", r.url})
	}
	for range d.replicas {
		ts = append(ts, struct{ label, base string }{"nginx", d.lb})
	}
	return ts
}

// expectEverywhere reads through every target at once (no waiting) and
// checks what each one sees.
func (d *driver) expectEverywhere(ctx context.Context, what string, check func(cacheView) error) (hits map[string]int) {
	hits = map[string]int{}
	seen := map[string]bool{}
	for _, t := range d.cacheTargets() {
		v, err := d.readCache(ctx, t.base)
		if err != nil {
			d.fail("cache", "%s via %s: %v", what, t.label, err)
			continue
		}
		seen[v.replica] = true
		hits[v.replica] += v.hits
		if err := check(v); err != nil {
			d.fail("cache", "%s via %s (%s): %v", what, t.label, v.replica, err)
		}
	}
	if len(seen) < len(d.replicas) {
		d.fail("cache", "%s: only %d of %d replicas answered", what, len(seen), len(d.replicas))
	}
	return hits
}

func (d *driver) phase2(ctx context.Context) error {
	d.phase.Store("2 cache")
	// Warm every replica's view of the cached fields, twice: the second
	// read must come from the cache.
	var before cacheView
	d.expectEverywhere(ctx, "warm-up", func(v cacheView) error { before = v; return nil })
	warm := d.expectEverywhere(ctx, "warm-up again", func(v cacheView) error {
		if v.count != before.count || v.listed != before.name {
			return fmt.Errorf("count %d name %q, another replica saw %d %q", v.count, v.listed, before.count, before.name)
		}
		return nil
	})
	debug := before.debug
	if debug {
		for _, r := range d.replicas {
			if warm[r.id] == 0 {
				d.fail("cache", "%s answered the warm cached fields without a cache hit (is REDIS_URL set?)", r.id)
			}
		}
	}

	email := "clustertest-" + d.runID + "@example.com"
	emp, err := d.createEmployee(ctx, d.cacheOrg, email)
	if err != nil {
		d.fail("cache", "createEmployee: %v", err)
		return nil
	}
	d.expectEverywhere(ctx, "employeeCount after createEmployee", func(v cacheView) error {
		if v.count != before.count+1 {
			return fmt.Errorf("employeeCount %d, want %d", v.count, before.count+1)
		}
		return nil
	})
	newName := "clustertest cache " + d.runID
	if _, err := d.gql(ctx, "mutation", d.lb, `mutation ($id: ID!, $name: String!) { updateOrganization(id: $id, input: {name: $name}) { id } }`, "",
		map[string]any{"id": d.cacheOrg, "name": newName}, true, false); err != nil {
		d.fail("cache", "updateOrganization: %v", err)
	}
	d.expectEverywhere(ctx, "name after updateOrganization", func(v cacheView) error {
		if v.name != newName || v.listed != newName {
			return fmt.Errorf("organization.name %q, allOrganizations lists %q, want %q", v.name, v.listed, newName)
		}
		return nil
	})
	if _, err := d.gql(ctx, "mutation", d.lb, `mutation ($id: ID!) { deleteEmployee(id: $id) }`, "",
		map[string]any{"id": emp}, true, false); err != nil {
		d.fail("cache", "deleteEmployee: %v", err)
	}
	after := d.expectEverywhere(ctx, "employeeCount after deleteEmployee", func(v cacheView) error {
		if v.count != before.count {
			return fmt.Errorf("employeeCount %d, want %d", v.count, before.count)
		}
		return nil
	})
	hitNote := "X-Debug off: cache hits not visible"
	if debug {
		hitNote = "cache hits on warm reads: " + formatCounts(warm) + "; after the last change: " + formatCounts(after)
	}
	d.note("phase 2: employeeCount %d -> %d -> %d and the new name seen at once through %d replicas' own ports and nginx (%s)",
		before.count, before.count+1, before.count, len(d.replicas), hitNote)
	return nil
}

// ---------------------------------------------------------------- replicas

func (d *driver) pidOf(r *replica) (int, error) {
	b, err := os.ReadFile(filepath.Join(d.cfg.stateDir, fmt.Sprintf("replica-%d.pid", r.idx)))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// exitCode waits for the exit code the replica's keeper records.
func (d *driver) exitCode(ctx context.Context, r *replica, within time.Duration) (int, error) {
	path := filepath.Join(d.cfg.stateDir, fmt.Sprintf("replica-%d.exit", r.idx))
	deadline := time.Now().Add(within)
	for {
		if b, err := os.ReadFile(path); err == nil && len(bytes.TrimSpace(b)) > 0 {
			return strconv.Atoi(strings.TrimSpace(string(b)))
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s has not exited after %s", r.id, within)
		}
		if err := sleep(ctx, 25*time.Millisecond); err != nil {
			return 0, err
		}
	}
}

func (d *driver) waitReady(ctx context.Context, r *replica, within time.Duration) error {
	deadline := time.Now().Add(within)
	for d.probe(ctx, r.url, "/readyz") != 200 {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s (%s) is not ready after %s", r.id, r.url, within)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// startReplica runs `cluster.sh start-replica I`, which returns once the
// replica answers /readyz.
func (d *driver) startReplica(ctx context.Context, r *replica) error {
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cctx, d.cfg.script, "start-replica", strconv.Itoa(r.idx))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s start-replica %d: %w", d.cfg.script, r.idx, err)
	}
	return d.waitReady(ctx, r, 30*time.Second)
}

// gracefulRestart is one step of a rolling restart; it returns a line for
// the summary.
func (d *driver) gracefulRestart(ctx context.Context, r *replica) (string, error) {
	pid, err := d.pidOf(r)
	if err != nil {
		return "", err
	}
	t0 := time.Now()
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return "", fmt.Errorf("SIGTERM %s (pid %d): %w", r.id, pid, err)
	}
	// /readyz at 503 at once.
	var notReady time.Duration
	for {
		if st := d.probe(ctx, r.url, "/readyz"); st == http.StatusServiceUnavailable {
			notReady = time.Since(t0)
			break
		} else if st != 200 {
			d.fail("shutdown", "%s: /readyz answered %d (want 503) after SIGTERM", r.id, st)
			break
		}
		if time.Since(t0) > time.Second {
			d.fail("shutdown", "%s: /readyz still 200 one second after SIGTERM", r.id)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Still serving during the drain, on its own port.
	served := "served during the drain"
	if res, err := d.gql(ctx, "drain check", r.url, `query ClusterDrainCheck { allOrganizations { id } }`, "ClusterDrainCheck", nil, false, false); err != nil {
		d.fail("shutdown", "%s did not serve a request during its drain: %v", r.id, err)
		served = "NOT served during the drain"
	} else if res.Replica != r.id {
		d.fail("shutdown", "%s's port answered as %s", r.id, res.Replica)
	}
	code, err := d.exitCode(ctx, r, d.cfg.drain+30*time.Second)
	if err != nil {
		return "", err
	}
	stopped := time.Since(t0)
	if code != 0 {
		d.fail("shutdown", "%s exited with %d after SIGTERM, want 0", r.id, code)
	}
	if stopped < d.cfg.drain-100*time.Millisecond {
		d.fail("shutdown", "%s exited %s after SIGTERM, before its drain of %s ended", r.id, stopped, d.cfg.drain)
	}
	d.checkShutdownLog(r)
	t1 := time.Now()
	if err := d.startReplica(ctx, r); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s: /readyz 503 %dms after SIGTERM, %s, exit %d after %.2fs, ready again %.2fs after start",
		r.id, notReady.Milliseconds(), served, code, stopped.Seconds(), time.Since(t1).Seconds()), nil
}

// checkShutdownLog reads the replica's log after its last "shutting down":
// it must say "stopped" and must not report lost performance samples.
func (d *driver) checkShutdownLog(r *replica) {
	b, err := os.ReadFile(filepath.Join(d.cfg.stateDir, fmt.Sprintf("replica-%d.log", r.idx)))
	if err != nil {
		d.fail("shutdown", "%s's log: %v", r.id, err)
		return
	}
	i := bytes.LastIndex(b, []byte("shutting down"))
	if i < 0 {
		d.fail("shutdown", "%s's log has no \"shutting down\" line", r.id)
		return
	}
	tail := string(b[i:])
	if !strings.Contains(tail, `msg=stopped`) && !strings.Contains(tail, `"msg":"stopped"`) {
		d.fail("shutdown", "%s's log has no \"stopped\" line after \"shutting down\": %.500s", r.id, tail)
	}
	for _, bad := range []string{"not stored", "flush performance samples", "level=ERROR", `"level":"ERROR"`} {
		if strings.Contains(tail, bad) {
			d.fail("shutdown", "%s's log reports %q while stopping: %.500s", r.id, bad, tail)
		}
	}
}

// ---------------------------------------------------------------- phase 3

func (d *driver) phase3(ctx context.Context) error {
	d.phase.Store("3 rolling restart")
	stopLoad, stopMut := make(chan struct{}), make(chan struct{})
	loadDone := make(chan *loadStats, 1)
	mutDone := make(chan int, 1)
	loadStart := time.Now()
	go func() { loadDone <- d.load(ctx, "ClusterLoad", stopLoad, 2*d.cfg.loadDuration) }()
	go d.mutator(ctx, stopMut, mutDone)

	var restartErr error
	_ = sleep(ctx, 3*time.Second)
	for _, r := range d.replicas {
		line, err := d.gracefulRestart(ctx, r)
		if err != nil {
			restartErr = err
			break
		}
		d.note("phase 3: %s", line)
		// Let nginx's fail_timeout pass, so the replica is back in the
		// rotation before the next one goes.
		_ = sleep(ctx, 2*time.Second)
	}
	if rest := time.Until(loadStart.Add(d.cfg.loadDuration)); rest > 0 && restartErr == nil {
		_ = sleep(ctx, rest)
	}
	close(stopLoad)
	close(stopMut)
	st := <-loadDone
	nMut := <-mutDone
	if restartErr != nil {
		return restartErr
	}
	d.note("phase 3: %s; %d mutations alongside", st, nMut)
	for _, r := range d.replicas {
		if st.byReplica[r.id] == 0 {
			d.fail("load", "%s served none of the load", r.id)
		}
	}
	// Closed with 1001 and back elsewhere.
	for _, s := range d.subs {
		s.mu.Lock()
		n1001 := 0
		for _, c := range s.closes {
			if c.phase != "3 rolling restart" {
				continue
			}
			if c.code == websocket.StatusGoingAway {
				n1001++
			} else {
				d.fail("subscribers", "subscriber %d: closed with %d %q by %s during the rolling restart, want 1001", s.k, c.code, c.reason, c.replica)
			}
		}
		moved := d.movedAfterClose(s, "3 rolling restart")
		s.mu.Unlock()
		if n1001 == 0 {
			d.fail("subscribers", "subscriber %d was never closed with 1001 though every replica restarted", s.k)
		}
		if moved != "" {
			d.fail("subscribers", "subscriber %d: %s", s.k, moved)
		}
	}
	d.finalMarker(ctx, "-after-restarts")
	d.checkSamples(ctx, loadStart, st)
	return nil
}

// movedAfterClose checks that after each close of an established session in
// phase, the next session is on another replica. s.mu is held.
func (d *driver) movedAfterClose(s *subscriber, phase string) string {
	for _, c := range s.closes {
		if c.phase != phase || !c.established {
			continue
		}
		for _, ss := range s.sessions {
			if ss.start.After(c.at) {
				if ss.replica == c.replica {
					return fmt.Sprintf("reconnected to %s, the replica that had just closed it", c.replica)
				}
				break
			}
		}
	}
	return ""
}

// checkSamples compares the api_response samples the replicas stored for
// the load with the requests they answered: a replica that stopped without
// flushing its buffer would leave some out.
func (d *driver) checkSamples(ctx context.Context, since time.Time, st *loadStats) {
	// One flush interval (1s) and some.
	time.Sleep(2500 * time.Millisecond)
	res, err := d.gql(ctx, "summary", d.lb, `query ($since: DateTime!) {
  performanceSummary(metricType: "api_response", endpoint: "graphql:ClusterLoad", since: $since) { count } }`, "",
		map[string]any{"since": since.UTC().Format(time.RFC3339Nano)}, false, false)
	if err != nil {
		d.fail("metrics", "performanceSummary: %v", err)
		return
	}
	var data struct {
		S struct{ Count int } `json:"performanceSummary"`
	}
	_ = json.Unmarshal(res.Data, &data)
	if data.S.Count != st.ok {
		d.fail("metrics", "%d api_response samples stored for ClusterLoad, %d requests answered: samples were lost or doubled across the restarts", data.S.Count, st.ok)
		return
	}
	d.note("phase 3: metrics flushed on every shutdown: %d api_response samples stored for the %d ClusterLoad requests", data.S.Count, st.ok)
}

// ---------------------------------------------------------------- phase 4

func (d *driver) phase4(ctx context.Context) error {
	d.phase.Store("4 SIGKILL")
	r := d.replicas[len(d.replicas)/2]
	stopLoad, stopMut := make(chan struct{}), make(chan struct{})
	loadDone := make(chan *loadStats, 1)
	mutDone := make(chan int, 1)
	loadStart := time.Now()
	go func() { loadDone <- d.load(ctx, "ClusterLoadKill", stopLoad, 2*d.cfg.killDuration) }()
	go d.mutator(ctx, stopMut, mutDone)

	_ = sleep(ctx, 3*time.Second)
	pid, err := d.pidOf(r)
	var code int
	if err == nil {
		// Between two mutations: a POST cut off inside a killed process
		// cannot be retried by anyone (nginx cannot know whether it
		// committed); the GET load runs on. The next mutation waits
		// until the process is gone, not only signalled: until then its
		// socket still accepts a POST that the kill then cuts off.
		d.mutLock.Lock()
		if err = syscall.Kill(pid, syscall.SIGKILL); err == nil {
			code, err = d.exitCode(ctx, r, 10*time.Second)
		}
		d.mutLock.Unlock()
	}
	var line string
	if err == nil {
		line = fmt.Sprintf("%s killed (exit %d)", r.id, code)
		if code != 137 {
			d.fail("kill", "%s exited with %d after SIGKILL, want 137", r.id, code)
		}
		// Down for a while under load, then back.
		_ = sleep(ctx, 4*time.Second)
		t1 := time.Now()
		if err = d.startReplica(ctx, r); err == nil {
			line += fmt.Sprintf(", down 4s under load, ready again %.2fs after start", time.Since(t1).Seconds())
		}
	}
	if err == nil {
		if rest := time.Until(loadStart.Add(d.cfg.killDuration)); rest > 0 {
			_ = sleep(ctx, rest)
		}
	}
	close(stopLoad)
	close(stopMut)
	st := <-loadDone
	nMut := <-mutDone
	if err != nil {
		return err
	}
	d.note("phase 4: %s; %s; %d mutations alongside", line, st, nMut)
	if st.byReplica[r.id] == 0 {
		d.fail("kill", "%s served none of the load after it came back", r.id)
	}
	for _, s := range d.subs {
		s.mu.Lock()
		for _, c := range s.closes {
			if c.phase == "4 SIGKILL" && c.replica != r.id && c.code != websocket.StatusGoingAway {
				d.fail("subscribers", "subscriber %d: closed with %d %q by %s, which was not killed", s.k, c.code, c.reason, c.replica)
			}
		}
		s.mu.Unlock()
	}
	d.finalMarker(ctx, "-after-kill")
	return nil
}

// ---------------------------------------------------------------- events

type eventCounts struct {
	expected, received, missed int
	resumed                    int // made while the subscriber was reconnecting, and received
	before                     int // made before the subscriber's first subscription: not expected
	dupes, outOfOrder          int
	window                     int           // made during a Redis failover: not expected
	maxLatency                 time.Duration // of the events received live
	closes                     map[string]int
	sessions                   int
	missedList                 []string
}

var events eventCounts

// checkEvents decides, for every subscriber and every mutation that
// succeeded, whether the subscriber had to receive its event: yes when
// the mutation was sent after the subscriber's first session was live.
// Events of mutations made while it was reconnecting are expected too:
// each new socket resumes after the cursor of the last event received
// (issue #18), so the log replays what the gap missed. Those are counted
// apart (resumed); the slowest delivery is measured over the events of
// mutations that a session was live for (from before the mutation was sent
// until 500ms after its response), as before cursors. Every event must
// arrive once, in commit order.
func (d *driver) checkEvents() {
	const slack = 500 * time.Millisecond
	ev := eventCounts{closes: map[string]int{}}
	d.mu.Lock()
	muts := slices.Clone(d.muts)
	d.mu.Unlock()
	for _, s := range d.subs {
		s.mu.Lock()
		ev.sessions += len(s.sessions)
		ev.dupes += s.dupes
		ev.outOfOrder += s.outOfOrder
		for _, c := range s.closes {
			ev.closes[closeName(c.code)]++
		}
		for _, m := range muts {
			if !m.ok {
				continue
			}
			if len(s.sessions) == 0 || m.sentAt.Before(s.sessions[0].start) {
				ev.before++
				continue
			}
			live := false
			for _, ss := range s.sessions {
				if !m.sentAt.Before(ss.start) && (ss.end.IsZero() || !m.doneAt.Add(slack).After(ss.end)) {
					live = true
					break
				}
			}
			if d.inWindow(m) {
				// Made while Redis failed over: not expected, counted apart.
				ev.window++
				continue
			}
			ev.expected++
			r, got := s.got[m.seq]
			switch {
			case got && live:
				ev.received++
				ev.maxLatency = max(ev.maxLatency, r.at.Sub(m.doneAt))
			case got:
				ev.received++
				ev.resumed++
			default:
				ev.missed++
				if len(ev.missedList) < 10 {
					ev.missedList = append(ev.missedList, fmt.Sprintf("subscriber %d missed %s (phase %s, served by %s, live %v)", s.k, m.marker, m.phase, m.replica, live))
				}
			}
		}
		s.mu.Unlock()
	}
	for _, line := range ev.missedList {
		d.fail("events", "%s", line)
	}
	if ev.missed > len(ev.missedList) {
		d.fail("events", "%d more missed events", ev.missed-len(ev.missedList))
	}
	if ev.dupes > 0 {
		d.fail("events", "%d events delivered twice to one subscriber", ev.dupes)
	}
	if ev.outOfOrder > 0 {
		d.fail("events", "%d events delivered after a later one to one subscription", ev.outOfOrder)
	}
	events = ev
}

func closeName(c websocket.StatusCode) string {
	switch c {
	case websocket.StatusGoingAway:
		return "1001 going away"
	case -1:
		return "no close frame (connection lost)"
	case codeInterrupted:
		return "event stream interrupted (SERVICE_UNAVAILABLE), resumed"
	default:
		return strconv.Itoa(int(c))
	}
}

// ---------------------------------------------------------------- summary

func (d *driver) printSummary(w io.Writer) {
	d.mu.Lock()
	defer d.mu.Unlock()
	total, failed := 0, 0
	kinds := make([]string, 0, len(d.sent))
	for k, n := range d.sent {
		total += n
		failed += d.failedBy[k]
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	fmt.Fprintf(w, "\n==================== cluster test summary ====================\n")
	fmt.Fprintf(w, "balancer        %s (nginx), replicas: %s\n", d.lb, d.replicaList())
	for _, n := range d.notes {
		fmt.Fprintf(w, "  %s\n", n)
	}
	fmt.Fprintf(w, "HTTP requests   sent %d, failed %d\n", total, failed)
	for _, k := range kinds {
		fmt.Fprintf(w, "                  %-18s sent %5d  failed %d\n", k, d.sent[k], d.failedBy[k])
	}
	mut, mutOK := 0, 0
	for _, m := range d.muts {
		mut++
		if m.ok {
			mutOK++
		}
	}
	fmt.Fprintf(w, "mutations       %d sent through nginx (events), %d succeeded\n", mut, mutOK)
	fmt.Fprintf(w, "events          expected %d, received %d, missed %d, duplicates %d, out of order %d (slowest live delivery %dms after the response)\n",
		events.expected, events.received, events.missed, events.dupes, events.outOfOrder, events.maxLatency.Milliseconds())
	fmt.Fprintf(w, "                %d of them made while a subscriber was reconnecting (expected: each new socket resumes after its cursor); not expected: %d made before its first subscription\n",
		events.resumed, events.before)
	fmt.Fprintf(w, "subscribers     %d, sessions %d, closes by the server: %s\n", len(d.subs), events.sessions, formatCounts(events.closes))
	d.printFailover(w)
	d.writeResult(total, failed, mut, mutOK)
	if d.nFailures > 0 {
		fmt.Fprintf(w, "FAILURES        %d\n", d.nFailures)
		for _, f := range d.failures {
			fmt.Fprintf(w, "  - %s\n", f)
		}
		fmt.Fprintf(w, "RESULT: FAIL (%.0fs)\n", time.Since(d.start).Seconds())
		return
	}
	fmt.Fprintf(w, "RESULT: PASS (%.0fs)\n", time.Since(d.start).Seconds())
}

// sleep waits d or until ctx ends, whichever comes first, and reports
// ctx's error when it ended first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
