package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// runDelayProxy forwards TCP connections from -listen to -target and holds
// every chunk the target sends back for -rtt before passing it on: a
// database one network hop away, for the N+1 comparison. On loopback a
// statement's round trip costs about 0.1 ms, so 51 statements cost little
// more than one; a production database is usually across a network,
// where each round trip adds its latency.
// Only the target-to-client direction is delayed, so the added latency is
// one -rtt per request-response exchange; bytes are never reordered or
// throttled.
func runDelayProxy(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("delayproxy", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "loopback address to listen on")
	target := fs.String("target", "", "loopback address to forward to (host:port)")
	rtt := fs.Duration("rtt", 500*time.Microsecond, "round-trip time to add (at most 100ms)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *rtt < 0 || *rtt > 100*time.Millisecond {
		return fmt.Errorf("-rtt must be between 0 and 100ms, got %v", *rtt)
	}
	for _, a := range []string{*listen, *target} {
		if err := requireLoopback("tcp://" + a); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Fprintf(os.Stderr, "delayproxy: %s -> %s, +%v per round trip\n", ln.Addr(), *target, *rtt)
	go func() { <-ctx.Done(); ln.Close() }()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		client, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		wg.Go(func() { proxyConn(ctx, client, *target, *rtt) })
	}
}

// chunk is bytes read from the target and the time they may go on.
type chunk struct {
	data []byte
	due  time.Time
}

// delayQueue bounds the chunks in flight per connection.
const delayQueue = 1024

func proxyConn(ctx context.Context, client net.Conn, target string, rtt time.Duration) {
	defer client.Close()
	var d net.Dialer
	server, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		fmt.Fprintln(os.Stderr, "delayproxy: dial:", err)
		return
	}
	defer server.Close()
	stop := context.AfterFunc(ctx, func() { client.Close(); server.Close() })
	defer stop()
	go func() {
		_, _ = io.Copy(server, client) // client to target: no delay
		if tc, ok := server.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	q := make(chan chunk, delayQueue)
	go func() {
		defer close(q)
		buf := make([]byte, 32<<10)
		for {
			n, err := server.Read(buf)
			if n > 0 {
				q <- chunk{data: append([]byte(nil), buf[:n]...), due: time.Now().Add(rtt)}
			}
			if err != nil {
				// The client closing first resets the target's side.
				if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, syscall.ECONNRESET) {
					fmt.Fprintln(os.Stderr, "delayproxy: read:", err)
				}
				return
			}
		}
	}()
	for c := range q {
		if wait := time.Until(c.due); wait > 0 {
			time.Sleep(wait)
		}
		if _, err := client.Write(c.data); err != nil {
			return
		}
	}
}
