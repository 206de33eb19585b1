#!/usr/bin/env bash
# Makes sure PostgreSQL server binaries (initdb, pg_ctl, postgres) and the
# client tools (psql, pg_recvlogical) are installed; installs Debian's
# `postgresql` package when they are not. Sourced by scripts/dev and
# scripts/test.
set -euo pipefail

have_server() {
    local bindir
    if command -v pg_config >/dev/null 2>&1; then
        bindir=$(pg_config --bindir 2>/dev/null || true)
        [ -x "$bindir/initdb" ] && [ -x "$bindir/pg_ctl" ] && return 0
    fi
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && return 0
    command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1
}

if ! have_server || ! command -v psql >/dev/null 2>&1; then
    echo "walcast: installing PostgreSQL (apt-get install -y postgresql postgresql-contrib)" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql postgresql-contrib >/dev/null
    # Debian starts a system cluster on install; walcast runs its own.
fi
