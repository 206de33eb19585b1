#!/usr/bin/env bash
# Makes sure Node.js and npm are installed (Debian's packages) for the demo
# pages in web/ and the JavaScript tests. Sourced by scripts/dev and
# scripts/test.
set -euo pipefail

if ! command -v npm >/dev/null 2>&1; then
    echo "walcast: installing Node.js (apt-get install -y nodejs npm)" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
fi

# Installs a directory's locked npm packages when they are missing or
# older than its package-lock.json.
npm_ci_once() {
    if [ ! -f "$1/node_modules/.package-lock.json" ] || [ "$1/package-lock.json" -nt "$1/node_modules/.package-lock.json" ]; then
        (cd "$1" && npm ci --no-audit --no-fund --loglevel=error)
    fi
}
