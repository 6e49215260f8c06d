#!/usr/bin/env bash
# scripts/dev.sh [serve args...] - run orgpulse locally with everything it needs.
#
# Starts (or reuses) a project-local PostgreSQL on 127.0.0.1:15432 and Redis on
# 127.0.0.1:16379 under .data/, unless DATABASE_URL / REDIS_URL are given;
# builds .data/orgpulse, migrates, seeds, then serves in the foreground.
# On exit it stops only what it started.
#
# It listens on 127.0.0.1:8080 only: DEBUG (SQL in responses) and
# introspection are on. ADDR=:8080 scripts/dev.sh opens it to the network.
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

op_secret API_TOKEN api_token "an API token"
# Every operation needs a bearer token (ANONYMOUS_ROLE=none): JWTs are
# signed with a secret of this checkout's, made on the first run.
op_secret JWT_SECRET jwt_secret "a JWT secret"
export DEBUG="${DEBUG:-1}"
export LOG_FORMAT="${LOG_FORMAT:-text}"

op_log "go build -o .data/orgpulse . (the first build compiles every dependency, silently)"
go build -o "$OP_DATA_DIR/orgpulse" .
op_log "orgpulse migrate up"
"$OP_DATA_DIR/orgpulse" migrate up
op_log "orgpulse seed"
"$OP_DATA_DIR/orgpulse" seed
admin_token="$("$OP_DATA_DIR/orgpulse" token --role admin --ttl 24h --sub dev-admin)"
member_token="$("$OP_DATA_DIR/orgpulse" token --role member --org 1 --ttl 24h --sub dev-member)"
# With DEBUG on (loopback only, see below), GraphiQL's headers editor
# starts with the admin token.
if [[ "$DEBUG" == 1 || "$DEBUG" == true ]]; then
	export GRAPHIQL_TOKEN="${GRAPHIQL_TOKEN:-$admin_token}"
fi

# Loopback only unless ADDR says otherwise: DEBUG answers with the SQL each
# request ran, and introspection is on.
export ADDR="${ADDR:-127.0.0.1:8080}"
port="${ADDR##*:}"
base="http://localhost:${port:-8080}"
case "$ADDR" in
127.0.0.1:* | localhost:* | "[::1]:"*) reach="this machine only; ADDR=:8080 scripts/dev.sh listens on every interface" ;;
*) reach="open to the network, with DEBUG and introspection on: anyone who reaches it sees SQL and the schema" ;;
esac
cat >&2 <<MSG
==> orgpulse is starting:
      GraphiQL  $base/graphiql
      GraphQL   $base/graphql
      health    $base/healthz
      metrics   $base/metrics
      API token $API_TOKEN (admin; also in .data/api_token)
      admin     $admin_token
      member    $member_token (member of organization 1; ORGPULSE_TOKEN=... scripts/curl/query.sh FILE)
      database  $DATABASE_URL
      redis     $REDIS_URL
      listening $ADDR ($reach)
==> Ctrl-C to stop
MSG
"$OP_DATA_DIR/orgpulse" serve "$@"
