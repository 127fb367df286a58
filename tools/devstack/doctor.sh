#!/usr/bin/env bash
# ./dev doctor: checks the running dev stack the way the seed's "Troubleshooting" section does by
# hand, prints what is wrong and how to fix it, and exits 1 when anything is (tools/devstack/doctor.py,
# docs/observability.md). Options: --dlq-window MIN (dead letters newer than MIN minutes fail; 15).
# `./dev doctor --cluster`: the same for the one-node Kubernetes of `tools/k8s/cluster.sh up --node`
# instead (tools/k8s/doctor_cluster.py, docs/k8s.md).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${TODO_EVENTS_CACHE:-$HOME/.cache/todo-events}"
PY="$CACHE/venv/bin/python"
[ -x "$PY" ] || { echo "doctor: $PY is missing: run tools/devstack/setup.sh (it makes the venv)" >&2; exit 2; }
if [ "${1:-}" = --cluster ]; then
    shift
    exec "$PY" "$ROOT/tools/k8s/doctor_cluster.py" "$@"
fi
exec "$PY" "$ROOT/tools/devstack/doctor.py" "$@"
