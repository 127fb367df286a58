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
COMPONENTS=(task-api audit e2e-probe)

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

build_rust() {
    say "building the host and todo-migrate (cargo --profile host; log $LOGS/build-host.log)"
    (cd "$ROOT" && cargo build -q --profile host -p todo-host && cargo build -q -p todo-migrate) >"$LOGS/build-host.log" 2>&1 ||
        { tail -n 30 "$LOGS/build-host.log" >&2; die "host or migrate build failed"; }
    say "building components for wasm32-wasip2 (log $LOGS/build-wasm.log)"
    local args=()
    for c in "${COMPONENTS[@]}"; do args+=(-p "$c"); done
    (cd "$ROOT" && cargo build -q --target wasm32-wasip2 --release "${args[@]}") >"$LOGS/build-wasm.log" 2>&1 ||
        { tail -n 30 "$LOGS/build-wasm.log" >&2; die "component build failed"; }
    # spin.toml names target/wasm32-wasip2/release/*.wasm, where `spin build` puts them.
    mkdir -p "$ROOT/target/wasm32-wasip2/release"
    for c in "${COMPONENTS[@]}"; do
        cp -f "$CARGO_TARGET_DIR/wasm32-wasip2/release/${c//-/_}.wasm" "$ROOT/target/wasm32-wasip2/release/"
    done
}

case "${1:-all}" in
all)
    install_system
    "$ROOT/tools/kafka/kafka.sh" install
    "$ROOT/tools/dapr/build.sh"
    install_python
    build_rust
    ;;
build) build_rust ;;
*) die "usage: setup.sh [all|build]" ;;
esac
