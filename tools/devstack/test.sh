#!/usr/bin/env bash
# Every test of the project, in one command (`./dev test`, which `.ci/run` calls):
# install/build what is missing, unit tests (Rust, native), the schema-evolution check, the
# contract tests, then the end-to-end tests on the real stack. A stack that is already running is
# used as it is; otherwise this starts one and stops it at the end. Any failing step fails the run.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${TODO_EVENTS_CACHE:-$HOME/.cache/todo-events}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
PY="$CACHE/venv/bin/python"
cd "$ROOT"

failed=()
step() {
    local name="$1"; shift
    local t0=$SECONDS
    printf '\n=== %s\n' "$name"
    if "$@"; then
        printf '=== %s: ok (%ss)\n' "$name" $((SECONDS - t0))
    else
        printf '=== %s: FAILED (%ss)\n' "$name" $((SECONDS - t0))
        failed+=("$name")
    fi
}

t_start=$SECONDS
"$ROOT/tools/devstack/setup.sh" || { echo "test: setup failed" >&2; exit 1; }

step "rust unit tests" cargo test -q --workspace --exclude todo-host --exclude todo-tasks
step "task domain unit tests" cargo test -q -p todo-tasks --lib
step "host unit tests" cargo test -q --profile host -p todo-host
step "event crate builds for wasm32-wasip2" cargo build -q --target wasm32-wasip2 -p todo-events
step "schema evolution check" cargo run -q -p todo-contracts -- check --dir contracts/events
step "contract tests" "$PY" -m pytest -q tests/contracts

started=0
if ! "$ROOT/dev" status >/dev/null 2>&1; then
    if "$ROOT/dev" up; then started=1; else failed+=("stack up"); fi
fi
stop_stack() { [ "$started" -eq 1 ] && "$ROOT/dev" down; }
trap stop_stack EXIT
trap 'exit 130' INT TERM
pg_tests() {
    local pw
    pw="$(grep '^PG_PASSWORD=' "$CACHE/run/secrets.env" | cut -d= -f2-)"
    TODO_TEST_PG_URL="host=127.0.0.1 port=${TODO_PG_PORT:-5432} user=todo password=$pw dbname=todo sslmode=disable" \
        cargo test -q -p todo-tasks --test sql_pg
}
step "SQL statements on PostgreSQL" pg_tests
step "end-to-end tests" "$PY" -m pytest -q tests/e2e

printf '\ntest: %ss in all\n' $((SECONDS - t_start))
if [ "${#failed[@]}" -ne 0 ]; then
    printf 'test: FAILED steps: %s\n' "${failed[*]}"
    exit 1
fi
echo "test: every step passed"
