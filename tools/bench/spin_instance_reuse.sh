#!/usr/bin/env bash
# What Spin's instance reuse would save per request (issue 18, part 2; docs/faults.md "CPU per
# write"). Spin 4.0.2 instantiates a WASIp2 component (`wasi:http/incoming-handler@0.2`, what
# every component of this project exports) for every request, and reuses the instance of a WASIp3
# component (`wasi:http/handler@0.3.0-rc-2026-03-15`) across requests.
#
# Two probes, served by real Spin in turn on a spare port, each driven by wrk for 10 s at 1 and
# at 32 connections, on two paths:
#   p2: components/parity-probe (spin-sdk 5.2, WASIp2), the project's build
#   p3: tools/bench/p3-probe (spin-sdk 6.0.0, WASIp3 rc-2026-03-15), built here on first use
#   GET /                 the component answers at once
#   GET /?fetch=<url>     one outbound GET first (a consumer delivery's shape: one inbound request,
#                         one call to its sidecar); <url>: BENCH_FETCH_URL, default the dev stack's
#                         audit sidecar's /v1.0/healthz (run ./dev up first)
# Prints requests/s, p50 and p99, and Spin's CPU per request (user + system of `spin up` and its
# `spin trigger http`, from /proc).
#
#   ./dev up && tools/bench/spin_instance_reuse.sh      (needs: tools/devstack/setup.sh all: Spin, wrk)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${TODO_EVENTS_CACHE:-$HOME/.cache/todo-events}"
SPIN="$(command -v spin 2>/dev/null || echo "$CACHE/bin/spin")"
P2="${CARGO_TARGET_DIR:-$CACHE/target}/wasm32-wasip2/release/parity_probe.wasm"
P3_TARGET="$CACHE/target-p3probe"
P3="$P3_TARGET/wasm32-wasip2/release/p3_probe.wasm"
PORT="${BENCH_PORT:-3903}"
SECONDS_EACH="${BENCH_SECONDS:-10}"
FETCH_URL="${BENCH_FETCH_URL:-http://127.0.0.1:3501/v1.0/healthz}"
[ -x "$SPIN" ] || { echo "bench: no Spin at $SPIN (tools/devstack/setup.sh unpacks it)" >&2; exit 1; }
[ -f "$P2" ] || { echo "bench: no $P2 (tools/devstack/setup.sh build)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "bench: wrk not found (apt-get install wrk)" >&2; exit 1; }
curl -fs -o /dev/null "$FETCH_URL" || {
    echo "bench: $FETCH_URL does not answer: run ./dev up, or set BENCH_FETCH_URL" >&2
    exit 1
}
if [ ! -f "$P3" ] || [ -n "$(find "$ROOT/tools/bench/p3-probe" -newer "$P3" -type f -not -path '*/target/*')" ]; then
    echo "bench: building tools/bench/p3-probe (its own workspace; target $P3_TARGET)" >&2
    (cd "$ROOT/tools/bench/p3-probe" &&
        CARGO_TARGET_DIR="$P3_TARGET" cargo build --quiet --release --target wasm32-wasip2) ||
        { echo "bench: building the WASIp3 probe failed (output above)" >&2; exit 1; }
fi

dir="$(mktemp -d)"
pid=""
stop() { [ -n "$pid" ] && { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; }; pid=""; }
trap 'stop; rm -rf "$dir"' EXIT
host="$(echo "$FETCH_URL" | sed -E 's#^(https?://[^/]+).*#\1#')"

# User + system clock ticks of a process and its descendants.
ticks() {
    local p total=0 t
    for p in $1 $(pgrep -P "$1" 2>/dev/null); do
        t="$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)"
        total=$((total + t))
    done
    echo "$total"
}

# $1: label, $2: wasm file. Serves it, then drives each path at 1 and 32 connections.
serve() {
    local label="$1" wasm="$2" path conns before after out reqs hz
    hz="$(getconf CLK_TCK)"
    cp "$wasm" "$dir/probe.wasm"
    printf 'spin_manifest_version = 2\n[application]\nname = "reuse-bench"\nversion = "0.1.0"\n[[trigger.http]]\nroute = "/..."\ncomponent = "probe"\n[component.probe]\nsource = "probe.wasm"\nallowed_outbound_hosts = ["%s"]\n' \
        "$host" >"$dir/spin.toml"
    "$SPIN" up --from "$dir/spin.toml" --listen "127.0.0.1:$PORT" --state-dir "$dir/state" >"$dir/spin.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 240); do curl -fs "http://127.0.0.1:$PORT/" >/dev/null 2>&1 && break; sleep 0.25; done
    curl -fs "http://127.0.0.1:$PORT/" >/dev/null || { cat "$dir/spin.log" >&2; echo "bench: $label did not serve" >&2; exit 1; }
    for path in "/" "/?fetch=$FETCH_URL"; do
        curl -fs "http://127.0.0.1:$PORT$path" >/dev/null || { echo "bench: $label: GET $path failed" >&2; exit 1; }
        for conns in 1 32; do
            before="$(ticks "$pid")"
            out="$(wrk -t"$((conns > 1 ? 2 : 1))" -c"$conns" -d"${SECONDS_EACH}s" --latency "http://127.0.0.1:$PORT$path")"
            after="$(ticks "$pid")"
            reqs="$(echo "$out" | awk '/requests in/ {print $1}')"
            echo "$out" | grep -q 'Non-2xx' && { echo "$out" >&2; echo "bench: $label answered errors" >&2; exit 1; }
            printf '%-3s %-9s c%-3s %9s req/s  p50 %9s  p99 %9s  Spin CPU %6.3f ms/request\n' \
                "$label" "${path%%\?*}$([ "$path" = / ] || echo '?fetch')" "$conns" \
                "$(echo "$out" | awk '/Requests\/sec/ {print $2}')" \
                "$(echo "$out" | awk '$1 == "50%" {print $2}')" \
                "$(echo "$out" | awk '$1 == "99%" {print $2}')" \
                "$(awk -v t="$((after - before))" -v hz="$hz" -v n="$reqs" 'BEGIN {print t * 1000 / hz / n}')"
        done
    done
    stop
}

echo "spin: $("$SPIN" --version); fetch: $FETCH_URL; ${SECONDS_EACH} s each"
serve p2 "$P2"
serve p3 "$P3"
