#!/usr/bin/env bash
# scripts/test.sh [go test args...] - every check CI runs, in order.
#
# Starts (or reuses) a project-local PostgreSQL and Redis under .data/ unless
# DATABASE_URL / REDIS_URL are given, then: gofmt, go vet, shellcheck,
# sqlc diff/vet, go test -race, and on a full run also scripts/lib_test.sh,
# fuzz targets briefly, every benchmark once, scripts/cluster-test.sh and
# scripts/scale-test.sh.
# Arguments replace ./... for go test and make it a targeted run (no
# lib_test, fuzzing, benchmarks, cluster or scale test), e.g.:
#   scripts/test.sh -run TestX ./resolvers/
# On exit it stops only what it started.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

trap 'op_stop_started || true' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

op_ensure_packages
op_ensure_shellcheck
op_ensure_postgres
if [[ "$OP_PG_EXTERNAL" != 1 ]]; then
	op_create_db orgpulse_test
	DATABASE_URL="$(op_local_db_url orgpulse_test)"
fi
export DATABASE_URL
op_ensure_redis
export REDIS_URL
op_ensure_node_modules

# a. gofmt
op_log "gofmt -l"
go_files=()
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	while IFS= read -r -d '' f; do
		[[ -f "$f" ]] && go_files+=("$f")
	done < <(git ls-files -z -co --exclude-standard -- '*.go')
else
	while IFS= read -r -d '' f; do
		go_files+=("$f")
	done < <(find . \( -name .data -o -name node_modules -o -name .git \) -prune -o -name '*.go' -type f -print0)
fi
if ((${#go_files[@]} > 0)); then
	unformatted="$(gofmt -l -- "${go_files[@]}")" || op_die "gofmt failed (see above)"
	if [[ -n "$unformatted" ]]; then
		printf '%s\n' "$unformatted" >&2
		op_die "these files need gofmt (run: gofmt -w <files>)"
	fi
fi

# b. go vet
op_log "go vet ./..."
go vet ./...

# b2. shellcheck on every script (sourced files followed: -x)
op_log "shellcheck -x scripts/**/*.sh"
sh_files=()
while IFS= read -r -d '' f; do
	sh_files+=("$f")
done < <(find scripts -name '*.sh' -type f -print0 | sort -z)
shellcheck -x -- "${sh_files[@]}" || op_die "shellcheck found problems in scripts/ (above)"
if (($# == 0)); then
	op_log "scripts/lib_test.sh"
	scripts/lib_test.sh
fi

# c. sqlc
if [[ -f sqlc.yaml || -f sqlc.yml || -f sqlc.json ]]; then
	op_log "go tool sqlc diff (the first run compiles sqlc, silently, for a while)"
	go tool sqlc diff || op_die "sqlc generated code is out of date (run: go tool sqlc generate)"
	op_log "go tool sqlc vet"
	go tool sqlc vet
fi

# d. go test
if (($# > 0)); then
	op_log "go test -race -count=1 -timeout 20m $*"
	go test -race -count=1 -timeout 20m "$@"
else
	op_log "go test -race -count=1 -timeout 20m ./..."
	go test -race -count=1 -timeout 20m ./...
fi

# d2. fuzz targets, briefly, on a full run (FUZZTIME=0 skips; each keeps
# its corpus in <package>/testdata/fuzz/<Target>/).
if (($# == 0)) && [[ "${FUZZTIME:-5s}" != 0 ]]; then
	op_log "fuzz targets: each compiles with coverage instrumentation (silent) before fuzzing for ${FUZZTIME:-5s}"
	for target in ./server/:FuzzParsersAgree ./server/:FuzzCost ./server/:FuzzGraphQLHandler; do
		op_log "go test -run '^\$' -fuzz '^${target#*:}\$' -fuzztime ${FUZZTIME:-5s} ${target%%:*}"
		go test -run '^$' -fuzz "^${target#*:}\$" -fuzztime "${FUZZTIME:-5s}" "${target%%:*}"
	done
fi

# d3. every Go benchmark once, on a full run: scripts/bench.sh runs them
# for its section 6, and an assertion in one that no longer holds should
# fail here, not in the middle of a 15-minute benchmark.
if (($# == 0)); then
	op_log "go test -run '^\$' -bench . -benchtime 1x ./..."
	bench_out="$(go test -run '^$' -bench . -benchtime 1x ./... 2>&1)" || {
		printf '%s\n' "$bench_out" >&2
		op_die "a Go benchmark failed (output above)"
	}
fi

# e. further hooks, on a full run
if (($# > 0)); then
	op_log "targeted run: lib_test, fuzzing, benchmarks, scripts/cluster-test.sh and scale-test.sh skipped (run scripts/test.sh without arguments for all)"
elif [[ -x scripts/cluster-test.sh ]]; then
	op_log "scripts/cluster-test.sh"
	scripts/cluster-test.sh
elif [[ -e scripts/cluster-test.sh ]]; then
	op_die "scripts/cluster-test.sh exists but is not executable (chmod +x it)"
fi
# Redis Cluster, Sentinel and PgBouncer (a few minutes; its own ports).
if (($# == 0)); then
	[[ -x scripts/scale-test.sh ]] || op_die "scripts/scale-test.sh is not executable (chmod +x it)"
	op_log "scripts/scale-test.sh"
	scripts/scale-test.sh
fi

op_log "all checks passed"
