package server_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"orgpulse/monitor"
	"orgpulse/resolvers"
	"orgpulse/server"
	"orgpulse/testsupport"
)

// slowClient opens a connection to srv and sends the head of a POST
// declaring a body of declared bytes, then sent bytes of it, and no more.
func slowClient(tb testing.TB, srv *testsupport.Server, declared, sent int, payload []byte) net.Conn {
	tb.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	head := fmt.Sprintf("POST /graphql HTTP/1.1\r\nHost: orgpulse\r\nContent-Type: application/json\r\nAuthorization: Bearer "+testsupport.APIToken+"\r\nContent-Length: %d\r\n\r\n", declared)
	if _, err := conn.Write(append([]byte(head), payload[:sent]...)); err != nil {
		tb.Fatal(err)
	}
	return conn
}

// answer reads the response on a slow client's connection and, with
// waitClose, whether the server closed the connection after it.
func answer(tb testing.TB, conn net.Conn, within time.Duration, waitClose bool) (*http.Response, []byte, bool) {
	tb.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(within))
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		tb.Fatalf("read the response: %v", err)
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatalf("read the response body: %v", err)
	}
	if !waitClose {
		return res, body, false
	}
	_, err = br.ReadByte()
	return res, body, err == io.EOF
}

func bodyCode(tb testing.TB, body []byte) string {
	tb.Helper()
	var out testsupport.Response
	if err := json.Unmarshal(body, &out); err != nil {
		tb.Fatalf("not a GraphQL response: %v: %s", err, body)
	}
	return out.Code()
}

// TestSlowBodyIsClosedAfterTheTimeout: a body that does not arrive within
// BODY_READ_TIMEOUT is answered 408 BODY_READ_TIMEOUT and its connection
// closed; a WebSocket on the same path gets no such deadline.
func TestSlowBodyIsClosedAfterTheTimeout(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	const timeout = 500 * time.Millisecond
	srv := testsupport.MustStartServer(t, db, func(c *server.Config, _ *resolvers.Config) { c.BodyReadTimeout = timeout })
	ws := testsupport.DialWS(t, "ws"+strings.TrimPrefix(srv.URL, "http")+"/graphql", testsupport.WSDialOptions{})
	ws.Init(nil)

	start := time.Now()
	conn := slowClient(t, srv, 1000, 10, []byte(`{"query":"{ allOrganizations { id } }"}`))
	res, body, closed := answer(t, conn, 10*timeout, true)
	elapsed := time.Since(start)
	if res.StatusCode != http.StatusRequestTimeout || bodyCode(t, body) != server.CodeBodyReadTimeout {
		t.Errorf("got %d %s, want 408 %s", res.StatusCode, body, server.CodeBodyReadTimeout)
	}
	if !closed {
		t.Error("the connection stayed open after the timeout")
	}
	if elapsed < timeout {
		t.Errorf("answered after %v, before the timeout of %v", elapsed, timeout)
	}

	// Well past the body timeout, the socket still works.
	time.Sleep(timeout)
	ws.Subscribe("1", `{ allOrganizations { id } }`, nil)
	if msg := ws.NextFor("1", 5*time.Second); msg.Type != "next" {
		t.Errorf("WebSocket after the body timeout: %+v, want a result", msg)
	}
	// A body that arrives in time is answered, on a connection kept alive.
	srv.Query(t, `{ allOrganizations { id } }`, nil).MustDecode(t, &struct{}{})
}

// TestMaxInflight: one request more than MAX_INFLIGHT is answered 503 with
// Retry-After and SERVICE_UNAVAILABLE; WebSockets are not counted; the
// limit frees up as requests finish.
func TestMaxInflight(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	withMon, _ := testsupport.WithMonitor(t, db, monitor.Config{})
	srv := testsupport.MustStartServer(t, db, withMon, func(c *server.Config, _ *resolvers.Config) { c.MaxInflight = 2 })
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/graphql"
	testsupport.DialWS(t, wsURL, testsupport.WSDialOptions{}).Init(nil)

	payload := []byte(`{"query":"{ allOrganizations { id } }"}`)
	held := []net.Conn{slowClient(t, srv, len(payload), 5, payload), slowClient(t, srv, len(payload), 5, payload)}
	waitFor(t, "two requests in flight", func() bool {
		return single(t, scrapeMetrics(t, srv), monitor.MetricInflight) == 2
	})
	res := srv.Query(t, `{ allOrganizations { id } }`, nil)
	if res.Status != http.StatusServiceUnavailable || res.Code() != resolvers.CodeServiceUnavailable || res.Header.Get("Retry-After") != "1" {
		t.Errorf("one more request: got %d Retry-After %q %s, want 503 Retry-After 1 %s",
			res.Status, res.Header.Get("Retry-After"), res.Raw, resolvers.CodeServiceUnavailable)
	}
	// A WebSocket still opens and runs operations.
	ws := testsupport.DialWS(t, wsURL, testsupport.WSDialOptions{})
	ws.Init(nil)
	ws.Subscribe("1", `{ allOrganizations { id } }`, nil)
	if msg := ws.NextFor("1", 5*time.Second); msg.Type != "next" {
		t.Errorf("WebSocket at the limit: %+v, want a result", msg)
	}
	if got := single(t, scrapeMetrics(t, srv), monitor.MetricOverloaded); got != 1 {
		t.Errorf("%s: got %v, want 1", monitor.MetricOverloaded, got)
	}

	// The held requests finish: room again.
	for _, c := range held {
		if _, err := c.Write(payload[5:]); err != nil {
			t.Fatal(err)
		}
		if res, body, _ := answer(t, c, 5*time.Second, false); res.StatusCode != http.StatusOK {
			t.Fatalf("held request: %d %s", res.StatusCode, body)
		}
	}
	srv.Query(t, `{ allOrganizations { id } }`, nil).MustDecode(t, &struct{}{})
}

// TestSlowClientsMemory: 200 clients that sent all but the last byte of a
// 64 KiB body and stopped hold at most the body and 32 KiB each in the heap,
// and are all answered 408 and closed after BODY_READ_TIMEOUT, their
// memory freed.
func TestSlowClientsMemory(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	const (
		clients  = 200
		declared = 64 << 10
		timeout  = 6 * time.Second
	)
	srv := testsupport.MustStartServer(t, db, func(c *server.Config, _ *resolvers.Config) { c.BodyReadTimeout = timeout })
	payload := []byte(`{"query":"{ allOrganizations { id } }","variables":{"pad":"` + strings.Repeat("x", declared) + `"}}`)[:declared]
	heap := func() uint64 {
		// Twice: buffers put back in a sync.Pool survive one collection.
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	start := time.Now()
	conns := make([]net.Conn, clients)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() { conns[i] = slowClient(t, srv, declared, declared-1, payload) })
	}
	wg.Wait()
	time.Sleep(500 * time.Millisecond) // the server reads what is in the socket buffers
	t.Logf("%d clients sent their bodies in %v", clients, time.Since(start))
	if time.Since(start) > timeout-time.Second {
		t.Skip("the clients took too long to connect on this machine")
	}
	during := heap()
	perClient := (int64(during) - int64(before)) / clients
	// The body, at most its declared size (+1), and the connection's own
	// buffers and goroutine.
	bound := int64(declared + 32<<10)
	t.Logf("heap %d MiB before, %d MiB with %d slow clients: %d KiB per client (bound %d KiB)",
		before>>20, during>>20, clients, perClient>>10, bound>>10)
	if perClient > bound {
		t.Errorf("%d KiB of heap per slow client, want at most %d KiB", perClient>>10, bound>>10)
	}
	for _, c := range conns {
		wg.Go(func() {
			res, body, closed := answer(t, c, 2*timeout, true)
			if res.StatusCode != http.StatusRequestTimeout || !closed {
				t.Errorf("slow client: %d closed=%v %s, want 408 and closed", res.StatusCode, closed, body)
			}
		})
	}
	wg.Wait()
	after := heap()
	t.Logf("heap %d MiB once they were closed", after>>20)
	if int64(after)-int64(before) > clients*16<<10 {
		t.Errorf("heap %d MiB after the slow clients were closed, %d MiB before", after>>20, before>>20)
	}
}

// TestSlowReaderIsCutOff: a client that asks for a large answer and stops
// reading is cut off after RESPONSE_WRITE_TIMEOUT, counted, and frees its
// MAX_INFLIGHT slot; a client that reads gets the whole answer, and a
// kept-alive connection is not cut by the deadline of the response before.
func TestSlowReaderIsCutOff(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	withMon, _ := testsupport.WithMonitor(t, db, monitor.Config{})
	const timeout = 300 * time.Millisecond
	// Small socket buffers on both sides: on loopback (64 KiB segments)
	// the kernel would otherwise take in several MiB before a write blocks.
	srv := testsupport.MustStartServerOn(t, db, smallSendBuffers, withMon,
		func(c *server.Config, _ *resolvers.Config) { c.ResponseWriteTimeout = timeout })

	// 25 pages of 100 employees: about 540 KB of JSON, far more than
	// the sockets' buffers hold.
	var q strings.Builder
	q.WriteString("{")
	for p := 1; p <= 25; p++ {
		fmt.Fprintf(&q, " p%d: allEmployees(page: %d, pageSize: 100) { id name email department title salary hiredAt isActive }", p, p)
	}
	q.WriteString(" }")
	payload, _ := json.Marshal(map[string]string{"query": q.String()})

	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return errors.Join(err, serr)
	}}
	conn, err := d.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	head := fmt.Sprintf("POST /graphql HTTP/1.1\r\nHost: orgpulse\r\nContent-Type: application/json\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n",
		testsupport.APIToken, len(payload))
	if _, err := conn.Write(append([]byte(head), payload...)); err != nil {
		t.Fatal(err)
	}
	// The reader takes nothing: the server gives up on it.
	waitFor(t, "the slow reader cut off", func() bool {
		m := scrapeMetrics(t, srv)
		return single(t, m, monitor.MetricResponseWriteTimeouts) == 1 && single(t, m, monitor.MetricInflight) == 0
	})

	// A reader gets the whole answer. Its kept-alive connection then
	// answers a request written by other code than the GraphQL path
	// (/healthz), after more than the timeout: the response's deadline
	// does not stay on the connection (net/http clears it).
	reader, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	if _, err := reader.Write(append([]byte(head), payload...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(reader)
	_ = reader.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Data map[string][]struct{ ID string }
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatalf("read the answer: %v", err)
	}
	if got := len(out.Data["p25"]); got != 100 {
		t.Fatalf("page 25 has %d employees, want 100", got)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	time.Sleep(2 * timeout)
	if _, err := io.WriteString(reader, "GET /healthz HTTP/1.1\r\nHost: orgpulse\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if res, err := http.ReadResponse(br, nil); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("the next request on the kept-alive connection: %v %v", res, err)
	}
	if got := single(t, scrapeMetrics(t, srv), monitor.MetricResponseWriteTimeouts); got != 1 {
		t.Errorf("%s after a reader: got %v, want 1", monitor.MetricResponseWriteTimeouts, got)
	}
}

// smallSendBuffers gives every accepted connection a 4 KiB send buffer.
func smallSendBuffers(ln net.Listener) net.Listener { return smallBufListener{ln} }

type smallBufListener struct{ net.Listener }

func (l smallBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		err = errors.Join(err, tc.SetWriteBuffer(4096))
	}
	return c, err
}
