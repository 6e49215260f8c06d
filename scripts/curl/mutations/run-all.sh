#!/usr/bin/env bash
# Run every mutation once against a running orgpulse, each feeding the next
# its ids: create two organizations, an employee and a project, staff the
# project, change them, record a metric, delete the employee and deactivate
# the organizations. Needs the API token (API_TOKEN or .data/api_token, as
# scripts/dev.sh writes it).
#
# What each run leaves: the API has no deleteOrganization or deleteProject,
# so the two organizations stay (inactive: allOrganizations no longer lists
# them) with the project (completed), and the metric sample stays until
# retention. `orgpulse seed --reset` starts the data afresh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
q="$here/../query.sh"
stamp=$(date +%s%N)

# id_of FIELD JSON: the first "id" after "FIELD" in a response (no jq needed).
id_of() { printf '%s' "$2" | tr -d ' \n' | sed -n "s/.*\"$1\":{\"id\":\"\([0-9]*\)\".*/\1/p"; }

run() {
  local name=$1 vars=$2 out
  out=$("$q" "$here/$name.graphql" "$vars") || { echo "FAIL  $name: $out" >&2; exit 1; }
  echo "ok    $name" >&2
  printf '%s' "$out"
}

org=$(id_of createOrganization "$(run create-organization "{\"name\":\"Curl Co $stamp\"}")")
other=$(id_of createOrganization "$(run create-organization "{\"name\":\"Curl Co $stamp B\"}")")
run update-organization "{\"id\":$org,\"name\":\"Curl Co $stamp renamed\"}" >/dev/null
emp=$(id_of createEmployee "$(run create-employee "{\"organizationId\":$org,\"email\":\"ada.$stamp@curl.example\"}")")
proj=$(id_of createProject "$(run create-project "{\"organizationId\":$org}")")
run add-team-member "{\"projectId\":$proj,\"employeeId\":$emp}" >/dev/null
run remove-team-member "{\"projectId\":$proj,\"employeeId\":$emp}" >/dev/null
run update-project "{\"id\":$proj,\"status\":\"completed\"}" >/dev/null
run update-employee "{\"id\":$emp,\"salary\":190000,\"organizationId\":$other}" >/dev/null
run record-metric '{}' >/dev/null
run delete-employee "{\"id\":$emp}" >/dev/null
run update-organization "{\"id\":$org,\"isActive\":false}" >/dev/null
run update-organization "{\"id\":$other,\"isActive\":false}" >/dev/null
echo "all mutations succeeded; left behind (no deleteOrganization/deleteProject in the API):"
echo "  organizations $org and $other (deactivated), project $proj (completed) and one api_response sample"
