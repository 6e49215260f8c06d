#!/usr/bin/env bash
# scripts/bench-compare.sh REV [--rounds N] [--duration D] [--ops a,b]
# [--old-env VAR=VALUE]... [--old-goflags FLAGS] - requests per second of the working tree against
# revision REV, in one run.
#
# For a change that must not cost speed ("no more than 5% on any operation"):
# builds orgpulse at REV (in a temporary git worktree) and from the working
# tree, starts both, uncached and with the Redis cache, on one sample
# database (orgpulse_bench_compare on the project-local PostgreSQL; Redis
# logical database 10, flushed first), and runs every operation of
# scripts/bench.sh at concurrency 32, ROUNDS rounds that alternate old and new
# (old first in odd rounds, new first in even ones) so a slow spell of a
# shared machine falls on both. Prints each operation's median round and the
# ratio new/old, and the load average, to stdout. Defaults: 5 rounds of 2s,
# every operation (--ops picks some, e.g. --ops project,nested). The four
# servers listen on COMPARE_PORT (default 18091) and the three ports after it.
# --old-env sets a variable for the old servers only: with REV=HEAD, it
# compares a setting against the default on the same code (the document
# cache: scripts/bench-compare.sh HEAD --old-env DOCUMENT_CACHE_SIZE=0).
# --old-goflags builds the old binary with extra go build flags: with
# REV=HEAD, profile-guided optimization against none is
# scripts/bench-compare.sh HEAD --old-goflags -pgo=off.
# Everything it starts is stopped on exit.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

REV=""
ROUNDS=5
DUR=2s
OPS=(org employees50 project projects20 nested summary)
OLD_ENV=()
OLD_GOFLAGS=()
while (($#)); do
	case "$1" in
	--rounds)
		ROUNDS="${2:?--rounds needs a number}"
		shift
		;;
	--duration)
		DUR="${2:?--duration needs a duration such as 2s}"
		shift
		;;
	--ops)
		IFS=, read -r -a picked <<<"${2:?--ops needs operations such as project,nested}"
		for op in "${picked[@]}"; do
			[[ " ${OPS[*]} " == *" $op "* ]] || op_die "--ops: unknown operation $op (one of: ${OPS[*]})"
		done
		OPS=("${picked[@]}")
		shift
		;;
	--old-env)
		[[ "${2:-}" == *=* ]] || op_die "--old-env needs VAR=VALUE"
		OLD_ENV+=("$2")
		shift
		;;
	--old-goflags)
		read -r -a OLD_GOFLAGS <<<"${2:?--old-goflags needs go build flags such as -pgo=off}"
		shift
		;;
	-h | --help)
		sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	-*) op_die "unknown argument $1 (use REV, --rounds N, --duration D, --ops a,b, --old-env VAR=VALUE, --old-goflags FLAGS)" ;;
	*) REV="$1" ;;
	esac
	shift
done
[[ -n "$REV" ]] || op_die "usage: scripts/bench-compare.sh REV [--rounds N] [--duration D] [--ops a,b]"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || op_die "--rounds must be a positive number, got $ROUNDS"
OLD_SHA="$(git rev-parse --verify --short=12 "$REV^{commit}")" || op_die "no commit $REV"

DB=orgpulse_bench_compare
WORK="$OP_DATA_DIR/bench/compare"
BIN="$WORK/bin"
RES="$WORK/results"
# old, new, old cached, new cached: COMPARE_PORT and the three after it
base="${COMPARE_PORT:-18091}"
if [[ ! "$base" =~ ^[0-9]+$ ]] || ((base < 1024 || base > 65532)); then
	op_die "COMPARE_PORT must be a port number from 1024 to 65532, got $base"
fi
PORTS=("$base" $((base + 1)) $((base + 2)) $((base + 3)))
NAMES=(old new old-cached new-cached)
TOKEN="bench-$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')"

TREE=""
cleanup() {
	op_stop_groups
	if [[ -n "$TREE" ]]; then
		git worktree remove --force "$TREE" 2>/dev/null || true
	fi
	op_stop_started || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

unset DATABASE_URL REDIS_URL
op_ensure_packages
op_ensure_postgres
op_ensure_redis
CACHE_URL="${REDIS_URL%/*}/10"
rm -rf "$RES"
mkdir -p "$BIN" "$RES"

op_log "building orgpulse at $OLD_SHA and from the working tree"
TREE="$(mktemp -d "$WORK/tree.XXXXXX")"
rmdir "$TREE"
git worktree add --quiet --detach "$TREE" "$OLD_SHA"
(cd "$TREE" && go build "${OLD_GOFLAGS[@]}" -o "$BIN/orgpulse-old" .)
go build -o "$BIN/orgpulse-new" .
go build -o "$BIN/loadgen" ./cmd/loadgen

op_log "preparing $DB"
op_sample_db "$DB" "$BIN/orgpulse-new"
DB_URL="$(op_local_db_url "$DB")"
redis-cli -u "$CACHE_URL" FLUSHDB >/dev/null

start() { # INDEX BINARY [ENV=VALUE...]
	local i="$1" bin="$2"
	shift 2
	op_bench_server "$bin" "${PORTS[$i]}" "$DB_URL" "$TOKEN" "$RES/${NAMES[$i]}.log" "$@"
}
start 0 "$BIN/orgpulse-old" "${OLD_ENV[@]}"
start 1 "$BIN/orgpulse-new"
start 2 "$BIN/orgpulse-old" REDIS_URL="$CACHE_URL" REDIS_PREFIX=compare-old: "${OLD_ENV[@]}"
start 3 "$BIN/orgpulse-new" REDIS_URL="$CACHE_URL" REDIS_PREFIX=compare-new:

run() { # INDEX OP ROUND
	"$BIN/loadgen" http -url "http://127.0.0.1:${PORTS[$1]}/graphql" -file "bench/ops/$2.graphql" \
		-H "Authorization: Bearer $TOKEN" -c 32 -d "$DUR" -warmup 32 -o "$RES/$2.${NAMES[$1]}.r$3.json"
}

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
op_log "$ROUNDS round(s) of $DUR per server and operation"
for op in "${OPS[@]}"; do
	for ((r = 1; r <= ROUNDS; r++)); do
		order=(0 1 2 3)
		((r % 2 == 0)) && order=(1 0 3 2)
		for i in "${order[@]}"; do
			run "$i" "$op" "$r"
		done
	done
	op_log "  $op: done"
done

median_rps() { # OP NAME
	local f
	for f in "$RES/$1.$2".r*.json; do
		grep -o '"rps": *[0-9.]*' "$f" | grep -o '[0-9.]*$'
	done | sort -n | awk '{ v[NR] = $1 } END { printf "%.0f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
errors() { # OP: failed requests over all rounds and servers
	cat "$RES/$1".*.json | grep -o '"errors": *[0-9]*' | grep -o '[0-9]*$' | awk '{ s += $1 } END { print s + 0 }'
}

printf 'orgpulse %s%s%s (old) against the working tree at %s (new), %s, %s round(s) of %s at concurrency 32\n' \
	"$OLD_SHA" "${OLD_ENV[*]:+ with ${OLD_ENV[*]}}" "${OLD_GOFLAGS[*]:+ built with ${OLD_GOFLAGS[*]}}" "$(git rev-parse --short=12 HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo '+changes')" \
	"$(date -u +%Y-%m-%dT%H:%MZ)" "$ROUNDS" "$DUR"
printf 'machine: %s, %s cores; load average before %s, after %s\n\n' \
	"$(uname -srm)" "$(nproc)" "$LOAD_BEFORE" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '| operation | uncached old | uncached new | new/old | cached old | cached new | new/old | failed |\n'
printf '|---|---:|---:|---:|---:|---:|---:|---:|\n'
for op in "${OPS[@]}"; do
	a="$(median_rps "$op" old)" b="$(median_rps "$op" new)"
	c="$(median_rps "$op" old-cached)" d="$(median_rps "$op" new-cached)"
	printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$op" "$a" "$b" \
		"$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b / a }')" "$c" "$d" \
		"$(awk -v a="$c" -v b="$d" 'BEGIN { printf "%.3f", b / a }')" "$(errors "$op")"
done
