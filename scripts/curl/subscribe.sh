#!/usr/bin/env bash
# Watch a GraphQL subscription of a running orgpulse and print each event
# as one JSON line ({"data":...}), until Ctrl-C. The WebSocket equivalent
# of query.sh: it runs `orgpulse subscribe` from this checkout's
# .data/orgpulse (as scripts/dev.sh builds it), running `go build` first
# (quick when nothing changed); without Go, the `orgpulse` on PATH.
# `subscribed` on stderr says the server acknowledged the subscription.
#
#   scripts/curl/subscribe.sh 'subscription { organizationUpdated { id name employeeCount } }'
#   scripts/curl/subscribe.sh 'subscription($org: ID) { employeeChanged(organizationId: $org) { action employee { name } } }' '{"org": "1"}'
#   scripts/curl/subscribe.sh FILE.graphql
#   ORGPULSE_URL=http://localhost:8081 scripts/curl/subscribe.sh 'subscription { metricRecorded { metricType value endpoint } }'
#
# Pipe it to jq for one pretty event at a time: ... | jq .
# ORGPULSE_URL defaults to http://localhost:8080.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

doc=${1:?usage: subscribe.sh DOCUMENT_OR_FILE.graphql [VARIABLES_JSON]}
vars=${2:-}
if [ -f "$doc" ]; then
  doc=$(cat "$doc")
fi
url=${ORGPULSE_URL:-http://localhost:8080}
# The bearer token: ORGPULSE_TOKEN (e.g. a member's, from orgpulse token),
# else API_TOKEN, else .data/api_token (written by dev.sh).
token=${ORGPULSE_TOKEN:-${API_TOKEN:-}}
if [ -z "$token" ] && [ -r "$root/.data/api_token" ]; then
  token=$(cat "$root/.data/api_token")
fi
export ORGPULSE_TOKEN="$token"

args=(subscribe --url "$url")
[ -n "$vars" ] && args+=(--variables "$vars")
args+=("$doc")

bin="$root/.data/orgpulse"
if command -v go >/dev/null 2>&1; then
  # go build decides what is stale and leaves an up-to-date binary alone.
  echo "==> go build -o .data/orgpulse . (quick when up to date; the first build compiles every dependency, silently)" >&2
  mkdir -p "$root/.data"
  (cd "$root" && go build -o "$bin" .)
elif command -v orgpulse >/dev/null 2>&1; then
  bin=$(command -v orgpulse)
else
  echo "subscribe.sh: neither Go (to build .data/orgpulse) nor orgpulse on PATH" >&2
  exit 1
fi
exec "$bin" "${args[@]}"
