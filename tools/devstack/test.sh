#!/usr/bin/env bash
# Every test of the project, in one command (`./dev test`, which `.ci/run` calls):
# install/build what is missing, unit tests (Rust, native), the schema-evolution check, the
# contract tests, each crate's SQL on PostgreSQL, the end-to-end tests on the real stack on Spin
# (on the project's host only the runtime comparison and the smoke subset), and last the system in
# a one-node Kubernetes cluster. Each thing is tested once, at the lowest level that can show it
# (docs/decisions.md, "Each thing tested once"). A stack that is already running is used as it is;
# otherwise this starts one and stops it at the end. Any failing step fails the run.
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

# The suite runs on the stack's own Kafka and PostgreSQL (the fault stage stops and kills them);
# the external-services stage below hands in its own. A user's Dapr (TODO_DAPR_BIN, PATH,
# ~/.dapr/bin) is used as `./dev up` would.
unset TODO_KAFKA_BROKERS TODO_DATABASE_URL
t_start=$SECONDS
# The Kubernetes control plane of the deploy stage (setup.sh leaves it out: `./dev up` needs none
# of it) builds beside setup, as it did inside it (on a cold machine the Go and Rust builds overlap
# their downloads); the cluster stage builds the node's parts itself.
mkdir -p "$CACHE/logs"
"$ROOT/tools/k8s/build.sh" >"$CACHE/logs/k8s-build-test.log" 2>&1 &
k8s_pid=$!
"$ROOT/tools/devstack/setup.sh" || { echo "test: setup failed" >&2; kill "$k8s_pid" 2>/dev/null; exit 1; }
wait "$k8s_pid" || {
    tail -n 20 "$CACHE/logs/k8s-build-test.log" >&2
    echo "test: building the Kubernetes control plane failed (log $CACHE/logs/k8s-build-test.log)" >&2
    exit 1
}

step "rust unit tests" cargo test -q --workspace --exclude todo-host
step "host unit tests" cargo test -q --profile host -p todo-host
step "event crate builds for wasm32-wasip2" cargo build -q --target wasm32-wasip2 -p todo-events
step "schema evolution check" cargo run -q -p todo-contracts -- check --dir contracts/events
step "dev tooling: finding the user's Dapr 1.18 (tools/dapr/find.sh)" "$PY" -m pytest -q tests/devstack
step "contract tests" "$PY" -m pytest -q tests/contracts
step "event contracts: the seed's events, MINOR/PATCH compatibility property" "$PY" -m pytest -q tests/event_contracts
step "AsyncAPI: asyncapi validate (official CLI)" tools/asyncapi/asyncapi.sh validate
step "AsyncAPI: the document in sync with subscriptions, topics, spin.toml, schemas" "$PY" -m pytest -q tests/contracts/test_asyncapi_sync.py
step "AsyncAPI: generated draft-07 payload schemas are current" cargo run -q -p todo-contracts -- asyncapi-schemas --check
step "AsyncAPI: HTML docs (asyncapi generate) read in headless Chromium" "$PY" -m pytest -q tests/asyncapi
step "schema evolution against every release of the MAJOR (transitive check)" cargo test -q -p todo-contracts --test transitive
step "contracts/CHANGELOG.md is made from the releases (not stale)" cargo run -q -p todo-contracts -- changelog --check
step "deploy: overlays rendered and checked, Pushpin's cluster config, each overlay on a real control plane" "$PY" -m pytest -q tests/deploy
step "alert and recording rules: promtool check and promtool test, the cluster's PrometheusRule" "$PY" -m pytest -q tests/observability/test_rules.py

# The end-to-end suite runs on both runtimes the app has: real Spin (what users and SpinKube run)
# and the project's host (the zero-install default). A missing Spin fails the run; it is not skipped.
SPIN="$(command -v spin 2>/dev/null || echo "$CACHE/bin/spin")"
need_spin() {
    [ -x "$SPIN" ] && return 0
    echo "test: no Spin CLI: put spin 4.x on PATH, or keep ../shared/bin/spin-4.0.2-x86_64-linux.xz for setup.sh to unpack" >&2
    return 1
}

# A stack this run starts begins from a fresh machine's state: `./dev clean` first deletes the
# stack's data (database, topics, jobs, generated secrets), so nothing a previous checkout left
# (a database migrated by a newer branch, old dead letters) decides the result.
started=0
if ! "$ROOT/dev" status >/dev/null 2>&1; then
    "$ROOT/dev" clean >/dev/null
    if need_spin && TODO_RUNTIME=spin "$ROOT/dev" up; then started=1; else failed+=("stack up"); fi
fi
stop_stack() { [ "$started" -eq 1 ] && "$ROOT/dev" down; }
trap stop_stack EXIT
trap 'exit 130' INT TERM
pg_tests() {
    TODO_TEST_PG_URL="$(sed -n 's/^DATABASE_URL=//p' "$CACHE/run/database.env")" \
        cargo test -q --features pg "${PG_CRATES[@]/#/-p}" --test sql_pg
}
# The crates whose SQL has PostgreSQL tests (each its own tests/sql_pg.rs behind feature `pg`).
PG_CRATES=(todo-tasks todo-outbox todo-metrics todo-consumer todo-deadletters todo-reminders todo-migrate audit realtime)
e2e_on() {
    local runtime="$1"
    [ "$runtime" = spin ] && { need_spin || return 1; }
    "$ROOT/dev" switch "$runtime" >/dev/null || return 1
    TODO_E2E_RUNTIME="$runtime" "$PY" -m pytest -q tests/e2e
}
browser() { "$ROOT/dev" switch spin >/dev/null && "$PY" -m pytest -q tests/browser; }
# `spin build`, as README's "Running with Spin" has it (into the cache's target dir: up to date, so
# it only checks that every component's build command works under real Spin).
spin_build() { need_spin && "$SPIN" build --from "$ROOT/spin.toml" >/dev/null; }
step "SQL statements on PostgreSQL" pg_tests
step "spin build" spin_build
observability() { "$ROOT/dev" switch spin >/dev/null && "$PY" -m pytest -q tests/observability/test_metrics_on_stack.py; }
faults() { "$ROOT/dev" switch spin >/dev/null && "$PY" -m pytest -q -s tests/faults; }
step "end-to-end tests on Spin" e2e_on spin
step "metrics and alerts on the stack's Prometheus, ./dev doctor (on Spin)" observability
step "faults: every part restarted or killed under a seeded workload, nothing lost (on Spin)" faults
# Two replicas of every service (issue 20): a second app process and a second daprd per app-id
# join the running stack, the same events go to both replicas of each consumer at once, and each
# consumer group is rebalanced under the seeded workload (add, SIGTERM, kill -9 of a sidecar,
# kill -9 of an app process); back to one replica afterwards.
replicas() {
    "$ROOT/dev" switch spin >/dev/null && "$ROOT/dev" replica add all >/dev/null || return 1
    local rc=0
    TODO_FAULT_PRE_S=3 TODO_FAULT_POST_S=2 "$PY" -m pytest -q -s tests/replicas || rc=1
    "$ROOT/dev" replica remove all >/dev/null || rc=1
    return $rc
}
step "replicas: two of every service, the same events at both, rebalances under load (on Spin)" replicas
# On the host, the end-to-end suite's smoke subset (one path through each component); the rest of
# what the host must do alike is tests/runtime's comparison of the two runtimes below.
smoke_on_host() { "$ROOT/dev" switch host >/dev/null && TODO_E2E_RUNTIME=host "$PY" -m pytest -q -m smoke tests/e2e; }
step "end-to-end smoke tests on the host" smoke_on_host
step "browser tests of the web board (headless Chromium, on Spin)" browser
parity() { need_spin && TODO_SPIN="$SPIN" "$PY" -m pytest -q tests/runtime; }
step "runtime parity: Spin and the host serve and refuse alike, and the host's limits" parity

# Stop what this run started, and check that nothing of it is left (Spin's `spin trigger http`
# child, the host, sidecars, brokers).
leftovers() {
    local left
    left="$(pgrep -af "$CACHE/bin/(spin|daprd|scheduler)|todo-host|kafka\.Kafka|prometheus --config.file=$CACHE|haproxy -W -db -f $CACHE|${TODO_EVENTS_PGDATA:-/var/lib/todo-events/postgres}" 2>/dev/null || true)"
    [ -z "$left" ] || { echo "test: processes left behind:"; echo "$left"; return 1; }
}
if [ "$started" -eq 1 ]; then
    "$ROOT/dev" down && started=0
    step "no process left behind" leftovers
fi

# The stack on services it did not start (issue 23): a Kafka, a PostgreSQL and a Dapr the stage
# starts or provides outside the stack, handed in as TODO_KAFKA_BROKERS, TODO_DATABASE_URL and
# TODO_DAPR_BIN; the smoke tests through them; ./dev down and clean leave them running. It needs
# the stack's ports: with a stack that this run did not start still up, it fails saying so.
step "the stack on external Kafka, PostgreSQL and Dapr (tests/external)" "$ROOT/tests/external/run.sh"

# The deployment in a one-node Kubernetes cluster (issue 21): builds the node's parts when missing,
# brings the node up on its own addresses and ports (none of the dev stack's), runs tests/cluster,
# takes the node down and checks nothing is left. TODO_SKIP_CLUSTER=1 leaves it out of a local run
# (it is then reported as not run, and the run fails: CI never sets it).
if [ "${TODO_SKIP_CLUSTER:-0}" = 1 ]; then
    echo "test: the cluster stage was left out (TODO_SKIP_CLUSTER=1)"
    failed+=("cluster stage (left out)")
else
    step "the system in a one-node Kubernetes cluster (tests/cluster)" "$ROOT/tests/cluster/run.sh"
fi

printf '\ntest: %ss in all\n' $((SECONDS - t_start))
if [ "${#failed[@]}" -ne 0 ]; then
    printf 'test: FAILED steps: %s\n' "${failed[*]}"
    exit 1
fi
echo "test: every step passed"
