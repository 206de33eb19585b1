#!/usr/bin/env bash
# Runs B7, B3 with authorization on (BENCHMARKS.md): the same fan-out ramp
# against walcast with the open configuration and, in the same run, walcast
# with the product configuration config/walcast.toml, the clients joining
# as agents ({role: "agent", sub, tenant_id, exp}) the routed topic
# conversation:<id>:messages (a SQL check per join, a row policy per change).
#
#   crates/bench/scripts/b7_policies.sh            # full: K = 1k, 10k, 19k (~7 min)
#   crates/bench/scripts/b7_policies.sh --quick    # smoke run: 500 subscribers, two low steps (~25 s)
set -euo pipefail
B3_DEFAULT_SERVERS=walcast,walcast-policies exec "$(dirname "$0")/b3_fanout.sh" "$@"
