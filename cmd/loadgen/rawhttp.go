package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"
)

// conn is one load worker's keep-alive HTTP/1.1 connection, spoken
// directly: a request is one write of bytes prepared once, and the response
// is read by http.ReadResponse on the worker's own goroutine.
//
// net/http's Transport hands every request between three goroutines (the
// caller, the connection's writeLoop and readLoop). On the benchmark's two
// shared cores those hand-offs cost the load generator about 90 us of CPU a
// request at concurrency 32 (A/B against one server, /proc CPU times), as
// much as the server under test spent answering it; that CPU is taken from
// the servers being compared, and the same for each, so it compressed
// every ratio between them. wrk and similar tools write and read their
// sockets the same way.
type conn struct {
	addr string
	raw  []byte // request line, headers and body

	mu sync.Mutex // guards c against interrupt
	c  net.Conn
	br *bufio.Reader
	// reused says the connection has answered before, so an EOF on it may
	// be the server closing an idle keep-alive connection: retried once.
	reused bool
}

// requestTimeout bounds one request, as the net/http client's Timeout does.
const requestTimeout = 60 * time.Second

// newConn prepares req's bytes; it dials on the first request.
func newConn(req *request) (*conn, error) {
	u, err := url.Parse(req.url)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("%s: only http:// URLs are supported", req.url)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: %d\r\n", u.RequestURI(), u.Host, len(req.body))
	for _, h := range req.headers {
		if strings.ContainsAny(h[0]+h[1], "\r\n") || strings.TrimSpace(h[0]) == "" {
			return nil, fmt.Errorf("header %q: a name and a value on one line", h[0]+": "+h[1])
		}
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	b.WriteString("\r\n")
	b.Write(req.body)
	return &conn{addr: addr, raw: b.Bytes()}, nil
}

// do sends the request once and returns the response body, with the same
// checks as request.send: a status other than 200 or a GraphQL error is an
// error.
func (c *conn) do(ctx context.Context, buf *bytes.Buffer) ([]byte, error) {
	for {
		res, retry, err := c.roundTrip(ctx)
		if err != nil {
			c.close()
			if retry {
				continue
			}
			return nil, err
		}
		buf.Reset()
		_, err = io.Copy(buf, res.Body)
		res.Body.Close()
		if err != nil {
			c.close()
			return nil, err
		}
		if res.Close {
			c.close()
		}
		return checkResponse(res.StatusCode, buf.Bytes())
	}
}

// roundTrip writes the request and reads the response head. retry is set
// when a reused connection was found closed before any response: the
// server may close an idle keep-alive connection, and these requests are
// reads, so sending again on a new connection is safe.
func (c *conn) roundTrip(ctx context.Context) (_ *http.Response, retry bool, _ error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	c.mu.Lock()
	if c.c == nil {
		d := net.Dialer{Timeout: 10 * time.Second}
		nc, err := d.DialContext(ctx, "tcp", c.addr)
		if err != nil {
			c.mu.Unlock()
			return nil, false, err
		}
		c.c, c.br, c.reused = nc, bufio.NewReaderSize(nc, 64<<10), false
	}
	nc, br, reused := c.c, c.br, c.reused
	c.mu.Unlock()
	if err := nc.SetDeadline(time.Now().Add(requestTimeout)); err != nil {
		return nil, false, err
	}
	// interrupt may have run before the deadline above replaced its own.
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	if _, err := nc.Write(c.raw); err != nil {
		return nil, reused && closedByPeer(err), err
	}
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		return nil, reused && closedByPeer(err) && br.Buffered() == 0, err
	}
	c.mu.Lock()
	c.reused = true
	c.mu.Unlock()
	return res, false, nil
}

// closedByPeer says err is what a write or read on a connection the server
// had closed returns.
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// interrupt makes a request in flight return at once (the run's context
// ended).
func (c *conn) interrupt() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.c != nil {
		_ = c.c.SetDeadline(time.Unix(1, 0))
	}
}

func (c *conn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.c != nil {
		_ = c.c.Close()
		c.c, c.br = nil, nil
	}
}

// checkResponse is the check of every benchmark response: status 200, a
// data key and no errors key.
func checkResponse(status int, b []byte) ([]byte, error) {
	if status != http.StatusOK {
		return b, fmt.Errorf("status %d: %.300s", status, b)
	}
	// Neither server writes "errors" unless there are some; a data value
	// in these benchmarks never contains the key.
	if bytes.Contains(b, []byte(`"errors":`)) || !bytes.Contains(b, []byte(`"data":`)) {
		return b, fmt.Errorf("GraphQL errors: %.300s", b)
	}
	return b, nil
}
