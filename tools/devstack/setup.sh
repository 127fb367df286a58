#!/usr/bin/env bash
# Installs and builds everything the stack and the tests need, idempotently: a second run changes
# nothing and takes seconds. Caches live under ~/.cache/todo-events (TODO_EVENTS_CACHE).
#
#   tools/devstack/setup.sh          install + build all
#   tools/devstack/setup.sh build    only the Rust builds (host + components)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${TODO_EVENTS_CACHE:-$HOME/.cache/todo-events}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
LOGS="$CACHE/logs"
mkdir -p "$LOGS"

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

# The Spin components: cargo package name and the .wasm it produces (spin.toml's `source`).
COMPONENTS=(task-api audit recurring notification realtime metrics web e2e-probe parity-probe)
# Pre-initialised after the build (their JSON Schema validators compiled in): the consumers and
# the task API, the one every write runs through.
PREINIT=(task-api audit recurring notification realtime)

apt_install() {
    local missing=()
    for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
    [ "${#missing[@]}" -eq 0 ] && return 0
    say "apt-get install ${missing[*]}"
    if [ ! -f "$CACHE/.apt-updated" ]; then apt-get update -qq && touch "$CACHE/.apt-updated"; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >"$LOGS/apt.log" 2>&1 ||
        die "apt-get install ${missing[*]} failed; see $LOGS/apt.log"
}

install_system() {
    command -v cargo >/dev/null || die "cargo not found: install Rust with rustup first"
    command -v go >/dev/null || die "go not found (Dapr 1.18 needs Go >= 1.26.6)"
    command -v java >/dev/null || die "java not found (Kafka 4 needs Java 17+)"
    command -v mvn >/dev/null || die "mvn not found (Kafka's jars come from Maven Central)"
    if ! rustup target list --installed | grep -qx wasm32-wasip2; then
        say "rustup target add wasm32-wasip2"
        rustup target add wasm32-wasip2 >/dev/null
    fi
    ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || apt_install postgresql
    command -v setpriv >/dev/null || apt_install util-linux
    command -v curl >/dev/null || apt_install curl
    command -v xz >/dev/null || apt_install xz-utils
    command -v chromium >/dev/null || apt_install chromium
    # The benchmarks (tools/bench: host.sh, consumer_alone.py) drive HTTP with wrk.
    command -v wrk >/dev/null || apt_install wrk
    "$ROOT/tools/pushpin/pushpin.sh" install >>"$LOGS/apt.log" 2>&1 ||
        die "installing pushpin failed; see $LOGS/apt.log"
    "$ROOT/tools/prometheus/prometheus.sh" install >>"$LOGS/apt.log" 2>&1 ||
        die "installing prometheus failed; see $LOGS/apt.log"
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
    command -v spin >/dev/null 2>&1 && return 0
    if [ -x "$bin" ] && [ "$(sha256sum "$bin" | cut -d' ' -f1)" = "$SPIN_SHA256" ]; then return 0; fi
    shared="$(shared_dir)" && [ -f "$shared/bin/$SPIN_XZ_NAME" ] || { say "no Spin CLI found (../shared/bin/$SPIN_XZ_NAME): the app will run on the project's host"; return 0; }
    say "unpacking Spin from $shared/bin/$SPIN_XZ_NAME"
    mkdir -p "$CACHE/bin"
    xz -dc "$shared/bin/$SPIN_XZ_NAME" >"$bin.tmp" || die "unpacking $SPIN_XZ_NAME failed"
    [ "$(sha256sum "$bin.tmp" | cut -d' ' -f1)" = "$SPIN_SHA256" ] || { rm -f "$bin.tmp"; die "$SPIN_XZ_NAME does not unpack to the Spin 4.0.2 binary (sha256 mismatch)"; }
    chmod +x "$bin.tmp" && mv "$bin.tmp" "$bin"
}

install_python() {
    local venv="$CACHE/venv" stamp
    stamp="$(sha256sum "$ROOT/tests/requirements.txt" | cut -d' ' -f1)"
    if [ "$(cat "$venv/.stamp" 2>/dev/null)" != "$stamp" ]; then
        say "python venv ($venv)"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q --disable-pip-version-check -r "$ROOT/tests/requirements.txt" >"$LOGS/pip.log" 2>&1 ||
            die "pip install failed; see $LOGS/pip.log"
        echo "$stamp" >"$venv/.stamp"
    fi
}

build_host() {
    say "building the host and todo-migrate (cargo --profile host; log $LOGS/build-host.log)"
    (cd "$ROOT" && cargo build -q --profile host -p todo-host && cargo build -q -p todo-migrate) >"$LOGS/build-host.log" 2>&1 ||
        { tail -n 30 "$LOGS/build-host.log" >&2; die "host or migrate build failed"; }
}

build_components() {
    say "building components for wasm32-wasip2 (log $LOGS/build-wasm.log)"
    local args=()
    for c in "${COMPONENTS[@]}"; do args+=(-p "$c"); done
    (cd "$ROOT" && cargo build -q --target wasm32-wasip2 --release "${args[@]}") >"$LOGS/build-wasm.log" 2>&1 ||
        { tail -n 30 "$LOGS/build-wasm.log" >&2; die "component build failed"; }
    # spin.toml names target/wasm32-wasip2/release/*.wasm, where `spin build` puts them.
    mkdir -p "$ROOT/target/wasm32-wasip2/release"
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

case "${1:-all}" in
all)
    install_system
    install_spin
    "$ROOT/tools/kafka/kafka.sh" install
    # The host's release build (wasmtime: the longest) runs beside the Go builds; on a cold
    # 2-core machine the whole setup took 27 min so (2026-12-02), one after the other about 38.
    build_host &
    host_pid=$!
    "$ROOT/tools/dapr/build.sh"
    # Kubernetes (tools/k8s/build.sh: about 10 minutes cold) is not built here: `./dev up` never
    # runs it. `./dev test` builds it before the stages that need it; `tools/k8s/cluster.sh up`
    # builds what is missing.
    install_python
    # The official AsyncAPI tools (pinned: tools/asyncapi/package-lock.json), for ./dev docs and the tests.
    "$ROOT/tools/asyncapi/asyncapi.sh" install || die "installing the AsyncAPI tools failed"
    wait "$host_pid" || die "the host build failed (log $LOGS/build-host.log)"
    build_components
    ;;
build) build_host && build_components ;;
*) die "usage: setup.sh [all|build]" ;;
esac
