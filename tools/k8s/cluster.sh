#!/usr/bin/env bash
# A real Kubernetes control plane without nodes, on 127.0.0.1, from the binaries that
# tools/k8s/build.sh builds (docs/k8s.md): etcd, kube-apiserver (client-cert authentication,
# RBAC, default admission plugins), kube-controller-manager (Deployments make ReplicaSets, the HPA
# controller runs; with no node, pods stay Pending), the CRDs of ../shared/reference/crds/, the
# SpinAppExecutor containerd-shim-spin + RuntimeClass wasmtime-spin-v2, and SpinKube's
# spin-operator (webhooks off).
#
# Usage: tools/k8s/cluster.sh up|down|status|kubeconfig|env|clean
#   up          build what is missing (build.sh), start everything, wait until each part is ready
#   down        stop exactly the processes `up` started (SIGTERM, SIGKILL after K8S_STOP_TIMEOUT s)
#   status      each part: pid, alive, healthy; exit 0 only if all are
#   kubeconfig  print the admin kubeconfig's path
#   env         print `export KUBECONFIG=... PATH=...` lines, for: eval "$(tools/k8s/cluster.sh env)"
#   clean       delete the run folder (etcd's data, certificates); refused while running
#
# Settings (environment): K8S_RUN (run folder: pids, certs, etcd data, kubeconfigs; default
# ~/.cache/todo-events/run/k8s), K8S_LOGS (default ~/.cache/todo-events/logs/k8s), K8S_PORT
# (kube-apiserver, 6443), K8S_ETCD_PORT (12379; peer port K8S_ETCD_PEER_PORT, 12380; not 2379, which
# the Dapr Scheduler's embedded etcd takes), K8S_KCM_PORT (10257), K8S_OPERATOR_PROBE_PORT (18081),
# K8S_NAMESPACES (namespaces created with the SpinAppExecutor in them; "todo default"),
# K8S_SKIP_BUILD=1 (do not run build.sh), K8S_READY_TIMEOUT (seconds per part, 120),
# K8S_STOP_TIMEOUT (15).
#
# Every process runs in a session of its own (setsid) with its PID in $K8S_RUN/pids/; `down` stops
# those PIDs only, after checking that each still runs the binary it was started from. A failure
# or Ctrl-C during `up` stops what that `up` had started.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${TODO_EVENTS_CACHE:-$HOME/.cache/todo-events}"
BIN="$CACHE/bin"
SHARED="${TODO_EVENTS_SHARED:-$(cd "$ROOT/.." && pwd)/shared}"
CRDS="$SHARED/reference/crds"
RUN="${K8S_RUN:-$CACHE/run/k8s}"
LOGS="${K8S_LOGS:-$CACHE/logs/k8s}"
PKI="$RUN/pki"
PIDS="$RUN/pids"
KUBECONFIG_FILE="$RUN/admin.kubeconfig"
SETTINGS="$RUN/cluster.env"
PARTS=(etcd kube-apiserver kube-controller-manager spin-operator) # start order; stopped in reverse
SERVICE_CIDR=10.96.0.0/12
SERVICE_IP=10.96.0.1 # the first address of SERVICE_CIDR: the `kubernetes` Service's ClusterIP
READY_TIMEOUT="${K8S_READY_TIMEOUT:-120}"
STOP_TIMEOUT="${K8S_STOP_TIMEOUT:-15}"

say() { echo "k8s: $*"; }
die() {
    echo "k8s: ERROR: $*" >&2
    exit 1
}

# Ports: those of the running instance (from $SETTINGS) win over the environment, so that `status`
# and `down` find what `up` started even when the variables are no longer set.
load_settings() {
    PORT="${K8S_PORT:-6443}"
    ETCD_PORT="${K8S_ETCD_PORT:-12379}"
    ETCD_PEER_PORT="${K8S_ETCD_PEER_PORT:-12380}"
    KCM_PORT="${K8S_KCM_PORT:-10257}"
    OPERATOR_PROBE_PORT="${K8S_OPERATOR_PROBE_PORT:-18081}"
    NAMESPACES="${K8S_NAMESPACES:-todo default}"
    if [ -f "$SETTINGS" ] && any_alive; then
        # shellcheck disable=SC1090
        . "$SETTINGS"
    fi
}

save_settings() {
    cat >"$SETTINGS" <<EOF
PORT=$PORT
ETCD_PORT=$ETCD_PORT
ETCD_PEER_PORT=$ETCD_PEER_PORT
KCM_PORT=$KCM_PORT
OPERATOR_PROBE_PORT=$OPERATOR_PROBE_PORT
NAMESPACES="$NAMESPACES"
EOF
}

# --- processes --------------------------------------------------------------------------------

pid_of() { cat "$PIDS/$1.pid" 2>/dev/null || true; }

# Alive = the PID exists, is no zombie, and runs $BIN/<part> (a PID reused by another program is not ours).
alive() { # $1: part
    local pid exe state
    pid="$(pid_of "$1")"
    [ -n "$pid" ] && [ -e "/proc/$pid" ] || return 1
    state="$(sed 's/^.*) \(.\).*/\1/' "/proc/$pid/stat" 2>/dev/null || echo X)"
    [ "$state" != Z ] && [ "$state" != X ] || return 1
    exe="$(readlink "/proc/$pid/exe" 2>/dev/null || true)"
    exe="${exe% (deleted)}" # the binary was rebuilt (replaced) while it ran: still ours
    [ "$exe" = "$(exe_of "$1")" ]
}

# The program a part runs: $BIN/<part>, unless the node mode (node.sh) says otherwise.
exe_of() { echo "$BIN/$1"; }

any_alive() {
    local p
    for p in "${PARTS[@]}"; do alive "$p" && return 0; done
    return 1
}

# Starts $BIN/<part> with the given arguments in a session of its own, stdin /dev/null, output to
# $LOGS/<part>.log; the PID it gets (written by the process itself before exec, so it is right even
# if setsid had to fork) goes to pids/<part>.pid.
start() { # $1: part, then its arguments
    local part="$1" i
    shift
    rm -f "$PIDS/$part.pid"
    say "starting $part (log: $LOGS/$part.log)"
    {
        echo "=== $(date -u +%FT%TZ) $(exe_of "$part") $*"
    } >>"$LOGS/$part.log"
    # The wrapper closes every inherited descriptor above 2 (a caller's pipe held open by a daemon
    # would keep that caller waiting for end-of-file forever).
    setsid bash -c 'echo $$ >"$0"
        for fd in /proc/$$/fd/*; do fd="${fd##*/}"; [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null; done
        exec "$@"' "$PIDS/$part.pid" "$(exe_of "$part")" "$@" >>"$LOGS/$part.log" 2>&1 </dev/null &
    for i in $(seq 50); do
        [ -s "$PIDS/$part.pid" ] && alive "$part" && return 0
        sleep 0.1
    done
    die "$part did not start; the end of $LOGS/$part.log:"$'\n'"$(tail -n 20 "$LOGS/$part.log")"
}

stop() { # $1: part
    local part="$1" pid i
    pid="$(pid_of "$part")"
    if [ -z "$pid" ]; then
        return 0
    fi
    if ! alive "$part"; then
        wait "$pid" 2>/dev/null || true # reap it if it is our child
        rm -f "$PIDS/$part.pid"
        return 0
    fi
    say "stopping $part (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq $((STOP_TIMEOUT * 10))); do
        alive "$part" || break
        sleep 0.1
    done
    if alive "$part"; then
        say "$part (pid $pid) still runs after ${STOP_TIMEOUT}s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for i in $(seq 50); do
            alive "$part" || break
            sleep 0.1
        done
    fi
    wait "$pid" 2>/dev/null || true
    alive "$part" && die "$part (pid $pid) would not stop"
    rm -f "$PIDS/$part.pid"
}

stop_all() {
    local i
    for ((i = ${#PARTS[@]} - 1; i >= 0; i--)); do stop "${PARTS[$i]}"; done
}

port_in_use() { (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Polls until `curl <args>` answers 200 with a body matching $3; fails early if the part died.
wait_ready() { # $1: part, $2: what (for messages), $3: body regex, then curl arguments
    local part="$1" what="$2" want="$3" body deadline
    shift 3
    deadline=$((SECONDS + READY_TIMEOUT))
    while :; do
        body="$(curl -fsS --max-time 5 "$@" 2>/dev/null || true)"
        if [[ "$body" =~ $want ]]; then
            say "$part is ready ($what)"
            return 0
        fi
        if ! alive "$part"; then
            die "$part exited; the end of $LOGS/$part.log:"$'\n'"$(tail -n 30 "$LOGS/$part.log")"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            die "$part not ready after ${READY_TIMEOUT}s ($what answered: ${body:-nothing}); the end of $LOGS/$part.log:"$'\n'"$(tail -n 30 "$LOGS/$part.log")"
        fi
        sleep 0.5
    done
}

# --- certificates and kubeconfigs -------------------------------------------------------------

# A CA, the API server's serving certificate, client certificates (admin and spin-operator in
# system:masters; kube-controller-manager as system:kube-controller-manager, which RBAC's bootstrap
# policy knows) and the service-account signing key. Made once per run folder (openssl).
# $1: the CA's name, $2: the API server's subjectAltNames before the loopback ones (e.g.
# "IP:10.244.0.1,"), then "name|subject" of each further client certificate.
make_pki() {
    local ca="$1" sans="$2"
    shift 2
    [ -f "$PKI/complete" ] && return 0
    command -v openssl >/dev/null || die "openssl not found (needed for the cluster's certificates)"
    say "making certificates in $PKI"
    rm -rf "$PKI"
    mkdir -p "$PKI"
    (
        cd "$PKI"
        umask 077
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
            -keyout ca.key -out ca.crt -subj "/CN=$ca" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
        # name, subject, extensions
        sign() {
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
                -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
            printf '%s\n' "$3" >"$1.ext"
            openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
                -out "$1.crt" -extfile "$1.ext" 2>/dev/null
            rm -f "$1.csr" "$1.ext"
        }
        sign apiserver "/CN=kube-apiserver" \
            "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=${sans}IP:127.0.0.1,DNS:localhost,IP:$SERVICE_IP,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
        client="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
        sign admin "/O=system:masters/CN=kubernetes-admin" "$client"
        sign spin-operator "/O=system:masters/CN=spin-operator" "$client"
        sign kube-controller-manager "/CN=system:kube-controller-manager" "$client"
        for c in "$@"; do sign "${c%%|*}" "${c#*|}" "$client"; done
        openssl genrsa -out sa.key 2048 2>/dev/null
        openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
        touch complete
    ) || die "openssl failed making certificates in $PKI"
}

# $1: file, $2: client cert name (in $PKI), $3: the API server's address (default 127.0.0.1),
# $4: the cluster's name in it (default todo-events).
write_kubeconfig() {
    local name="${4:-todo-events}"
    cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $name
  cluster:
    server: https://${3:-127.0.0.1}:$PORT
    certificate-authority: $PKI/ca.crt
users:
- name: $2
  user:
    client-certificate: $PKI/$2.crt
    client-key: $PKI/$2.key
contexts:
- name: $name
  context:
    cluster: $name
    user: $2
current-context: $name
EOF
    chmod 600 "$1"
}

kubectl() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

# --- subcommands ------------------------------------------------------------------------------

# etcd of the cluster named $1 (data in $RUN/etcd), on the loopback ports of the settings.
start_etcd() {
    start etcd --name "$1" --data-dir "$RUN/etcd" \
        --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
        --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-cluster "$1=http://127.0.0.1:$ETCD_PEER_PORT" \
        --log-level warn --unsafe-no-fsync
    wait_ready etcd "/health" '"health":"true"' "http://127.0.0.1:$ETCD_PORT/health"
}

# kube-apiserver bound to and advertising $1, with the flags both clusters share, then the rest of
# the arguments (the cluster's own: authorization, admission, kubelet client).
start_apiserver() {
    local addr="$1"
    shift
    start kube-apiserver \
        --bind-address="$addr" --advertise-address="$addr" --secure-port="$PORT" \
        --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
        --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
        --client-ca-file="$PKI/ca.crt" \
        --service-cluster-ip-range="$SERVICE_CIDR" \
        --service-account-issuer=https://kubernetes.default.svc.cluster.local \
        --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
        "$@" --profiling=false --v=1
    wait_ready kube-apiserver "/readyz" '^ok$' --cacert "$PKI/ca.crt" \
        --cert "$PKI/admin.crt" --key "$PKI/admin.key" "https://$addr:$PORT/readyz"
}

start_controller_manager() {
    start kube-controller-manager \
        --kubeconfig="$RUN/kube-controller-manager.kubeconfig" \
        --authentication-kubeconfig="$RUN/kube-controller-manager.kubeconfig" \
        --authorization-kubeconfig="$RUN/kube-controller-manager.kubeconfig" \
        --bind-address=127.0.0.1 --secure-port="$KCM_PORT" \
        --use-service-account-credentials=true \
        --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
        --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
        --service-cluster-ip-range="$SERVICE_CIDR" \
        --leader-elect=false --profiling=false --v=1
    wait_ready kube-controller-manager "/healthz" '^ok$' -k "https://127.0.0.1:$KCM_PORT/healthz"
}

# The CRDs of $CRDS (the rest of the arguments go to their `kubectl apply`), then in each namespace
# of $1 the SpinAppExecutor, and the RuntimeClass.
apply_crds_and_executors() {
    local namespaces="$1" p
    shift
    say "installing the CRDs of $CRDS"
    kubectl apply --server-side "$@" --field-manager=todo-events-k8s -f "$CRDS" >/dev/null
    kubectl wait --for=condition=Established --timeout=60s -f "$CRDS" >/dev/null
    say "$(ls "$CRDS"/*.yaml | wc -l) CRD files applied, all Established"
    for p in $namespaces; do
        kubectl create namespace "$p" --dry-run=client -o yaml |
            kubectl apply --server-side --field-manager=todo-events-k8s -f - >/dev/null
        kubectl apply --server-side --field-manager=todo-events-k8s --validate=strict \
            -n "$p" -f "$HERE/spinappexecutor.yaml" >/dev/null
    done
    kubectl apply --server-side --field-manager=todo-events-k8s --validate=strict \
        -f "$HERE/runtimeclass.yaml" >/dev/null
}

cmd_up() {
    local t0=$SECONDS p missing=()
    mkdir -p "$RUN" "$PIDS" "$LOGS"
    if any_alive; then
        local all=1
        for p in "${PARTS[@]}"; do alive "$p" || all=0; done
        if [ "$all" = 1 ]; then
            say "already up (KUBECONFIG=$KUBECONFIG_FILE); \`$0 down\` stops it"
            return 0
        fi
        cmd_status || true
        die "partly running: run \`$0 down\` first"
    fi
    [ -d "$CRDS" ] || die "no CRD folder $CRDS"
    command -v curl >/dev/null || die "curl not found"
    if [ "${K8S_SKIP_BUILD:-0}" != 1 ]; then
        "$HERE/build.sh" etcd kube-apiserver kube-controller-manager kubectl spin-operator
    fi
    for p in "${PARTS[@]}" kubectl; do [ -x "$BIN/$p" ] || missing+=("$p"); done
    [ "${#missing[@]}" -eq 0 ] || die "missing in $BIN: ${missing[*]} (run tools/k8s/build.sh)"
    for p in "$PORT" "$ETCD_PORT" "$ETCD_PEER_PORT" "$KCM_PORT" "$OPERATOR_PROBE_PORT"; do
        port_in_use "$p" && die "port 127.0.0.1:$p is taken (set K8S_PORT, K8S_ETCD_PORT, K8S_ETCD_PEER_PORT, K8S_KCM_PORT or K8S_OPERATOR_PROBE_PORT)"
    done

    UP_DONE=0
    # The trap may fire inside a command whose output goes to /dev/null: it writes to the saved
    # stdout/stderr (fds 3 and 4).
    exec 3>&1 4>&2
    trap 'if [ "$UP_DONE" = 0 ]; then echo "k8s: up failed or was interrupted: stopping what it started" >&4; stop_all >&3 2>&4; fi' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM HUP
    save_settings
    make_pki todo-events-k8s-ca ""
    write_kubeconfig "$KUBECONFIG_FILE" admin
    write_kubeconfig "$RUN/kube-controller-manager.kubeconfig" kube-controller-manager
    write_kubeconfig "$RUN/spin-operator.kubeconfig" spin-operator

    start_etcd todo-events
    start_apiserver 127.0.0.1 --authorization-mode=RBAC --endpoint-reconciler-type=none
    start_controller_manager
    apply_crds_and_executors "$NAMESPACES"
    say "SpinAppExecutor containerd-shim-spin in namespaces: $NAMESPACES; RuntimeClass wasmtime-spin-v2"

    start spin-operator --kubeconfig="$RUN/spin-operator.kubeconfig" \
        --metrics-bind-address=127.0.0.1:0 \
        --health-probe-bind-address="127.0.0.1:$OPERATOR_PROBE_PORT"
    wait_ready spin-operator "/readyz" '^ok$' "http://127.0.0.1:$OPERATOR_PROBE_PORT/readyz"

    UP_DONE=1
    trap - EXIT INT TERM HUP
    say "up in $((SECONDS - t0)) s: https://127.0.0.1:$PORT, KUBECONFIG=$KUBECONFIG_FILE (logs: $LOGS)"
}

cmd_down() {
    if [ ! -d "$PIDS" ] || ! ls "$PIDS"/*.pid >/dev/null 2>&1; then
        say "not running"
        return 0
    fi
    stop_all
    say "down"
}

cmd_status() {
    local p pid ok=0 health
    for p in "${PARTS[@]}"; do
        pid="$(pid_of "$p")"
        if alive "$p"; then
            case "$p" in
            etcd) health="$(curl -fsS --max-time 3 "http://127.0.0.1:$ETCD_PORT/health" 2>/dev/null || echo unhealthy)" ;;
            kube-apiserver) health="readyz: $(curl -fsS --max-time 3 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" \
                --key "$PKI/admin.key" "https://127.0.0.1:$PORT/readyz" 2>/dev/null || echo unhealthy)" ;;
            kube-controller-manager) health="healthz: $(curl -fsSk --max-time 3 "https://127.0.0.1:$KCM_PORT/healthz" 2>/dev/null || echo unhealthy)" ;;
            spin-operator) health="readyz: $(curl -fsS --max-time 3 "http://127.0.0.1:$OPERATOR_PROBE_PORT/readyz" 2>/dev/null || echo unhealthy)" ;;
            esac
            [[ "$health" == *unhealthy* ]] && ok=1
            printf '%-24s pid %-8s %s\n' "$p" "$pid" "$health"
        else
            ok=1
            printf '%-24s %s\n' "$p" "not running${pid:+ (stale pid $pid)}"
        fi
    done
    return "$ok"
}

cmd_clean() {
    any_alive && die "running: \`$0 down\` first"
    rm -rf "$RUN"
    say "removed $RUN"
}

# `--node` (anywhere after the subcommand): the one-node cluster of node.sh instead.
NODE_MODE=0
args=()
for a in "$@"; do
    if [ "$a" = --node ]; then NODE_MODE=1; else args+=("$a"); fi
done
set -- "${args[@]}"
if [ "$NODE_MODE" = 1 ]; then
    # shellcheck source=node.sh
    . "$HERE/node.sh"
    node_main "$@"
    exit $?
fi

load_settings
case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
kubeconfig) echo "$KUBECONFIG_FILE" ;;
env)
    printf 'export KUBECONFIG=%q\n' "$KUBECONFIG_FILE"
    printf 'export PATH=%q:"$PATH"\n' "$BIN"
    ;;
clean) cmd_clean ;;
*)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
