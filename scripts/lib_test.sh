#!/usr/bin/env bash
# scripts/lib_test.sh - checks that lib.sh never uses a PostgreSQL or Redis
# server this checkout did not start (run by scripts/test.sh; a few seconds).
#
# It copies lib.sh into a temporary "checkout" (so .data is fresh and the
# real one is never touched), starts a foreign redis-server there on a free
# port, and expects op_ensure_redis and op_ensure_postgres on that port to
# refuse, naming OP_REDIS_PORT / OP_PG_PORT. Then a Redis this checkout
# starts must be reused by the next invocation and stopped by the last.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
command -v redis-server >/dev/null 2>&1 || {
	printf '==> lib_test: SKIP (no redis-server)\n' >&2
	exit 0
}

tmp="$(mktemp -d)"
# As root, the "postgres" OS user must reach the temporary checkout.
chmod 755 "$tmp"
mkdir -p "$tmp/scripts" "$tmp/foreign"
cp "$here/lib.sh" "$tmp/scripts/lib.sh"

cleanup() {
	local f pid
	for f in "$tmp/foreign/redis.pid" "$tmp/.data/redis/redis.pid"; do
		pid="$(cat "$f" 2>/dev/null || true)"
		if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; fi
	done
	rm -rf -- "$tmp"
}
trap cleanup EXIT

# free_port: a port below 32768 that nothing listens on.
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 10000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || break
	done
	printf '%s\n' "$p"
}

failures=0
fail() {
	printf '==> lib_test: FAIL: %s\n' "$*" >&2
	failures=$((failures + 1))
}

# in_checkout CODE [VAR=VALUE...]: run the bash CODE after sourcing the
# temporary lib.sh, with VAR=VALUE and without DATABASE_URL / REDIS_URL;
# stdout+stderr in $out, exit code in $rc.
in_checkout() {
	local code="$1"
	shift
	rc=0
	# shellcheck disable=SC2016 # $0 is for the inner bash
	out="$(env -u DATABASE_URL -u REDIS_URL OP_WAIT_SECS=10 "$@" bash -c 'source "$0/scripts/lib.sh"; '"$code" "$tmp" 2>&1)" || rc=$?
}

foreign="$(free_port)"
(cd "$tmp/foreign" && redis-server --daemonize yes --bind 127.0.0.1 --port "$foreign" \
	--save "" --appendonly no --dir . --pidfile redis.pid --logfile redis.log >/dev/null)
for ((i = 0; i < 40; i++)); do
	[[ "$(redis-cli -p "$foreign" ping 2>/dev/null)" == PONG ]] && break
	sleep 0.1
done

# 1. A Redis this checkout did not start is refused.
in_checkout op_ensure_redis OP_REDIS_PORT="$foreign"
if ((rc == 0)) || [[ "$out" != *OP_REDIS_PORT* ]]; then
	fail "op_ensure_redis on a foreign redis (port $foreign): exit $rc, want a refusal naming OP_REDIS_PORT; output: $out"
fi

# 2. So is a foreign server on the PostgreSQL port (before any initdb).
in_checkout op__find_pg_bin
if ((rc == 0)); then
	in_checkout op_ensure_postgres OP_PG_PORT="$foreign"
	if ((rc == 0)) || [[ "$out" != *OP_PG_PORT* ]]; then
		fail "op_ensure_postgres on a foreign server (port $foreign): exit $rc, want a refusal naming OP_PG_PORT; output: $out"
	fi
	if [[ -e "$tmp/.data/pg/PG_VERSION" ]]; then
		fail "op_ensure_postgres ran initdb before refusing the port"
	fi
else
	printf '==> lib_test: no PostgreSQL server binaries; PostgreSQL case skipped\n' >&2
fi

# 3. A Redis this checkout started is reused, and stopped by the last user.
own="$(free_port)"
in_checkout op_ensure_redis OP_REDIS_PORT="$own"
((rc == 0)) || fail "op_ensure_redis on a free port $own: exit $rc; output: $out"
in_checkout 'op_ensure_redis && op_stop_started' OP_REDIS_PORT="$own"
if ((rc != 0)) || [[ "$out" != *"reusing the server"* || "$out" != *"stopping the local server"* ]]; then
	fail "second op_ensure_redis + op_stop_started on port $own: exit $rc, want reuse then stop; output: $out"
fi
if [[ "$(redis-cli -p "$own" ping 2>/dev/null)" == PONG ]]; then
	fail "the checkout's redis on port $own still runs after op_stop_started"
fi

if ((failures > 0)); then
	exit 1
fi
printf '==> lib_test: ok (foreign servers refused, own redis reused and stopped)\n' >&2
