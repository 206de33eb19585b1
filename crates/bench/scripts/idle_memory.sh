#!/usr/bin/env bash
# Runs the idle-memory benchmark (BENCHMARKS.md, B4; release build): user-space
# memory per idle WebSocket connection joined to one filtered channel, for
# walcast's own upgrade and, in the same run, warp's ws() as the baseline.
#
#   crates/bench/scripts/idle_memory.sh                      # 10,000 connections, both paths (~3 min)
#   crates/bench/scripts/idle_memory.sh --connections 2000 --idle-seconds 5   # smoke run
#   crates/bench/scripts/idle_memory.sh --help               # every option
#
# The server and each load process (at most 9,000 sockets) are separate
# processes: the fd limit here is 20,000 per process.
set -euo pipefail
cd "$(dirname "$0")/../../.."
cargo build --release --quiet -p bench --bin idle-memory
exec "${CARGO_TARGET_DIR:-target}/release/idle-memory" run "$@"
