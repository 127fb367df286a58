#!/usr/bin/env bash
# Minimal reproduction of Spin's per-request cost of application variables given as
# `SPIN_VARIABLE_*` environment variables (issue 18; docs/spin-variables.md).
#
# One component (components/parity-probe: `GET /?var=greeting` reads one variable and answers
# 200), one application variable, served by real Spin four ways on a spare port, each driven by
# `wrk -c1` for 10 s:
#   1. no variable read (GET /), the value in SPIN_VARIABLE_GREETING   (the baseline)
#   2. one variable read, the value in SPIN_VARIABLE_GREETING           (Spin's environment provider)
#   3. one variable read, `--variable greeting=...`                     (Spin's static provider)
#   4. one variable read, `--variable @vars.json`                       (static, from a file)
#   5. one variable read, `--runtime-config-file rc.toml` with a `static` variables provider
#      (what the SpinKube deployment mounts: deploy/runtime-config.toml.in)
# Prints requests/s and latency for each.
#
#   tools/bench/spin_variables.sh      (needs: tools/devstack/setup.sh; wrk)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${TODO_EVENTS_CACHE:-$HOME/.cache/todo-events}"
SPIN="$(command -v spin 2>/dev/null || echo "$CACHE/bin/spin")"
PROBE="${CARGO_TARGET_DIR:-$CACHE/target}/wasm32-wasip2/release/parity_probe.wasm"
PORT="${BENCH_PORT:-3902}"
SECONDS_EACH="${BENCH_SECONDS:-10}"
[ -x "$SPIN" ] || { echo "bench: no Spin at $SPIN (tools/devstack/setup.sh unpacks it)" >&2; exit 1; }
[ -f "$PROBE" ] || { echo "bench: no $PROBE (tools/devstack/setup.sh build)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "bench: wrk not found (apt-get install wrk)" >&2; exit 1; }

dir="$(mktemp -d)"
pid=""
stop() { [ -n "$pid" ] && { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; }; pid=""; }
trap 'stop; rm -rf "$dir"' EXIT
cp "$PROBE" "$dir/probe.wasm"
cat >"$dir/spin.toml" <<'EOF'
spin_manifest_version = 2
[application]
name = "spin-variables-bench"
version = "0.1.0"
[variables]
greeting = { required = true }
[[trigger.http]]
route = "/..."
component = "probe"
[component.probe]
source = "probe.wasm"
[component.probe.variables]
greeting = "{{ greeting }}"
EOF
echo '{"greeting": "hello"}' >"$dir/vars.json"
chmod 600 "$dir/vars.json"
printf '[[variables_provider]]\ntype = "static"\n[variables_provider.values]\ngreeting = "hello"\n' >"$dir/rc.toml"
chmod 600 "$dir/rc.toml"

# $1: label, $2: path, then: env assignments, `--`, extra spin arguments.
run() {
    local label="$1" path="$2" envs=() args=()
    shift 2
    while [ "$#" -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
    [ "${1:-}" = -- ] && shift
    args=("$@")
    env "${envs[@]}" "$SPIN" up --from "$dir/spin.toml" --listen "127.0.0.1:$PORT" \
        --state-dir "$dir/state" "${args[@]}" >"$dir/spin.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 240); do curl -fs "http://127.0.0.1:$PORT$path" >/dev/null 2>&1 && break; sleep 0.25; done
    curl -fs "http://127.0.0.1:$PORT$path" | grep -q . || { cat "$dir/spin.log" >&2; echo "bench: $label did not serve" >&2; exit 1; }
    echo "--- $label: wrk -c1 -d${SECONDS_EACH}s GET $path"
    wrk -t1 -c1 -d"${SECONDS_EACH}s" --latency "http://127.0.0.1:$PORT$path" |
        grep -E 'Requests/sec|^ +50%|^ +99%|Non-2xx'
    stop
}

echo "spin: $("$SPIN" --version)"
run "1. no variable read, SPIN_VARIABLE_GREETING" "/" SPIN_VARIABLE_GREETING=hello --
run "2. one variable read, SPIN_VARIABLE_GREETING" "/?var=greeting" SPIN_VARIABLE_GREETING=hello --
run "3. one variable read, --variable greeting=hello" "/?var=greeting" -- --variable greeting=hello
run "4. one variable read, --variable @vars.json" "/?var=greeting" -- --variable "@$dir/vars.json"
run "5. one variable read, --runtime-config-file (static provider)" "/?var=greeting" -- --runtime-config-file "$dir/rc.toml"
