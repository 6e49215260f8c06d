#!/usr/bin/env bash
# scripts/dev.sh [serve args...] - run orgpulse locally with everything it needs.
#
# Starts (or reuses) a project-local PostgreSQL on 127.0.0.1:55432 and Redis on
# 127.0.0.1:56379 under .data/, unless DATABASE_URL / REDIS_URL are given;
# builds .data/orgpulse, migrates, seeds, then serves in the foreground.
# On exit it stops only what it started.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

trap 'op_stop_started || true' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

op_ensure_packages
op_ensure_postgres
if [[ "$OP_PG_EXTERNAL" != 1 ]]; then
	op_create_db orgpulse
	DATABASE_URL="$(op_local_db_url orgpulse)"
fi
export DATABASE_URL
op_ensure_redis
export REDIS_URL
op_ensure_node_modules

if [[ -z "${API_TOKEN:-}" ]]; then
	token_file="$OP_DATA_DIR/api_token"
	if [[ ! -s "$token_file" ]]; then
		op_log "generating an API token in .data/api_token"
		(
			umask 077
			od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$token_file"
		)
	fi
	chmod 600 "$token_file"
	API_TOKEN="$(<"$token_file")"
fi
export API_TOKEN
export DEBUG="${DEBUG:-1}"
export LOG_FORMAT="${LOG_FORMAT:-text}"

op_log "go build -o .data/orgpulse ."
go build -o "$OP_DATA_DIR/orgpulse" .
op_log "orgpulse migrate up"
"$OP_DATA_DIR/orgpulse" migrate up
op_log "orgpulse seed"
"$OP_DATA_DIR/orgpulse" seed

addr="${ADDR:-:8080}"
port="${addr##*:}"
base="http://localhost:${port:-8080}"
cat >&2 <<MSG
==> orgpulse is starting:
      GraphiQL  $base/graphiql
      GraphQL   $base/graphql
      health    $base/healthz
      metrics   $base/metrics
      token     $API_TOKEN
      database  $DATABASE_URL
      redis     $REDIS_URL
==> Ctrl-C to stop
MSG
"$OP_DATA_DIR/orgpulse" serve "$@"
