# shellcheck shell=bash disable=SC2034 # variables here are read by the callers
# scripts/lib.sh - shared bootstrapping for scripts/dev.sh and scripts/test.sh.
#
# Source it; sourcing only defines functions and variables. Every step logs a
# line starting with "==> " to stderr. Fatal problems call op_die (exit 1).
#
# Functions:
#   op_ensure_packages      install postgresql / redis-server (root) or say how
#   op_ensure_postgres      use $DATABASE_URL, or run the local cluster .data/pg
#   op_create_db NAME       create database NAME (local cluster only)
#   op_local_db_url NAME    print the URL of database NAME on the local cluster
#   op_ensure_redis         use $REDIS_URL, or run a local redis-server
#   op_ensure_node_modules  npm ci when package.json exists and deps are stale
#   op_ensure_shellcheck    install shellcheck (root) or say how
#   op_sample_db DB BIN     a migrated database with the sample data
#   op_bench_server ...     orgpulse serve as the benchmarks run it
#   op_stop_started         stop what this invocation started
#
# Knobs (environment): DATABASE_URL, REDIS_URL (use these servers as given),
# OP_PG_PORT (15432), OP_REDIS_PORT (16379), OP_WAIT_SECS (60), PG_BIN.
#
# The ports lie below Linux's ip_local_port_range (32768-60999), so an
# outgoing connection can never hold them. A server on them is reused only
# when this checkout started it (its pid file under .data says so); any
# other is refused, with a message naming the knob that moves the port.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
OP_ROOT="$ROOT"
OP_DATA_DIR="$ROOT/.data"
OP_PG_PORT="${OP_PG_PORT:-15432}"
OP_REDIS_PORT="${OP_REDIS_PORT:-16379}"
OP_WAIT_SECS="${OP_WAIT_SECS:-60}"
OP_STARTED_PG=0
OP_STARTED_REDIS=0
OP_PG_EXTERNAL=""    # 1: DATABASE_URL given by the user; 0: local cluster
OP_REDIS_EXTERNAL="" # 1: REDIS_URL given by the user; 0: local redis
OP_APT_UPDATED=0
OP_LOCK_FD=""
PG_BIN="${PG_BIN:-}"

op_log() { printf '==> %s\n' "$*" >&2; }
op_warn() { printf '==> WARNING: %s\n' "$*" >&2; }
op_die() {
	printf '==> ERROR: %s\n' "$*" >&2
	exit 1
}

op_is_root() { [[ "$(id -u)" -eq 0 ]]; }

# op__port_busy PORT: does anything accept connections on 127.0.0.1:PORT?
op__port_busy() { (
	exec 2>/dev/null
	exec 3<>"/dev/tcp/127.0.0.1/$1"
); }

# ---------------------------------------------------------------- packages

# op__find_pg_bin sets PG_BIN to the newest /usr/lib/postgresql/<ver>/bin that
# holds the server binaries (an explicit PG_BIN from the environment wins).
# /usr/local/bin/initdb and friends are deliberately not used, so that every
# machine behaves the same.
op__find_pg_bin() {
	if [[ -n "$PG_BIN" ]]; then
		[[ -x "$PG_BIN/postgres" && -x "$PG_BIN/initdb" && -x "$PG_BIN/pg_ctl" ]]
		return
	fi
	local d best=""
	while IFS= read -r d; do
		[[ -x "$d/postgres" && -x "$d/initdb" && -x "$d/pg_ctl" ]] && best="$d"
	done < <(compgen -G '/usr/lib/postgresql/*/bin' | sort -V)
	[[ -n "$best" ]] || return 1
	PG_BIN="$best"
}

# op__pg_tool NAME prints the path of a PostgreSQL client tool, preferring PG_BIN.
op__pg_tool() {
	if [[ -n "$PG_BIN" && -x "$PG_BIN/$1" ]]; then
		printf '%s\n' "$PG_BIN/$1"
	elif op__find_pg_bin && [[ -x "$PG_BIN/$1" ]]; then
		printf '%s\n' "$PG_BIN/$1"
	elif command -v "$1" >/dev/null 2>&1; then
		command -v "$1"
	else
		return 1
	fi
}

# op__apt_install PKG... installs Debian packages as root, or prints the sudo
# command and exits when not root.
op__apt_install() {
	if ! op_is_root; then
		printf '==> missing packages; install them with:\n    sudo apt-get install -y %s\n' "$*" >&2
		exit 1
	fi
	command -v apt-get >/dev/null 2>&1 || op_die "apt-get not found; install these packages by hand: $*"
	if [[ "$OP_APT_UPDATED" != 1 ]]; then
		op_log "apt-get update"
		DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 || op_die "apt-get update failed"
		OP_APT_UPDATED=1
	fi
	op_log "apt-get install -y $*"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2 || op_die "apt-get install $* failed"
}

# op_ensure_packages installs what the bootstrapping needs and is missing:
# the PostgreSQL server (or only the client when DATABASE_URL is given) and
# redis-server (or only redis-cli when REDIS_URL is given).
op_ensure_packages() {
	local pkgs=()
	if [[ -z "${DATABASE_URL:-}" ]]; then
		op__find_pg_bin || pkgs+=(postgresql)
	else
		{ op__pg_tool psql && op__pg_tool pg_isready; } >/dev/null 2>&1 || pkgs+=(postgresql-client)
	fi
	if [[ -z "${REDIS_URL:-}" ]]; then
		command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 || pkgs+=(redis-server)
	else
		command -v redis-cli >/dev/null 2>&1 || pkgs+=(redis-tools)
	fi
	if ((${#pkgs[@]} == 0)); then
		op_log "packages: ok${PG_BIN:+ (PostgreSQL from $PG_BIN)}"
		return 0
	fi
	op__apt_install "${pkgs[@]}"
	if [[ -z "${DATABASE_URL:-}" ]]; then
		op__find_pg_bin || op_die "PostgreSQL server binaries still missing under /usr/lib/postgresql/*/bin"
	fi
	op_log "packages: ok${PG_BIN:+ (PostgreSQL from $PG_BIN)}"
}

# op_ensure_shellcheck installs Debian's shellcheck when it is missing.
op_ensure_shellcheck() {
	command -v shellcheck >/dev/null 2>&1 || op__apt_install shellcheck
}

# ---------------------------------------------------------------- locking

# op__hold_lock takes (once) a shared lock on .data/.lock for the life of this
# invocation. op_stop_started only stops a server when it can take the lock
# exclusively, i.e. when no other dev.sh/test.sh in this tree still uses it.
op__hold_lock() {
	[[ -n "$OP_LOCK_FD" ]] && return 0
	mkdir -p "$OP_DATA_DIR"
	command -v flock >/dev/null 2>&1 || return 0
	exec {OP_LOCK_FD}>>"$OP_DATA_DIR/.lock"
	flock -s -w "$OP_WAIT_SECS" "$OP_LOCK_FD" || op_die "timed out waiting for the lock $OP_DATA_DIR/.lock"
}

# op__others_using returns 0 when another invocation holds the shared lock.
# On return 1 this invocation holds the lock exclusively (fd in OP_XLOCK_FD)
# until op__release_xlock.
op__others_using() {
	[[ -n "$OP_LOCK_FD" ]] || return 1
	exec {OP_LOCK_FD}>&-
	OP_LOCK_FD=""
	exec {OP_XLOCK_FD}>>"$OP_DATA_DIR/.lock"
	if flock -x -n "$OP_XLOCK_FD"; then
		return 1
	fi
	exec {OP_XLOCK_FD}>&-
	OP_XLOCK_FD=""
	return 0
}
OP_XLOCK_FD=""
op__release_xlock() {
	if [[ -n "$OP_XLOCK_FD" ]]; then
		exec {OP_XLOCK_FD}>&-
		OP_XLOCK_FD=""
	fi
}

# ---------------------------------------------------------------- postgres

# op__cksum STRING prints a short stable number derived from STRING.
op__cksum() { printf '%s' "$1" | cksum | cut -d' ' -f1; }

# op__as_pg CMD... runs CMD as the OS user that owns the local cluster
# (OP_PG_USER), from / so that an unreadable current directory is no problem.
# Never passes on our lock descriptor (the postmaster would keep it open).
op__as_pg() {
	if [[ "$OP_PG_USER" == "$(id -un)" ]]; then
		op__nolock op__in_root "$@"
	else
		op__nolock op__in_root runuser -u "$OP_PG_USER" -- "$@"
	fi
}
op__in_root() { (cd / && "$@"); }

# op__nolock CMD... runs CMD without our lock descriptor, so that a daemon it
# starts does not keep the lock held forever.
op__nolock() {
	if [[ -n "$OP_LOCK_FD" ]]; then
		"$@" {OP_LOCK_FD}>&-
	else
		"$@"
	fi
}

# op__pg_layout decides where the local cluster lives and as whom it runs:
#   OP_PG_DATA (data dir), OP_PG_RUN (unix socket dir), OP_PG_LOG, OP_PG_USER.
# Normally .data/pg, .data/pg-run and .data/pg.log. As root the server runs as
# the "postgres" OS user (initdb refuses root); if that user cannot reach the
# repository (e.g. a checkout under /root, mode 700), the cluster goes to
# /var/tmp/orgpulse-<hash of ROOT>/ instead and .data/pg.log links to its log.
op__pg_layout() {
	mkdir -p "$OP_DATA_DIR"
	local base="$OP_DATA_DIR" me alt
	me="$(id -un)"
	alt="/var/tmp/orgpulse-$(op__cksum "$ROOT")"
	OP_PG_USER="$me"
	if op_is_root; then
		OP_PG_USER=postgres
		id -u postgres >/dev/null 2>&1 ||
			op_die "OS user 'postgres' does not exist (it comes with Debian's postgresql package; try: apt-get install --reinstall postgresql-common)"
		if [[ -d "$alt/pg" ]] || ! runuser -u postgres -- test -x "$OP_DATA_DIR" 2>/dev/null; then
			base="$alt"
		fi
	fi
	if [[ "$base" != "$OP_DATA_DIR" ]]; then
		op_log "postgres: user 'postgres' cannot reach $OP_DATA_DIR; the cluster lives in $base"
		# A fresh .data (new clone, or .data deleted) means a fresh cluster here too.
		if [[ ! -e "$OP_DATA_DIR/pg.alt" && -d "$base/pg" ]] &&
			! runuser -u "$(stat -c %U "$base/pg")" -- "$PG_BIN/pg_ctl" -D "$base/pg" status >/dev/null 2>&1; then
			op_log "postgres: discarding the old cluster in $base (no .data/pg.alt)"
			rm -rf -- "$base/pg" "$base/pg-run" "$base/pg.log"
		fi
		install -d -m 700 -o postgres "$base"
		printf '%s\n' "$base" >"$OP_DATA_DIR/pg.alt"
	fi
	OP_PG_DATA="$base/pg"
	OP_PG_RUN="$base/pg-run"
	OP_PG_LOG="$base/pg.log"
	# A unix socket path must fit in 107 bytes.
	if ((${#OP_PG_RUN} + ${#OP_PG_PORT} + 12 > 100)); then
		OP_PG_RUN="/tmp/orgpulse-$(op__cksum "$ROOT")-pg-run"
	fi
	# An existing cluster keeps running as whoever owns it.
	if [[ -f "$OP_PG_DATA/PG_VERSION" ]]; then
		local owner
		owner="$(stat -c %U "$OP_PG_DATA")"
		if op_is_root; then
			[[ "$owner" != root ]] || op_die "$OP_PG_DATA is owned by root; PostgreSQL cannot run as root. Remove it (rm -rf '$OP_PG_DATA') and run again."
			OP_PG_USER="$owner"
		elif [[ "$owner" != "$me" ]]; then
			op_die "$OP_PG_DATA belongs to '$owner', not '$me'; run as root/$owner, or remove it and run again"
		fi
	fi
	local d
	for d in "$OP_PG_DATA" "$OP_PG_RUN"; do
		if [[ ! -d "$d" ]]; then
			install -d -m 700 "$d"
		fi
	done
	[[ -e "$OP_PG_LOG" ]] || : >"$OP_PG_LOG"
	if op_is_root; then
		chown "$OP_PG_USER:" "$OP_PG_DATA" "$OP_PG_RUN" "$OP_PG_LOG"
		chmod 700 "$OP_PG_DATA"
	fi
	if [[ "$OP_PG_LOG" != "$OP_DATA_DIR/pg.log" ]]; then
		ln -sfn "$OP_PG_LOG" "$OP_DATA_DIR/pg.log"
	fi
}

# op__pg_write_conf (re)writes the settings this project wants into
# $OP_PG_DATA/orgpulse.conf, included from postgresql.conf.
op__pg_write_conf() {
	local q_run="${OP_PG_RUN//\'/\'\'}"
	cat >"$OP_PG_DATA/orgpulse.conf" <<EOF
# Written by scripts/lib.sh on every start; edits are overwritten.
# A throwaway dev/test cluster: durability is traded for speed.
listen_addresses = '127.0.0.1'
port = $OP_PG_PORT
unix_socket_directories = '$q_run'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
checkpoint_timeout = 30min
log_min_messages = warning
EOF
	chmod 644 "$OP_PG_DATA/orgpulse.conf"
	if op_is_root; then chown "$OP_PG_USER:" "$OP_PG_DATA/orgpulse.conf"; fi
	if ! grep -q "^include_if_exists = 'orgpulse.conf'" "$OP_PG_DATA/postgresql.conf"; then
		printf "\n# Project settings (scripts/lib.sh)\ninclude_if_exists = 'orgpulse.conf'\n" >>"$OP_PG_DATA/postgresql.conf"
	fi
}

# op__wait_pg WHAT ARGS... waits until pg_isready ARGS answers (1 if it never does).
op__wait_pg() {
	local what="$1"
	shift
	local isready rc deadline=$((SECONDS + OP_WAIT_SECS))
	isready="$(op__pg_tool pg_isready)" || op_die "pg_isready not found (install postgresql-client)"
	while ((SECONDS < deadline)); do
		rc=0
		"$isready" -q -t 2 "$@" || rc=$?
		case "$rc" in
		0) return 0 ;;
		3) op_die "pg_isready rejected the connection parameters for $what" ;;
		esac
		sleep 0.5
	done
	return 1
}

# op_ensure_postgres makes a PostgreSQL server available.
#   DATABASE_URL set: wait until it answers, use it as is (OP_ADMIN_URL=$DATABASE_URL).
#   Otherwise: init/start/reuse the local cluster on 127.0.0.1:$OP_PG_PORT,
#   ensure role orgpulse, export OP_ADMIN_URL; OP_STARTED_PG=1 if started here.
op_ensure_postgres() {
	if [[ -n "${DATABASE_URL:-}" ]]; then
		OP_PG_EXTERNAL=1
		op_log "postgres: using DATABASE_URL from the environment; waiting for it to answer"
		op__wait_pg DATABASE_URL -d "$DATABASE_URL" ||
			op_die "DATABASE_URL does not answer after ${OP_WAIT_SECS}s (check the server is up and the URL is right)"
		local psql out
		psql="$(op__pg_tool psql)" || op_die "psql not found (install postgresql-client)"
		out="$("$psql" "$DATABASE_URL" -X -A -t -q -c 'select 1' 2>&1)" ||
			op_die "cannot query DATABASE_URL: $out"
		export OP_ADMIN_URL="$DATABASE_URL"
		op_log "postgres: DATABASE_URL is up"
		return 0
	fi
	OP_PG_EXTERNAL=0
	op__find_pg_bin || op_die "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin (run op_ensure_packages, or: apt-get install postgresql)"
	op__hold_lock
	op__pg_layout

	local status=3
	if [[ -f "$OP_PG_DATA/PG_VERSION" ]]; then
		status=0
		op__as_pg "$PG_BIN/pg_ctl" -D "$OP_PG_DATA" status >/dev/null 2>&1 || status=$?
	fi
	# Not running from our postmaster.pid, yet something answers on the
	# port: a server this checkout did not start. Never use it.
	if [[ "$status" -ne 0 ]] && op__port_busy "$OP_PG_PORT"; then
		op_die "port $OP_PG_PORT on 127.0.0.1 is taken by a server this checkout did not start (no live $OP_PG_DATA/postmaster.pid); set OP_PG_PORT to a free port below 32768, or DATABASE_URL to use that server on purpose"
	fi
	if [[ ! -f "$OP_PG_DATA/PG_VERSION" ]]; then
		op_log "postgres: initdb $OP_PG_DATA (as $OP_PG_USER, $PG_BIN)"
		op__as_pg "$PG_BIN/initdb" -D "$OP_PG_DATA" -U postgres --auth-local=trust --auth-host=trust \
			-E UTF8 --no-locale --no-sync >"$OP_DATA_DIR/initdb.log" 2>&1 || {
			cat "$OP_DATA_DIR/initdb.log" >&2
			op_die "initdb failed (output above, also in $OP_DATA_DIR/initdb.log)"
		}
	fi

	if [[ "$status" -eq 0 ]]; then
		local running_port
		running_port="$(sed -n 4p "$OP_PG_DATA/postmaster.pid" 2>/dev/null || true)"
		if [[ -n "$running_port" && "$running_port" != "$OP_PG_PORT" ]]; then
			op_die "the local cluster $OP_PG_DATA is already running on port $running_port, not $OP_PG_PORT; stop it first: runuser -u $OP_PG_USER -- $PG_BIN/pg_ctl -D '$OP_PG_DATA' stop"
		fi
		op_log "postgres: reusing the running cluster on 127.0.0.1:$OP_PG_PORT ($OP_PG_DATA)"
	else
		op__pg_write_conf
		op_log "postgres: starting on 127.0.0.1:$OP_PG_PORT (log: $OP_DATA_DIR/pg.log)"
		if ! op__as_pg "$PG_BIN/pg_ctl" -D "$OP_PG_DATA" -l "$OP_PG_LOG" -w -t "$OP_WAIT_SECS" start >/dev/null; then
			tail -n 30 "$OP_PG_LOG" >&2 || true
			if tail -n 30 "$OP_PG_LOG" 2>/dev/null | grep -q 'Address already in use'; then
				op_die "PostgreSQL could not bind 127.0.0.1:$OP_PG_PORT (in use); set OP_PG_PORT to a free port below 32768"
			fi
			op_die "PostgreSQL did not start (log above, full log in $OP_PG_LOG)"
		fi
		OP_STARTED_PG=1
		: >"$OP_DATA_DIR/pg.started"
	fi

	op__wait_pg "the local cluster" -h 127.0.0.1 -p "$OP_PG_PORT" -U postgres -d postgres || {
		tail -n 30 "$OP_PG_LOG" >&2 || true
		op_die "PostgreSQL on 127.0.0.1:$OP_PG_PORT does not answer (log: $OP_PG_LOG)"
	}

	local psql
	psql="$(op__pg_tool psql)"
	"$psql" "postgres://postgres@127.0.0.1:$OP_PG_PORT/postgres?sslmode=disable" -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL' ||
SELECT 'CREATE ROLE orgpulse LOGIN SUPERUSER'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'orgpulse') \gexec
SQL
		op_die "could not create role orgpulse"
	export OP_PG_PORT
	export OP_ADMIN_URL="postgres://orgpulse@127.0.0.1:$OP_PG_PORT/postgres?sslmode=disable"
	op_log "postgres: ready (admin: $OP_ADMIN_URL)"
}

# op_local_db_url NAME prints the URL of database NAME on the local cluster.
op_local_db_url() {
	printf 'postgres://orgpulse@127.0.0.1:%s/%s?sslmode=disable\n' "$OP_PG_PORT" "$1"
}

# op_create_db NAME creates database NAME owned by orgpulse on the local
# cluster if it is missing. With a user-supplied DATABASE_URL it does nothing.
op_create_db() {
	local name="${1:?op_create_db: database name required}"
	if [[ "$OP_PG_EXTERNAL" == 1 || (-z "$OP_PG_EXTERNAL" && -n "${DATABASE_URL:-}") ]]; then
		op_log "postgres: DATABASE_URL was given; not creating database $name"
		return 0
	fi
	[[ -n "${OP_ADMIN_URL:-}" ]] || op_die "op_create_db: call op_ensure_postgres first"
	local psql out
	psql="$(op__pg_tool psql)"
	out="$("$psql" "$OP_ADMIN_URL" -X -A -t -q -v ON_ERROR_STOP=1 -v dbname="$name" 2>&1 <<'SQL'
SELECT format('CREATE DATABASE %I OWNER orgpulse', :'dbname')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'dbname') \gexec
SQL
	)" || {
		# Lost a race with a concurrent invocation? Then it exists now.
		if "$psql" "$OP_ADMIN_URL" -X -A -t -q -v dbname="$name" <<<"SELECT 1 FROM pg_database WHERE datname = :'dbname'" 2>/dev/null | grep -q 1; then
			return 0
		fi
		op_die "could not create database $name: $out"
	}
	op_log "postgres: database $name ready"
}

# ---------------------------------------------------------------- redis

op__redis_start() { # DIR
	(cd "$1" && redis-server --daemonize yes --bind 127.0.0.1 --port "$OP_REDIS_PORT" \
		--save "" --appendonly no --dir . --pidfile redis.pid --logfile redis.log)
}

op__redis_ping() { # ARGS for redis-cli
	local out
	out="$(timeout 5 redis-cli --no-auth-warning "$@" ping 2>/dev/null)" || return 1
	[[ "$out" == PONG ]]
}

# op__redis_alive PIDFILE: is the process in PIDFILE a live redis-server?
op__redis_alive() {
	local pid
	pid="$(cat "$1" 2>/dev/null || true)"
	[[ "$pid" =~ ^[0-9]+$ && -r "/proc/$pid/cmdline" ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q redis-server
}

# op__redis_ours: is the server answering on 127.0.0.1:$OP_REDIS_PORT the
# one this checkout started, i.e. the process in .data/redis/redis.pid?
op__redis_ours() {
	local pid served
	pid="$(cat "$OP_DATA_DIR/redis/redis.pid" 2>/dev/null || true)"
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	served="$(timeout 5 redis-cli -h 127.0.0.1 -p "$OP_REDIS_PORT" info server 2>/dev/null | tr -d '\r' | sed -n 's/^process_id://p')"
	[[ "$served" == "$pid" ]]
}

# op_ensure_redis makes a Redis server available.
#   REDIS_URL set: wait until it answers PING, use it as is.
#   Otherwise: start/reuse redis-server on 127.0.0.1:$OP_REDIS_PORT (data in
#   .data/redis), export REDIS_URL; OP_STARTED_REDIS=1 if started here.
op_ensure_redis() {
	command -v redis-cli >/dev/null 2>&1 || op_die "redis-cli not found (run op_ensure_packages, or: apt-get install redis-tools)"
	local deadline
	if [[ -n "${REDIS_URL:-}" ]]; then
		OP_REDIS_EXTERNAL=1
		op_log "redis: using REDIS_URL from the environment; waiting for it to answer"
		deadline=$((SECONDS + OP_WAIT_SECS))
		while ((SECONDS < deadline)); do
			op__redis_ping -u "$REDIS_URL" && {
				op_log "redis: REDIS_URL is up"
				return 0
			}
			sleep 0.5
		done
		op_die "REDIS_URL does not answer PING after ${OP_WAIT_SECS}s: $(timeout 5 redis-cli --no-auth-warning -u "$REDIS_URL" ping 2>&1 | head -n 3)"
	fi
	OP_REDIS_EXTERNAL=0
	command -v redis-server >/dev/null 2>&1 || op_die "redis-server not found (run op_ensure_packages, or: apt-get install redis-server)"
	op__hold_lock
	local dir="$OP_DATA_DIR/redis"
	mkdir -p "$dir"
	if op__redis_ours; then
		op_log "redis: reusing the server on 127.0.0.1:$OP_REDIS_PORT (pid $(<"$dir/redis.pid"))"
	elif op__port_busy "$OP_REDIS_PORT"; then
		op_die "port $OP_REDIS_PORT on 127.0.0.1 is taken by a server this checkout did not start (not the pid in $dir/redis.pid); set OP_REDIS_PORT to a free port below 32768, or REDIS_URL to use that server on purpose"
	elif op__redis_alive "$dir/redis.pid"; then
		op_die "the local redis-server (pid $(<"$dir/redis.pid"), from $dir) runs on another port than OP_REDIS_PORT=$OP_REDIS_PORT (an earlier default was 56379); stop it first: kill $(<"$dir/redis.pid")"
	else
		op_log "redis: starting on 127.0.0.1:$OP_REDIS_PORT (log: $dir/redis.log)"
		# Relative paths (after cd) keep a directory with spaces out of redis' argument parsing.
		op__nolock op__redis_start "$dir" >/dev/null ||
			op_die "redis-server failed to start (log: $dir/redis.log)"
		OP_STARTED_REDIS=1
		: >"$OP_DATA_DIR/redis.started"
		deadline=$((SECONDS + OP_WAIT_SECS))
		while ((SECONDS < deadline)); do
			op__redis_ping -h 127.0.0.1 -p "$OP_REDIS_PORT" && break
			sleep 0.25
		done
		op__redis_ping -h 127.0.0.1 -p "$OP_REDIS_PORT" || {
			tail -n 20 "$dir/redis.log" >&2 || true
			op_die "redis-server on 127.0.0.1:$OP_REDIS_PORT does not answer (log: $dir/redis.log)"
		}
	fi
	export OP_REDIS_PORT
	export REDIS_URL="redis://127.0.0.1:$OP_REDIS_PORT/0"
	op_log "redis: ready ($REDIS_URL)"
}

# ---------------------------------------------------------------- stopping

# op_stop_started stops the servers this invocation started. If another
# dev.sh/test.sh in this tree still uses them, they are left running and the
# marker .data/{pg,redis}.started hands the stop on: the last such script to
# leave stops them. A server nobody's script started (no marker) is never
# stopped. Never fails.
op_stop_started() {
	local pg=0 redis=0
	if [[ "$OP_STARTED_PG" == 1 || ("$OP_PG_EXTERNAL" == 0 && -f "$OP_DATA_DIR/pg.started") ]]; then
		pg=1
	fi
	if [[ "$OP_STARTED_REDIS" == 1 || ("$OP_REDIS_EXTERNAL" == 0 && -f "$OP_DATA_DIR/redis.started") ]]; then
		redis=1
	fi
	if [[ "$pg" == 0 && "$redis" == 0 ]]; then
		return 0
	fi
	if op__others_using; then
		op_log "another dev.sh/test.sh is still using the local servers; the last one to exit stops them"
		OP_STARTED_PG=0 OP_STARTED_REDIS=0
		return 0
	fi
	if [[ "$pg" == 1 ]]; then
		op_log "postgres: stopping the local cluster"
		op__as_pg "$PG_BIN/pg_ctl" -D "$OP_PG_DATA" -m fast -w stop >/dev/null 2>&1 ||
			op_warn "pg_ctl stop failed (log: $OP_PG_LOG)"
		rm -f "$OP_DATA_DIR/pg.started"
		OP_STARTED_PG=0
	fi
	if [[ "$redis" == 1 ]] && ! op__redis_ours; then
		if op__port_busy "$OP_REDIS_PORT"; then
			op_warn "redis on 127.0.0.1:$OP_REDIS_PORT is not the one this checkout started; leaving it alone"
		fi
		redis=0
		rm -f "$OP_DATA_DIR/redis.started"
		OP_STARTED_REDIS=0
	fi
	if [[ "$redis" == 1 ]]; then
		op_log "redis: stopping the local server"
		timeout 10 redis-cli -h 127.0.0.1 -p "$OP_REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
		local i
		for ((i = 0; i < 40; i++)); do
			op__redis_ping -h 127.0.0.1 -p "$OP_REDIS_PORT" || break
			sleep 0.25
		done
		rm -f "$OP_DATA_DIR/redis.started"
		OP_STARTED_REDIS=0
	fi
	op__release_xlock
	return 0
}

# ---------------------------------------------------------------- benchmark servers

# Servers a benchmark script starts, each in its own process group
# (setsid), so that stopping one stops everything it forked.
OP_GROUPS=()

# op_add_group PID records a server started with setsid for op_stop_groups.
op_add_group() { OP_GROUPS+=("$1"); }

# op_stop_groups stops every recorded group: TERM, up to 5 s, then KILL.
op_stop_groups() {
	local pid
	for pid in "${OP_GROUPS[@]}"; do
		kill -TERM -- "-$pid" 2>/dev/null || true
	done
	for pid in "${OP_GROUPS[@]}"; do
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL -- "-$pid" 2>/dev/null || true
	done
	OP_GROUPS=()
}

# op_wait_graphql URL WHAT [CURL_ARGS...] waits up to 30 s for a GraphQL
# server at URL to answer { __typename } (CURL_ARGS: a token header, say),
# or dies naming WHAT.
op_wait_graphql() {
	for _ in $(seq 120); do
		if curl -fsS -o /dev/null -H 'Content-Type: application/json' "${@:3}" --data '{"query":"{ __typename }"}' "$1" 2>/dev/null; then
			return 0
		fi
		sleep 0.25
	done
	op_die "$2 did not answer at $1 within 30s"
}

# ---------------------------------------------------------------- benchmarks

# op_sample_db DB ORGPULSE: create database DB on the local cluster, migrate
# it with the binary ORGPULSE, load the default sample data and ANALYZE it
# (scripts/bench-compare.sh, scripts/pgo.sh).
op_sample_db() {
	local url
	op_create_db "$1"
	url="$(op_local_db_url "$1")"
	DATABASE_URL="$url" "$2" migrate up >/dev/null
	DATABASE_URL="$url" "$2" seed --reset 2>&1 | tail -n 1 >&2
	"$(op__pg_tool psql)" "$url" -X -q -c 'VACUUM ANALYZE' >/dev/null
}

# op_bench_server ORGPULSE PORT DB_URL TOKEN LOG [ENV=VALUE...]: orgpulse
# serve as every benchmark runs it, in a process group of its own
# (op_add_group), logging to LOG, and wait until it answers: DEBUG on (for
# X-Debug and /debug/pprof), no log line per request, no self-recording
# (it would grow the metrics table the aggregation reads), no Redis unless
# ENV gives REDIS_URL.
op_bench_server() {
	local bin="$1" port="$2" url="$3" token="$4" log="$5"
	shift 5
	setsid env -u REDIS_URL -u NAIVE_LOADING DATABASE_URL="$url" ADDR="127.0.0.1:$port" DEBUG=1 \
		LOG_FORMAT=text LOG_LEVEL=warn METRICS_SAMPLE_RATE=0 METRICS_RETENTION=0 API_TOKEN="$token" "$@" \
		"$bin" serve >"$log" 2>&1 </dev/null &
	op_add_group "$!"
	op_wait_graphql "http://127.0.0.1:$port/graphql" "orgpulse (log $log)" -H "Authorization: Bearer $token"
}

# ---------------------------------------------------------------- node

# op_secret NAME FILE WHAT - export NAME: its value from the environment
# when set, else the content of .data/FILE, where 32 random bytes (hex)
# are written on the first run (mode 600), so that a checkout keeps its
# API token and JWT secret across runs.
op_secret() {
	local name="$1" file="$OP_DATA_DIR/$2" what="$3"
	if [[ -z "${!name:-}" ]]; then
		if [[ ! -s "$file" ]]; then
			op_log "generating $what in .data/$2"
			(
				umask 077
				od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$file"
			)
		fi
		chmod 600 "$file"
		printf -v "$name" '%s' "$(<"$file")"
	fi
	export "${name?}"
}

# op_ensure_node_modules runs `npm ci` when package.json exists and
# node_modules is missing or older than package-lock.json / package.json.
op_ensure_node_modules() {
	[[ -f "$ROOT/package.json" ]] || return 0
	local stamp="$ROOT/node_modules/.package-lock.json" lock="$ROOT/package-lock.json"
	if [[ -f "$stamp" && ! "$stamp" -ot "$ROOT/package.json" && (! -f "$lock" || ! "$stamp" -ot "$lock") ]]; then
		op_log "node_modules: up to date"
		return 0
	fi
	if ! command -v npm >/dev/null 2>&1; then
		op__apt_install nodejs npm
	fi
	if [[ -f "$lock" ]]; then
		op_log "node_modules: npm ci --no-audit --no-fund (downloads GraphiQL's assets)"
		(cd "$ROOT" && npm ci --no-audit --no-fund) >&2 || op_die "npm ci failed"
	else
		op_warn "package.json has no package-lock.json; running npm install (commit the lock file)"
		(cd "$ROOT" && npm install --no-audit --no-fund) >&2 || op_die "npm install failed"
	fi
}
