package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// profileArea is one part of a server's CPU time, found by the functions
// that spent it (a CPU profile's flat time: where the time was spent, not
// who called).
type profileArea struct {
	name  string
	match func(fn string) bool
}

func prefixed(prefixes ...string) func(string) bool {
	return func(fn string) bool {
		for _, p := range prefixes {
			if strings.HasPrefix(fn, p) {
				return true
			}
		}
		return false
	}
}

// runtimeMemory tells the runtime's allocation, copying and garbage
// collection from the rest of the runtime (scheduling, timers, ...).
func runtimeMemory(fn string) bool {
	if strings.HasPrefix(fn, "internal/runtime/gc/") {
		return true
	}
	if !strings.HasPrefix(fn, "runtime.") {
		return false
	}
	for _, s := range []string{"malloc", "gc", "GC", "sweep", "mspan", "mcache", "mcentral", "mheap", "scanobject",
		"greyobject", "findObject", "heapBits", "memclr", "memmove", "newobject", "makeslice", "growslice", "wbBuf",
		"typePointers", "nextFree", "markBits", "spanOf", "madvise", "sysUsed", "sysAlloc", "bulkBarrier", "Barrier",
		"mark", "Mark", "concatstring", "slicebytetostring", "rawstring", "stringtoslicebyte", "mapassign", "growWork",
		"evacuate", "makemap", "newarray", "heapSetType", "writeHeapBits", "tryDeferToSpanScan", "moveInlineMarks",
		"span", "Span", "fixalloc", "tiny", "Tiny"} {
		if strings.Contains(fn, s) {
			return true
		}
	}
	return false
}

// profileAreas are checked in order; the first that matches takes the
// function.
var profileAreas = []profileArea{
	{"graphql-go (validation, execution by reflection)", prefixed("github.com/graph-gophers/", "reflect.", "internal/abi.")},
	{"pgx (PostgreSQL protocol, scanning rows)", prefixed("github.com/jackc/")},
	{"net/http and system calls", prefixed("net/http.", "net.", "net/textproto.", "internal/poll.", "syscall.",
		"internal/runtime/syscall/", "bufio.", "runtime.netpoll", "runtime/internal/syscall.", "runtime.epoll", "runtime.futex", "runtime.usleep", "runtime.write")},
	{"JSON", prefixed("encoding/json.")},
	{"goroutine stacks", prefixed("runtime.morestack", "runtime.newstack", "runtime.copystack", "runtime.adjust", "runtime.stackalloc", "runtime.stackfree")},
	{"memory: allocation, copying, GC", runtimeMemory},
	{"scheduling and the rest of the runtime", prefixed("runtime.", "internal/runtime/", "sync.", "internal/sync.", "sync/atomic.")},
	{"orgpulse's own code", prefixed("orgpulse/")},
	{"other (standard library, dataloader, ...)", func(string) bool { return true }},
}

// readProfile reads `go tool pprof -top` output: each function's flat
// time, summed by profileAreas, and the total.
func readProfile(file string) (areas []time.Duration, total time.Duration, err error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	areas = make([]time.Duration, len(profileAreas))
	sc := bufio.NewScanner(f)
	header := false
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if !header {
			header = len(fields) >= 5 && fields[0] == "flat" && fields[1] == "flat%"
			continue
		}
		if len(fields) < 6 {
			continue
		}
		flat, err := parseProfileDuration(fields[0])
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", file, err)
		}
		fn := fields[5]
		for i, a := range profileAreas {
			if a.match(fn) {
				areas[i] += flat
				break
			}
		}
		total += flat
	}
	if err := sc.Err(); err != nil {
		return nil, 0, err
	}
	if !header {
		return nil, 0, fmt.Errorf("%s: not the output of go tool pprof -top", file)
	}
	return areas, total, nil
}

// parseProfileDuration reads pprof's flat column: "0", "10ms", "1.23s",
// "1.50mins".
func parseProfileDuration(s string) (time.Duration, error) {
	if s == "0" {
		return 0, nil
	}
	if v, ok := strings.CutSuffix(s, "mins"); ok {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		return time.Duration(f * float64(time.Minute)), nil
	}
	if v, ok := strings.CutSuffix(s, "hrs"); ok {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		return time.Duration(f * float64(time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q", s)
	}
	return d, nil
}

// profileTable is "Where the time goes": the CPU per request of each
// server and of PostgreSQL for it at concurrency 32 (section 2's rounds),
// then the uncached orgpulse server's CPU profile of each operation
// (section 2c) split by area. It is where a missed goal is explained.
func (r *report) profileTable() {
	server, ok := r.cpuPerRequest()
	if !ok {
		return
	}
	pg, ok := r.cpuPerRequestFrom("cpu-postgres.txt")
	if !ok {
		return
	}
	r.printf("\n### Where the time goes\n\n")
	r.printf("CPU milliseconds per request at concurrency 32 over section 2's rounds: each server's own processes, as above, and PostgreSQL's (the postmaster and its backends, from `/proc`) during the same runs; ")
	r.printf("only the server being measured was busy then. What a request costs the machine is the sum: on %s shared cores it bounds the requests per second of each.\n\n", r.meta["cores"])
	r.printf("| operation | orgpulse uncached: server + PostgreSQL = total | orgpulse cached | PostGraphile 4 | PostGraphile 5 | PostGraphile 5 total / orgpulse uncached total |\n|---|---|---|---|---|---|\n")
	sum := func(name string) (float64, string) {
		s, ss := server(name)
		p, ps := pg(name)
		if math.IsNaN(s + p) {
			return math.NaN(), "n/a"
		}
		return s + p, fmt.Sprintf("%s + %s = %s", ss, ps, fms(s+p))
	}
	for _, op := range benchOps {
		u, us := sum("c32.nocache." + op.key)
		_, cs := sum("c32.cache." + op.key)
		_, p4 := sum("c32.pg." + op.key)
		p5, p5s := sum("c32.pg5." + op.key)
		r.printf("| %s | %s | %s | %s | %s | %s |\n", op.title, us, cs, p4, p5s, fx(ratio(p5, u)))
	}

	var rows []string
	for _, op := range benchOps {
		areas, total, err := readProfile(filepath.Join(r.dir, "profile."+op.key+".txt"))
		if err != nil {
			r.errs = append(r.errs, err.Error())
			continue
		}
		cells := []string{op.title, fmt.Sprintf("%.1f s", total.Seconds())}
		for _, a := range areas {
			cells = append(cells, fmt.Sprintf("%.0f%%", 100*ratio(float64(a), float64(total))))
		}
		rows = append(rows, "| "+strings.Join(cells, " | ")+" |\n")
	}
	if len(rows) == 0 {
		return
	}
	r.printf("\nThe uncached orgpulse server's CPU profile of each operation at concurrency 32 (section 2c: `/debug/pprof/profile` while loadgen ran it), ")
	r.printf("its samples split by the function that spent them (flat time: an allocation counts as memory, not as the code that asked for it). ")
	r.printf("The profiles are `profile.<operation>.pprof` in the results directory, for `go tool pprof`.\n\n")
	head := []string{"operation", "CPU sampled"}
	for _, a := range profileAreas {
		head = append(head, a.name)
	}
	r.printf("| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat("---|", len(head)))
	for _, row := range rows {
		r.printf("%s", row)
	}
}
