#!/usr/bin/env bash
# Pushpin (GRIP proxy, Debian bookworm package `pushpin` 1.36) for the dev stack: it holds the
# browsers' SSE and WebSocket connections for the stateless `realtime` component. See docs/pushpin.md.
#
#   pushpin.sh install                          apt-get install pushpin if absent (idempotent)
#   pushpin.sh config RUNDIR APP_PORT HTTP_PORT PORT_OFFSET
#                                               render RUNDIR/pushpin.conf and RUNDIR/routes
#   pushpin.sh start RUNDIR                     exec the pushpin runner in the foreground
#   pushpin.sh wait HTTP_PORT [TIMEOUT_S] [PORT_OFFSET]
#                                               wait until clients and publishes are served (30 s)
#   pushpin.sh publish-url [RUNDIR|PORT_OFFSET] print http://127.0.0.1:<5561+offset>/publish/
#   pushpin.sh stop PID                         SIGTERM the runner, wait until it and its children exit
#
# Ports, all bound on 127.0.0.1: HTTP_PORT (clients: condure), and pushpin-handler's
# 5560/5561/5562/5563 + PORT_OFFSET (ZeroMQ PULL, HTTP publish API, ZeroMQ SUB, ZeroMQ command).
# The services talk to each other over ZeroMQ ipc sockets in RUNDIR.
# Environment: PUSHPIN_LOGDIR (config; default RUNDIR/log), PUSHPIN_LOG_LEVEL (config; 2),
# PUSHPIN_SIG_KEY (config; changeme), PUSHPIN_PORT_OFFSET (wait, publish-url; 0), PUSHPIN_PID
# (wait: fail at once if it dies; ready only once it is the runner), PUSHPIN_WAIT_APP=1 (wait: the
# app behind Pushpin must answer too), PUSHPIN_SEPARATE_LOGS=1 (start: services log to
# LOGDIR/<service>.log instead of the runner's stdout).
#
# Stopping: SIGTERM (or SIGINT) to the runner's PID. The runner starts condure, zurl,
# pushpin-proxy and pushpin-handler each in a process group of its own (same session), SIGTERMs
# them, and exits 0 when all have exited (~20 ms); `kill -TERM -- -PID` (the process group the
# dev stack signals for a part started with setsid) reaches only the runner, which is enough.
# If one service dies, the runner stops the others and exits 1. SIGKILL to the runner leaves the
# services running (reparented to init, still in the runner's session): `pgrep -s PID` finds them.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

die() { echo "pushpin.sh: error: $*" >&2; exit 1; }

# A live process (zombies do not count: a runner reparented to init stays one until it is reaped).
running() {
    local st
    st="$(ps -o stat= -p "$1" 2>/dev/null)" && [[ -n "$st" && "$st" != Z* ]]
}

is_port() { [[ "$1" =~ ^[0-9]+$ ]] && (($1 >= 1 && $1 <= 65535)); }

cmd_install() {
    if command -v pushpin >/dev/null && command -v condure >/dev/null && command -v zurl >/dev/null; then
        return 0
    fi
    [[ "$(id -u)" == 0 ]] || die "pushpin is not installed and installing it needs root: apt-get install pushpin"
    # condure and zurl by name: pushpin depends on "condure | mongrel2-core" and on zurl. The
    # package enables its own system service (pushpin.service, on port 7999 with /etc/pushpin);
    # the dev stack never uses it (where policy-rc.d allows, stop it: systemctl disable --now pushpin).
    local pkgs=(pushpin condure zurl)
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${pkgs[@]}" >&2 ||
        { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${pkgs[@]}" >&2; } ||
        die "apt-get install ${pkgs[*]} failed"
    command -v pushpin >/dev/null || die "pushpin still not on PATH after apt-get install"
    if command -v systemctl >/dev/null && systemctl is-active --quiet pushpin 2>/dev/null; then
        echo "pushpin.sh: note: the package's system service pushpin.service is running (port 7999);" \
            "the dev stack does not need it: systemctl disable --now pushpin" >&2
    fi
}

need_installed() {
    command -v pushpin >/dev/null || die "pushpin not installed (run: $0 install)"
}

render() { # TEMPLATE OUTPUT NAME=VALUE...: replace @NAME@ on every line that is not a comment
    local in="$1" out="$2" line kv bad
    shift 2
    while IFS= read -r line || [[ -n "$line" ]]; do
        if [[ "$line" != \#* ]]; then
            for kv in "$@"; do
                line="${line//@${kv%%=*}@/${kv#*=}}"
            done
        fi
        printf '%s\n' "$line"
    done <"$in" >"$out.tmp.$$"
    if bad="$(grep -v '^#' "$out.tmp.$$" | grep -o '@[A-Z_]*@')"; then
        rm -f "$out.tmp.$$"
        die "unreplaced placeholder(s) in $in: $(sort -u <<<"$bad" | tr '\n' ' ')"
    fi
    mv "$out.tmp.$$" "$out"
}

cmd_config() {
    [[ $# -eq 4 ]] || die "usage: pushpin.sh config RUNDIR APP_PORT HTTP_PORT PORT_OFFSET"
    local app_port="$2" http_port="$3" offset="$4" rundir logdir
    is_port "$app_port" || die "APP_PORT must be a port number: $app_port"
    is_port "$http_port" || die "HTTP_PORT must be a port number: $http_port"
    [[ "$offset" =~ ^[0-9]+$ ]] && is_port $((5563 + offset)) || die "PORT_OFFSET must be 0..59972: $offset"
    rundir="$(realpath -m "$1")"
    # ZeroMQ ipc endpoints are unix sockets: sun_path holds 107 bytes. The longest name is
    # pushpin-condure-out-stream (26 bytes) plus "/".
    ((${#rundir} + 27 <= 107)) || die "RUNDIR path too long for ZeroMQ ipc sockets (${#rundir} bytes, max 80): $rundir"
    logdir="$(realpath -m "${PUSHPIN_LOGDIR:-$rundir/log}")"
    mkdir -p "$rundir" "$logdir"
    local sig_key="${PUSHPIN_SIG_KEY:-changeme}"
    [[ "$sig_key" =~ ^[A-Za-z0-9._:+/=-]+$ ]] || die "PUSHPIN_SIG_KEY: letters, digits and ._:+/=- only"
    render "$HERE/routes.in" "$rundir/routes" "APP_PORT=$app_port"
    render "$HERE/pushpin.conf.in" "$rundir/pushpin.conf" \
        "RUNDIR=$rundir" "LOGDIR=$logdir" "HTTP_PORT=$http_port" "PORT_OFFSET=$offset" \
        "ROUTESFILE=$rundir/routes" "SIG_KEY=$sig_key" "LOG_LEVEL=${PUSHPIN_LOG_LEVEL:-2}"
    # pushpin-proxy watches the routes file and reloads it; the rest needs a restart.
}

conf_value() { # file key -> value of the first "key=value" line
    sed -n "s/^$2=//p" "$1" | head -n 1
}

cmd_start() {
    [[ $# -eq 1 ]] || die "usage: pushpin.sh start RUNDIR"
    need_installed
    local conf="$1/pushpin.conf" pidf
    [[ -f "$conf" ]] || die "$conf missing (run: $0 config ...)"
    conf="$(cd "$1" && pwd)/pushpin.conf"
    # A previous runner killed with SIGKILL leaves its services running on the same ipc sockets
    # and ports: refuse rather than start a second set that cannot bind.
    for pidf in "$(dirname "$conf")"/*.pid; do
        [[ -f "$pidf" ]] || continue
        local p
        p="$(cat "$pidf" 2>/dev/null || true)"
        if [[ -n "$p" ]] && running "$p" &&
            tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- "$(dirname "$conf")"; then
            die "a Pushpin service from an earlier run is still alive (pid $p, $pidf): stop it first"
        fi
    done
    local merge=(--merge-output)
    [[ "${PUSHPIN_SEPARATE_LOGS:-0}" == 1 ]] && merge=()
    # A command started with & by a non-interactive shell inherits SIGINT ignored, and the runner
    # keeps it ignored: reset it so that SIGINT stops Pushpin like SIGTERM does.
    exec env --default-signal=INT pushpin --config "$conf" "${merge[@]}"
}

# Ready = condure, pushpin-proxy and pushpin-handler serve:
# - a request on the client port gets an HTTP answer: the app's own (any status) or, while the app
#   is not up, Pushpin's 502 "Error while proxying to origin." (zurl answered connection refused;
#   without a zurl the request would hang instead). With PUSHPIN_WAIT_APP=1 the 502 does not
#   count: the app must answer too.
# - the publish API answers 200 to an empty item list (POST {"items":[]} publishes nothing).
cmd_wait() {
    [[ $# -ge 1 && $# -le 3 ]] || die "usage: pushpin.sh wait HTTP_PORT [TIMEOUT_S] [PORT_OFFSET]"
    local http_port="$1" timeout="${2:-30}" offset="${3:-${PUSHPIN_PORT_OFFSET:-0}}"
    is_port "$http_port" || die "HTTP_PORT must be a port number: $http_port"
    [[ "$timeout" =~ ^[0-9]+$ ]] || die "TIMEOUT_S must be a number of seconds: $timeout"
    [[ "$offset" =~ ^[0-9]+$ ]] || die "PORT_OFFSET must be a number: $offset"
    local pub="http://127.0.0.1:$((5561 + offset))/publish/" deadline=$((SECONDS + timeout)) code pcode ok
    while :; do
        if [[ -n "${PUSHPIN_PID:-}" ]] && ! running "$PUSHPIN_PID"; then
            die "pushpin (pid $PUSHPIN_PID) exited while starting"
        fi
        pcode="$(curl -s -o /dev/null -w '%{http_code}' -m 2 -H 'Content-Type: application/json' \
            --data '{"items":[]}' "$pub" 2>/dev/null || true)"
        code="$(curl -s -o /dev/null -w '%{http_code}' -m 5 \
            "http://127.0.0.1:$http_port/.pushpin-ready" 2>/dev/null || true)"
        ok=0
        if [[ "$pcode" == 200 && "$code" =~ ^[1-5][0-9][0-9]$ ]]; then
            ok=1
            [[ "${PUSHPIN_WAIT_APP:-0}" == 1 && "$code" == 502 ]] && ok=0
        fi
        # with PUSHPIN_PID: only once that process is the runner itself (start has exec'd
        # pushpin), so that another instance answering on the same ports is not taken for it
        if ((ok)) && [[ -z "${PUSHPIN_PID:-}" || "$(ps -o comm= -p "$PUSHPIN_PID" 2>/dev/null)" == pushpin ]]; then
            return 0
        fi
        ((SECONDS < deadline)) || die "pushpin not ready after ${timeout}s (client port $http_port: ${code:-no answer}; publish $pub: ${pcode:-no answer})"
        sleep 0.25
    done
}

cmd_publish_url() {
    [[ $# -le 1 ]] || die "usage: pushpin.sh publish-url [RUNDIR|PORT_OFFSET]"
    local offset="${1:-${PUSHPIN_PORT_OFFSET:-0}}"
    if [[ -d "$offset" ]]; then
        [[ -f "$offset/pushpin.conf" ]] || die "$offset/pushpin.conf missing"
        offset="$(conf_value "$offset/pushpin.conf" port_offset)"
    fi
    [[ "$offset" =~ ^[0-9]+$ ]] || die "PORT_OFFSET must be a number: $offset"
    echo "http://127.0.0.1:$((5561 + offset))/publish/"
}

cmd_stop() {
    [[ $# -eq 1 && "$1" =~ ^[0-9]+$ ]] || die "usage: pushpin.sh stop PID"
    local pid="$1" kids k left
    running "$pid" || return 0
    # the services are the runner's children, each in a process group of its own
    kids="$(pgrep -P "$pid" 2>/dev/null | tr '\n' ' ' || true)"
    kill -TERM "$pid"
    for _ in $(seq 1 60); do
        left=""
        running "$pid" && left="$pid "
        for k in $kids; do running "$k" && left+="$k "; done
        [[ -z "$left" ]] && return 0
        sleep 0.25
    done
    die "still running 15s after SIGTERM to the runner $pid: $left"
}

[[ $# -ge 1 ]] || die "usage: pushpin.sh install|config|start|wait|publish-url|stop ..."
cmd="$1"
shift
case "$cmd" in
install) cmd_install "$@" ;;
config) cmd_config "$@" ;;
start) cmd_start "$@" ;;
wait) cmd_wait "$@" ;;
publish-url) cmd_publish_url "$@" ;;
stop) cmd_stop "$@" ;;
*) die "unknown command: $cmd (install|config|start|wait|publish-url|stop)" ;;
esac
