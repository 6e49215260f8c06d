package main

import (
	"encoding/json"
	"os"
	"path/filepath"
)

// scenario7 is the cost of OpenTelemetry tracing: the same uncached
// server with tracing off and with every request sampled and exported to
// loadgen otlpsink (bench.sh section 7).
func (r *report) scenario7() {
	r.printf("## 7. Tracing: off versus every request sampled\n\n")
	r.printf("The same binary, uncached, at concurrency 32: without `OTEL_EXPORTER_OTLP_ENDPOINT` (tracing off: the no-op tracer provider, no exporter), ")
	r.printf("and with `OTEL_TRACES_SAMPLER=always_on` exporting over OTLP/HTTP (batch span processor) to `loadgen otlpsink`, a receiver on this machine that drops what it gets. ")
	r.printf("Rounds alternate the two servers; the ratio is the median of the rounds' own ratios. ")
	r.printf("The receiver shares the machine's cores, as a collector running beside the service would. ")
	r.printf("The cost of the tracing code when tracing is off, against a build without it, is measured in the README's \"Tracing\" section.\n\n")
	perRequest, ok := r.cpuPerRequest()
	if !ok {
		return
	}
	r.printf("CPU is the server's own, milliseconds per request over all rounds (as in \"CPU time per request\" below): on a shared machine it varies less than the rate.\n\n")
	r.printf("| operation | off rps (rounds) | off p99 | sampled rps (rounds) | sampled p99 | sampled / off | CPU off | CPU sampled | CPU sampled / off |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, op := range benchOps {
		// bench.sh measures a few of the operations (TRACE_OPS) only.
		if files, _ := filepath.Glob(filepath.Join(r.dir, "c32.traceoff."+op.key+".r*.json")); len(files) == 0 {
			continue
		}
		off, offRounds := loadRounds(r, "c32.traceoff."+op.key)
		on, onRounds := loadRounds(r, "c32.traceon."+op.key)
		if off == nil || on == nil {
			continue
		}
		q, _ := pairedRatio(on.RPS, off.RPS, onRounds, offRounds)
		offCPU, offCPUs := perRequest("c32.traceoff." + op.key)
		onCPU, onCPUs := perRequest("c32.traceon." + op.key)
		r.printf("| %s | %s%s (%s) | %s | %s%s (%s) | %s | %s | %s | %s | %s |\n", op.title, frps(off.RPS), errNote(off), fRounds(offRounds), fms(off.P99),
			frps(on.RPS), errNote(on), fRounds(onRounds), fms(on.P99), rateVersus(q, on.RPS, off.RPS, len(onRounds)),
			offCPUs, onCPUs, fx(ratio(onCPU, offCPU)))
	}
	var sink struct{ Requests, Bytes int64 }
	if b, err := os.ReadFile(filepath.Join(r.dir, "otlpsink.json")); err != nil || json.Unmarshal(b, &sink) != nil {
		r.errs = append(r.errs, "otlpsink.json: missing or unreadable")
	} else {
		r.printf("\nThe receiver got %d OTLP export requests, %.1f MiB of spans, during the sampled runs (and their warm-up).\n", sink.Requests, float64(sink.Bytes)/(1<<20))
	}
	r.printf("\n")
}
