#!/usr/bin/env bash
# Benchmark of the wasm host's request path: a fresh instance of a real component per request.
# Serves spin.toml on a spare port with dummy tokens (no sidecar needed) and drives
# `GET /e2e-probe/none` (token checked, then the component's own 404) with wrk, at 1 and at 32
# connections, 10 s each. Prints wrk's figures; stops the host it started.
#
#   tools/bench/host.sh            (needs: tools/devstack/setup.sh build; installs wrk with apt)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${TODO_EVENTS_CACHE:-$HOME/.cache/todo-events}"
HOST="${CARGO_TARGET_DIR:-$CACHE/target}/host/todo-host"
PORT="${BENCH_PORT:-3901}"
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }; }
[ -x "$HOST" ] || "$ROOT/tools/devstack/setup.sh" build

SPIN_VARIABLE_DAPR_API_TOKEN=bench SPIN_VARIABLE_APP_API_TOKEN=bench SPIN_VARIABLE_JWT_SECRET=bench SPIN_VARIABLE_PUSHPIN_SIG_KEY=bench \
    "$HOST" --from "$ROOT/spin.toml" --listen "127.0.0.1:$PORT" --cache "$CACHE/host-cache" >/tmp/todo-bench-host.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do curl -fs "http://127.0.0.1:$PORT/.well-known/spin/health" >/dev/null && break; sleep 0.25; done
code="$(curl -s -o /dev/null -w '%{http_code}' -H 'dapr-api-token: bench' "http://127.0.0.1:$PORT/e2e-probe/none")"
[ "$code" = 404 ] || { echo "bench: expected the component's 404, got $code" >&2; exit 1; }

echo "host: $(grep -m1 loaded /tmp/todo-bench-host.log)"
for c in 1 32; do
    echo "--- wrk, $c connection(s), 10 s: GET /e2e-probe/none (fresh instance per request)"
    wrk -t"$(( c < 2 ? 1 : 2 ))" -c"$c" -d10s --latency -H 'dapr-api-token: bench' "http://127.0.0.1:$PORT/e2e-probe/none" |
        grep -E 'Requests/sec|Latency|50%|90%|99%|requests in|Non-2xx'
done
