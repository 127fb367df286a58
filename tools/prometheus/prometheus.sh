#!/usr/bin/env bash
# Prometheus for the dev stack: Debian bookworm's `prometheus` 2.42 (and its `promtool`), with the
# config rendered from observability/prometheus.yml.in and the rules of observability/rules/.
# See docs/observability.md.
#
#   prometheus.sh install                   apt-get install prometheus if absent (idempotent); the
#                                           package's own service is stopped and disabled
#   prometheus.sh config RUNDIR APP_PORT SCHEDULER_METRICS_PORT
#                                           render RUNDIR/prometheus.yml (every sidecar of
#                                           tools/devstack/apps.tsv) and check it with promtool
#   prometheus.sh start RUNDIR DATADIR PORT exec prometheus in the foreground on 127.0.0.1:PORT
#   prometheus.sh wait PORT [TIMEOUT_S]     wait until it is ready (30 s); PROMETHEUS_PID: fail at
#                                           once if that process dies
#   prometheus.sh reload PORT               re-read the config and the rules (POST /-/reload)
#   prometheus.sh check                     promtool check + test of the rules (observability/rules)
#   prometheus.sh prometheusrule            print the cluster's PrometheusRule made of the same rules
#                                           (deploy/base/observability/prometheusrule.yaml is its
#                                           output; tests/observability checks that it still is)
#
# Stopping: SIGTERM to its PID (Prometheus flushes and exits).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OBS="$ROOT/observability"

die() { echo "prometheus.sh: error: $*" >&2; exit 1; }
is_port() { [[ "$1" =~ ^[0-9]+$ ]] && (($1 >= 1 && $1 <= 65535)); }
running() {
    local st
    st="$(ps -o stat= -p "$1" 2>/dev/null)" && [[ -n "$st" && "$st" != Z* ]]
}

cmd_install() {
    if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
        [[ "$(id -u)" == 0 ]] || die "prometheus is not installed and installing it needs root: apt-get install prometheus"
        # No recommends: they would add prometheus-node-exporter and its service.
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus >&2 ||
            { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus >&2; } ||
            die "apt-get install prometheus failed"
        command -v prometheus >/dev/null && command -v promtool >/dev/null ||
            die "prometheus or promtool still not on PATH after apt-get install"
    fi
    # The package enables a system service (port 9090, /etc/prometheus). The dev stack runs its own
    # Prometheus on that port: stop and disable the package's where an init system started it.
    if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
        systemctl disable --now prometheus >&2 2>/dev/null || true
    else
        if pgrep -u prometheus -x prometheus >/dev/null 2>&1; then
            service prometheus stop >&2 2>/dev/null || true
        fi
        command -v update-rc.d >/dev/null && update-rc.d prometheus disable >/dev/null 2>&1 || true
    fi
    if pgrep -u prometheus -x prometheus >/dev/null 2>&1; then
        echo "prometheus.sh: note: the package's Prometheus (user prometheus) is still running;" \
            "it holds port 9090: stop it (service prometheus stop)" >&2
    fi
}

need_installed() {
    command -v prometheus >/dev/null && command -v promtool >/dev/null ||
        die "prometheus not installed (run: $0 install)"
}

# The sidecar targets, one static_config per app-id of apps.tsv (labelled app_id).
sidecar_targets() {
    local app _http _grpc metrics _var n=0
    while read -r app _http _grpc metrics _var; do
        is_port "$metrics" || die "apps.tsv: $app has no metrics port ($metrics)"
        printf '      - targets: ["127.0.0.1:%s"]\n        labels:\n          app_id: %s\n' "$metrics" "$app"
        n=$((n + 1))
    done < <(grep -v '^#' "$ROOT/tools/devstack/apps.tsv" | grep -v '^\s*$')
    ((n > 0)) || die "no app-ids in tools/devstack/apps.tsv"
}

cmd_config() {
    [[ $# -eq 3 ]] || die "usage: prometheus.sh config RUNDIR APP_PORT SCHEDULER_METRICS_PORT"
    local rundir="$1" app_port="$2" sched="$3" targets line
    is_port "$app_port" || die "APP_PORT must be a port number: $app_port"
    is_port "$sched" || die "SCHEDULER_METRICS_PORT must be a port number: $sched"
    need_installed
    mkdir -p "$rundir"
    targets="$(sidecar_targets)"
    while IFS= read -r line || [[ -n "$line" ]]; do
        if [[ "$line" == "@SIDECAR_TARGETS@" ]]; then
            printf '%s\n' "$targets"
            continue
        fi
        line="${line//@RULES_DIR@/$OBS/rules}"
        line="${line//@APP_PORT@/$app_port}"
        line="${line//@SCHEDULER_METRICS_PORT@/$sched}"
        printf '%s\n' "$line"
    done <"$OBS/prometheus.yml.in" >"$rundir/prometheus.yml.tmp"
    if grep -v '^\s*#' "$rundir/prometheus.yml.tmp" | grep -q '@[A-Z_]*@'; then
        rm -f "$rundir/prometheus.yml.tmp"
        die "unreplaced placeholder in $OBS/prometheus.yml.in"
    fi
    promtool check config "$rundir/prometheus.yml.tmp" >&2 || { rm -f "$rundir/prometheus.yml.tmp"; die "promtool rejects the rendered config"; }
    mv "$rundir/prometheus.yml.tmp" "$rundir/prometheus.yml"
    echo "$rundir/prometheus.yml"
}

cmd_start() {
    [[ $# -eq 3 ]] || die "usage: prometheus.sh start RUNDIR DATADIR PORT"
    local rundir="$1" data="$2" port="$3"
    is_port "$port" || die "PORT must be a port number: $port"
    need_installed
    [[ -f "$rundir/prometheus.yml" ]] || die "$rundir/prometheus.yml missing (run: $0 config ...)"
    mkdir -p "$data"
    exec prometheus --config.file="$rundir/prometheus.yml" --storage.tsdb.path="$data" \
        --storage.tsdb.retention.time=7d --web.listen-address="127.0.0.1:$port" \
        --web.enable-lifecycle --log.level=info
}

cmd_wait() {
    [[ $# -ge 1 && $# -le 2 ]] || die "usage: prometheus.sh wait PORT [TIMEOUT_S]"
    local port="$1" timeout="${2:-30}" deadline
    is_port "$port" || die "PORT must be a port number: $port"
    deadline=$((SECONDS + timeout))
    until curl -fsS -o /dev/null -m 2 "http://127.0.0.1:$port/-/ready" 2>/dev/null; do
        if [[ -n "${PROMETHEUS_PID:-}" ]] && ! running "$PROMETHEUS_PID"; then
            die "prometheus (pid $PROMETHEUS_PID) exited while starting"
        fi
        ((SECONDS < deadline)) || die "prometheus not ready on 127.0.0.1:$port after ${timeout}s"
        sleep 0.25
    done
}

cmd_reload() {
    [[ $# -eq 1 ]] && is_port "$1" || die "usage: prometheus.sh reload PORT"
    curl -fsS -X POST -m 10 "http://127.0.0.1:$1/-/reload" >/dev/null || die "reload on port $1 failed"
}

cmd_check() {
    need_installed
    promtool check rules "$OBS/rules/recording.yml" "$OBS/rules/alerts.yml"
    promtool test rules "$OBS"/rules/tests/*.yml
}

# The groups of a rules file (everything after its `groups:` line), indented for spec.groups.
groups_of() {
    awk 'found { print (length($0) ? "  " $0 : $0) } /^groups:/ { found = 1 }' "$1"
}

cmd_prometheusrule() {
    cat <<'HEADER'
# The event metrics' recording rules and alerts for prometheus-operator: GENERATED from
# observability/rules/recording.yml and alerts.yml by `tools/prometheus/prometheus.sh
# prometheusrule` (tests/observability checks that this file is its output). Edit those, not this.
# Select it in your Prometheus (ruleSelector; kube-prometheus-stack: label release=<its release>).
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: todo-events
spec:
  groups:
HEADER
    groups_of "$OBS/rules/recording.yml"
    groups_of "$OBS/rules/alerts.yml"
}

[[ $# -ge 1 ]] || die "usage: prometheus.sh install|config|start|wait|reload|check|prometheusrule ..."
cmd="$1"
shift
case "$cmd" in
install) cmd_install "$@" ;;
config) cmd_config "$@" ;;
start) cmd_start "$@" ;;
wait) cmd_wait "$@" ;;
reload) cmd_reload "$@" ;;
check) cmd_check "$@" ;;
prometheusrule) cmd_prometheusrule "$@" ;;
*) die "unknown command $cmd (install|config|start|wait|reload|check|prometheusrule)" ;;
esac
