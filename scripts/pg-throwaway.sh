#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests (see shared TESTING.md), run as root.
#
#   scripts/pg-throwaway.sh CMD [ARGS...]
#       starts a cluster on 127.0.0.1, runs CMD with LABLEDGER_TEST_PG_ADMIN_URL set,
#       stops the cluster and removes its directory, and exits with CMD's status.
#
#   source scripts/pg-throwaway.sh; pg_throwaway_start
#       the same from inside another script: exports LABLEDGER_TEST_PG_ADMIN_URL and installs
#       an EXIT trap that stops the cluster (pg_throwaway_stop may also be called directly).
#
# PGPORT picks the first port to try (default 54329); a busy port moves on to the next one.
# Test-only settings: fsync=off, synchronous_commit=off, max_connections=300. Never benchmark on it.

pg_throwaway_bin() {
    local dir
    dir=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n1)
    if [[ -z "$dir" || ! -x "$dir/initdb" || ! -x "$dir/pg_ctl" ]]; then
        echo "pg-throwaway: no PostgreSQL server binaries under /usr/lib/postgresql/*/bin" \
            "(apt-get install -y postgresql)" >&2
        return 1
    fi
    printf '%s\n' "$dir"
}

# True when something accepts TCP connections on 127.0.0.1:$1.
pg_throwaway_port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pg_throwaway_stop() {
    if [[ -n "${PG_THROWAWAY_ROOT:-}" && -d "$PG_THROWAWAY_ROOT" ]]; then
        if [[ -f "$PG_THROWAWAY_ROOT/data/postmaster.pid" ]]; then
            (cd "$PG_THROWAWAY_ROOT" && runuser -u postgres -- "$PG_THROWAWAY_BIN/pg_ctl" \
                -D "$PG_THROWAWAY_ROOT/data" -m immediate -w -t 30 stop >/dev/null 2>&1) ||
                echo "pg-throwaway: pg_ctl stop failed" >&2
        fi
        rm -rf "$PG_THROWAWAY_ROOT"
        echo "pg-throwaway: cluster stopped and $PG_THROWAWAY_ROOT removed" >&2
    fi
    PG_THROWAWAY_ROOT=
}

pg_throwaway_start() {
    if [[ $(id -u) -ne 0 ]]; then
        echo "pg-throwaway: must run as root (it runs the server as the postgres user via runuser)" >&2
        return 1
    fi
    if ! id postgres >/dev/null 2>&1; then
        echo "pg-throwaway: no postgres user (apt-get install -y postgresql)" >&2
        return 1
    fi
    PG_THROWAWAY_BIN=$(pg_throwaway_bin) || return 1
    PG_THROWAWAY_ROOT=$(mktemp -d -t pgtest.XXXXXX)
    trap pg_throwaway_stop EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    chown postgres:postgres "$PG_THROWAWAY_ROOT"
    chmod 700 "$PG_THROWAWAY_ROOT"

    # cd into the cluster dir so the postgres user never starts in a directory it cannot read.
    if ! (cd "$PG_THROWAWAY_ROOT" && runuser -u postgres -- "$PG_THROWAWAY_BIN/initdb" \
        -D "$PG_THROWAWAY_ROOT/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
        >"$PG_THROWAWAY_ROOT/initdb.log" 2>&1); then
        echo "pg-throwaway: initdb failed:" >&2
        cat "$PG_THROWAWAY_ROOT/initdb.log" >&2
        return 1
    fi

    local port=${PGPORT:-54329} tries=0 started=
    while ((tries < 20)); do
        tries=$((tries + 1))
        if pg_throwaway_port_busy "$port"; then
            port=$((port + 1))
            continue
        fi
        if (cd "$PG_THROWAWAY_ROOT" && runuser -u postgres -- "$PG_THROWAWAY_BIN/pg_ctl" \
            -D "$PG_THROWAWAY_ROOT/data" -l "$PG_THROWAWAY_ROOT/server.log" -w -t 30 \
            -o "-p $port -k $PG_THROWAWAY_ROOT -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
            start >/dev/null); then
            started=1
            break
        fi
        # Lost a race for the port (or another start failure): show why, then try the next port.
        tail -n 5 "$PG_THROWAWAY_ROOT/server.log" >&2 || true
        port=$((port + 1))
    done
    if [[ -z "$started" ]]; then
        echo "pg-throwaway: could not start PostgreSQL (log: $PG_THROWAWAY_ROOT/server.log)" >&2
        cat "$PG_THROWAWAY_ROOT/server.log" >&2 || true
        return 1
    fi

    export LABLEDGER_TEST_PG_ADMIN_URL="postgres://postgres@127.0.0.1:$port/postgres"
    echo "pg-throwaway: PostgreSQL $("$PG_THROWAWAY_BIN/postgres" --version | awk '{print $3}') up at" \
        "$LABLEDGER_TEST_PG_ADMIN_URL (dir $PG_THROWAWAY_ROOT)" >&2
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    if [[ $# -eq 0 ]]; then
        echo "usage: $0 CMD [ARGS...]" >&2
        exit 2
    fi
    pg_throwaway_start
    status=0
    "$@" || status=$?
    exit "$status"
fi
