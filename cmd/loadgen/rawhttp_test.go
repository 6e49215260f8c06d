package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// conn speaks HTTP/1.1 itself: it must send what net/http would (method,
// path, headers, body), read Content-Length and chunked bodies, keep one
// connection alive, and recover when the server closes it.
func TestConnRoundTrips(t *testing.T) {
	var dials atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/graphql" || r.Header.Get("Content-Type") != "application/json" ||
			r.Header.Get("X-Test") != "yes" || string(body) != `{"query":"{ a }"}` {
			http.Error(w, "unexpected request: "+r.Method+" "+r.URL.Path+" "+string(body), http.StatusBadRequest)
			return
		}
		switch r.URL.Query().Get("mode") {
		case "chunked":
			w.Write([]byte(`{"data":`))
			w.(http.Flusher).Flush() // forces chunked encoding
			w.Write([]byte(`{"a":1}}`))
		case "close":
			w.Header().Set("Connection", "close")
			w.Write([]byte(`{"data":{"a":1}}`))
		case "error":
			w.Write([]byte(`{"errors":[{"message":"no"}],"data":null}`))
		case "status":
			http.Error(w, "down", http.StatusServiceUnavailable)
		default:
			w.Write([]byte(`{"data":{"a":1}}`))
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dials.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	ctx := context.Background()
	newC := func(mode string) *conn {
		t.Helper()
		c, err := newConn(&request{url: srv.URL + "/graphql?mode=" + mode, body: []byte(`{"query":"{ a }"}`), headers: [][2]string{{"X-Test", "yes"}}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	var buf bytes.Buffer

	for _, mode := range []string{"", "chunked"} {
		dials.Store(0)
		c := newC(mode)
		for i := range 3 {
			got, err := c.do(ctx, &buf)
			if err != nil {
				t.Fatalf("mode %q, request %d: %v", mode, i, err)
			}
			if want := `{"data":{"a":1}}`; string(got) != want {
				t.Errorf("mode %q: body %s, want %s", mode, got, want)
			}
		}
		if got, want := dials.Load(), int32(1); got != want {
			t.Errorf("mode %q: %d connections for 3 requests, want %d (keep-alive)", mode, got, want)
		}
		c.close()
	}

	// The server says Connection: close: the next request dials again.
	dials.Store(0)
	c := newC("close")
	for i := range 2 {
		if _, err := c.do(ctx, &buf); err != nil {
			t.Fatalf("close, request %d: %v", i, err)
		}
	}
	if got, want := dials.Load(), int32(2); got != want {
		t.Errorf("Connection: close: %d connections for 2 requests, want %d", got, want)
	}
	c.close()

	// The server closes an idle keep-alive connection: the request is sent
	// again on a new one.
	c = newC("")
	if _, err := c.do(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	srv.CloseClientConnections()
	time.Sleep(50 * time.Millisecond)
	if _, err := c.do(ctx, &buf); err != nil {
		t.Errorf("after the server closed the idle connection: %v, want a retry on a new one", err)
	}
	c.close()

	for _, tt := range []struct{ mode, want string }{{"error", "GraphQL errors"}, {"status", "status 503"}} {
		c := newC(tt.mode)
		if _, err := c.do(ctx, &buf); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("mode %q: error %v, want %q", tt.mode, err, tt.want)
		}
		c.close()
	}
}

// A run's context ending interrupts a request the server never answers.
func TestConnInterrupt(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	c, err := newConn(&request{url: srv.URL, body: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	defer context.AfterFunc(ctx, c.interrupt)()
	start := time.Now()
	var buf bytes.Buffer
	if _, err := c.do(ctx, &buf); err == nil {
		t.Fatal("a request the server never answered succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the request returned after %v, want soon after the context ended", d)
	}
}
