#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed (/usr/bin/chromium) for the
# browser test in tests/browser; installs the `chromium` package when it is
# not. Browser test tools cannot download a browser of their own here.
# Sourced by scripts/test.
set -euo pipefail

if [ ! -x /usr/bin/chromium ]; then
    echo "walcast: installing Chromium (apt-get install -y chromium)" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
