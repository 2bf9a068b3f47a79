#!/usr/bin/env bash
# Runs the benchmark scenarios of docs/benchmarks.md: a release build, the server pinned to
# core 0 and the load generator to core 1, PostgreSQL unpinned. One JSON line per run.
#
#   bash bench/run.sh            # every scenario
#   bash bench/run.sh send idle  # some of them
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/agenthub-target}"
cargo build --release --quiet -p agenthub -p agenthub-bench --bins
bin="$CARGO_TARGET_DIR/release"
pg="${BENCH_PG:-postgres://postgres@127.0.0.1:5432}"

fresh_pg() {
  psql "$pg/postgres" -qc 'DROP DATABASE IF EXISTS ahbench' -c 'CREATE DATABASE ahbench' 2>/dev/null
  echo "$pg/ahbench"
}
bench() { taskset -c 1 "$bin/agenthub-bench" --bin "$bin/agenthub" --server-cpu 0 "$@"; }

scenarios=("$@")
[ ${#scenarios[@]} -eq 0 ] && scenarios=(send send1 fanout idle storm cluster stream call)
for s in "${scenarios[@]}"; do
  case "$s" in
    send) bench --database-url "$(fresh_pg)" send; bench send ;;
    send1) bench --database-url "$(fresh_pg)" send --inflight 1; bench send --inflight 1 ;;
    fanout) bench fanout ;;
    idle) bench idle; bench --set MAX_CONNECTIONS=25000 idle --sockets 10000 ;;
    storm) bench storm; bench --database-url "$(fresh_pg)" storm ;;
    cluster) bench --database-url "$(fresh_pg)" cluster ;;
    stream) bench stream; bench --database-url "$(fresh_pg)" stream ;;
    call)
      calls=(--set RATE_LIMIT_WS_EVENTS_PER_SEC=100000 call)
      bench "${calls[@]}"; bench --database-url "$(fresh_pg)" "${calls[@]}" --cross-node ;;
    *) echo "unknown scenario $s (send, send1, fanout, idle, storm, cluster, stream, call)" >&2; exit 2 ;;
  esac
done
