#!/usr/bin/env bash
# Run every example operation in scripts/curl against a running orgpulse
# (ORGPULSE_URL, default http://localhost:8080). Fails on any GraphQL error.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
err=$(mktemp)
trap 'rm -f "$err"' EXIT
failed=0
for f in "$here"/*.graphql; do
  name=$(basename "$f" .graphql)
  vars='{}'
  [ -f "$here/$name.json" ] && vars=$(cat "$here/$name.json")
  if out=$("$here/query.sh" "$f" "$vars" 2>"$err"); then
    echo "ok    $name"
  else
    echo "FAIL  $name: $(cat "$err" - <<<"$out" | head -c 400)"
    failed=$((failed + 1))
  fi
done
if [ "$failed" -gt 0 ]; then
  echo "$failed operation(s) failed" >&2
  exit 1
fi
echo "all operations answered without errors"
