#!/usr/bin/env bash
# Watch a GraphQL subscription of a running orgpulse and print each event
# as one JSON line ({"data":...}), until Ctrl-C. The WebSocket equivalent
# of query.sh: it runs `orgpulse subscribe` (the binary on PATH, or
# `go run .` from this checkout).
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

args=(subscribe --url "$url")
[ -n "$vars" ] && args+=(--variables "$vars")
args+=("$doc")

if command -v orgpulse >/dev/null 2>&1; then
  exec orgpulse "${args[@]}"
fi
cd "$root"
exec go run . "${args[@]}"
