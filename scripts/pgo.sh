#!/usr/bin/env bash
# scripts/pgo.sh [--duration D] - refresh default.pgo, the CPU profile that
# go build uses for profile-guided optimization of the orgpulse binary.
#
# Builds orgpulse as it is now (with the current default.pgo, as Go's
# documentation advises: profile the binary you ship), starts it twice on a
# sample database (orgpulse_pgo on the project-local PostgreSQL), uncached
# and with the Redis cache (logical database 11, flushed first), and records
# a CPU profile of each while cmd/loadgen runs the operations of
# scripts/bench.sh (bench/ops) at concurrency 32, D per operation (default
# 5s). The two profiles, merged, become default.pgo: the benchmark mix,
# half uncached and half cached requests.
#
# Run it after a change to the request path and commit the profile with the
# change; scripts/bench-compare.sh HEAD --old-goflags -pgo=off measures what
# the profile buys. A profile of older code still applies (the compiler
# matches functions by name and line offsets) but guides less. DATABASE_URL
# and REDIS_URL are ignored. Everything the script starts is stopped on exit.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

DUR=5s
while (($#)); do
	case "$1" in
	--duration)
		DUR="${2:?--duration needs a duration such as 5s}"
		shift
		;;
	-h | --help)
		sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*) op_die "unknown argument $1 (use --duration D)" ;;
	esac
	shift
done
[[ "$DUR" =~ ^[1-9][0-9]*s$ ]] || op_die "--duration must be whole seconds such as 5s, got $DUR"

OPS=(org employees50 project projects20 nested summary)
DB=orgpulse_pgo
WORK="$OP_DATA_DIR/pgo"
BIN="$WORK/bin"
PORTS=(18095 18096)
NAMES=(uncached cached)
TOKEN="pgo-$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')"

cleanup() {
	op_stop_groups
	op_stop_started || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

unset DATABASE_URL REDIS_URL
op_ensure_packages
op_ensure_postgres
op_ensure_redis
CACHE_URL="${REDIS_URL%/*}/11"
rm -rf "$WORK"
mkdir -p "$BIN"

op_log "building orgpulse and cmd/loadgen"
go build -o "$BIN/orgpulse" .
go build -o "$BIN/loadgen" ./cmd/loadgen

op_log "preparing $DB"
op_sample_db "$DB" "$BIN/orgpulse"
DB_URL="$(op_local_db_url "$DB")"
redis-cli -u "$CACHE_URL" FLUSHDB >/dev/null

start() { # INDEX [ENV=VALUE...]
	local i="$1"
	shift
	op_bench_server "$BIN/orgpulse" "${PORTS[$i]}" "$DB_URL" "$TOKEN" "$WORK/${NAMES[$i]}.log" "$@"
}
start 0
start 1 REDIS_URL="$CACHE_URL" REDIS_PREFIX=pgo:

secs="${DUR%s}"
for i in 0 1; do
	url="http://127.0.0.1:${PORTS[$i]}"
	op_log "${NAMES[$i]}: warming up, then profiling ${#OPS[@]} operations for $DUR each"
	for op in "${OPS[@]}"; do
		"$BIN/loadgen" http -url "$url/graphql" -file "bench/ops/$op.graphql" -H "Authorization: Bearer $TOKEN" \
			-c 32 -d 1s -warmup 32 -o "$WORK/warm.${NAMES[$i]}.$op.json"
	done
	# The profile covers the runs below, plus a second for loadgen's start.
	curl -fsS -o "$WORK/${NAMES[$i]}.pprof" "$url/debug/pprof/profile?seconds=$((secs * ${#OPS[@]} + 1))" &
	prof=$!
	for op in "${OPS[@]}"; do
		"$BIN/loadgen" http -url "$url/graphql" -file "bench/ops/$op.graphql" -H "Authorization: Bearer $TOKEN" \
			-c 32 -d "$DUR" -o "$WORK/run.${NAMES[$i]}.$op.json"
		grep -q '"errors": *0' "$WORK/run.${NAMES[$i]}.$op.json" ||
			op_die "$op failed requests on the ${NAMES[$i]} server: $WORK/run.${NAMES[$i]}.$op.json"
	done
	wait "$prof" || op_die "no CPU profile from the ${NAMES[$i]} server (log $WORK/${NAMES[$i]}.log)"
done

go tool pprof -proto "$WORK/uncached.pprof" "$WORK/cached.pprof" >"$WORK/merged.pprof" 2>/dev/null ||
	op_die "go tool pprof could not merge $WORK/uncached.pprof and $WORK/cached.pprof"
mv "$WORK/merged.pprof" default.pgo
op_log "wrote default.pgo ($(wc -c <default.pgo) bytes) from $((secs * ${#OPS[@]} * 2)) s of the benchmark mix; the heaviest functions:"
go tool pprof -top -nodecount=15 default.pgo 2>/dev/null | sed -n '/flat%/,$p' >&2
