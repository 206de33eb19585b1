#!/usr/bin/env bash
# Runs B1, commit → client latency (BENCHMARKS.md; release builds of walcast
# and the load harness): walcast serve with 10,000 subscribed sockets over
# 1,000 conversations, pgbench inserting at 1,000 and 5,000 rows/s, and in
# the same run a raw slot reader and a Supabase-style wal2json poller.
#
#   crates/bench/scripts/b1_latency.sh            # full: 10k clients, 1k/s and 5k/s, 10 s warm-up + 30 s each (~2 min)
#   crates/bench/scripts/b1_latency.sh --quick    # smoke run: 1k clients, 1k/s, 2 s + 5 s (~20 s)
#   crates/bench/scripts/b1_latency.sh --help     # every option
#
# Needs root for apt-get (wal2json) and sysctl (port range); run it on a
# quiet machine: PostgreSQL, walcast and the load share the cores.
set -euo pipefail
cd "$(dirname "$0")/../../.."
if [ ! -e /usr/lib/postgresql/15/lib/wal2json.so ]; then
    apt-get install -y -q postgresql-15-wal2json >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q postgresql-15-wal2json >/dev/null; }
fi
sysctl -q -w net.ipv4.ip_local_port_range="1024 65000" || true
cargo build --release --quiet -p walcast -p bench --bin walcast --bin load
exec "${CARGO_TARGET_DIR:-target}/release/load" b1 "$@"
