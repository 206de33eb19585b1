#!/usr/bin/env bash
# Makes sure a Rust toolchain and a C compiler (for the `ring` crypto crate)
# are present; installs the C compiler from Debian when missing. Sourced by
# scripts/dev and scripts/test.
set -euo pipefail

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

if ! command -v cc >/dev/null 2>&1; then
    echo "walcast: installing a C compiler (apt-get install -y build-essential)" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq build-essential pkg-config >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    else
        echo "walcast: installing Rust with rustup (https://rustup.rs)" >&2
        command -v curl >/dev/null 2>&1 || { $SUDO apt-get update -qq; $SUDO apt-get install -y -qq curl >/dev/null; }
        curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component rustfmt,clippy
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
fi
