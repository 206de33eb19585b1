#!/usr/bin/env bash
# Runs the drain benchmark (release build): walcast and pg_recvlogical each
# empty an identical pre-filled slot, in the same run on the same server.
#
#   crates/bench/scripts/drain.sh            # full: 400k x 1 row, 80k x 10 rows, 5 rounds (~5 min)
#   crates/bench/scripts/drain.sh --quick    # smoke run, about 20 s
#   crates/bench/scripts/drain.sh --help     # every option
#
# Run it on a quiet machine: the walsender, the client and the benchmark
# share the cores, so any other load shows up in the figures.
set -euo pipefail
cd "$(dirname "$0")/../../.."
exec cargo run --release --quiet -p bench --bin drain -- "$@"
