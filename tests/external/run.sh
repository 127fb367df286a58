#!/usr/bin/env bash
# The external-services stage (issue 23): the stack on what a user already has. It starts, outside
# the stack and on other ports and data folders, a Kafka broker (127.0.0.1:29092) and a PostgreSQL
# (127.0.0.1:25432, its own role and database, a password in the URL), puts the project's Dapr
# 1.18 binaries in a folder of their own as a user's `~/.dapr/bin` would be, and runs
#
#   TODO_KAFKA_BROKERS=127.0.0.1:29092 TODO_DATABASE_URL=postgresql://... TODO_DAPR_BIN=<dir> ./dev up
#
# then the end-to-end smoke tests and tests/external (topics, schema, effects on the external
# services, nothing embedded started, the sidecars run the given daprd), then `./dev down` and
# `./dev clean`, and checks that both external services still run and kept their data. It stops
# them at the end. Needs no stack running (the dev stack's ports are used).
#
#   tests/external/run.sh [pytest arguments for tests/external]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${TODO_EVENTS_CACHE:-$HOME/.cache/todo-events}"
PY="$CACHE/venv/bin/python"
WORK="$CACHE/external-test"               # Kafka's data, logs, the "user's" Dapr folder
PGDIR=/var/lib/todo-events/external-test-pg # reachable by user postgres
KPORT=29092 KCPORT=29093 PGPORT=25432

say() { printf 'external stage: %s\n' "$*"; }
die() { printf 'external stage: ERROR: %s\n' "$*" >&2; exit 1; }

"$ROOT/dev" status >/dev/null 2>&1 && die "a dev stack is running: ./dev down first (this stage starts its own)"
rm -rf "$WORK" "$PGDIR"
mkdir -p "$WORK/logs" "$WORK/dapr-bin"

kafka_pid="" pg_pid="" status=0
cleanup() {
    trap - EXIT INT TERM
    "$ROOT/dev" down >/dev/null 2>&1 || true
    [ -n "$kafka_pid" ] && { kill -TERM -- "-$kafka_pid" 2>/dev/null || true; }
    [ -n "$pg_pid" ] && { kill -INT -- "-$pg_pid" 2>/dev/null || true; }
    for _ in $(seq 1 60); do
        { [ -z "$kafka_pid" ] || ! kill -0 "$kafka_pid" 2>/dev/null; } &&
            { [ -z "$pg_pid" ] || ! kill -0 "$pg_pid" 2>/dev/null; } && break
        sleep 0.5
    done
    [ -n "$kafka_pid" ] && { kill -KILL -- "-$kafka_pid" 2>/dev/null || true; }
    [ -n "$pg_pid" ] && { kill -KILL -- "-$pg_pid" 2>/dev/null || true; }
    rm -rf "$PGDIR"
    exit "$status"
}
trap cleanup EXIT
trap 'status=130; cleanup' INT TERM

# The "user's" Kafka: its own ports and data folder.
say "starting Kafka on 127.0.0.1:$KPORT (data $WORK/kafka)"
KAFKA_PORT=$KPORT KAFKA_CONTROLLER_PORT=$KCPORT setsid "$ROOT/tools/kafka/kafka.sh" start "$WORK/kafka" "$WORK/logs/kafka-broker.log" \
    >"$WORK/logs/kafka.out" 2>&1 </dev/null &
kafka_pid=$!
KAFKA_PORT=$KPORT KAFKA_CONTROLLER_PORT=$KCPORT KAFKA_PID=$kafka_pid "$ROOT/tools/kafka/kafka.sh" wait 90 >/dev/null ||
    { tail -n 20 "$WORK/logs/kafka.out" >&2; die "the external Kafka did not start"; }

# The "user's" PostgreSQL: its own cluster, port, role and database.
say "starting PostgreSQL on 127.0.0.1:$PGPORT (data $PGDIR)"
bindir="$(dirname "$(ls /usr/lib/postgresql/*/bin/postgres | sort -V | tail -n 1)")"
as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
mkdir -p "$PGDIR/data" "$PGDIR/sock" && chown -R postgres:postgres "$PGDIR" && chmod 700 "$PGDIR/data"
as_pg "$bindir/initdb" -D "$PGDIR/data" -U postgres --auth-local=peer --auth-host=scram-sha-256 >"$WORK/logs/initdb.log" 2>&1 ||
    die "initdb failed (log $WORK/logs/initdb.log)"
setsid setpriv --reuid=postgres --regid=postgres --init-groups "$bindir/postgres" -D "$PGDIR/data" -p "$PGPORT" \
    -c listen_addresses=127.0.0.1 -c unix_socket_directories="$PGDIR/sock" >"$WORK/logs/postgres.log" 2>&1 </dev/null &
pg_pid=$!
for _ in $(seq 1 60); do "$bindir/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" && break; sleep 0.5; done
"$bindir/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" || die "the external PostgreSQL did not start (log $WORK/logs/postgres.log)"
pw="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
as_pg "$bindir/psql" -h "$PGDIR/sock" -p "$PGPORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt \
    -c "CREATE ROLE neon_user LOGIN PASSWORD '$pw'" -c "CREATE DATABASE neondb OWNER neon_user" >/dev/null

# The "user's" Dapr: daprd and scheduler 1.18 in a folder of their own (as dapr init --slim's ~/.dapr/bin).
"$ROOT/tools/dapr/build.sh" >/dev/null
ln -sf "$CACHE/bin/daprd" "$CACHE/bin/scheduler" "$WORK/dapr-bin/"

export TODO_KAFKA_BROKERS="127.0.0.1:$KPORT"
export TODO_DATABASE_URL="postgresql://neon_user:$pw@127.0.0.1:$PGPORT/neondb?sslmode=disable"
export TODO_DAPR_BIN="$WORK/dapr-bin"
export TODO_EXTERNAL_TEST_PGDIR="$PGDIR" TODO_EXTERNAL_TEST_KAFKA_PID="$kafka_pid" TODO_EXTERNAL_TEST_PG_PID="$pg_pid"

say "./dev up with TODO_KAFKA_BROKERS, TODO_DATABASE_URL, TODO_DAPR_BIN"
"$ROOT/dev" clean >/dev/null
TODO_RUNTIME=spin "$ROOT/dev" up >"$WORK/logs/up.log" 2>&1 || { tail -n 30 "$WORK/logs/up.log" >&2; status=1; exit 1; }
sed -n '/^summary/,$p' "$WORK/logs/up.log"

TODO_E2E_RUNTIME=spin "$PY" -m pytest -q -m smoke "$ROOT/tests/e2e" || status=1
"$PY" -m pytest -q "$ROOT/tests/external/test_external.py" -m "not after_down" "$@" || status=1

say "./dev down and ./dev clean: the external services must keep running with their data"
"$ROOT/dev" down >/dev/null
"$ROOT/dev" clean >/dev/null
"$PY" -m pytest -q "$ROOT/tests/external/test_external.py" -m after_down "$@" || status=1
exit "$status"
