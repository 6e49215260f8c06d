package main

import (
	"fmt"
	"path/filepath"
)

// docCacheTable compares uncached throughput at concurrency 32 with the
// document cache (DOCUMENT_CACHE_SIZE's default) and without it
// (DOCUMENT_CACHE_SIZE=0): two servers measured in the same rounds
// (bench.sh, section 2). A run without the second server has no table.
func (r *report) docCacheTable() {
	perRequest, ok := r.cpuPerRequest()
	if !ok {
		return
	}
	var rows []string
	for _, op := range benchOps {
		if m, _ := filepath.Glob(filepath.Join(r.dir, "c32.nodoc."+op.key+".*json")); len(m) == 0 {
			continue
		}
		on, onRounds := loadRounds(r, "c32.nocache."+op.key)
		off, offRounds := loadRounds(r, "c32.nodoc."+op.key)
		if on == nil || off == nil {
			continue
		}
		q, _ := pairedRatio(on.RPS, off.RPS, onRounds, offRounds)
		onCPU, onCPUs := perRequest("c32.nocache." + op.key)
		offCPU, offCPUs := perRequest("c32.nodoc." + op.key)
		rows = append(rows, fmt.Sprintf("| %s | %s%s | %s | %s%s | %s | %s | %s | %s | %s |\n", op.title,
			frps(on.RPS), errNote(on), fRounds(onRounds), frps(off.RPS), errNote(off), fRounds(offRounds), fx(q),
			onCPUs, offCPUs, fx(ratio(onCPU, offCPU))))
	}
	if len(rows) == 0 {
		return
	}
	r.printf("### The document cache\n\n")
	r.printf("Uncached requests per second at concurrency 32, with the parsed-document cache (`DOCUMENT_CACHE_SIZE=1000`, the default: the parse and the limit and cost walk kept by the document's SHA-256, `server/doccache.go`) and without it (`DOCUMENT_CACHE_SIZE=0`: every request parsed and walked), two servers otherwise alike measured in the same rounds. graphql-go parses and validates the text again either way: it has no entry point for a parsed document.\n\n")
	r.printf("CPU is the server's own, milliseconds per request over all rounds, as in \"CPU time per request\" below: on a shared machine it varies less than the rate.\n\n")
	r.printf("| operation | with rps | with, per round | without rps | without, per round | with / without | CPU with | CPU without | CPU with / without |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, row := range rows {
		r.printf("%s", row)
	}
	r.printf("\n")
}
