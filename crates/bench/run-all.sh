#!/usr/bin/env bash
# Runs every LabLedger benchmark in sequence (about 10 minutes on the 2-core machine, more while it waits for a quiet moment) and prints
# what BENCHMARKS.md quotes. Run from the repository root, as root (PostgreSQL runs as `postgres`):
#   cargo build --release -p labledger-bench -p labledger && bash crates/bench/run-all.sh | tee bench.log
set -euo pipefail
B=${B:-target/release/labledger-bench}
REPS=${REPS:-3}
VERIFY_EVENTS=${VERIFY_EVENTS:-1000000}
VERIFY_DIR=${VERIFY_DIR:-/tmp/labbench-verify-$VERIFY_EVENTS}

QUIET_LOAD=${QUIET_LOAD:-1.5}   # wait for the 1-minute load average to fall below this…
QUIET_WAIT=${QUIET_WAIT:-120}   # …for at most this many seconds before each step (the box is shared)

wait_quiet() {
  local waited=0
  while awk -v max="$QUIET_LOAD" '{ exit !($1 >= max) }' /proc/loadavg && [ "$waited" -lt "$QUIET_WAIT" ]; do
    sleep 5; waited=$((waited + 5))
  done
}
step() {
  wait_quiet
  echo; echo "### $* (load before: $(cut -d' ' -f1-3 /proc/loadavg))"; echo "\$ $*"
  "$@"
  echo "(load after: $(cut -d' ' -f1 /proc/loadavg))"
}

echo "# $(date -u +%FT%TZ) $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates/store crates/domain || echo ' (store/domain modified in the work tree)'), $(nproc) cores"

# SQLite, synchronous=FULL: the bare INSERT+COMMIT baseline and audited appends through the store,
# interleaved and repeated, so each repetition compares figures taken under the same load.
for i in $(seq "$REPS"); do
  step $B raw-sqlite --seconds 10 --sync full
  step $B append --engine sqlite --sync full --seconds 10 --concurrency 1
  step $B append --engine sqlite --sync full --seconds 10 --concurrency 64
  step $B append --engine sqlite --sync full --seconds 10 --concurrency 64 --op sample
done
# What one writer can do per driver: the store's statements for one audited update, 64 per commit.
step $B raw-sqlite --seconds 10 --sync full --shape audit --per-tx 64
step $B raw-sqlite --seconds 10 --sync full --shape audit --per-tx 64 --driver rusqlite
step $B raw-sqlite --seconds 10 --sync full --driver rusqlite
# Cost of reading every role of the org in update_role: 64 writers on 1 role instead of 64.
step $B append --engine sqlite --sync full --seconds 10 --concurrency 64 --roles 1
# synchronous=NORMAL (operator opt-in).
step $B raw-sqlite --seconds 10 --sync normal
step $B append --engine sqlite --sync normal --seconds 10 --concurrency 1
step $B append --engine sqlite --sync normal --seconds 10 --concurrency 64

# PostgreSQL: a throwaway cluster per run, default durable settings. First the disk's flush rate,
# the bound of one org's appends (each holds the org's chain-head row lock through its commit).
step /usr/lib/postgresql/15/bin/pg_test_fsync -s 2 -f /tmp/labbench-pg_test_fsync.out
step $B append --engine postgres --seconds 10 --concurrency 1
step $B append --engine postgres --seconds 10 --concurrency 64
step $B append --engine postgres --seconds 10 --concurrency 64 --orgs 16

# Verify: the chain is kept in $VERIFY_DIR between runs (filled once).
step $B verify --events "$VERIFY_EVENTS" --data-dir "$VERIFY_DIR" --pg on

step $B idle-rss --starts 3
