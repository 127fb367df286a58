#!/usr/bin/env bash
# Pre-initialises a consumer component at build time (docs/faults.md, "Load"): `todo-host
# --preinit` runs its `wizer-initialize` export (crates/preinit: the topic's JSON Schema validator
# compiled) and snapshots it, so no request compiles the validator again. The result is an
# ordinary component that Spin and SpinKube run unchanged.
#
#   tools/preinit/preinit.sh COMPONENT     e.g. audit: cargo's output -> target/wasm32-wasip2/release/audit.wasm
#
# Input: $CARGO_TARGET_DIR/wasm32-wasip2/release/<name>.wasm (cargo's output; default target/).
# Output: target/wasm32-wasip2/release/<name>.wasm in the repository (spin.toml's `source`).
# Skipped when the output is already the snapshot of this input (a stamp beside it). Without a
# built host (TODO_HOST_BIN, else $CARGO_TARGET_DIR/host/todo-host, default
# ~/.cache/todo-events/target/host/todo-host; `tools/devstack/setup.sh host` builds it) the
# component is copied as it is: it works the same, each request compiling its validator.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${TODO_EVENTS_CACHE:-$HOME/.cache/todo-events}"
[ $# -eq 1 ] || { echo "usage: preinit.sh COMPONENT" >&2; exit 2; }
name="${1//-/_}"
in="${CARGO_TARGET_DIR:-$ROOT/target}/wasm32-wasip2/release/$name.wasm"
out="$ROOT/target/wasm32-wasip2/release/$name.wasm"
host="${TODO_HOST_BIN:-${CARGO_TARGET_DIR:-$CACHE/target}/host/todo-host}"
[ -f "$in" ] || { echo "preinit: $in is missing (cargo build --target wasm32-wasip2 --release -p $1)" >&2; exit 1; }
mkdir -p "$(dirname "$out")"

if [ ! -x "$host" ]; then
    echo "preinit: no todo-host at $host: $1 is not pre-initialised (it works, each request compiling its validator)" >&2
    [ "$in" -ef "$out" ] || cp -f "$in" "$out"
    rm -f "$out.preinit"
    exit 0
fi
# The stamp: the input's hash with the host's, and the snapshot's hash. Up to date when the
# input is the one snapshotted, or is the snapshot itself (no CARGO_TARGET_DIR: cargo's output is
# spin.toml's source, so it was replaced by the snapshot until the next cargo build rewrites it).
key="$(cat "$in" "$host" | sha256sum | cut -d' ' -f1)"
have="$(sha256sum <"$in" | cut -d' ' -f1)"
if [ -f "$out" ] && [ -f "$out.preinit" ]; then
    read -r done_key done_out <"$out.preinit" || true
    if [ "$key" = "${done_key:-}" ] || [ "$have" = "${done_out:-}" ]; then exit 0; fi
fi
tmp="$out.tmp$$"
"$host" --preinit "$in" --preinit-output "$tmp"
mv -f "$tmp" "$out"
echo "$key $(sha256sum <"$out" | cut -d' ' -f1)" >"$out.preinit"
