#!/usr/bin/env bash
# Send one GraphQL operation to a running orgpulse with curl and print the
# response. Exits non-zero when the response carries GraphQL errors.
#
#   scripts/curl/query.sh scripts/curl/all-employees.graphql
#   scripts/curl/query.sh scripts/curl/employee.graphql '{"id": 1}'
#   ORGPULSE_URL=http://localhost:8081 DEBUG=1 scripts/curl/query.sh FILE
#
# ORGPULSE_URL defaults to http://localhost:8080. DEBUG=1 sends X-Debug: 1
# (the server must run with DEBUG on, as scripts/dev.sh does) so the
# response lists every SQL statement the request ran; without it a query
# may be answered from the whole-response cache, and X-Orgpulse-Cache
# (hit or miss) is printed on stderr. The bearer token (every operation
# needs one) is ORGPULSE_TOKEN (e.g. a member's, printed by dev.sh or
# orgpulse token), else API_TOKEN, else .data/api_token (written by dev.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

file=${1:?usage: query.sh FILE.graphql [VARIABLES_JSON]}
vars=${2:-}
[ -n "$vars" ] || vars='{}'
url=${ORGPULSE_URL:-http://localhost:8080}/graphql
token=${ORGPULSE_TOKEN:-${API_TOKEN:-}}
if [ -z "$token" ] && [ -r "$root/.data/api_token" ]; then
  token=$(cat "$root/.data/api_token")
fi

# JSON-encode the document without jq: escape backslashes, quotes, tabs and
# newlines.
query=$(sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\t/\\t/g' "$file" | awk '{printf "%s\\n", $0}')
body=$(printf '{"query":"%s","variables":%s}' "$query" "$vars")

headers=(-H 'Content-Type: application/json')
[ -n "$token" ] && headers+=(-H "Authorization: Bearer $token")
[ "${DEBUG:-}" = 1 ] && headers+=(-H 'X-Debug: 1')

hdrs=$(mktemp)
trap 'rm -f "$hdrs"' EXIT
out=$(curl -sS --fail-with-body -D "$hdrs" "${headers[@]}" --data-binary "$body" "$url") || {
  echo "$out" >&2
  exit 1
}
# A query answered whole from the response cache says so (stderr, so the
# JSON on stdout stays clean).
cache=$(tr -d '\r' <"$hdrs" | sed -n 's/^[Xx]-[Oo]rgpulse-[Cc]ache: *//p')
[ -n "$cache" ] && echo "X-Orgpulse-Cache: $cache" >&2
if command -v jq >/dev/null 2>&1; then
  echo "$out" | jq .
else
  echo "$out"
fi
if printf '%s' "$out" | grep -q '"errors"'; then
  exit 1
fi
