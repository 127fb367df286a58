#!/usr/bin/env bash
# The cluster stage in one command: brings the one-node cluster up (tools/k8s/cluster.sh up --node,
# which builds what is missing), runs tests/cluster, and always takes the node down again, checking
# that nothing is left behind. Prints the stage's wall time and the machine's peak memory use.
#
#   tests/cluster/run.sh [pytest arguments]
#   tests/cluster/run.sh tests/cluster/bench_spin_variables.py   (only that file, on the same stage)
#
# Exit: pytest's status, or 1 if the node would not come up or `down` left something behind.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${TODO_EVENTS_CACHE:-$HOME/.cache/todo-events}"
PY="$CACHE/venv/bin/python"
LOGS="$CACHE/logs/k8s-node"
[ -x "$PY" ] || { echo "cluster stage: no $PY (tools/devstack/setup.sh makes the venv)" >&2; exit 1; }
mkdir -p "$LOGS"

t0=$SECONDS
# The machine's used memory, sampled every second while the stage runs (MemTotal - MemAvailable).
(
    peak=0
    while :; do
        used=$(awk '/^MemTotal:/{t=$2} /^MemAvailable:/{a=$2} END{print int((t-a)/1024)}' /proc/meminfo)
        [ "$used" -gt "$peak" ] && peak=$used && echo "$peak" >"$LOGS/stage-peak-mib.txt"
        sleep 1
    done
) &
sampler=$!
echo 0 >"$LOGS/stage-peak-mib.txt"
base=$(awk '/^MemTotal:/{t=$2} /^MemAvailable:/{a=$2} END{print int((t-a)/1024)}' /proc/meminfo)

status=0
down() {
    trap - EXIT INT TERM
    "$ROOT/tools/k8s/cluster.sh" down --node || { echo "cluster stage: the node's down left something behind" >&2; [ "$status" != 0 ] || status=1; }
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    echo "cluster stage: $((SECONDS - t0)) s in all; machine memory in use: $base MiB before, peak $(cat "$LOGS/stage-peak-mib.txt") MiB"
    exit "$status"
}
trap 'status=130; down' INT TERM
trap down EXIT

"$ROOT/tools/k8s/cluster.sh" up --node || { status=1; exit 1; }
echo "cluster stage: node up after $((SECONDS - t0)) s"
# Test files or folders as the first argument run instead of the whole stage (e.g. the benchmark
# tests/cluster/bench_spin_variables.py, which the stage's own run leaves out).
targets=("$ROOT/tests/cluster")
[ $# -gt 0 ] && [ -e "$1" ] && targets=()
"$PY" -m pytest -q -s -p no:cacheprovider "${targets[@]}" "$@" || status=$?
