#!/usr/bin/env bash
# Runs B3, hot-conversation fan-out (BENCHMARKS.md; release builds): one
# conversation with 1,000, 10,000 and 19,000 subscribed sockets, an
# open-loop writer ramped in steps of deliveries/s until p99 > 25 ms or a
# loss, against walcast serve and, in the same run with the same clients,
# Bun.serve + server.publish and Node ws (fed by a WebSocket publisher, no
# PostgreSQL on their path).
#
#   crates/bench/scripts/b3_fanout.sh            # full: K = 1k, 10k, 19k; walcast, Bun, Node ws (~10 min)
#   crates/bench/scripts/b3_fanout.sh --quick    # smoke run: 500 subscribers, two low steps (~40 s)
#   crates/bench/scripts/b3_fanout.sh --servers walcast,walcast-policies,bun,node-ws   # B3 and B7 in one run
#   crates/bench/scripts/b3_fanout.sh --help     # every option
#
# Installs the baselines' npm packages (bun, ws) into crates/bench/baselines
# when missing. Needs root for sysctl (port range).
set -euo pipefail
cd "$(dirname "$0")/../../.."
baselines=crates/bench/baselines
if [ ! -x "$baselines/node_modules/bun/bin/bun.exe" ] || [ ! -d "$baselines/node_modules/ws" ]; then
    # --foreground-scripts is not needed: the bun package ships the binary
    # as bin/bun.exe through its optional platform dependency.
    npm install --prefix "$baselines" --no-audit --no-fund --silent
fi
sysctl -q -w net.ipv4.ip_local_port_range="1024 65000" || true
cargo build --release --quiet -p walcast -p bench --bin walcast --bin load
if [ "${B3_DEFAULT_SERVERS:-}" != "" ] && [[ " $* " != *" --servers"* ]]; then
    set -- --servers "$B3_DEFAULT_SERVERS" "$@"
fi
exec "${CARGO_TARGET_DIR:-target}/release/load" b3 "$@"
