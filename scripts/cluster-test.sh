#!/usr/bin/env bash
# scripts/cluster-test.sh - the horizontal-scale test (run by scripts/test.sh).
#
# Starts 3 replicas behind nginx with scripts/cluster.sh's functions, on ports
# of their own (nginx 24080, replicas 24081-24083, or the next free block;
# CLUSTER_TEST_PORT moves them), database orgpulse_cluster_test and Redis key prefix
# {orgpulse-cluster-test}:, so it never meets dev.sh, test.sh or a
# cluster.sh cluster. Then cmd/clustertest drives it: subscriptions across
# replicas, the shared cache through every replica, a rolling restart under
# load with zero failed requests, SIGKILL of a replica. Everything it
# started is stopped on exit, also on failure or Ctrl-C. About a minute.
set -euo pipefail

# shellcheck source=scripts/cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster.sh"
cd "$ROOT"

# nginx on base, replicas on base+1..base+3: the first block of four free
# ports from CLUSTER_TEST_PORT (24080) on, in steps of 100.
base="${CLUSTER_TEST_PORT:-24080}"
for ((try = 0; try < 10; try++)); do
	busy=0
	for ((p = base; p <= base + 3; p++)); do
		if cluster__port_busy "$p"; then busy=1; fi
	done
	((busy)) || break
	op_log "ports $base-$((base + 3)) are partly taken; trying $((base + 100))"
	base=$((base + 100))
done
export CLUSTER_PORT="$base"
export CLUSTER_REPLICA_PORT="$((CLUSTER_PORT + 1))"
export CLUSTER_DIR="$OP_DATA_DIR/cluster-test"
export CLUSTER_DB=orgpulse_cluster_test
export REDIS_PREFIX='{orgpulse-cluster-test}:'
export SHUTDOWN_DRAIN=2s SHUTDOWN_TIMEOUT=15s
# The driver compares stored samples with answered requests, reads cache
# hits from X-Debug, and reads the replicas' logs.
export METRICS_SAMPLE_RATE=1 METRICS_FLUSH_INTERVAL=1s DEBUG=1 LOG_FORMAT=text LOG_LEVEL=info
unset CLUSTER_DATABASE_URL

driver=""
cleanup() {
	if [[ -n "$driver" ]]; then
		kill -TERM "$driver" 2>/dev/null || true
		wait "$driver" 2>/dev/null || true
	fi
	cluster_down
	op_stop_started || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

started=$SECONDS
cluster_up 3
cluster_print

op_log "go build -o ${CLUSTER_DIR#"$ROOT"/}/clustertest ./cmd/clustertest"
go build -o "$CLUSTER_DIR/clustertest" ./cmd/clustertest

# In the background, so that a signal to this script is handled at once
# (bash runs traps only between foreground commands): cleanup stops it.
rc=0
"$CLUSTER_DIR/clustertest" -state "$CLUSTER_DIR" -script "$ROOT/scripts/cluster.sh" -drain "$SHUTDOWN_DRAIN" &
driver=$!
wait "$driver" || rc=$?
driver=""
if ((rc != 0)); then
	op_warn "cluster test failed; logs: $CLUSTER_DIR/replica-*.log, $CLUSTER_NGINX_PREFIX/logs/"
	if [[ -s "$CLUSTER_NGINX_PREFIX/logs/error.log" ]]; then
		printf '==> tail of %s\n' "$CLUSTER_NGINX_PREFIX/logs/error.log" >&2
		tail -n 20 "$CLUSTER_NGINX_PREFIX/logs/error.log" >&2
	fi
	exit "$rc"
fi
op_log "cluster test passed in $((SECONDS - started))s (with set-up)"
