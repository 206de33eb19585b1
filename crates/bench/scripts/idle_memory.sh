#!/usr/bin/env bash
# Runs the idle-memory benchmark (BENCHMARKS.md, B4; release build): user-space
# memory per idle WebSocket connection joined to one filtered channel, for
# walcast and, in the same run, two baselines: the stack's floor (walcast's
# socket model: one tokio task per socket holding its TcpStream, answering
# the upgrade and the join, no session, hub or router; walcast − floor is
# walcast's own state) and warp's
# ws() (tungstenite's buffers under walcast's session).
#
#   crates/bench/scripts/idle_memory.sh                      # 10,000 connections, all three paths (~4 min)
#   crates/bench/scripts/idle_memory.sh --paths walcast,floor            # a comma list of paths
#   crates/bench/scripts/idle_memory.sh --paths both         # walcast and warp ws(), as before the floor
#   crates/bench/scripts/idle_memory.sh --connections 2000 --idle-seconds 5 --paths walcast   # smoke run
#   crates/bench/scripts/idle_memory.sh --help               # every option
#
# --paths takes all (default), both, walcast, floor, warp, or a comma list of them.
#
# The server and each load process (at most 9,000 sockets) are separate
# processes: the fd limit here is 20,000 per process.
set -euo pipefail
cd "$(dirname "$0")/../../.."
cargo build --release --quiet -p bench --bin idle-memory
exec "${CARGO_TARGET_DIR:-target}/release/idle-memory" run "$@"
