#!/usr/bin/env bash
# scripts/scale-test.sh - orgpulse past one server of each, against the real
# servers (run by scripts/test.sh after scripts/cluster-test.sh).
#
#   scripts/scale-test.sh [cluster] [sentinel] [pgbouncer]    (default: all three)
#
#   cluster    Redis Cluster: 3 masters + 3 replicas (cluster-node-timeout
#              SCALE_NODE_TIMEOUT, 2000 ms); 3 orgpulse replicas with the
#              cluster URL form and REDIS_PREFIX {orgpulse-scale}:. Phases:
#              subscriptions across replicas, cached reads, fresh reads under
#              concurrent mutations, then SIGKILL of the master that holds the
#              prefix's hash slot under load (cmd/clustertest -phases).
#   sentinel   1 master, 1 replica, 3 sentinels (down-after 1000 ms); the
#              replicas use ?master_name=; SIGKILL of the master under load.
#   pgbouncer  PgBouncer in transaction mode, a pool of 10 server connections
#              for 3 replicas x DB_MAX_CONNS=20 (default_query_exec_mode=
#              cache_describe, startup parameters ignored and set per role);
#              the cluster test's phases (subscriptions, cache, rolling
#              restart, SIGKILL of a replica), the N+1 statement counts, a
#              REQUEST_TIMEOUT cancel that must reach PostgreSQL, and
#              requests per second through PgBouncer against direct.
#
# Every server runs on 127.0.0.1 from Debian's packages (redis-server,
# redis-sentinel, pgbouncer; installed with apt-get when missing), in its own
# process group, with its files under .data/scale/; the project-local
# PostgreSQL (scripts/lib.sh) holds database orgpulse_scale; migrations and
# the change feed's LISTEN go to it directly. Everything started is stopped
# on exit. It prints a summary table and exits 1 on any failed request,
# stale read or missed event.
#
# Ports: SCALE_PORT (17400) and the 50 above it: nginx SCALE_PORT, replicas
# +1..+3, Redis Cluster +10..+15 (bus +20..+25), Sentinel's Redis +30/+31 and
# sentinels +32..+34, PgBouncer +40, bench replicas +44/+45.
# Knobs: SCALE_PORT, SCALE_NODE_TIMEOUT (ms), SCALE_LOAD_DURATION (15s, the
# rolling restart's load), SCALE_PHASE_DURATION (8s: the stale and SIGKILL
# phases), SCALE_RATE (30 GET/s), SCALE_FAILOVER_MAX (20s: the longest the
# service may take to serve cache hits and events again after a kill), SCALE_BENCH_DURATION (5s per rps run),
# SCALE_BENCH_CONC (8).
set -euo pipefail

# shellcheck source=scripts/cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster.sh"
cd "$ROOT"

SCALE_PORT="${SCALE_PORT:-17400}"
SCALE_NODE_TIMEOUT="${SCALE_NODE_TIMEOUT:-2000}"
SCALE_LOAD_DURATION="${SCALE_LOAD_DURATION:-15s}"
SCALE_PHASE_DURATION="${SCALE_PHASE_DURATION:-8s}"
SCALE_RATE="${SCALE_RATE:-30}"
SCALE_FAILOVER_MAX="${SCALE_FAILOVER_MAX:-20s}"
SCALE_BENCH_DURATION="${SCALE_BENCH_DURATION:-5s}"
SCALE_BENCH_CONC="${SCALE_BENCH_CONC:-8}"
SCALE_DIR="$OP_DATA_DIR/scale"
SCALE_DB=orgpulse_scale
SCALE_MASTER=orgpulse-scale
SCALE_BIN="$SCALE_DIR/bin"
SCALE_ROWS=()   # summary table rows
SCALE_FAILED=0  # modes that failed
SCALE_BENCH=()  # rps lines

if ! [[ "$SCALE_PORT" =~ ^[0-9]+$ ]] || ((SCALE_PORT < 1024 || SCALE_PORT + 50 >= 32768)); then
	op_die "SCALE_PORT must be 1024..32717 (it and the 50 ports above it are used), got '$SCALE_PORT'"
fi

scale_port() { printf '%s\n' "$((SCALE_PORT + $1))"; }

# ---------------------------------------------------------------- set-up

# scale_ensure_packages installs redis-sentinel and pgbouncer when missing.
# Neither package may start its system service: while installing, a
# policy-rc.d that forbids service starts is put in place when there is none.
scale_ensure_packages() {
	local pkgs=()
	command -v redis-sentinel >/dev/null 2>&1 || pkgs+=(redis-sentinel)
	command -v pgbouncer >/dev/null 2>&1 || [[ -x /usr/sbin/pgbouncer ]] || pkgs+=(pgbouncer)
	((${#pkgs[@]})) || return 0
	op_is_root || {
		printf '==> missing packages; install them with:\n    sudo apt-get install -y %s\n' "${pkgs[*]}" >&2
		exit 1
	}
	local guard="" rc=0
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		guard=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\n# scripts/scale-test.sh: no service starts while packages install\nexit 101\n' >"$guard"
		chmod 755 "$guard"
	fi
	(op__apt_install "${pkgs[@]}") || rc=$?
	[[ -z "$guard" ]] || rm -f "$guard"
	((rc == 0)) || op_die "apt-get install ${pkgs[*]} failed"
}

scale_check_ports() {
	local off
	for off in 0 1 2 3 10 11 12 13 14 15 20 21 22 23 24 25 30 31 32 33 34 40 44 45; do
		if cluster__port_busy "$(scale_port "$off")"; then
			op_die "port $(scale_port "$off") on 127.0.0.1 is taken; move the block with SCALE_PORT (now $SCALE_PORT)"
		fi
	done
}

# scale_bootstrap: PostgreSQL, database, token, binaries, schema, data.
scale_bootstrap() {
	unset DATABASE_URL REDIS_URL CLUSTER_DATABASE_URL
	op_ensure_packages
	scale_ensure_packages
	cluster_ensure_nginx
	op_ensure_postgres
	op_create_db "$SCALE_DB"
	SCALE_DIRECT_URL="$(op_local_db_url "$SCALE_DB")"
	op_secret API_TOKEN api_token "an API token"
	mkdir -p "$SCALE_BIN"
	op_log "go build orgpulse, cmd/clustertest, cmd/loadgen into ${SCALE_BIN#"$ROOT"/}/"
	go build -o "$SCALE_BIN/orgpulse" . || op_die "go build failed"
	go build -o "$SCALE_BIN/clustertest" ./cmd/clustertest || op_die "go build ./cmd/clustertest failed"
	go build -o "$SCALE_BIN/loadgen" ./cmd/loadgen || op_die "go build ./cmd/loadgen failed"
	op_log "orgpulse migrate up and seed ($SCALE_DB, directly)"
	DATABASE_URL="$SCALE_DIRECT_URL" "$SCALE_BIN/orgpulse" migrate up >&2
	DATABASE_URL="$SCALE_DIRECT_URL" "$SCALE_BIN/orgpulse" seed >&2
	export REDIS_PREFIX='{orgpulse-scale}:'
	export SHUTDOWN_DRAIN=2s SHUTDOWN_TIMEOUT=15s CLUSTER_FAIL_TIMEOUT=2s
	export METRICS_SAMPLE_RATE=1 METRICS_FLUSH_INTERVAL=1s DEBUG=1 LOG_FORMAT=text LOG_LEVEL=info
	export DATABASE_LISTEN_URL="$SCALE_DIRECT_URL"
}

# ---------------------------------------------------------------- servers

# scale__spawn DIR CMD... runs CMD in DIR in a process group of its own,
# recorded for op_stop_groups; prints its pid.
scale__spawn() {
	local dir="$1" pid
	shift
	(cd "$dir" && exec setsid "$@" </dev/null >>"$dir/stdout.log" 2>&1) &
	pid=$!
	op_add_group "$pid"
	printf '%s\n' "$pid" >"$dir/pid"
}

scale__redis_conf() { # DIR PORT EXTRA...
	local dir="$1" port="$2"
	shift 2
	rm -rf "$dir"
	mkdir -p "$dir"
	{
		printf 'bind 127.0.0.1\nport %s\nsave ""\nappendonly no\ndir ./\nlogfile redis.log\n' "$port"
		printf '%s\n' "$@"
	} >"$dir/redis.conf"
}

# scale__wait WHAT SECONDS CMD...: until CMD succeeds, at most SECONDS.
scale__wait() {
	local what="$1" secs="$2" deadline
	shift 2
	deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || op_die "$what: not after ${secs}s"
		sleep 0.2
	done
}

scale__cli() { timeout 5 redis-cli -h 127.0.0.1 -p "$@"; }
scale__ping() { [[ "$(scale__cli "$1" ping 2>/dev/null)" == PONG ]]; }

scale__cluster_ok() {
	local p
	for p in "$@"; do
		scale__cli "$p" cluster info 2>/dev/null | tr -d '\r' | grep -qx 'cluster_state:ok' || return 1
	done
}

# scale__cluster_meshed PORT...: every node knows all the others and its
# bus links to them are up (PUBLISH reaches only linked nodes).
scale__cluster_meshed() {
	local p n
	for p in "$@"; do
		n="$(scale__cli "$p" cluster nodes 2>/dev/null | tr -d '\r' | awk '$8 == "connected" && $3 !~ /fail|handshake|noaddr/' | wc -l)"
		((n == $#)) || return 1
	done
}

# scale__slot_master PORT SLOT prints the port of the master serving SLOT.
scale__slot_master() {
	scale__cli "$1" cluster nodes | tr -d '\r' | awk -v slot="$2" '
		$3 ~ /master/ && $3 !~ /fail/ {
			for (i = 9; i <= NF; i++) {
				n = split($i, r, "-"); lo = r[1]; hi = (n > 1 ? r[2] : r[1])
				if (slot + 0 >= lo + 0 && slot + 0 <= hi + 0) { split($2, a, "[:@]"); print a[2]; exit }
			}
		}'
}

# scale__synced PORT: the master on PORT has a replica online and in step.
scale__synced() {
	scale__cli "$1" info replication | tr -d '\r' | grep -q '^slave0:.*state=online'
}

# scale_redis_cluster starts 6 nodes and creates the cluster; exports
# REDIS_URL and SCALE_VICTIM (pid of the master of the prefix's slot).
scale_redis_cluster() {
	local i port dir addrs=() ports=() slot victim
	for i in 0 1 2 3 4 5; do
		port="$(scale_port $((10 + i)))"
		dir="$CLUSTER_DIR/redis-$port"
		scale__redis_conf "$dir" "$port" "cluster-enabled yes" "cluster-config-file nodes.conf" \
			"cluster-node-timeout $SCALE_NODE_TIMEOUT" "cluster-port $(scale_port $((20 + i)))"
		scale__spawn "$dir" redis-server ./redis.conf
		addrs+=("127.0.0.1:$port")
		ports+=("$port")
	done
	for port in "${ports[@]}"; do scale__wait "redis on $port" 30 scale__ping "$port"; done
	op_log "redis cluster: create ${addrs[*]} --cluster-replicas 1"
	timeout 60 redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >"$CLUSTER_DIR/create.log" 2>&1 ||
		op_die "redis-cli --cluster create failed (log: $CLUSTER_DIR/create.log)"
	scale__wait "redis cluster state ok on every node" 60 scale__cluster_ok "${ports[@]}"
	scale__wait "redis cluster nodes all linked" 60 scale__cluster_meshed "${ports[@]}"
	slot="$(scale__cli "${ports[0]}" cluster keyslot "${REDIS_PREFIX}gen" | tr -d '\r')"
	victim="$(scale__slot_master "${ports[0]}" "$slot")"
	[[ -n "$victim" ]] || op_die "no master serves slot $slot"
	scale__wait "the replica of 127.0.0.1:$victim in sync" 60 scale__synced "$victim"
	SCALE_VICTIM="$(<"$CLUSTER_DIR/redis-$victim/pid")"
	SCALE_VICTIM_PORT="$victim"
	local IFS=,
	export REDIS_URL="redis://${addrs[*]}"
	op_log "redis cluster: ok; slot $slot of ${REDIS_PREFIX} on master 127.0.0.1:$victim (pid $SCALE_VICTIM)"
}

scale__sentinel_ready() { # PORT: knows the replica and the other two sentinels
	local info
	info="$(scale__cli "$1" sentinel master "$SCALE_MASTER" 2>/dev/null | tr -d '\r' | paste - -)"
	grep -qP '^num-slaves\t1$' <<<"$info" && grep -qP '^num-other-sentinels\t2$' <<<"$info"
}

# scale_sentinel starts a master, its replica and 3 sentinels; exports
# REDIS_URL and SCALE_VICTIM (the master's pid).
scale_sentinel() {
	local mport rport i port dir hosts=()
	mport="$(scale_port 30)" rport="$(scale_port 31)"
	scale__redis_conf "$CLUSTER_DIR/redis-$mport" "$mport"
	scale__spawn "$CLUSTER_DIR/redis-$mport" redis-server ./redis.conf
	scale__redis_conf "$CLUSTER_DIR/redis-$rport" "$rport" "replicaof 127.0.0.1 $mport"
	scale__spawn "$CLUSTER_DIR/redis-$rport" redis-server ./redis.conf
	scale__wait "redis master on $mport" 30 scale__ping "$mport"
	scale__wait "its replica in sync" 60 scale__synced "$mport"
	for i in 2 3 4; do
		port="$(scale_port $((30 + i)))"
		dir="$CLUSTER_DIR/sentinel-$port"
		rm -rf "$dir"
		mkdir -p "$dir"
		cat >"$dir/sentinel.conf" <<EOF
bind 127.0.0.1
port $port
dir ./
logfile sentinel.log
sentinel monitor $SCALE_MASTER 127.0.0.1 $mport 2
sentinel down-after-milliseconds $SCALE_MASTER 1000
sentinel failover-timeout $SCALE_MASTER 5000
sentinel parallel-syncs $SCALE_MASTER 1
EOF
		scale__spawn "$dir" redis-sentinel ./sentinel.conf
		hosts+=("127.0.0.1:$port")
	done
	for i in 2 3 4; do
		scale__wait "sentinel on $(scale_port $((30 + i))) sees the replica and the other sentinels" 60 \
			scale__sentinel_ready "$(scale_port $((30 + i)))"
	done
	SCALE_VICTIM="$(<"$CLUSTER_DIR/redis-$mport/pid")"
	SCALE_VICTIM_PORT="$mport"
	local IFS=,
	export REDIS_URL="redis://${hosts[*]}?master_name=$SCALE_MASTER"
	op_log "sentinel: ok; master 127.0.0.1:$mport (pid $SCALE_VICTIM), replica :$rport, sentinels ${hosts[*]}"
}

# ---------------------------------------------------------------- replicas

# scale_replicas_up MODE: 3 replicas behind nginx with the exported
# DATABASE_URL / REDIS_URL, state in $SCALE_DIR/MODE (scripts/cluster.sh's
# functions and layout, so `cluster.sh start-replica` works there).
scale_replicas_up() {
	export CLUSTER_PORT="$SCALE_PORT" CLUSTER_REPLICA_PORT="$((SCALE_PORT + 1))"
	cluster_vars
	CLUSTER_N=3
	export CLUSTER_N
	cluster__claim
	cp "$SCALE_BIN/orgpulse" "$CLUSTER_BIN"
	cluster__write_state 3
	local i
	for i in 1 2 3; do
		: >"$CLUSTER_DIR/replica-$i.log"
		cluster_start_replica "$i"
	done
	cluster_start_nginx 3
}

# scale_drive MODE PHASES [ARGS...] runs cmd/clustertest against the
# replicas and adds its figures to the summary table.
scale_drive() {
	local mode="$1" phases="$2" rc=0
	shift 2
	rm -f "$CLUSTER_DIR/result"
	op_log "$mode: clustertest -phases $phases"
	"$SCALE_BIN/clustertest" -state "$CLUSTER_DIR" -script "$ROOT/scripts/cluster.sh" -drain "$SHUTDOWN_DRAIN" \
		-phases "$phases" -rate "$SCALE_RATE" -load-duration "$SCALE_LOAD_DURATION" -kill-duration "$SCALE_PHASE_DURATION" \
		-failover-max "$SCALE_FAILOVER_MAX" -timeout 5m -result "$CLUSTER_DIR/result" "$@" &
	SCALE_DRIVER=$!
	wait "$SCALE_DRIVER" || rc=$?
	SCALE_DRIVER=""
	scale_row "$mode" "$CLUSTER_DIR/result" "$rc"
	return 0
}

# scale_row MODE RESULTFILE RC adds a row to the summary table.
scale_row() {
	local mode="$1" file="$2" rc="$3" k v
	local -A r=()
	if [[ -f "$file" ]]; then
		while IFS='=' read -r k v; do r[$k]="$v"; done <"$file"
	fi
	local verdict="${r[result]:-FAIL}"
	if ((rc != 0)); then verdict=FAIL; fi
	[[ "$verdict" == PASS ]] || SCALE_FAILED=$((SCALE_FAILED + 1))
	SCALE_ROWS+=("$(printf '%-10s %9s %7s %6s %9s %7s %6s %7s %9s %10s  %s' "$mode" \
		"${r[requests]:-?}" "${r[failed]:-?}" "${r[stale_reads]:-?}/${r[fresh_reads]:-?}" \
		"${r[events_expected]:-?}" "${r[events_missed]:-?}" "${r[events_dupes]:-?}" "${r[events_window]:-?}" \
		"${r[cache_back_s]:--}" "${r[events_back_s]:--}" "$verdict")")
}

scale_print_summary() {
	local row line
	printf '\n==================== scale test summary (%s, load average %s) ====================\n' \
		"$(date -u +%FT%TZ)" "$(cut -d' ' -f1-3 /proc/loadavg)"
	printf '%-10s %9s %7s %6s %9s %7s %6s %7s %9s %10s  %s\n' mode requests failed stale/fresh \
		"events" missed dupes failovr "cache(s)" "events(s)" result
	for row in "${SCALE_ROWS[@]}"; do printf '%s\n' "$row"; done
	printf '(stale/fresh: cached reads through every replica right after a rename; failovr: events made while\n'
	printf ' Redis failed over, not expected; cache(s)/events(s): seconds from SIGKILL of the Redis master until\n'
	printf ' every replica serves cache hits again / every subscriber receives events again)\n'
	for line in "${SCALE_BENCH[@]}"; do printf '%s\n' "$line"; done
}

# scale_mode_down stops the replicas, nginx and the mode's servers.
scale_mode_down() {
	cluster_down
	op_stop_groups
}

# ---------------------------------------------------------------- modes

scale_mode_cluster() {
	export CLUSTER_DIR="$SCALE_DIR/cluster"
	mkdir -p "$CLUSTER_DIR"
	export DATABASE_URL="$SCALE_DIRECT_URL"
	scale_redis_cluster
	scale_replicas_up
	scale_drive cluster 1,2,stale,failover -kill-cmd "kill -KILL $SCALE_VICTIM && echo killed the master 127.0.0.1:$SCALE_VICTIM_PORT"
	scale_mode_down
}

scale_mode_sentinel() {
	export CLUSTER_DIR="$SCALE_DIR/sentinel"
	mkdir -p "$CLUSTER_DIR"
	export DATABASE_URL="$SCALE_DIRECT_URL"
	scale_sentinel
	scale_replicas_up
	scale_drive sentinel 1,stale,failover -kill-cmd "kill -KILL $SCALE_VICTIM && echo killed the master 127.0.0.1:$SCALE_VICTIM_PORT"
	scale_mode_down
}

main() {
	local modes=("$@") m started=$SECONDS
	((${#modes[@]})) || modes=(cluster sentinel pgbouncer)
	for m in "${modes[@]}"; do
		case "$m" in cluster | sentinel | pgbouncer) ;; *) op_die "unknown mode '$m' (want cluster, sentinel, pgbouncer)" ;; esac
	done
	scale_check_ports
	scale_bootstrap
	for m in "${modes[@]}"; do
		"scale_mode_$m"
	done
	scale_print_summary
	if ((SCALE_FAILED)); then
		op_warn "scale test failed ($SCALE_FAILED mode(s)); logs under $SCALE_DIR/"
		exit 1
	fi
	op_log "scale test passed in $((SECONDS - started))s (with set-up)"
}

SCALE_DRIVER=""
cleanup() {
	if [[ -n "$SCALE_DRIVER" ]]; then
		kill -TERM "$SCALE_DRIVER" 2>/dev/null || true
		wait "$SCALE_DRIVER" 2>/dev/null || true
	fi
	cluster_down
	op_stop_groups
	op_stop_started || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

main "$@"
