// Command loadgen is the load generator of scripts/bench.sh, the harness
// behind docs/BENCHMARKS.md. It talks only to servers on this machine
// (loopback addresses) and every run is bounded in requests and in time.
//
//	loadgen http     send one GraphQL request repeatedly, report latency and throughput as JSON
//	loadgen sqlcount send one GraphQL request with X-Debug: 1, report extensions.debug.sqlCount
//	loadgen samedata send one operation to two servers, fail unless both return the same data
//	loadgen goagg    performanceSummary in SQL versus rows loaded with one SELECT and aggregated in Go
//	loadgen pgbench  percentiles from pgbench per-transaction logs
//	loadgen fanout   WebSocket subscribers against a running orgpulse, one mutation at a time
//	loadgen delayproxy  forward TCP to PostgreSQL with a round-trip time added (a database a hop away)
//	loadgen otlpsink an OTLP/HTTP trace receiver that drops what it gets (the tracing cost)
//	loadgen bare     a bare net/http handler serving the cached server's answers from memory (the HTTP floor)
//	loadgen redis    the Redis round trip of a cached read (cache.Lookup) or of PING, latency and throughput as JSON
//	loadgen report   render docs/BENCHMARKS.md from the results of one bench.sh run
//
// Run 'loadgen <command> -h' for the flags of each.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadgen http|sqlcount|samedata|goagg|pgbench|fanout|delayproxy|otlpsink|bare|redis|report [flags]")
		os.Exit(2)
	}
	cmds := map[string]func(context.Context, []string) error{
		"http":       runHTTP,
		"sqlcount":   runSQLCount,
		"samedata":   runSameData,
		"goagg":      runGoAgg,
		"pgbench":    runPgbench,
		"fanout":     runFanout,
		"delayproxy": runDelayProxy,
		"otlpsink":   runOTLPSink,
		"bare":       runBare,
		"redis":      runRedis,
		"report":     runReport,
	}
	run, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "loadgen: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
	if err := run(ctx, os.Args[2:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "loadgen "+os.Args[1]+":", err)
		os.Exit(1)
	}
}

// requireLoopback refuses any URL whose host is not a loopback address:
// the load generator must never be pointed at another machine.
func requireLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("parse %q: %w", raw, err)
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("%q has no host", raw)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address: loadgen only talks to servers on this machine", host)
	}
	return nil
}

// writeJSON prints v as indented JSON, to out when given, else stdout.
func writeJSON(out string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if out == "" || out == "-" {
		_, err = os.Stdout.Write(b)
		return err
	}
	return os.WriteFile(out, b, 0o644)
}

// headerFlags collects repeated -H 'Name: value' flags.
type headerFlags [][2]string

func (h *headerFlags) String() string { return fmt.Sprint(*h) }

func (h *headerFlags) Set(v string) error {
	for i := 0; i < len(v); i++ {
		if v[i] == ':' {
			name, val := v[:i], v[i+1:]
			for len(val) > 0 && val[0] == ' ' {
				val = val[1:]
			}
			*h = append(*h, [2]string{name, val})
			return nil
		}
	}
	return fmt.Errorf("header %q: want 'Name: value'", v)
}
