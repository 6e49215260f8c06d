package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// runOTLPSink is an OTLP/HTTP trace receiver that drops what it gets: the
// collector of scripts/bench.sh's tracing-cost section, so that a server
// tracing every request pays for building, batching and sending its spans
// and for nothing a real backend would add. It answers every POST to
// /v1/traces with an empty ExportTraceServiceResponse (zero bytes of
// protobuf) and GET /stats with what it received, as JSON.
func runOTLPSink(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("otlpsink", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:4318", "loopback address to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireLoopback("http://" + *listen); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	var s sinkStats
	srv := &http.Server{Handler: s.handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutCtx)
	}()
	fmt.Fprintf(os.Stderr, "otlpsink: listening on %s\n", ln.Addr())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	fmt.Fprintf(os.Stderr, "otlpsink: %d requests, %d bytes\n", s.requests.Load(), s.bytes.Load())
	return nil
}

// sinkStats counts what the sink dropped.
type sinkStats struct{ requests, bytes atomic.Int64 }

func (s *sinkStats) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		s.requests.Add(1)
		s.bytes.Add(n)
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]int64{"requests": s.requests.Load(), "bytes": s.bytes.Load()})
	})
	return mux
}
