#!/usr/bin/env bash
# scripts/cluster.sh - N replicas of orgpulse behind nginx, on this machine.
#
#   scripts/cluster.sh [N]          start N replicas (default 3) and nginx in the
#                                   foreground; Ctrl-C stops everything it started
#   scripts/cluster.sh up [N]       the same, in the background (alias --background):
#                                   returns once every replica is ready
#   scripts/cluster.sh down         stop what `up` started
#   scripts/cluster.sh status       replicas, pids and readiness
#   scripts/cluster.sh restart      rolling restart: rebuild, migrate, then each replica
#                                   in turn (SIGTERM, exit 0, start, /readyz 200)
#   scripts/cluster.sh start-replica I | stop-replica I [--kill]
#
# Like scripts/dev.sh it starts (or reuses) the project-local PostgreSQL and
# Redis under .data/ unless DATABASE_URL / REDIS_URL are given, builds the
# binary, migrates, seeds, and keeps the API token in .data/api_token. The
# replicas share database orgpulse_cluster (CLUSTER_DB) and the Redis key
# prefix {orgpulse-cluster}: (REDIS_PREFIX), apart from dev.sh's and test.sh's.
# A DATABASE_URL that points at the project-local cluster (as test.sh
# exports it) is replaced by CLUSTER_DB on it; CLUSTER_DATABASE_URL forces one.
#
# Replica I listens on 127.0.0.1:$((CLUSTER_REPLICA_PORT + I - 1)) with
# REPLICA_ID=replica-I; nginx (installed with apt-get when missing; never the
# system service or /etc/nginx) listens on 127.0.0.1:$CLUSTER_PORT with the
# configuration rendered from scripts/nginx.conf.tmpl. State, logs and the
# nginx prefix live in $CLUSTER_DIR (.data/cluster).
#
# Knobs: CLUSTER_PORT (8080), CLUSTER_REPLICA_PORT (CLUSTER_PORT+1),
# CLUSTER_LISTEN (127.0.0.1), CLUSTER_DB, CLUSTER_DATABASE_URL, CLUSTER_DIR,
# CLUSTER_FAIL_TIMEOUT (2s), SHUTDOWN_DRAIN (2s), SHUTDOWN_TIMEOUT (15s),
# REDIS_PREFIX; every other orgpulse variable (DB_MAX_CONNS, ...) passes on.
#
# Sourcing this file only defines the cluster_* functions (scripts/cluster-test.sh
# does that); running it runs a command.

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# ${var//pattern/repl} must not treat & in a path or token as "the match".
shopt -u patsub_replacement 2>/dev/null || true

# cluster_vars sets the paths and ports from the environment.
cluster_vars() {
	CLUSTER_PORT="${CLUSTER_PORT:-8080}"
	CLUSTER_REPLICA_PORT="${CLUSTER_REPLICA_PORT:-$((CLUSTER_PORT + 1))}"
	CLUSTER_LISTEN="${CLUSTER_LISTEN:-127.0.0.1}"
	CLUSTER_DB="${CLUSTER_DB:-orgpulse_cluster}"
	CLUSTER_DIR="${CLUSTER_DIR:-$OP_DATA_DIR/cluster}"
	CLUSTER_FAIL_TIMEOUT="${CLUSTER_FAIL_TIMEOUT:-2s}"
	CLUSTER_BIN="$CLUSTER_DIR/orgpulse"
	CLUSTER_NGINX_PREFIX="$CLUSTER_DIR/nginx"
	export CLUSTER_PORT CLUSTER_REPLICA_PORT CLUSTER_LISTEN CLUSTER_DB CLUSTER_DIR CLUSTER_FAIL_TIMEOUT
}

cluster_replica_port() { printf '%s\n' "$((CLUSTER_REPLICA_PORT + $1 - 1))"; }

# cluster__port_busy PORT: does anything accept connections on 127.0.0.1:PORT?
cluster__port_busy() { (
	exec 2>/dev/null
	exec 3<>"/dev/tcp/127.0.0.1/$1"
); }

# cluster__http_status PORT PATH prints the HTTP status of GET PATH (000 when
# nothing answers). Bash only: no curl needed.
cluster__http_status() {
	local status=000
	status="$(
		exec 2>/dev/null
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$2" >&3
		IFS=' ' read -r -t 3 _ code _ <&3 && printf '%s' "$code"
	)" 2>/dev/null || status=000
	printf '%s\n' "${status:-000}"
}

# cluster__ours PID PATTERN: is PID alive and does its command line contain PATTERN?
cluster__ours() {
	[[ -n "$1" && -r "/proc/$1/cmdline" ]] && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"
}

# ---------------------------------------------------------------- nginx

# cluster_ensure_nginx finds nginx or installs the Debian package. The
# package must not start the system's nginx service: while installing, a
# policy-rc.d that forbids service starts is put in place when there is none.
cluster_ensure_nginx() {
	CLUSTER_NGINX="${CLUSTER_NGINX:-}"
	if [[ -z "$CLUSTER_NGINX" ]]; then
		CLUSTER_NGINX="$(command -v nginx 2>/dev/null || true)"
		[[ -n "$CLUSTER_NGINX" || ! -x /usr/sbin/nginx ]] || CLUSTER_NGINX=/usr/sbin/nginx
	fi
	if [[ -z "$CLUSTER_NGINX" ]]; then
		if ! op_is_root; then
			printf '==> nginx is missing; install it with:\n    sudo apt-get install -y nginx\n' >&2
			exit 1
		fi
		local guard=""
		if [[ ! -e /usr/sbin/policy-rc.d ]]; then
			guard=/usr/sbin/policy-rc.d
			printf '#!/bin/sh\n# scripts/cluster.sh: no service starts while nginx installs\nexit 101\n' >"$guard"
			chmod 755 "$guard"
		fi
		local rc=0
		(op__apt_install nginx) || rc=$?
		[[ -z "$guard" ]] || rm -f "$guard"
		((rc == 0)) || op_die "apt-get install nginx failed"
		CLUSTER_NGINX="$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)"
		[[ -x "$CLUSTER_NGINX" ]] || op_die "nginx still missing after apt-get install nginx"
	fi
	op_log "nginx: $("$CLUSTER_NGINX" -v 2>&1 | sed 's/^nginx version: //') ($CLUSTER_NGINX)"
}

# cluster__render_nginx N writes $CLUSTER_NGINX_PREFIX/nginx.conf from the template.
cluster__render_nginx() {
	local n="$1" i servers="" user_line="" tmpl conf
	tmpl="$ROOT/scripts/nginx.conf.tmpl"
	[[ -f "$tmpl" ]] || op_die "missing $tmpl"
	for ((i = 1; i <= n; i++)); do
		servers+="        server 127.0.0.1:$(cluster_replica_port "$i") max_fails=1 fail_timeout=$CLUSTER_FAIL_TIMEOUT;"$'\n'
	done
	# As root the workers would run as "nobody", who may not reach a
	# checkout under /root: they run as root, like the master.
	if op_is_root; then user_line="user root;"; fi
	conf="$(<"$tmpl")"
	conf="${conf//@@USER_LINE@@/$user_line}"
	conf="${conf//@@UPSTREAM_SERVERS@@/${servers%$'\n'}}"
	conf="${conf//@@LISTEN@@/$CLUSTER_LISTEN:$CLUSTER_PORT}"
	mkdir -p "$CLUSTER_NGINX_PREFIX/logs" "$CLUSTER_NGINX_PREFIX/tmp"
	printf '%s\n' "$conf" >"$CLUSTER_NGINX_PREFIX/nginx.conf"
}

cluster__nginx() { "$CLUSTER_NGINX" -p "$CLUSTER_NGINX_PREFIX/" -c nginx.conf -e logs/error.log "$@"; }

# cluster_start_nginx N renders the configuration, checks it and starts nginx
# in its own session (Ctrl-C reaches only this script, which stops it in
# order). nginx keeps this invocation's shared lock on .data/.lock, so the
# local PostgreSQL/Redis are not stopped under a running cluster.
cluster_start_nginx() {
	local n="$1" out pid i
	cluster__render_nginx "$n"
	: >"$CLUSTER_NGINX_PREFIX/logs/access.log"
	: >"$CLUSTER_NGINX_PREFIX/logs/error.log"
	out="$(cluster__nginx -t -q 2>&1)" || op_die "nginx -t rejected $CLUSTER_NGINX_PREFIX/nginx.conf: $out"
	op_log "nginx: listening on $CLUSTER_LISTEN:$CLUSTER_PORT (config $CLUSTER_NGINX_PREFIX/nginx.conf, logs $CLUSTER_NGINX_PREFIX/logs/)"
	setsid "$CLUSTER_NGINX" -p "$CLUSTER_NGINX_PREFIX/" -c nginx.conf -e logs/error.log \
		</dev/null >>"$CLUSTER_NGINX_PREFIX/logs/stdout.log" 2>&1 &
	pid=$!
	printf '%s\n' "$pid" >"$CLUSTER_DIR/nginx.pid"
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || {
			tail -n 20 "$CLUSTER_NGINX_PREFIX/logs/error.log" >&2 || true
			op_die "nginx exited at start (log above)"
		}
		[[ "$(cluster__http_status "$CLUSTER_PORT" /healthz)" == 000 ]] || return 0
		sleep 0.1
	done
	op_die "nginx does not answer on port $CLUSTER_PORT"
}

# cluster_stop_nginx: fast shutdown (SIGTERM) of our nginx; SIGKILL to the
# master and its workers if it is still there after 10s.
cluster_stop_nginx() {
	local pid i workers
	pid="$(cat "$CLUSTER_DIR/nginx.pid" 2>/dev/null || true)"
	if cluster__ours "$pid" "$CLUSTER_NGINX_PREFIX"; then
		op_log "nginx: stopping (pid $pid)"
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			workers="$(pgrep -P "$pid" 2>/dev/null || true)"
			op_warn "nginx did not stop; SIGKILL"
			# shellcheck disable=SC2086 # a list of pids
			kill -KILL "$pid" $workers 2>/dev/null || true
		fi
	fi
	rm -f "$CLUSTER_DIR/nginx.pid"
}

# ---------------------------------------------------------------- replicas

# cluster__keeper I runs replica I in the foreground of a small keeper
# process that records the replica's pid and, when it ends, its exit code
# (replica-I.exit: 0 after a clean SIGTERM, 137 after SIGKILL).
cluster__keeper() {
	local i="$1" pid rc=0
	local port
	# Ctrl-C or a hang-up of the terminal is for the script, which stops
	# the replicas in order; the keeper must live to record the exit code.
	trap '' INT QUIT HUP
	port="$(cluster_replica_port "$i")"
	ADDR="127.0.0.1:$port" REPLICA_ID="replica-$i" setsid "$CLUSTER_BIN" serve &
	pid=$!
	printf '%s\n' "$pid" >"$CLUSTER_DIR/replica-$i.pid.tmp"
	mv -f "$CLUSTER_DIR/replica-$i.pid.tmp" "$CLUSTER_DIR/replica-$i.pid"
	wait "$pid" || rc=$?
	printf '%s\n' "$rc" >"$CLUSTER_DIR/replica-$i.exit.tmp"
	mv -f "$CLUSTER_DIR/replica-$i.exit.tmp" "$CLUSTER_DIR/replica-$i.exit"
	printf '==> keeper: replica-%s (pid %s) exited with %s at %s\n' "$i" "$pid" "$rc" "$(date +%T.%N)"
}

# cluster_start_replica I starts replica I and waits until /readyz answers 200.
cluster_start_replica() {
	local i="$1" port pid deadline
	port="$(cluster_replica_port "$i")"
	pid="$(cat "$CLUSTER_DIR/replica-$i.pid" 2>/dev/null || true)"
	if cluster__ours "$pid" "$CLUSTER_BIN" && [[ ! -s "$CLUSTER_DIR/replica-$i.exit" ]]; then
		op_die "replica-$i is already running (pid $pid)"
	fi
	if cluster__port_busy "$port"; then
		op_die "port $port (replica-$i) is taken by another process"
	fi
	rm -f "$CLUSTER_DIR/replica-$i.exit" "$CLUSTER_DIR/replica-$i.pid"
	# The replica never holds our lock (op__nolock); its output and the
	# keeper's go to the replica's log, so whoever runs this command gets
	# its terminal back.
	op__nolock cluster__keeper "$i" </dev/null >>"$CLUSTER_DIR/replica-$i.log" 2>&1 &
	deadline=$((SECONDS + OP_WAIT_SECS))
	while ((SECONDS < deadline)); do
		if [[ -s "$CLUSTER_DIR/replica-$i.exit" ]]; then
			tail -n 20 "$CLUSTER_DIR/replica-$i.log" >&2 || true
			op_die "replica-$i exited with $(<"$CLUSTER_DIR/replica-$i.exit") at start (log above, $CLUSTER_DIR/replica-$i.log)"
		fi
		if [[ "$(cluster__http_status "$port" /readyz)" == 200 ]]; then
			op_log "replica-$i: ready on 127.0.0.1:$port (pid $(cat "$CLUSTER_DIR/replica-$i.pid" 2>/dev/null))"
			return 0
		fi
		sleep 0.1
	done
	tail -n 20 "$CLUSTER_DIR/replica-$i.log" >&2 || true
	op_die "replica-$i is not ready after ${OP_WAIT_SECS}s (log: $CLUSTER_DIR/replica-$i.log)"
}

# cluster_stop_replica I [KILL] sends SIGTERM (or SIGKILL) to replica I, waits
# for it to exit (SIGKILL after SHUTDOWN_DRAIN + SHUTDOWN_TIMEOUT + 10s) and
# prints its exit code. Returns 1 unless it exited 0 (or 137 after KILL).
cluster_stop_replica() {
	local i="$1" sig="${2:-TERM}" pid rc deadline
	pid="$(cat "$CLUSTER_DIR/replica-$i.pid" 2>/dev/null || true)"
	if ! cluster__ours "$pid" "$CLUSTER_BIN"; then
		op_log "replica-$i: not running"
		return 0
	fi
	op_log "replica-$i: SIG$sig (pid $pid)"
	kill -s "$sig" "$pid" 2>/dev/null || true
	deadline=$((SECONDS + $(cluster__seconds "${SHUTDOWN_DRAIN:-2s}") + $(cluster__seconds "${SHUTDOWN_TIMEOUT:-15s}") + 10))
	while [[ ! -s "$CLUSTER_DIR/replica-$i.exit" ]] && kill -0 "$pid" 2>/dev/null; do
		if ((SECONDS >= deadline)); then
			op_warn "replica-$i did not stop in time; SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			deadline=$((SECONDS + 5))
		fi
		sleep 0.1
	done
	# The keeper writes the code right after the exit.
	for ((rc = 0; rc < 20; rc++)); do
		[[ -s "$CLUSTER_DIR/replica-$i.exit" ]] && break
		sleep 0.1
	done
	rc="$(cat "$CLUSTER_DIR/replica-$i.exit" 2>/dev/null || echo '?')"
	op_log "replica-$i: exited with $rc"
	[[ "$rc" == 0 || ("$sig" == KILL && "$rc" == 137) ]]
}

# cluster__seconds DURATION: whole seconds of a Go duration like 2s, 1m30s, 500ms (rounded up).
cluster__seconds() {
	local d="$1" total=0 n unit
	while [[ "$d" =~ ^([0-9.]+)(ms|s|m|h)(.*)$ ]]; do
		n="${BASH_REMATCH[1]%%.*}" unit="${BASH_REMATCH[2]}" d="${BASH_REMATCH[3]}"
		n="${n:-0}"
		case "$unit" in
		ms) total=$((total + 1)) ;;
		s) total=$((total + n + 1)) ;;
		m) total=$((total + n * 60 + 60)) ;;
		h) total=$((total + n * 3600 + 3600)) ;;
		esac
	done
	printf '%s\n' "$total"
}

# ---------------------------------------------------------------- state

# cluster__write_state N records what the other commands (and cmd/clustertest)
# need: replicas.env (the replicas' environment, with the token: mode 600),
# replicas ("I replica-I PORT" lines) and url (the balancer).
cluster__write_state() {
	local n="$1" i v vars
	# Every variable `orgpulse serve` reads (its --help names them) that is
	# set, so that a replica started later from another shell gets the same.
	vars="$("$CLUSTER_BIN" serve --help 2>&1 | grep -o '(env [A-Z0-9_]*)' | sed 's/(env \(.*\))/\1/' | sort -u)" || true
	(
		umask 077
		{
			printf '# Written by scripts/cluster.sh; sourced by its other commands. Holds the API token.\n'
			for v in CLUSTER_N CLUSTER_PORT CLUSTER_REPLICA_PORT CLUSTER_LISTEN CLUSTER_DB CLUSTER_FAIL_TIMEOUT \
				DATABASE_URL REDIS_URL REDIS_PREFIX API_TOKEN SHUTDOWN_DRAIN SHUTDOWN_TIMEOUT GRAPHIQL_ASSETS DEBUG LOG_FORMAT $vars; do
				case "$v" in ADDR | REPLICA_ID) continue ;; esac
				[[ -n "${!v+set}" ]] || continue
				printf 'export %s=%q\n' "$v" "${!v}"
			done
		} | awk '!seen[$0]++' >"$CLUSTER_DIR/replicas.env"
	)
	: >"$CLUSTER_DIR/replicas"
	for ((i = 1; i <= n; i++)); do
		printf '%s replica-%s %s\n' "$i" "$i" "$(cluster_replica_port "$i")" >>"$CLUSTER_DIR/replicas"
	done
	printf 'http://127.0.0.1:%s\n' "$CLUSTER_PORT" >"$CLUSTER_DIR/url"
}

# cluster_load_state sources replicas.env of a cluster that `up` started.
cluster_load_state() {
	cluster_vars
	[[ -f "$CLUSTER_DIR/replicas.env" ]] || op_die "no cluster state in $CLUSTER_DIR (start one with: scripts/cluster.sh up)"
	# shellcheck disable=SC1091
	source "$CLUSTER_DIR/replicas.env"
	cluster_vars
}

# ---------------------------------------------------------------- up / down

# cluster__pick_database: a DATABASE_URL on the project-local PostgreSQL (what
# dev.sh/test.sh export) is set aside, so the cluster gets its own database.
cluster__pick_database() {
	if [[ -n "${CLUSTER_DATABASE_URL:-}" ]]; then
		export DATABASE_URL="$CLUSTER_DATABASE_URL"
	elif [[ "${DATABASE_URL:-}" == "postgres://orgpulse@127.0.0.1:$OP_PG_PORT/"* ]]; then
		unset DATABASE_URL
	fi
}

# cluster_bootstrap: servers, database, token, binary, schema, data.
cluster_bootstrap() {
	cluster__pick_database
	op_ensure_packages
	cluster_ensure_nginx
	op_ensure_postgres
	if [[ "$OP_PG_EXTERNAL" != 1 ]]; then
		op_create_db "$CLUSTER_DB"
		DATABASE_URL="$(op_local_db_url "$CLUSTER_DB")"
	fi
	export DATABASE_URL
	op_ensure_redis
	export REDIS_URL
	op_ensure_node_modules
	op_secret API_TOKEN api_token "an API token"
	# A hash tag ({...}), as Redis Cluster needs; apart from dev.sh's orgpulse:.
	if [[ -z "${REDIS_PREFIX:-}" ]]; then REDIS_PREFIX='{orgpulse-cluster}:'; fi
	export REDIS_PREFIX
	export SHUTDOWN_DRAIN="${SHUTDOWN_DRAIN:-2s}"
	export SHUTDOWN_TIMEOUT="${SHUTDOWN_TIMEOUT:-15s}"
	export DEBUG="${DEBUG:-1}"
	export LOG_FORMAT="${LOG_FORMAT:-text}"
	cluster_build
	op_log "orgpulse migrate up ($CLUSTER_DB)"
	"$CLUSTER_BIN" migrate up >&2
	op_log "orgpulse seed"
	"$CLUSTER_BIN" seed >&2
}

# cluster_build builds $CLUSTER_BIN. The new binary replaces the old one by
# rename, so replicas running the old one are not disturbed.
cluster_build() {
	mkdir -p "$CLUSTER_DIR"
	op_log "go build -o ${CLUSTER_BIN#"$ROOT"/} ."
	(cd "$ROOT" && go build -o "$CLUSTER_BIN.new" .) || op_die "go build failed"
	mv -f "$CLUSTER_BIN.new" "$CLUSTER_BIN"
}

# cluster__claim makes this invocation the owner of CLUSTER_DIR. A cluster
# that is still running there (its owner script alive, or started with `up`
# and its nginx alive) is refused; one left behind by a script that died
# (SIGKILL) is cleaned up first.
cluster__claim() {
	local owner pid
	owner="$(cat "$CLUSTER_DIR/owner" 2>/dev/null || true)"
	case "$owner" in
	pid\ *)
		pid="${owner#pid }"
		if [[ "$pid" != "$$" ]] && cluster__ours "$pid" "cluster"; then
			op_die "a cluster is already running from $CLUSTER_DIR (script pid $pid); stop it first (Ctrl-C there)"
		fi
		;;
	background)
		pid="$(cat "$CLUSTER_DIR/nginx.pid" 2>/dev/null || true)"
		if cluster__ours "$pid" "$CLUSTER_NGINX_PREFIX"; then
			op_die "a cluster started with 'up' is running from $CLUSTER_DIR; stop it first: scripts/cluster.sh down"
		fi
		;;
	esac
	cluster__stale_cleanup
	printf 'pid %s\n' "$$" >"$CLUSTER_DIR/owner"
	CLUSTER_OWNED=1
}

# cluster__stale_cleanup stops what an earlier run left behind in CLUSTER_DIR
# (a script killed with SIGKILL): only processes whose command line is ours.
cluster__stale_cleanup() {
	local f pid found=0
	for f in "$CLUSTER_DIR"/replica-*.pid; do
		[[ -e "$f" ]] || continue
		pid="$(cat "$f" 2>/dev/null || true)"
		if cluster__ours "$pid" "$CLUSTER_BIN"; then
			found=1
			op_warn "stopping replica pid $pid left by an earlier run"
			kill -TERM "$pid" 2>/dev/null || true
		fi
	done
	pid="$(cat "$CLUSTER_DIR/nginx.pid" 2>/dev/null || true)"
	if cluster__ours "$pid" "$CLUSTER_NGINX_PREFIX"; then
		found=1
		op_warn "stopping nginx pid $pid left by an earlier run"
		kill -TERM "$pid" 2>/dev/null || true
	fi
	if ((found)); then
		local i
		for ((i = 0; i < 100; i++)); do
			local alive=0
			for f in "$CLUSTER_DIR"/replica-*.pid "$CLUSTER_DIR/nginx.pid"; do
				pid="$(cat "$f" 2>/dev/null || true)"
				[[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && alive=1
			done
			((alive)) || break
			sleep 0.2
		done
	fi
	rm -f "$CLUSTER_DIR"/replica-*.pid "$CLUSTER_DIR"/replica-*.exit "$CLUSTER_DIR/nginx.pid"
}

# cluster_up N: bootstrap, then N replicas, then nginx. Returns once all are
# ready; the caller owns stopping them (cluster_down).
cluster_up() {
	local n="${1:-3}" i port
	if ! [[ "$n" =~ ^[0-9]+$ ]] || ((n < 1 || n > 32)); then
		op_die "the number of replicas must be 1 to 32, got '$n'"
	fi
	cluster_vars
	CLUSTER_N="$n"
	export CLUSTER_N
	mkdir -p "$CLUSTER_DIR"
	cluster__claim
	for ((i = 0; i <= n; i++)); do
		port=$((i == 0 ? CLUSTER_PORT : CLUSTER_REPLICA_PORT + i - 1))
		if cluster__port_busy "$port"; then
			op_die "port $port on 127.0.0.1 is taken; choose others with CLUSTER_PORT / CLUSTER_REPLICA_PORT"
		fi
	done
	cluster_bootstrap
	cluster__write_state "$n"
	for ((i = 1; i <= n; i++)); do
		: >"$CLUSTER_DIR/replica-$i.log"
		cluster_start_replica "$i"
	done
	cluster_start_nginx "$n"
}

# cluster_down stops the replicas (SIGTERM, all at once) and nginx, when this
# invocation owns the cluster (cluster_up, or the `down` command). Never
# fails. The caller then calls op_stop_started for PostgreSQL/Redis.
cluster_down() {
	[[ "${CLUSTER_OWNED:-0}" == 1 ]] || return 0
	cluster_vars
	[[ -d "$CLUSTER_DIR" ]] || return 0
	local f i pids=()
	for f in "$CLUSTER_DIR"/replica-*.pid; do
		[[ -e "$f" ]] || continue
		i="${f##*/replica-}"
		i="${i%.pid}"
		local pid
		pid="$(cat "$f" 2>/dev/null || true)"
		if cluster__ours "$pid" "$CLUSTER_BIN"; then
			cluster_stop_replica "$i" TERM &
			pids+=($!)
		fi
	done
	for f in "${pids[@]}"; do wait "$f" || true; done
	cluster_stop_nginx || true
	rm -f "$CLUSTER_DIR/owner"
	CLUSTER_OWNED=0
	return 0
}

cluster_print() {
	local i
	cat >&2 <<MSG
==> orgpulse cluster: $CLUSTER_N replicas behind nginx
      URL       http://localhost:$CLUSTER_PORT  (GraphiQL /graphiql, GraphQL and WebSocket /graphql)
      token     $API_TOKEN
      database  $DATABASE_URL
      redis     $REDIS_URL (key prefix $REDIS_PREFIX)
      nginx     pid $(cat "$CLUSTER_DIR/nginx.pid" 2>/dev/null), config $CLUSTER_NGINX_PREFIX/nginx.conf, access log $CLUSTER_NGINX_PREFIX/logs/access.log
MSG
	for ((i = 1; i <= CLUSTER_N; i++)); do
		printf '      replica-%s http://127.0.0.1:%s  pid %s  log %s\n' "$i" "$(cluster_replica_port "$i")" \
			"$(cat "$CLUSTER_DIR/replica-$i.pid" 2>/dev/null)" "$CLUSTER_DIR/replica-$i.log" >&2
	done
}

cluster_status() {
	cluster_load_state
	local i pid state running=0
	# A pid file left behind (by `down`, or a process that died) names a
	# process that is gone, or a pid now reused: only a live process whose
	# command line is ours counts.
	pid="$(cat "$CLUSTER_DIR/nginx.pid" 2>/dev/null || true)"
	if cluster__ours "$pid" "$CLUSTER_NGINX_PREFIX"; then
		running=1
		printf 'nginx      http://127.0.0.1:%s  pid %s  /healthz %s\n' "$CLUSTER_PORT" "$pid" "$(cluster__http_status "$CLUSTER_PORT" /healthz)"
	else
		printf 'nginx      http://127.0.0.1:%s  not running\n' "$CLUSTER_PORT"
	fi
	for ((i = 1; i <= CLUSTER_N; i++)); do
		pid="$(cat "$CLUSTER_DIR/replica-$i.pid" 2>/dev/null || true)"
		if cluster__ours "$pid" "$CLUSTER_BIN"; then
			running=1
			state="$(cluster__http_status "$(cluster_replica_port "$i")" /readyz)"
			printf 'replica-%s  http://127.0.0.1:%s  pid %s  /readyz %s\n' "$i" "$(cluster_replica_port "$i")" "$pid" "$state"
		else
			printf 'replica-%s  http://127.0.0.1:%s  not running\n' "$i" "$(cluster_replica_port "$i")"
		fi
	done
	if ((running == 0)); then
		printf 'the cluster in %s is not running (start it with: scripts/cluster.sh up)\n' "$CLUSTER_DIR"
	fi
}

# cluster_rolling_restart: a deployment. Build the current code, migrate,
# then restart each replica in turn; nginx sends the traffic elsewhere
# meanwhile.
cluster_rolling_restart() {
	cluster_load_state
	cluster_build
	"$CLUSTER_BIN" migrate up >&2
	local i
	for ((i = 1; i <= CLUSTER_N; i++)); do
		cluster_stop_replica "$i" TERM || op_die "replica-$i did not exit cleanly; stopping the rollout"
		cluster_start_replica "$i"
		# Back in nginx's rotation once fail_timeout has passed.
		sleep "$(cluster__seconds "$CLUSTER_FAIL_TIMEOUT")"
	done
	op_log "rolling restart done"
}

# ---------------------------------------------------------------- commands

cluster_main() {
	set -euo pipefail
	cd "$ROOT"
	local cmd="run"
	case "${1:-}" in
	up | --background | down | status | restart | start-replica | stop-replica | run)
		cmd="$1"
		shift
		;;
	-h | --help | help)
		sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
		return 0
		;;
	esac
	case "$cmd" in
	run)
		trap 'cluster_down; op_stop_started || true' EXIT
		trap 'exit 130' INT
		trap 'exit 143' TERM
		trap 'exit 129' HUP
		cluster_up "${1:-3}"
		cluster_print
		printf '==> Ctrl-C to stop\n' >&2
		local pid
		pid="$(cat "$CLUSTER_DIR/nginx.pid")"
		while kill -0 "$pid" 2>/dev/null; do sleep 1; done
		op_die "nginx exited (log: $CLUSTER_NGINX_PREFIX/logs/error.log)"
		;;
	up | --background)
		trap '[[ "${CLUSTER_READY:-0}" == 1 ]] || { cluster_down; op_stop_started || true; }' EXIT
		cluster_up "${1:-3}"
		CLUSTER_READY=1
		printf 'background\n' >"$CLUSTER_DIR/owner"
		cluster_print
		printf '==> running in the background; stop with: scripts/cluster.sh down\n' >&2
		;;
	down)
		cluster_vars
		CLUSTER_OWNED=1
		cluster_down
		# Stop PostgreSQL/Redis if `up` started them and nobody else uses them.
		if [[ -z "${DATABASE_URL:-}" || "${DATABASE_URL:-}" == "postgres://orgpulse@127.0.0.1:$OP_PG_PORT/"* ]]; then
			unset DATABASE_URL
			op__find_pg_bin && op__hold_lock && op__pg_layout >/dev/null 2>&1 && OP_PG_EXTERNAL=0
		fi
		[[ -n "${REDIS_URL:-}" ]] || OP_REDIS_EXTERNAL=0
		op__hold_lock
		op_stop_started
		;;
	status) cluster_status ;;
	restart) cluster_rolling_restart ;;
	start-replica)
		cluster_load_state
		cluster_start_replica "${1:?start-replica needs a replica number}"
		;;
	stop-replica)
		cluster_load_state
		local sig=TERM
		[[ "${2:-}" != --kill ]] || sig=KILL
		cluster_stop_replica "${1:?stop-replica needs a replica number}" "$sig"
		;;
	esac
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
	cluster_main "$@"
fi
