#!/usr/bin/env bash
# Runs B5, connect + token + join churn and joins on open sockets
# (BENCHMARKS.md; release builds): open-loop load against walcast serve
# (with its database) and, alternating ABBA per rate in the same run,
# against a trivial ack server (the box's ceiling for the same exchange).
#
#   crates/bench/scripts/b5_churn.sh            # full: churn 2k..20k/s, joins 20k..200k/s, 2 s + 10 s per step (~6 min)
#   crates/bench/scripts/b5_churn.sh --quick    # smoke run: one low rate of each (~45 s)
#   crates/bench/scripts/b5_churn.sh --ramp-up --tests churn --churn-rates 20000 --seconds 6
#                                               # the 20k/s goal: churn rising to its rate over the warm-up (~45 s)
#   crates/bench/scripts/b5_churn.sh --help     # every option
#
# Needs root for sysctl (port range, listen backlog).
set -euo pipefail
cd "$(dirname "$0")/../../.."
sysctl -q -w net.ipv4.ip_local_port_range="1024 65000" || true
sysctl -q -w net.core.somaxconn=65535 net.ipv4.tcp_max_syn_backlog=65535 || true
cargo build --release --quiet -p walcast -p bench --bin walcast --bin load
exec "${CARGO_TARGET_DIR:-target}/release/load" b5 "$@"
