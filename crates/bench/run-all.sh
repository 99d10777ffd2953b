#!/usr/bin/env bash
# Runs every LabLedger benchmark in sequence (about 8 minutes on the 2-core machine) and prints
# what BENCHMARKS.md quotes. Run from the repository root, as root (PostgreSQL runs as `postgres`):
#   cargo build --release -p labledger-bench -p labledger && bash crates/bench/run-all.sh | tee bench.log
set -euo pipefail
B=${B:-target/release/labledger-bench}
REPS=${REPS:-3}
VERIFY_EVENTS=${VERIFY_EVENTS:-200000}
VERIFY_DIR=${VERIFY_DIR:-/tmp/labbench-verify-$VERIFY_EVENTS}

step() { echo; echo "### $* (load: $(cut -d' ' -f1-3 /proc/loadavg))"; echo "\$ $*"; "$@"; }

echo "# $(date -u +%FT%TZ) $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates/store crates/domain || echo ' (store/domain modified in the work tree)'), $(nproc) cores"

# Baselines: no store in between.
step $B raw-sqlite --seconds 10 --sync full
step $B raw-sqlite --seconds 10 --sync normal
step $B raw-sqlite --seconds 10 --sync full --driver rusqlite
step $B raw-sqlite --seconds 10 --sync full --shape audit --per-tx 64
step $B raw-sqlite --seconds 10 --sync full --shape audit --per-tx 64 --driver rusqlite

# Audited appends through the store, SQLite.
for i in $(seq "$REPS"); do
  step $B append --engine sqlite --sync full --seconds 10 --concurrency 1
  step $B append --engine sqlite --sync full --seconds 10 --concurrency 64
done
step $B append --engine sqlite --sync normal --seconds 10 --concurrency 1
step $B append --engine sqlite --sync normal --seconds 10 --concurrency 64
step $B append --engine sqlite --sync full --seconds 10 --concurrency 64 --roles 1

# PostgreSQL: a throwaway cluster per run, default durable settings.
step $B append --engine postgres --seconds 10 --concurrency 1
step $B append --engine postgres --seconds 10 --concurrency 64
step $B append --engine postgres --seconds 10 --concurrency 64 --orgs 16

# Verify: the chain is kept in $VERIFY_DIR between runs (filled once).
step $B verify --events "$VERIFY_EVENTS" --data-dir "$VERIFY_DIR"

step $B idle-rss --starts 3
