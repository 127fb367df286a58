#!/usr/bin/env bash
# The dev stack's load balancer in front of the app's replicas (HAProxy, Debian bookworm package
# `haproxy` 2.6): what a Kubernetes Service is to the task-api pods. Pushpin sends the app's
# requests to it when the stack runs more than one app process (docs/replicas.md).
#
#   balancer.sh install                       apt-get install haproxy if absent (idempotent)
#   balancer.sh config RUNDIR PORT APP_PORT:CHECK_PORT...
#                                             render RUNDIR/haproxy.cfg: PORT in front of every APP_PORT
#   balancer.sh start RUNDIR                  exec HAProxy in the foreground (SIGTERM stops it)
#
# Round robin over the replicas whose task-api sidecar answers (GET /v1.0/healthz on CHECK_PORT
# every second; one failure takes a replica out, one success puts it back): in the dev stack one
# app process serves every component, and a replica without its task-api sidecar (one that runs
# only another app-id's extra replica) could not take a write. A request whose connection is
# refused (the app process is down) is sent to the next replica (`retry-on conn-failure`,
# `option redispatch`): it never reached an app, so it is safe to repeat whatever its method. A
# request a replica took and then died on is answered 502 (it may have committed: the client
# decides, as with any 5xx).
set -euo pipefail

die() { echo "balancer.sh: error: $*" >&2; exit 1; }
is_port() { [[ "$1" =~ ^[0-9]+$ ]] && (($1 >= 1 && $1 <= 65535)); }

cmd_install() {
    command -v haproxy >/dev/null && return 0
    [[ "$(id -u)" == 0 ]] || die "haproxy is not installed and installing it needs root: apt-get install haproxy"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends haproxy >&2 ||
        { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends haproxy >&2; } ||
        die "apt-get install haproxy failed"
    command -v haproxy >/dev/null || die "haproxy still not on PATH after apt-get install"
}

cmd_config() {
    [[ $# -ge 3 ]] || die "usage: balancer.sh config RUNDIR PORT APP_PORT:CHECK_PORT..."
    local rundir="$1" port="$2" p n=0 app check
    shift 2
    is_port "$port" || die "PORT must be a port number: $port"
    mkdir -p "$rundir"
    {
        cat <<EOF
# Rendered by tools/balancer/balancer.sh config; the dev stack's app replicas behind :$port.
global
    maxconn 4096

defaults
    mode http
    timeout connect 1s
    # Requests are short (Pushpin holds the streams, not the app): a minute is a hung replica.
    timeout client 60s
    timeout server 60s
    retries 3
    retry-on conn-failure
    option redispatch 1

frontend app
    bind 127.0.0.1:$port
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk
    http-check send meth GET uri /v1.0/healthz
    http-check expect status 204
    default-server inter 1s fall 1 rise 1
EOF
        for p in "$@"; do
            app="${p%%:*}" check="${p#*:}"
            is_port "$app" && is_port "$check" || die "APP_PORT:CHECK_PORT must be two port numbers: $p"
            n=$((n + 1))
            echo "    server replica$n 127.0.0.1:$app check port $check"
        done
    } >"$rundir/haproxy.cfg.tmp"
    mv "$rundir/haproxy.cfg.tmp" "$rundir/haproxy.cfg"
    haproxy -c -q -f "$rundir/haproxy.cfg" || die "haproxy -c refused $rundir/haproxy.cfg"
}

cmd_start() {
    [[ $# -eq 1 ]] || die "usage: balancer.sh start RUNDIR"
    [[ -f "$1/haproxy.cfg" ]] || die "$1/haproxy.cfg missing (run: $0 config ...)"
    # -db: foreground, no daemon; -W: master-worker (SIGTERM to the master stops the worker too).
    exec haproxy -W -db -f "$1/haproxy.cfg"
}

case "${1:-}" in
install) shift; cmd_install "$@" ;;
config) shift; cmd_config "$@" ;;
start) shift; cmd_start "$@" ;;
*) sed -n '2,/^set /p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
