# shellcheck shell=bash
# The one-node cluster of `tools/k8s/cluster.sh ... --node` (docs/k8s.md, "A node"); sourced by
# cluster.sh, which provides start/stop/alive/wait_ready/say/die. Needs root (network devices,
# routes, mounts, cgroups).
#
#   cluster.sh up --node        build what is missing (build.sh + build.sh node, tools/dapr/build.sh
#                               daprd scheduler control-plane), then: the node's network (bridge,
#                               routes, sysctls), the local registry, containerd, etcd,
#                               kube-apiserver, kube-controller-manager, kube-scheduler, kubelet
#                               (waits for the node to be Ready), kube-proxy, CoreDNS (a pod),
#                               spin-operator, Dapr's control plane from Dapr's own Helm chart (pods)
#   cluster.sh down --node      deletes the pods through the kubelet, stops every part, then removes
#                               what the node made (mounts, network namespaces, veths, bridges,
#                               routes, iptables rules, cgroups) and checks that nothing is left
#   cluster.sh status --node    each part's pid and health, the node's condition
#   cluster.sh env --node       export KUBECONFIG=... PATH=...
#   cluster.sh kubeconfig --node, cluster.sh clean --node (delete the run folder: etcd's data,
#                               certificates, registry content)
#
# Addresses (inside this machine only): pods 10.244.0.0/24 on the bridge todok8s0, whose address
# 10.244.0.1 is the node's address too (kube-apiserver, the kubelet, and whatever the machine
# serves to pods: Kafka, PostgreSQL of tests/cluster); Services 10.96.0.0/12 (DNS 10.96.0.10). A
# blackhole route holds the whole pod range 10.244.0.0/16 and the service range is routed into an
# empty bridge (todok8s-svc): a packet to either range that is not for a pod on this node goes
# nowhere, never out of the machine. Pods get no default route: they reach the pod network, the
# Services and the node's address, nothing else.
#
# Settings (environment): K8S_RUN (~/.cache/todo-events/run/k8s-node), K8S_LOGS
# (~/.cache/todo-events/logs/k8s-node), K8S_PORT (kube-apiserver, 26443 on 10.244.0.1),
# K8S_ETCD_PORT/K8S_ETCD_PEER_PORT (22379/22380), K8S_KCM_PORT (20257), K8S_SCHEDULER_PORT (20259),
# K8S_OPERATOR_PROBE_PORT (28081), K8S_REGISTRY_PORT (25000, on 127.0.0.1), K8S_SKIP_BUILD=1,
# K8S_READY_TIMEOUT (s, 180), K8S_STOP_TIMEOUT (s, 15), K8S_NO_DAPR=1 (no Dapr control plane),
# K8S_KEEP_ON_FAILURE=1 (a failed up is left as it is, to look at; `down --node` removes it),
# K8S_DAPR_BIN (the folder of the daprd, sentry, operator, injector, scheduler the images are made
# of; default ~/.cache/todo-events/bin, where tools/dapr/build.sh puts them).

RUN="${K8S_RUN:-$CACHE/run/k8s-node}"
LOGS="${K8S_LOGS:-$CACHE/logs/k8s-node}"
PKI="$RUN/pki"
PIDS="$RUN/pids"
KUBECONFIG_FILE="$RUN/admin.kubeconfig"
SETTINGS="$RUN/cluster.env"
READY_TIMEOUT="${K8S_READY_TIMEOUT:-180}"
DAPR_BIN="${K8S_DAPR_BIN:-$BIN}" # where Dapr's programs for the images are (tools/dapr/build.sh puts them in $BIN)
PARTS=(registry containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy spin-operator)

NODE_NAME=todo-node
BRIDGE=todok8s0
SVC_LINK=todok8s-svc
NODE_IP=10.244.0.1
NODE_POD_CIDR=10.244.0.0/24
POD_CIDR=10.244.0.0/16
SERVICE_CIDR=10.96.0.0/12
SERVICE_IP=10.96.0.1
DNS_IP=10.96.0.10
CNI_NETWORK=todo-events-k8s
CNI_BIN=/usr/lib/cni
PAUSE_VERSION=3.10.2
COREDNS_VERSION=1.15.0
DAPR_VERSION=1.18.3
DAPR_NAMESPACE=dapr-system
NODE_NAMESPACES="todo default"
# Host sysctls the node changes (kubelet sets the vm/kernel ones at start); `down` puts back what
# `up` found (saved in $RUN/sysctl.saved).
SYSCTLS=(net/ipv4/ip_forward net/bridge/bridge-nf-call-iptables vm/overcommit_memory vm/panic_on_oom
    kernel/panic kernel/panic_on_oops kernel/keys/root_maxkeys kernel/keys/root_maxbytes)

exe_of() {
    case "$1" in
    registry) echo /usr/bin/docker-registry ;;
    *) echo "$BIN/$1" ;;
    esac
}

load_settings() {
    PORT="${K8S_PORT:-26443}"
    ETCD_PORT="${K8S_ETCD_PORT:-22379}"
    ETCD_PEER_PORT="${K8S_ETCD_PEER_PORT:-22380}"
    KCM_PORT="${K8S_KCM_PORT:-20257}"
    SCHEDULER_PORT="${K8S_SCHEDULER_PORT:-20259}"
    OPERATOR_PROBE_PORT="${K8S_OPERATOR_PROBE_PORT:-28081}"
    REGISTRY_PORT="${K8S_REGISTRY_PORT:-25000}"
    if [ -f "$SETTINGS" ] && any_alive; then
        # shellcheck disable=SC1090
        . "$SETTINGS"
    fi
    # On the node's address: pods reach it (spintainer pods pull the app themselves), containerd too
    # (plain HTTP: certs.d/<registry>/hosts.toml), nothing outside the machine does.
    REGISTRY="$NODE_IP:$REGISTRY_PORT"
}

save_settings() {
    cat >"$SETTINGS" <<EOF
PORT=$PORT
ETCD_PORT=$ETCD_PORT
ETCD_PEER_PORT=$ETCD_PEER_PORT
KCM_PORT=$KCM_PORT
SCHEDULER_PORT=$SCHEDULER_PORT
OPERATOR_PROBE_PORT=$OPERATOR_PROBE_PORT
REGISTRY_PORT=$REGISTRY_PORT
EOF
}

kubectl() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" "$@"; }
ctr() { "$BIN/ctr" --address "$RUN/containerd/containerd.sock" "$@"; }

# --- certificates ------------------------------------------------------------------------------

# The certificates of make_pki with the node's address among the API server's names, and the
# node's own clients: the scheduler, kube-proxy, the kubelet, and the API server as the kubelet's
# client (logs, exec, port-forward; kubeadm's apiserver-kubelet-client).
node_pki() {
    make_pki todo-events-k8s-node-ca "IP:$NODE_IP," \
        "kube-scheduler|/CN=system:kube-scheduler" \
        "kube-proxy|/CN=system:kube-proxy" \
        "kubelet|/O=system:nodes/CN=system:node:$NODE_NAME" \
        "apiserver-kubelet-client|/O=system:masters/CN=kube-apiserver-kubelet-client"
}

node_kubeconfig() { write_kubeconfig "$1" "$2" "$NODE_IP" todo-events-node; } # $1: file, $2: client

# --- the node's network ------------------------------------------------------------------------

save_sysctls() {
    [ -f "$RUN/sysctl.saved" ] && return 0 # a previous up's originals (it was not taken down cleanly)
    local k
    for k in "${SYSCTLS[@]}"; do
        [ -f "/proc/sys/$k" ] && echo "$k $(cat "/proc/sys/$k")"
    done >"$RUN/sysctl.saved.tmp"
    mv "$RUN/sysctl.saved.tmp" "$RUN/sysctl.saved"
}

restore_sysctls() {
    [ -f "$RUN/sysctl.saved" ] || return 0
    local k v
    while read -r k v; do
        [ "$(cat "/proc/sys/$k" 2>/dev/null)" = "$v" ] || echo "$v" >"/proc/sys/$k" 2>/dev/null ||
            say "WARNING: could not restore $k to $v"
    done <"$RUN/sysctl.saved"
    rm -f "$RUN/sysctl.saved"
}

veths() { ip -o link show type veth 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | sort; }

network_up() {
    save_sysctls
    [ -f "$RUN/veths.before" ] || veths >"$RUN/veths.before" # the machine's own, not ours
    echo 1 >/proc/sys/net/ipv4/ip_forward
    [ -f /proc/sys/net/bridge/bridge-nf-call-iptables ] ||
        die "no /proc/sys/net/bridge (the kernel's br_netfilter): kube-proxy cannot see bridged pod traffic"
    echo 1 >/proc/sys/net/bridge/bridge-nf-call-iptables
    if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
        ip link add "$BRIDGE" type bridge
    fi
    ip addr replace "$NODE_IP/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
    if ! ip link show "$SVC_LINK" >/dev/null 2>&1; then
        ip link add "$SVC_LINK" type bridge # no port: what is routed in goes nowhere
    fi
    ip link set "$SVC_LINK" up
    # Services: a route the machine's own processes can connect through (a blackhole route would
    # refuse the connect before kube-proxy's DNAT), into a bridge with no port.
    ip route replace "$SERVICE_CIDR" dev "$SVC_LINK" src "$NODE_IP"
    # The whole pod range: nowhere but the node's own /24 (on the bridge, more specific).
    ip route replace blackhole "$POD_CIDR"
    mkdir -p "$RUN/cni/net.d" "$RUN/cni/ipam"
    cat >"$RUN/cni/net.d/10-$CNI_NETWORK.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$CNI_NETWORK",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$RUN/cni/ipam",
        "ranges": [[{"subnet": "$NODE_POD_CIDR", "gateway": "$NODE_IP"}]],
        "routes": [{"dst": "$SERVICE_CIDR"}]
      }
    }
  ]
}
EOF
}

# Everything the node may have left: called by `down` after every process is stopped, and by a
# failed `up`. Only names and paths of this node are touched.
network_down() {
    local l
    # veths of pods whose sandbox was not torn down through CNI
    for l in $(ip -o link show master "$BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
        ip link del "$l" 2>/dev/null || true
    done
    ip route del blackhole "$POD_CIDR" 2>/dev/null || true
    ip route del "$SERVICE_CIDR" dev "$SVC_LINK" 2>/dev/null || true
    ip link del "$SVC_LINK" 2>/dev/null || true
    ip link del "$BRIDGE" 2>/dev/null || true
    rm -rf "$RUN/cni/ipam" /var/lib/cni/results/"$CNI_NETWORK"-* 2>/dev/null || true
}

# iptables: kube-proxy removes its own rules (--cleanup); the kubelet's and any leftover KUBE-*
# / CNI-* chain are removed here, in every table.
iptables_down() {
    if [ -x "$BIN/kube-proxy" ]; then
        "$BIN/kube-proxy" --cleanup >>"$LOGS/kube-proxy.log" 2>&1 || true
    fi
    local table chain
    for table in filter nat mangle raw; do
        # rules that jump to our chains, then the chains
        { iptables -t "$table" -S 2>/dev/null || true; } | { grep -E '^-A .* -j (KUBE-|CNI-)' || true; } | sed 's/^-A/-D/' |
            while read -r rule; do eval "iptables -t $table $rule" 2>/dev/null || true; done
        for chain in $(iptables -t "$table" -S 2>/dev/null | awk '/^-N (KUBE-|CNI-)/{print $2}'); do
            iptables -t "$table" -F "$chain" 2>/dev/null || true
        done
        for chain in $(iptables -t "$table" -S 2>/dev/null | awk '/^-N (KUBE-|CNI-)/{print $2}'); do
            iptables -t "$table" -X "$chain" 2>/dev/null || true
        done
    done
    ip6tables_down
}

ip6tables_down() {
    local table chain
    command -v ip6tables >/dev/null || return 0
    for table in filter nat mangle raw; do
        { ip6tables -t "$table" -S 2>/dev/null || true; } | { grep -E '^-A .* -j (KUBE-|CNI-)' || true; } | sed 's/^-A/-D/' |
            while read -r rule; do eval "ip6tables -t $table $rule" 2>/dev/null || true; done
        for chain in $(ip6tables -t "$table" -S 2>/dev/null | awk '/^-N (KUBE-|CNI-)/{print $2}'); do
            ip6tables -t "$table" -F "$chain" 2>/dev/null || true
            ip6tables -t "$table" -X "$chain" 2>/dev/null || true
        done
    done
}

# Mounts under the run folder (kubelet's volumes, containerd's rootfs and network namespaces), the
# deepest first.
mounts_down() {
    local m
    for m in $(awk -v r="$RUN/" 'index($5, r) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
}

# The shims of this node's containerd (their command line names its socket), by PID.
our_shims() {
    local f pid
    for f in /proc/[0-9]*/cmdline; do
        pid="${f#/proc/}"
        pid="${pid%/cmdline}"
        { tr '\0' ' ' <"$f"; } 2>/dev/null | grep -q "^[^ ]*containerd-shim-[a-z]*-v2 .*-address $RUN/containerd/containerd.sock" && echo "$pid"
    done
    return 0
}

# Processes left in the node's pod cgroups (a container whose shim was killed): SIGKILL.
pods_processes_down() {
    local pid
    for pid in $(grep -l -E ':/kubepods(/|$)' /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3); do
        kill -KILL "$pid" 2>/dev/null || true
    done
}

# The node's cgroups (kubelet's kubepods hierarchy), in every v1 controller and in the v2 mount.
cgroups_down() {
    local d
    for d in $(find /sys/fs/cgroup -mindepth 2 -maxdepth 12 -type d -path '*/kubepods*' 2>/dev/null | awk '{print length, $0}' | sort -rn | cut -d' ' -f2-); do
        rmdir "$d" 2>/dev/null || true
    done
}

# What `down` promises: names what is left, exit 1 if anything is.
leftovers() {
    local left=() p
    for p in "${PARTS[@]}"; do alive "$p" && left+=("process $p (pid $(pid_of "$p"))"); done
    for p in $(grep -l -E ':/kubepods(/|$)' /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3); do
        left+=("process $p in a pod cgroup ($({ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | cut -c1-80))")
    done
    for p in $(our_shims); do left+=("shim process $p"); done
    # mounts under the run folder; nsfs ones are pods' network namespaces
    while read -r p; do [ -n "$p" ] && left+=("$p"); done < <(awk -v r="$RUN/" 'index($5, r) == 1 {
        for (i = 7; $i != "-"; i++); print ($(i + 1) == "nsfs" ? "network namespace " : "mount ") $5 }' /proc/self/mountinfo)
    ip link show "$BRIDGE" >/dev/null 2>&1 && left+=("bridge $BRIDGE")
    ip link show "$SVC_LINK" >/dev/null 2>&1 && left+=("link $SVC_LINK")
    while read -r p; do [ -n "$p" ] && left+=("veth $p"); done < <(comm -23 <(veths) <(sort "$RUN/veths.before" 2>/dev/null || true))
    while read -r p; do [ -n "$p" ] && left+=("route $p"); done < <(ip route show | grep -E "(^| )(${POD_CIDR//./\\.}|${SERVICE_CIDR//./\\.}|10\.244\.0\.0/24)( |$)")
    while read -r p; do [ -n "$p" ] && left+=("iptables: $p"); done < <(
        for t in filter nat mangle raw; do iptables -t "$t" -S 2>/dev/null | grep -E 'KUBE-|CNI-' | sed "s/^/$t /"; done)
    while read -r p; do [ -n "$p" ] && left+=("cgroup $p"); done < <(find /sys/fs/cgroup -mindepth 2 -maxdepth 3 -type d -name 'kubepods*' 2>/dev/null)
    if [ "${#left[@]}" -gt 0 ]; then
        say "LEFT BEHIND:"
        printf '  %s\n' "${left[@]}"
        return 1
    fi
    return 0
}

# --- images ------------------------------------------------------------------------------------

# Builds an image of one layer from a folder (crane append on an empty base, then crane mutate for
# the entrypoint and user) and pushes it to the local registry, unless the registry already has
# that layer under that name (the tag's recorded layer digest, $RUN/images/<name>.layer).
# $1 ref (registry/name:tag), $2 rootfs folder, $3 entrypoint (comma list, or ""), $4 user ("" = root)
push_image() {
    local ref="$1" rootfs="$2" entrypoint="$3" user="$4" tar sum mark args=()
    mkdir -p "$RUN/images"
    mark="$RUN/images/$(echo "${ref#*/}" | tr '/:' '__').layer"
    tar="$RUN/images/layer.$$.tar"
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$rootfs" -cf "$tar" .
    sum="$(sha256sum "$tar" | cut -d' ' -f1) $entrypoint $user"
    if [ "$(cat "$mark" 2>/dev/null)" = "$sum" ] && "$BIN/crane" digest --insecure "$ref" >/dev/null 2>&1; then
        rm -f "$tar"
        return 0
    fi
    "$BIN/crane" append --insecure --oci-empty-base -f "$tar" -t "$ref" >/dev/null 2>>"$LOGS/images.log" ||
        die "crane append $ref failed ($LOGS/images.log)"
    args=(--set-platform linux/amd64)
    [ -n "$entrypoint" ] && args+=(--entrypoint "$entrypoint")
    [ -n "$user" ] && args+=(--user "$user")
    "$BIN/crane" mutate --insecure "${args[@]}" -t "$ref" "$ref" >/dev/null 2>>"$LOGS/images.log" ||
        die "crane mutate $ref failed ($LOGS/images.log)"
    rm -f "$tar"
    echo "$sum" >"$mark"
    say "pushed $ref"
}

# A folder holding just the named static programs at the root (and a CA bundle).
static_rootfs() { # $1 folder, then programs (paths)
    local dir="$1" f
    shift
    rm -rf "$dir"
    mkdir -p "$dir/etc/ssl/certs" "$dir/tmp"
    chmod 1777 "$dir/tmp"
    for f in "$@"; do install -m 0755 "$f" "$dir/$(basename "$f")"; done
    [ -f /etc/ssl/certs/ca-certificates.crt ] && cp /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/"
    printf 'root:x:0:0:root:/:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/:/sbin/nologin\n' >"$dir/etc/passwd"
    printf 'root:x:0:\nnonroot:x:65532:\n' >"$dir/etc/group"
}

node_images() {
    local dir="$RUN/images/rootfs" b
    static_rootfs "$dir" "$BIN/pause"
    push_image "$REGISTRY/pause:$PAUSE_VERSION" "$dir" /pause 65535:65535
    static_rootfs "$dir" "$BIN/coredns"
    push_image "$REGISTRY/coredns:$COREDNS_VERSION" "$dir" /coredns ""
    # Dapr's images as Dapr ships them: one program each at the root, user nonroot (65532).
    for b in daprd sentry operator injector scheduler; do
        static_rootfs "$dir" "$DAPR_BIN/$b"
        push_image "$REGISTRY/dapr/$b:$DAPR_VERSION" "$dir" "/$b" 65532:65532
    done
    spintainer_image "$dir"
    rm -rf "$dir"
}

# spin-operator's other executor (SpinAppExecutor deploymentConfig.spinImage): Spin in an ordinary
# Linux container, `spin up -f <the app's image>`. SpinKube's image runs `spin`; this one runs it
# with --insecure (Spin's plain-HTTP switch for registries), since the node's registry is plain HTTP:
# `spin <command> --insecure <the operator's arguments>`. Spin 4.0.2, the CLI of ../shared/bin
# (unpacked by tools/devstack/setup.sh), with its shared libraries, busybox-static for /bin/sh.
SPIN_VERSION=4.0.2
spintainer_image() { # $1 scratch folder
    local dir="$1" lib
    [ -x "$BIN/spin" ] || die "no $BIN/spin (tools/devstack/setup.sh unpacks Spin $SPIN_VERSION from ../shared/bin)"
    "$BIN/spin" --version | grep -q "^spin $SPIN_VERSION " || die "$BIN/spin is not Spin $SPIN_VERSION"
    [ -x /bin/busybox ] || die "no /bin/busybox (Debian's busybox-static: tools/k8s/build.sh node)"
    static_rootfs "$dir" /bin/busybox
    mkdir -p "$dir/usr/local/bin" "$dir/bin" "$dir/root"
    chmod 0700 "$dir/root"
    mv "$dir/busybox" "$dir/bin/busybox"
    ln -s busybox "$dir/bin/sh"
    install -m 0755 "$BIN/spin" "$dir/usr/local/bin/spin"
    for lib in $(ldd "$BIN/spin" | grep -o '/[^ ]*' | sort -u); do
        mkdir -p "$dir$(dirname "$lib")"
        cp -L "$lib" "$dir$lib"
    done
    cat >"$dir/usr/local/bin/spintainer" <<'EOF'
#!/bin/sh
# spintainer: spin <command> --insecure <arguments> (the node's registry is plain HTTP)
cmd="$1"
shift
exec /usr/local/bin/spin "$cmd" --insecure "$@"
EOF
    chmod 0755 "$dir/usr/local/bin/spintainer"
    push_image "$REGISTRY/spintainer:$SPIN_VERSION" "$dir" /usr/local/bin/spintainer ""
}

# --- parts -------------------------------------------------------------------------------------

containerd_config() {
    mkdir -p "$RUN/containerd"
    cat >"$RUN/containerd/config.toml" <<EOF
# Written by tools/k8s/node.sh on every up (docs/k8s.md, "A node").
version = 3
root = "$RUN/containerd/root"
state = "$RUN/containerd/state"
[grpc]
  address = "$RUN/containerd/containerd.sock"
[ttrpc]
  address = "$RUN/containerd/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.cri.v1.images".pinned_images]
  sandbox = "$REGISTRY/pause:$PAUSE_VERSION"
[plugins."io.containerd.cri.v1.images".registry]
  config_path = "$RUN/containerd/certs.d"
[plugins."io.containerd.cri.v1.runtime"]
  # This machine lacks CAP_SYS_RESOURCE: nobody may lower oom_score_adj (../shared/DESIGN.md, 8)
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
[plugins."io.containerd.cri.v1.runtime".cni]
  bin_dirs = ["$CNI_BIN"]
  conf_dir = "$RUN/cni/net.d"
[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
  SystemdCgroup = false
  BinaryName = "$BIN/runc"
[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.spin]
  runtime_type = "io.containerd.spin.v2"
[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
EOF
}

# The node's registry speaks plain HTTP (Debian's docker-registry, on the bridge address only).
registry_hosts() {
    mkdir -p "$RUN/containerd/certs.d/$REGISTRY"
    cat >"$RUN/containerd/certs.d/$REGISTRY/hosts.toml" <<EOF
server = "http://$REGISTRY"
[host."http://$REGISTRY"]
  capabilities = ["pull", "resolve"]
EOF
}

kubelet_config() {
    mkdir -p "$RUN/kubelet"
    cat >"$RUN/kubelet/config.yaml" <<EOF
# Written by tools/k8s/node.sh on every up (docs/k8s.md, "A node").
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# cgroup v1 (hybrid hierarchy) and no systemd as PID 1 on this machine
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$RUN/containerd/containerd.sock
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: $PKI/ca.crt
authorization:
  mode: Webhook
clusterDomain: cluster.local
clusterDNS:
  - $DNS_IP
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
rotateCertificates: false
serializeImagePulls: false
# containerd-shim-spin compiles every component of an app at a pod's first start: pods started
# together on 2 shared cores take longer than the default 2 minutes
runtimeRequestTimeout: 10m
failSwapOn: false
# a shared machine: evict only when it is really short
evictionHard:
  memory.available: 200Mi
  nodefs.available: 2Gi
  imagefs.available: 2Gi
  nodefs.inodesFree: 1%
imageGCHighThresholdPercent: 95
imageGCLowThresholdPercent: 90
EOF
    if [ ! -f "$PKI/kubelet-serving.crt" ]; then
        (
            cd "$PKI"
            umask 077
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
                -keyout kubelet-serving.key -out kubelet-serving.csr -subj "/O=system:nodes/CN=system:node:$NODE_NAME" 2>/dev/null
            printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:%s,DNS:%s\n' \
                "$NODE_IP" "$NODE_NAME" >kubelet-serving.ext
            openssl x509 -req -in kubelet-serving.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
                -out kubelet-serving.crt -extfile kubelet-serving.ext 2>/dev/null
            rm -f kubelet-serving.csr kubelet-serving.ext
        ) || die "openssl failed making the kubelet's serving certificate"
    fi
}

kube_proxy_config() {
    mkdir -p "$RUN/kube-proxy"
    cat >"$RUN/kube-proxy/config.yaml" <<EOF
# Written by tools/k8s/node.sh on every up (docs/k8s.md, "A node").
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: $RUN/kube-proxy.kubeconfig
hostnameOverride: $NODE_NAME
mode: iptables
clusterCIDR: $POD_CIDR
bindAddress: $NODE_IP
healthzBindAddress: 127.0.0.1:20256
metricsBindAddress: 127.0.0.1:20249
# NodePorts only on the node's bridge address, not on the machine's own interfaces
nodePortAddresses:
  - $NODE_IP/32
iptables:
  localhostNodePorts: false
# leave the machine's conntrack settings alone
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
EOF
}

wait_node_ready() {
    local deadline=$((SECONDS + READY_TIMEOUT)) st=""
    while :; do
        st="$(kubectl get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].message}' 2>/dev/null || true)"
        case "$st" in True*) say "node $NODE_NAME is Ready"; return 0 ;; esac
        alive kubelet || die "kubelet exited; the end of $LOGS/kubelet.log:"$'\n'"$(tail -n 30 "$LOGS/kubelet.log")"
        [ "$SECONDS" -lt "$deadline" ] ||
            die "node $NODE_NAME not Ready after ${READY_TIMEOUT}s (${st:-no node}); the end of $LOGS/kubelet.log:"$'\n'"$(tail -n 30 "$LOGS/kubelet.log")"
        sleep 1
    done
}

dapr_up() {
    local chart
    chart="$(cd "$ROOT/tools/dapr" && go list -mod=readonly -m -f '{{.Dir}}' github.com/dapr/dapr)/charts/dapr"
    [ -f "$chart/Chart.yaml" ] || die "no Dapr chart at $chart (github.com/dapr/dapr's module zip, charts/dapr)"
    say "installing Dapr $DAPR_VERSION's control plane from its chart ($chart) into $DAPR_NAMESPACE"
    # The Scheduler's three embedded etcd members each claim a volume (the chart's
    # volumeClaimTemplates). No storage provisioner runs here (Minikube has a hostPath one), so the
    # node offers one hostPath PersistentVolume per member, bound to its claim by name: a member
    # keeps its data across pod restarts and `down`/`up`. (With the chart's inMemoryStorage a
    # member whose pod restarts comes back empty and never rejoins: "member ... has already been
    # bootstrapped".)
    local i
    kubectl create namespace "$DAPR_NAMESPACE" --dry-run=client -o yaml |
        kubectl apply --server-side --field-manager=todo-events-k8s -f - >/dev/null
    for i in 0 1 2; do
        mkdir -p "$RUN/pv/dapr-scheduler-$i"
        chown 65532:65532 "$RUN/pv/dapr-scheduler-$i" # the Scheduler's user
        chmod 0700 "$RUN/pv/dapr-scheduler-$i"
        kubectl apply --server-side --field-manager=todo-events-k8s -f - >/dev/null <<EOF
apiVersion: v1
kind: PersistentVolume
metadata:
  name: dapr-scheduler-data-$i
spec:
  capacity:
    storage: 16Gi
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  hostPath:
    path: $RUN/pv/dapr-scheduler-$i
    type: Directory
  claimRef:
    namespace: $DAPR_NAMESPACE
    name: dapr-scheduler-data-dir-dapr-scheduler-server-$i
EOF
    done
    # The chart's templates are Dapr's own; values: the images of the local registry, no placement
    # (actors are not used), and the sidecar injector's webhook failing closed: with the chart's
    # `Ignore`, a pod created while the injector is slow (10 s timeout; seen on these 2 cores while
    # new pods compile their components) runs without its daprd, silently; with `Fail` the
    # ReplicaSet controller creates it again. Failing closed needs the webhook to leave Dapr's own
    # namespace and kube-system alone (the chart's `namespaceSelector`): otherwise no pod of the
    # injector itself (nor CoreDNS) can be created while the injector is not up, and it never is.
    "$BIN/helm" --kubeconfig "$KUBECONFIG_FILE" upgrade --install dapr "$chart" \
        --namespace "$DAPR_NAMESPACE" --create-namespace \
        --set global.registry="$REGISTRY/dapr" --set global.tag="$DAPR_VERSION" \
        --set global.actors.enabled=false \
        --set dapr_sidecar_injector.webhookFailurePolicy=Fail \
        --set-json 'dapr_sidecar_injector.namespaceSelector={"matchExpressions":[{"key":"kubernetes.io/metadata.name","operator":"NotIn","values":["kube-system","'"$DAPR_NAMESPACE"'"]}]}' \
        --wait --timeout "${READY_TIMEOUT}s" >>"$LOGS/helm.log" 2>&1 || {
        kubectl -n "$DAPR_NAMESPACE" get pods -o wide >&2 || true
        die "helm install of Dapr failed; the end of $LOGS/helm.log:"$'\n'"$(tail -n 20 "$LOGS/helm.log")"
    }
    say "Dapr's control plane is up: $(kubectl -n "$DAPR_NAMESPACE" get pods --no-headers 2>/dev/null | awk '{print $1}' | tr '\n' ' ')"
}

node_up() {
    local t0=$SECONDS p missing=()
    [ "$(id -u)" = 0 ] || die "the node needs root (network devices, routes, mounts, cgroups)"
    mkdir -p "$RUN" "$PIDS" "$LOGS"
    if any_alive; then
        local all=1
        for p in "${PARTS[@]}"; do alive "$p" || all=0; done
        if [ "$all" = 1 ]; then
            say "already up (KUBECONFIG=$KUBECONFIG_FILE); \`$0 down --node\` stops it"
            return 0
        fi
        node_status || true
        die "partly running: run \`$0 down --node\` first"
    fi
    [ -d "$CRDS" ] || die "no CRD folder $CRDS"
    if [ "${K8S_SKIP_BUILD:-0}" != 1 ]; then
        "$HERE/build.sh" etcd kube-apiserver kube-controller-manager kubectl spin-operator
        # Also installs the node's Debian packages (iptables, the CNI plugins, the registry).
        "$HERE/build.sh" node
        "$ROOT/tools/dapr/build.sh" daprd scheduler control-plane
    fi
    # After the build: on a fresh machine `build.sh node` is what installs iptables.
    for p in curl iptables ip openssl; do command -v "$p" >/dev/null || die "$p not found"; done
    for p in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy spin-operator kubectl \
        containerd containerd-shim-runc-v2 containerd-shim-spin-v2 runc coredns crane helm pause \
        ; do
        [ -x "$BIN/$p" ] || missing+=("$p")
    done
    for p in daprd sentry operator injector scheduler; do [ -x "$DAPR_BIN/$p" ] || missing+=("$p"); done
    [ "${#missing[@]}" -eq 0 ] || die "missing in $BIN: ${missing[*]} (tools/k8s/build.sh node, tools/dapr/build.sh control-plane)"
    [ -x /usr/bin/docker-registry ] || die "no /usr/bin/docker-registry (Debian's docker-registry: tools/k8s/build.sh node installs it)"
    for p in bridge host-local loopback; do [ -x "$CNI_BIN/$p" ] || die "no CNI plugin $CNI_BIN/$p (Debian's containernetworking-plugins)"; done
    for p in "$ETCD_PORT" "$ETCD_PEER_PORT" "$KCM_PORT" "$SCHEDULER_PORT" "$OPERATOR_PROBE_PORT" "$REGISTRY_PORT" 10248 20249 20256; do
        port_in_use "$p" && die "port 127.0.0.1:$p is taken (K8S_* settings: tools/k8s/node.sh)"
    done
    ip link show "$BRIDGE" >/dev/null 2>&1 && ip -o addr show dev "$BRIDGE" | grep -q . &&
        (echo >"/dev/tcp/$NODE_IP/$PORT") 2>/dev/null && die "$NODE_IP:$PORT is taken"

    UP_DONE=0
    exec 3>&1 4>&2
    # K8S_KEEP_ON_FAILURE=1 leaves a failed up as it is, to look at (then: down --node).
    trap 'if [ "$UP_DONE" = 0 ] && [ "${K8S_KEEP_ON_FAILURE:-0}" != 1 ]; then echo "k8s: up failed or was interrupted: taking the node down" >&4; node_down >&3 2>&4 || true; fi' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM HUP
    save_settings
    node_pki
    node_kubeconfig "$KUBECONFIG_FILE" admin
    for p in kube-controller-manager kube-scheduler kube-proxy kubelet spin-operator; do
        node_kubeconfig "$RUN/$p.kubeconfig" "$p"
    done

    say "network: bridge $BRIDGE $NODE_IP/24, pods $NODE_POD_CIDR, Services $SERVICE_CIDR (inside this machine only)"
    network_up

    mkdir -p "$RUN/registry"
    cat >"$RUN/registry/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $RUN/registry/data
  delete:
    enabled: true
http:
  addr: $REGISTRY
EOF
    start registry serve "$RUN/registry/config.yml"
    wait_ready registry "/v2/" '^\{\}$' "http://$REGISTRY/v2/"
    node_images

    containerd_config
    registry_hosts
    PATH="$BIN:$PATH" start containerd --config "$RUN/containerd/config.toml"
    local i
    for i in $(seq 100); do
        ctr version >/dev/null 2>&1 && break
        alive containerd || die "containerd exited; the end of $LOGS/containerd.log:"$'\n'"$(tail -n 30 "$LOGS/containerd.log")"
        sleep 0.2
    done
    ctr version >/dev/null 2>&1 || die "containerd does not answer on $RUN/containerd/containerd.sock"
    say "containerd is ready"

    start_etcd todo-events-node
    start_apiserver "$NODE_IP" \
        --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
        --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
        --kubelet-preferred-address-types=InternalIP \
        --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
        --allow-privileged=true --enable-aggregator-routing=true
    start_controller_manager

    start kube-scheduler \
        --kubeconfig="$RUN/kube-scheduler.kubeconfig" \
        --authentication-kubeconfig="$RUN/kube-scheduler.kubeconfig" \
        --authorization-kubeconfig="$RUN/kube-scheduler.kubeconfig" \
        --bind-address=127.0.0.1 --secure-port="$SCHEDULER_PORT" \
        --leader-elect=false --profiling=false --v=1
    wait_ready kube-scheduler "/healthz" '^ok$' -k "https://127.0.0.1:$SCHEDULER_PORT/healthz"

    # --force-conflicts: Dapr's operator takes over the Subscription CRD's conversion webhook settings
    apply_crds_and_executors "$NODE_NAMESPACES" --force-conflicts

    kubelet_config
    mkdir -p "$RUN/kubelet/root" "$RUN/kubelet/pki"
    PATH="$BIN:$PATH" start kubelet --config="$RUN/kubelet/config.yaml" --kubeconfig="$RUN/kubelet.kubeconfig" \
        --root-dir="$RUN/kubelet/root" --cert-dir="$RUN/kubelet/pki" \
        --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" --v=1
    wait_ready kubelet "/healthz" '^ok$' "http://127.0.0.1:10248/healthz"
    wait_node_ready
    kubectl uncordon "$NODE_NAME" >/dev/null 2>&1 || true # a previous down cordoned it

    kube_proxy_config
    start kube-proxy --config="$RUN/kube-proxy/config.yaml" --v=1
    wait_ready kube-proxy "/healthz" 'lastUpdated' "http://127.0.0.1:20256/healthz"

    # Dapr's injector webhook (failing closed), as a previous up left it in etcd, is not served
    # until Dapr's pods run again. One that also covers kube-system (made before the webhook had
    # its namespaceSelector, below) would keep CoreDNS from starting: it goes, and helm puts it
    # back. One with the selector stays, so the apps' pods wait for the injector.
    if kubectl get mutatingwebhookconfiguration dapr-sidecar-injector -o jsonpath='{.webhooks[0].namespaceSelector}' 2>/dev/null |
        grep -qv kube-system; then
        kubectl delete mutatingwebhookconfiguration dapr-sidecar-injector >/dev/null
    fi
    say "CoreDNS ($DNS_IP)"
    sed -e "s|@REGISTRY@|$REGISTRY|g; s|@DNS_IP@|$DNS_IP|g; s|@NODE_IP@|$NODE_IP|g; s|@COREDNS_VERSION@|$COREDNS_VERSION|g" \
        "$HERE/coredns.yaml" | kubectl apply --server-side --field-manager=todo-events-k8s -f - >/dev/null
    kubectl -n kube-system rollout status deployment/coredns --timeout="${READY_TIMEOUT}s" >/dev/null ||
        die "CoreDNS did not become ready (kubectl -n kube-system describe pods -l k8s-app=kube-dns)"

    start spin-operator --kubeconfig="$RUN/spin-operator.kubeconfig" \
        --metrics-bind-address=127.0.0.1:0 \
        --health-probe-bind-address="127.0.0.1:$OPERATOR_PROBE_PORT"
    wait_ready spin-operator "/readyz" '^ok$' "http://127.0.0.1:$OPERATOR_PROBE_PORT/readyz"

    [ "${K8S_NO_DAPR:-0}" = 1 ] || dapr_up

    UP_DONE=1
    trap - EXIT INT TERM HUP
    echo "$((SECONDS - t0))" >"$LOGS/up-seconds.txt"
    say "up in $((SECONDS - t0)) s: node $NODE_NAME Ready, https://$NODE_IP:$PORT, KUBECONFIG=$KUBECONFIG_FILE, registry $REGISTRY (logs: $LOGS)"
}

# Pods first, through the kubelet (so each sandbox's network is torn down by CNI), then the parts
# in reverse order, then whatever is still there.
node_down() {
    local t0=$SECONDS i n
    if alive kubelet && alive kube-apiserver && alive containerd; then
        say "cordoning $NODE_NAME and deleting its pods (the kubelet stops them)"
        kubectl cordon "$NODE_NAME" >/dev/null 2>&1 || true
        kubectl delete pods --all --all-namespaces --grace-period=5 --wait=false >/dev/null 2>&1 || true
        for i in $(seq 60); do
            n="$(ctr -n k8s.io tasks ls -q 2>/dev/null | wc -l)"
            [ "$n" = 0 ] && break
            # a Deployment's replacement pods stay Pending on the cordoned node; delete any that slipped in
            [ $((i % 10)) = 0 ] && kubectl delete pods --all --all-namespaces --grace-period=0 --force --wait=false >/dev/null 2>&1 || true
            sleep 1
        done
        for i in $(seq 30); do # sandboxes: the kubelet removes them once their containers are gone
            n="$(awk -v r="$RUN/" 'index($5, r) == 1 && / - nsfs /' /proc/self/mountinfo | wc -l)"
            [ "$n" = 0 ] && break
            sleep 1
        done
    fi
    for ((i = ${#PARTS[@]} - 1; i >= 0; i--)); do stop "${PARTS[$i]}"; done
    # Each step below is best effort (what it cannot remove, leftovers names).
    set +e
    pods_processes_down
    for i in $(our_shims); do kill -KILL "$i" 2>/dev/null || true; done
    sleep 0.5
    mounts_down
    # the (now unmounted) files the network namespaces were bound to
    find "$RUN/containerd/state" -path '*/netns/*' -type f -delete 2>/dev/null || true
    network_down
    iptables_down
    cgroups_down
    rm -rf /run/containerd/s /run/containerd/spin /run/containerd/runc/k8s.io 2>/dev/null || true
    rmdir /run/containerd/runc /run/containerd 2>/dev/null || true
    restore_sysctls
    set -e
    if leftovers; then
        rm -f "$RUN/veths.before"
        say "down in $((SECONDS - t0)) s; nothing left behind (processes, mounts, network namespaces, veths, bridges, routes, iptables rules, cgroups)"
    else
        return 1
    fi
}

node_status() {
    local p pid ok=0 health
    for p in "${PARTS[@]}"; do
        pid="$(pid_of "$p")"
        if alive "$p"; then
            case "$p" in
            registry) health="$(curl -fsS -o /dev/null -w 'v2: %{http_code}' --max-time 3 "http://$REGISTRY/v2/" 2>/dev/null || echo unhealthy)" ;;
            containerd) health="$(ctr version >/dev/null 2>&1 && echo 'answers' || echo unhealthy)" ;;
            etcd) health="$(curl -fsS --max-time 3 "http://127.0.0.1:$ETCD_PORT/health" 2>/dev/null || echo unhealthy)" ;;
            kube-apiserver) health="readyz: $(curl -fsS --max-time 3 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" \
                --key "$PKI/admin.key" "https://$NODE_IP:$PORT/readyz" 2>/dev/null || echo unhealthy)" ;;
            kube-controller-manager) health="healthz: $(curl -fsSk --max-time 3 "https://127.0.0.1:$KCM_PORT/healthz" 2>/dev/null || echo unhealthy)" ;;
            kube-scheduler) health="healthz: $(curl -fsSk --max-time 3 "https://127.0.0.1:$SCHEDULER_PORT/healthz" 2>/dev/null || echo unhealthy)" ;;
            kubelet) health="healthz: $(curl -fsS --max-time 3 http://127.0.0.1:10248/healthz 2>/dev/null || echo unhealthy); node Ready=$(kubectl get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || echo '?')" ;;
            kube-proxy) health="healthz: $(curl -fsS -o /dev/null -w '%{http_code}' --max-time 3 http://127.0.0.1:20256/healthz 2>/dev/null || echo unhealthy)" ;;
            spin-operator) health="readyz: $(curl -fsS --max-time 3 "http://127.0.0.1:$OPERATOR_PROBE_PORT/readyz" 2>/dev/null || echo unhealthy)" ;;
            esac
            [[ "$health" == *unhealthy* || "$health" == *"Ready=False"* ]] && ok=1
            printf '%-24s pid %-8s %s\n' "$p" "$pid" "$health"
        else
            ok=1
            printf '%-24s %s\n' "$p" "not running${pid:+ (stale pid $pid)}"
        fi
    done
    return "$ok"
}

node_main() {
    load_settings
    case "${1:-}" in
    up) node_up ;;
    down)
        if [ ! -d "$PIDS" ]; then
            say "not running"
            return 0
        fi
        node_down
        ;;
    status) node_status ;;
    kubeconfig) echo "$KUBECONFIG_FILE" ;;
    env)
        printf 'export KUBECONFIG=%q\n' "$KUBECONFIG_FILE"
        printf 'export PATH=%q:"$PATH"\n' "$BIN"
        ;;
    clean)
        any_alive && die "running: \`$0 down --node\` first"
        rm -rf "$RUN"
        say "removed $RUN"
        ;;
    *)
        sed -n '2,/^$/p' "$HERE/node.sh" | sed 's/^# \{0,1\}//' >&2
        return 2
        ;;
    esac
}
