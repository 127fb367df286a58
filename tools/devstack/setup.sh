#!/usr/bin/env bash
# Installs and builds what the stack and the tests need, idempotently: a second run changes
# nothing and takes seconds. Caches live under ~/.cache/todo-events (TODO_EVENTS_CACHE).
#
#   tools/devstack/setup.sh up       what `./dev up` runs, nothing else (docs/devstack.md)
#   tools/devstack/setup.sh [all]    that and what the tests need: the host, Chromium, wrk, the
#                                    AsyncAPI tools (`./dev test`; Kubernetes is built by test.sh)
#   tools/devstack/setup.sh build    only the Rust builds (host + components)
#   tools/devstack/setup.sh host     the host (pre-initialises the components once built)
#
# What the user already has is used (docs/devstack.md, "Use what you already have"): Spin on PATH,
# a Dapr 1.18 (tools/dapr/find.sh: TODO_DAPR_BIN, PATH, ~/.dapr/bin), an external Kafka
# (TODO_KAFKA_BROKERS: no Java, Maven or Kafka jars) and PostgreSQL (TODO_DATABASE_URL: no apt
# postgresql). Each long step says what it does and how long it took last time here
# (~/.cache/todo-events/logs/times/), shows progress (the tool's own output on a terminal, else a
# line every 30 s) and the run ends with a summary (logs/setup-summary.txt).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${TODO_EVENTS_CACHE:-$HOME/.cache/todo-events}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
LOGS="$CACHE/logs"
TIMES="$LOGS/times"
SUMMARY_FILE="$LOGS/setup-summary.txt"
mkdir -p "$LOGS" "$TIMES"
: >"$SUMMARY_FILE.tmp"

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

# One line of the final summary: what happened (installed, built, reused, up to date), to what,
# and the seconds it took.
summary() { printf '  %-11s %5s s  %s\n' "$1" "${3:-0}" "$2" >>"$SUMMARY_FILE.tmp"; }

# run_step KEY WHAT LOG CMD...: runs the executable CMD, its output appended to LOG. Says what it
# does and how long it took last time on this machine; while it runs, the tool's own output when
# stdout is a terminal (cargo's progress bar, Go's package list), else a line every 30 s with the
# log's last line (or STEP_WATCH's, when the tool writes its detail to a log of its own). Sets
# STEP_SECS and STEP_FROM (LOG's line count before the step).
run_step() {
    local key="$1" what="$2" log="$3" last="" rc=0 pid n=0
    shift 3
    [ -s "$TIMES/$key" ] && last=" (last time on this machine: $(cat "$TIMES/$key") s)"
    say "$what$last; log $log"
    touch "$log"
    STEP_FROM="$(wc -l <"$log")"
    local t0=$SECONDS
    if [ -t 1 ] && [ "${TODO_PROGRESS:-}" != lines ]; then
        script -qefc "$(printf '%q ' "$@")" -a "$log" || rc=$?
    else
        "$@" >>"$log" 2>&1 </dev/null &
        pid=$!
        while kill -0 "$pid" 2>/dev/null; do
            sleep 1
            n=$((n + 1))
            if [ $((n % 30)) -eq 0 ]; then
                say "  ... ${n} s: $(tail -n 1 "${STEP_WATCH:-$log}" 2>/dev/null | tr -d '\r' | sed 's/^[[:space:]]*//' | cut -c1-90)"
            fi
        done
        wait "$pid" || rc=$?
    fi
    STEP_SECS=$((SECONDS - t0))
    return "$rc"
}

# Whether LOG got a line matching PATTERN since STEP_FROM (the step did work, not only checked).
did_work() { tail -n "+$((STEP_FROM + 1))" "$1" | grep -q "$2"; }

# Records the step's time as "last time" (only steps that did work: a no-op says nothing of a build).
remember() { echo "$STEP_SECS" >"$TIMES/$1"; }

# The Spin components: cargo package name and the .wasm it produces (spin.toml's `source`).
COMPONENTS=(task-api audit recurring notification realtime metrics deadletters web e2e-probe parity-probe)
# Pre-initialised after the build (their JSON Schema validators compiled in): the consumers and
# the task API, the one every write runs through.
PREINIT=(task-api audit recurring notification realtime)

apt_install() {
    local missing=()
    for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
    [ "${#missing[@]}" -eq 0 ] && return 0
    local t0=$SECONDS
    say "apt-get install ${missing[*]} (log $LOGS/apt.log)"
    if [ ! -f "$CACHE/.apt-updated" ]; then apt-get update -qq && touch "$CACHE/.apt-updated"; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >>"$LOGS/apt.log" 2>&1 ||
        die "apt-get install ${missing[*]} failed; see $LOGS/apt.log"
    summary installed "apt: ${missing[*]}" $((SECONDS - t0))
}

# External services (docs/devstack.md, "Use what you already have"): none of their local parts.
external_kafka() { [ -n "${TODO_KAFKA_BROKERS:-}" ]; }
external_pg() { [ -n "${TODO_DATABASE_URL:-}" ]; }

# What `./dev up` needs from the system.
install_system_up() {
    command -v cargo >/dev/null || die "cargo not found: install Rust with rustup first (https://rustup.rs)"
    if ! rustup target list --installed | grep -qx wasm32-wasip2; then
        local t0=$SECONDS
        say "rustup target add wasm32-wasip2"
        rustup target add wasm32-wasip2 >/dev/null
        summary installed "rustup target wasm32-wasip2" $((SECONDS - t0))
    fi
    if external_kafka; then
        summary reused "Kafka at TODO_KAFKA_BROKERS=$TODO_KAFKA_BROKERS" 0
    else
        command -v java >/dev/null || die "java not found (Kafka 4 needs Java 17+), or set TODO_KAFKA_BROKERS=host:port to use a Kafka you run"
        command -v mvn >/dev/null || die "mvn not found (Kafka's jars come from Maven Central), or set TODO_KAFKA_BROKERS=host:port"
    fi
    if external_pg; then
        summary reused "PostgreSQL at TODO_DATABASE_URL" 0
    else
        ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || apt_install postgresql
        command -v setpriv >/dev/null || apt_install util-linux
    fi
    command -v curl >/dev/null || apt_install curl
    command -v xz >/dev/null || apt_install xz-utils
    command -v script >/dev/null || apt_install bsdutils
    local t0=$SECONDS
    "$ROOT/tools/pushpin/pushpin.sh" install >>"$LOGS/apt.log" 2>&1 ||
        die "installing pushpin failed; see $LOGS/apt.log"
    "$ROOT/tools/prometheus/prometheus.sh" install >>"$LOGS/apt.log" 2>&1 ||
        die "installing prometheus failed; see $LOGS/apt.log"
    [ $((SECONDS - t0)) -gt 2 ] && summary installed "pushpin, prometheus (apt)" $((SECONDS - t0))
    return 0
}

# What the tests need on top: the browser tests' Chromium, the benchmarks' wrk.
install_system_test() {
    command -v chromium >/dev/null || apt_install chromium
    # The replica stage's load balancer (`./dev up --replicas N` installs it on first use).
    command -v haproxy >/dev/null || apt_install haproxy
    # The benchmarks (tools/bench: host.sh, consumer_alone.py) drive HTTP with wrk.
    command -v wrk >/dev/null || apt_install wrk
    command -v npm >/dev/null || apt_install npm
}

# Real Spin for `spin up` and the tests: the CLI cannot come from a registry, so it is unpacked from
# the steering repository's shared/bin (TODO_SHARED_DIR, default ../shared beside the checkout)
# into the cache, checked against the sha256 its README gives. Nothing to do when `spin` is on PATH
# or the shared folder has no Spin (then the stack runs on the project's host).
SPIN_XZ_NAME=spin-4.0.2-x86_64-linux.xz
SPIN_SHA256=a9e9f5b0825d84ea92c5b54e73e76cf05bcfd565e7c0e6436fdc7acc2df8eb3b

shared_dir() {
    local d
    for d in "${TODO_SHARED_DIR:-}" "$ROOT/../shared" /work/shared; do
        [ -n "$d" ] && [ -d "$d/bin" ] && { (cd "$d" && pwd); return 0; }
    done
    return 1
}

install_spin() {
    local bin="$CACHE/bin/spin" shared
    if command -v spin >/dev/null 2>&1; then
        summary reused "Spin on PATH ($(spin --version 2>/dev/null | head -n 1))" 0
        return 0
    fi
    if [ -x "$bin" ] && [ "$(sha256sum "$bin" | cut -d' ' -f1)" = "$SPIN_SHA256" ]; then return 0; fi
    shared="$(shared_dir)" && [ -f "$shared/bin/$SPIN_XZ_NAME" ] || { say "no Spin CLI found (../shared/bin/$SPIN_XZ_NAME): the app will run on the project's host"; return 0; }
    local t0=$SECONDS
    say "unpacking Spin from $shared/bin/$SPIN_XZ_NAME"
    mkdir -p "$CACHE/bin"
    xz -dc "$shared/bin/$SPIN_XZ_NAME" >"$bin.tmp" || die "unpacking $SPIN_XZ_NAME failed"
    [ "$(sha256sum "$bin.tmp" | cut -d' ' -f1)" = "$SPIN_SHA256" ] || { rm -f "$bin.tmp"; die "$SPIN_XZ_NAME does not unpack to the Spin 4.0.2 binary (sha256 mismatch)"; }
    chmod +x "$bin.tmp" && mv "$bin.tmp" "$bin"
    summary installed "Spin 4.0.2 (from ../shared/bin)" $((SECONDS - t0))
}

# Whether the app will run on the project's host (no Spin, or TODO_RUNTIME=host): then `up`
# needs the host built.
runs_on_host() {
    [ "${TODO_RUNTIME:-}" = host ] && return 0
    [ "${TODO_RUNTIME:-}" = spin ] && return 1
    ! command -v spin >/dev/null 2>&1 && [ ! -x "$CACHE/bin/spin" ]
}

install_kafka() {
    external_kafka && return 0
    if "$ROOT/tools/kafka/kafka.sh" installed 2>/dev/null; then return 0; fi
    run_step kafka-install "installing Kafka's jars from Maven Central (tools/kafka)" "$LOGS/kafka-install.log" \
        "$ROOT/tools/kafka/kafka.sh" install || { tail -n 20 "$LOGS/kafka-install.log" >&2; die "installing Kafka failed"; }
    remember kafka-install
    summary installed "Kafka jars (Maven Central)" "$STEP_SECS"
}

# daprd and scheduler: the user's Dapr 1.18 when tools/dapr/find.sh finds one, else built.
install_dapr() {
    local need=() t found
    for t in daprd scheduler; do
        found="$("$ROOT/tools/dapr/find.sh" "$t")" || die "Dapr: see the message above"
        if [ -n "$found" ]; then
            summary reused "$t $("$(dirname "$found")/daprd" --version 2>/dev/null || echo 1.18) at $found" 0
        else
            need+=("$t")
        fi
    done
    [ "${#need[@]}" -eq 0 ] && return 0
    local names="${need[*]}"
    local key="dapr-${names// /-}"
    command -v go >/dev/null || die "go not found: building Dapr 1.18 needs Go >= 1.26.6; or use a Dapr you have (dapr init --slim, or TODO_DAPR_BIN=<dir with daprd and scheduler 1.18.x>)"
    # Go's own output (each package as it compiles) goes to build.sh's log: the progress lines quote it.
    STEP_WATCH="$LOGS/dapr-build.log" run_step "$key" "building Dapr ${need[*]} from source (Go module proxy)" "$LOGS/dapr-build-progress.log" \
        "$ROOT/tools/dapr/build.sh" "${need[@]}" || { tail -n 20 "$LOGS/dapr-build-progress.log" >&2; die "building Dapr failed"; }
    if did_work "$LOGS/dapr-build-progress.log" "built in"; then
        remember "$key"
        summary built "Dapr ${need[*]} 1.18.3 (Go)" "$STEP_SECS"
    fi
}

install_python() {
    local venv="$CACHE/venv" stamp
    stamp="$(sha256sum "$ROOT/tests/requirements.txt" | cut -d' ' -f1)"
    if [ "$(cat "$venv/.stamp" 2>/dev/null)" != "$stamp" ]; then
        python3 -m venv "$venv"
        run_step venv "python venv $venv (tests/requirements.txt, pip)" "$LOGS/pip.log" \
            "$venv/bin/pip" install --disable-pip-version-check --progress-bar off -r "$ROOT/tests/requirements.txt" ||
            die "pip install failed; see $LOGS/pip.log"
        echo "$stamp" >"$venv/.stamp"
        remember venv
        summary installed "python venv (tests/requirements.txt)" "$STEP_SECS"
    fi
}

install_asyncapi() {
    # The official AsyncAPI tools (pinned: tools/asyncapi/package-lock.json), for ./dev docs and the tests.
    run_step asyncapi "AsyncAPI CLI and generator (npm ci)" "$LOGS/asyncapi-install.log" \
        "$ROOT/tools/asyncapi/asyncapi.sh" install || { tail -n 20 "$LOGS/asyncapi-install.log" >&2; die "installing the AsyncAPI tools failed"; }
    if [ "$STEP_SECS" -gt 3 ]; then remember asyncapi; summary installed "AsyncAPI tools (npm)" "$STEP_SECS"; fi
}

# A cargo build as a step: "built" in the summary when cargo compiled something.
cargo_step() {
    local key="$1" what="$2" log="$3"
    shift 3
    run_step "$key" "$what" "$log" cargo "$@" || { tail -n 30 "$log" >&2; die "$what failed (log $log)"; }
    if did_work "$log" "Compiling"; then
        remember "$key"
        summary built "$what" "$STEP_SECS"
    else
        summary "up to date" "$what" "$STEP_SECS"
    fi
}

build_migrate() {
    (cd "$ROOT" && cargo_step migrate "todo-migrate (cargo, debug)" "$LOGS/build-migrate.log" build -p todo-migrate)
}

build_host() {
    (cd "$ROOT" && cargo_step host "the host, todo-host (cargo --profile host: wasmtime)" "$LOGS/build-host.log" \
        build --profile host -p todo-host)
}

build_components() {
    local args=()
    for c in "${COMPONENTS[@]}"; do args+=(-p "$c"); done
    (cd "$ROOT" && cargo_step components "the components (cargo, wasm32-wasip2 release)" "$LOGS/build-wasm.log" \
        build --target wasm32-wasip2 --release "${args[@]}")
    place_components
}

# Puts cargo's components where spin.toml names them, the consumers pre-initialised when the host
# is built (tools/preinit: a no-op for a component already snapshotted from the same input).
place_components() {
    # spin.toml names target/wasm32-wasip2/release/*.wasm, where `spin build` puts them.
    mkdir -p "$ROOT/target/wasm32-wasip2/release"
    [ -x "${TODO_HOST_BIN:-$CARGO_TARGET_DIR/host/todo-host}" ] || [ -n "${HOST_PID:-}" ] ||
        say "the components are not pre-initialised: the host is not built (./dev setup host, or ./dev test, builds it; they work the same, each request compiling its validator)"
    for c in "${COMPONENTS[@]}"; do
        if [[ " ${PREINIT[*]} " == *" $c "* ]]; then
            # The consumers: pre-initialised with their validator compiled (tools/preinit).
            "$ROOT/tools/preinit/preinit.sh" "$c" >>"$LOGS/build-wasm.log" 2>&1 ||
                { tail -n 30 "$LOGS/build-wasm.log" >&2; die "pre-initialising $c failed"; }
        else
            cp -f "$CARGO_TARGET_DIR/wasm32-wasip2/release/${c//-/_}.wasm" "$ROOT/target/wasm32-wasip2/release/"
        fi
    done
}

# The host's release build (wasmtime: the longest) beside the other steps, for `all` (on a cold
# 2-core machine the Go and Rust builds overlap their downloads); quiet until it ends.
start_host_background() {
    local last=""
    [ -s "$TIMES/host" ] && last=" (last time on this machine: $(cat "$TIMES/host") s)"
    say "building the host, todo-host, in the background$last; log $LOGS/build-host.log"
    touch "$LOGS/build-host.log"
    HOST_FROM="$(wc -l <"$LOGS/build-host.log")"
    HOST_T0=$SECONDS
    (cd "$ROOT" && cargo build --profile host -p todo-host) >>"$LOGS/build-host.log" 2>&1 </dev/null &
    HOST_PID=$!
}

wait_host_background() {
    wait "$HOST_PID" || { tail -n 30 "$LOGS/build-host.log" >&2; die "the host build failed (log $LOGS/build-host.log)"; }
    STEP_SECS=$((SECONDS - HOST_T0)) STEP_FROM="$HOST_FROM"
    if did_work "$LOGS/build-host.log" "Compiling"; then
        remember host
        summary built "the host, todo-host (cargo --profile host, in the background)" "$STEP_SECS"
    fi
    say "the host is built ($STEP_SECS s)"
}

finish() {
    local t0="$1"
    mv -f "$SUMMARY_FILE.tmp" "$SUMMARY_FILE"
    printf '  %-11s %5s s  %s\n' setup $((SECONDS - t0)) "in all" >>"$SUMMARY_FILE"
    if [ "${TODO_SETUP_SUMMARY:-print}" = print ]; then
        say "summary:"
        cat "$SUMMARY_FILE"
    fi
}

setup_up() {
    install_system_up
    install_spin
    install_kafka
    install_dapr
    install_python
    build_migrate
    # (`all` builds the host in the background already.)
    [ -z "${HOST_PID:-}" ] && runs_on_host && build_host
    build_components
}

t_setup=$SECONDS
case "${1:-all}" in
up) setup_up ;;
all)
    start_host_background
    setup_up
    install_system_test
    install_asyncapi
    wait_host_background
    # Pre-initialises the components with the host now built.
    place_components
    ;;
build | host) build_host && build_components ;;
*) die "usage: setup.sh [up|all|build|host]" ;;
esac
finish "$t_setup"
