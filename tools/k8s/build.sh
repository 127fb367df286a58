#!/usr/bin/env bash
# Builds a Kubernetes control plane without nodes from Go modules, through the Go module proxy, into
# ~/.cache/todo-events/bin/ (docs/k8s.md):
#   etcd                     go.etcd.io/etcd/server/v3 v3.7.0 (its root package is etcd's `main`)
#   kube-apiserver           k8s.io/kubernetes v1.37.2 cmd/kube-apiserver
#   kube-controller-manager  k8s.io/kubernetes v1.37.2 cmd/kube-controller-manager
#   kubectl                  k8s.io/kubernetes v1.37.2 cmd/kubectl (kustomize built in: kubectl kustomize)
#   spin-operator            SpinKube's operator v0.6.1, from ../../../shared/vendor/spin-operator-v0.6.1.tar.gz
#
# The first four come from this directory's module (go.mod: `tool` lines name them; k8s.io/kubernetes'
# staging modules are replaced with their published v0.37.2, since its module zip has no staging/
# folder). etcd is pinned at v3.7.0, the etcd that Kubernetes 1.37 ships with
# (build/dependencies.yaml), so that every module the two share stays at Kubernetes' own version.
# The Kubernetes binaries are version-stamped (-ldflags -X) as v1.37.2 the way hack/lib/version.sh
# does it; unstamped they say v0.0.0-master and kubectl warns about version skew.
#
# spin-operator is not on the module proxy: its unchanged source is extracted to
# ~/.cache/todo-events/src/ (never into the repository) and built there with its own go.mod.
#
# Usage: tools/k8s/build.sh [etcd] [kube-apiserver] [kube-controller-manager] [kubectl] [spin-operator]
#        (no argument: all five: the control plane of tests/deploy and `cluster.sh up`)
#        tools/k8s/build.sh node    a node's parts too (`cluster.sh up --node`, tests/cluster); one
#        by one: kubelet kube-scheduler kube-proxy containerd ctr containerd-shim-runc-v2 runc coredns
#        crane helm pause containerd-shim-spin-v2
#
# The node (docs/k8s.md, "A node"):
#   kubelet, kube-scheduler, kube-proxy   this directory's module, stamped like the control plane
#   containerd, ctr, containerd-shim-runc-v2   `go install github.com/containerd/containerd/v2/cmd/...@v2.4.2`
#                            (CGO off, -tags no_btrfs), the module's own go.mod and go.sum
#   runc                     `go install github.com/opencontainers/runc@v1.5.3` (CGO, -tags seccomp:
#                            Debian's libseccomp-dev)
#   coredns                  `go install github.com/coredns/coredns@v1.15.0`
#   crane                    `go install github.com/google/go-containerregistry/cmd/crane@v0.22.1`
#                            (builds the images: crane append of rootfs tarballs, no Docker engine)
#   helm                     `go install helm.sh/helm/v3/cmd/helm@v3.22.1` (installs Dapr's own chart)
#   pause                    build/pause/linux/pause.c of the kubernetes module, `cc -static` (the
#                            Makefile's flags); the pod sandbox image is made of it at `cluster.sh up --node`
#   containerd-shim-spin-v2  SpinKube's shim v0.24.0, unpacked from ../shared/bin (sha256 checked):
#                            it cannot be built from the registries here (../shared/bin/README.md)
# and Debian's iptables, containernetworking-plugins (CNI: bridge, host-local, portmap, loopback),
# docker-registry (the node's local registry), libseccomp-dev (runc), busybox-static (a shell for
# the images that need one), installed with apt-get when missing.
#
# Idempotent: a binary is rebuilt only when it is missing or its stamp file (bin/.<name>.stamp)
# does not match the versions + the Go version + a hash of this directory's go.mod, go.sum and
# build.sh (+ the tarball's sha256 for spin-operator). The build log goes to
# ~/.cache/todo-events/logs/k8s-build.log, the seconds each build took to
# ~/.cache/todo-events/logs/k8s-build-time-<name>.txt. Uses the default GOCACHE/GOMODCACHE.
set -euo pipefail

K8S_VERSION=1.37.2
K8S_DATE=2026-10-27T12:01:04Z # k8s.io/kubernetes@v1.37.2's release time, from the proxy's .info
ETCD_VERSION=3.7.0
SPIN_OPERATOR_VERSION=0.6.1
SPIN_OPERATOR_COMMIT=96c9d1d1d69c2c04e005375c44f323fb10e31002 # tag v0.6.1 (shared/vendor/README.md)
CONTROL_TARGETS=(etcd kube-apiserver kube-controller-manager kubectl spin-operator)
NODE_TARGETS=(kubelet kube-scheduler kube-proxy containerd ctr containerd-shim-runc-v2 runc coredns crane helm
    pause containerd-shim-spin-v2)
ALL_TARGETS=("${CONTROL_TARGETS[@]}" "${NODE_TARGETS[@]}")
CONTAINERD_VERSION=2.4.2
RUNC_VERSION=1.5.3
COREDNS_VERSION=1.15.0
CRANE_VERSION=0.22.1
HELM_VERSION=3.22.1
PAUSE_VERSION=3.10.2 # build/pause/Makefile's TAG in kubernetes v1.37.2
SHIM_SPIN_VERSION=0.24.0
SHIM_SPIN_SHA256=c294d3abd41ae105c884aa4a757d2d988bad8f51e9fbc40dbb9c399593d65564 # ../shared/bin/README.md

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${TODO_EVENTS_CACHE:-$HOME/.cache/todo-events}"
BIN="$CACHE/bin"
LOGS="$CACHE/logs"
LOG="$LOGS/k8s-build.log"
SRC="$CACHE/src"
SHARED="${TODO_EVENTS_SHARED:-$(cd "$ROOT/.." && pwd)/shared}"
SPIN_OPERATOR_TARBALL="$SHARED/vendor/spin-operator-v$SPIN_OPERATOR_VERSION.tar.gz"

die() {
    echo "k8s build: ERROR: $*" >&2
    exit 1
}

if [ "$#" -eq 0 ]; then
    set -- "${CONTROL_TARGETS[@]}"
fi
targets=()
for t in "$@"; do
    if [ "$t" = node ]; then
        targets+=("${NODE_TARGETS[@]}")
    elif [[ " ${ALL_TARGETS[*]} " == *" $t "* ]]; then
        targets+=("$t")
    else
        die "unknown target '$t' (expected some of: ${ALL_TARGETS[*]}, or node)"
    fi
done
set -- "${targets[@]}"
# A run that builds only node parts logs apart, so it never truncates the control plane's log.
node_only=1
for t in "$@"; do [[ " ${NODE_TARGETS[*]} " == *" $t "* ]] || node_only=0; done
[ "$node_only" = 1 ] && LOG="$LOGS/k8s-node-build.log"

command -v go >/dev/null || die "go not found on PATH (Kubernetes $K8S_VERSION needs Go >= 1.26)"
GO_VERSION="$(go env GOVERSION)"

# Everything that decides the binaries' content: module files, this script, the Go version.
src_hash() {
    (
        cd "$HERE"
        sha256sum go.mod go.sum build.sh
        echo "$GO_VERSION"
    ) | sha256sum | cut -d' ' -f1
}
SRC_HASH="$(src_hash)"

stamp_line() {
    case "$1" in
    etcd) echo "etcd=$ETCD_VERSION go=$GO_VERSION src=$SRC_HASH" ;;
    spin-operator)
        [ -f "$SPIN_OPERATOR_TARBALL" ] || die "no $SPIN_OPERATOR_TARBALL (spin-operator's source)"
        echo "spin-operator=$SPIN_OPERATOR_VERSION tarball=$(sha256sum "$SPIN_OPERATOR_TARBALL" | cut -d' ' -f1) go=$GO_VERSION src=$SRC_HASH"
        ;;
    containerd | ctr | containerd-shim-runc-v2) echo "containerd=$CONTAINERD_VERSION go=$GO_VERSION src=$SRC_HASH" ;;
    runc) echo "runc=$RUNC_VERSION go=$GO_VERSION src=$SRC_HASH" ;;
    coredns) echo "coredns=$COREDNS_VERSION go=$GO_VERSION src=$SRC_HASH" ;;
    crane) echo "crane=$CRANE_VERSION go=$GO_VERSION src=$SRC_HASH" ;;
    helm) echo "helm=$HELM_VERSION go=$GO_VERSION src=$SRC_HASH" ;;
    pause) echo "pause=$PAUSE_VERSION kubernetes=$K8S_VERSION cc=$(cc --version 2>/dev/null | head -n1) src=$SRC_HASH" ;;
    containerd-shim-spin-v2) echo "containerd-shim-spin=$SHIM_SPIN_VERSION sha256=$SHIM_SPIN_SHA256" ;;
    *) echo "kubernetes=$K8S_VERSION go=$GO_VERSION src=$SRC_HASH" ;;
    esac
}

todo=()
for t in "$@"; do
    [[ " ${todo[*]} " == *" $t "* ]] && continue # named twice
    if [ -x "$BIN/$t" ] && [ "$(cat "$BIN/.$t.stamp" 2>/dev/null)" = "$(stamp_line "$t")" ]; then
        echo "k8s build: $BIN/$t is up to date ($(stamp_line "$t"))"
    else
        todo+=("$t")
    fi
done
[ "${#todo[@]}" -eq 0 ] && exit 0

mkdir -p "$BIN" "$LOGS" "$SRC"
cleanup() { # a build cut short leaves nothing (only this run's targets: another run may be building others)
    local t
    for t in "${todo[@]}"; do rm -rf "$BIN/.$t.tmp" "$BIN/.$t.gobin"; done
}
trap cleanup EXIT
: >"$LOG"

# The module proxy's refusals, named: go prints `<module>@<version>: reading <url>: 403 Forbidden`
# (or 404/410 Not Found/Gone, or `verifying module: ... 403`) for a module it may not have.
explain_proxy_errors() {
    local lines
    lines="$(grep -E '(reading https?://[^ ]+: (4[0-9][0-9]|5[0-9][0-9])|: 40[34] |unrecognized import path|verifying (go\.mod|module)|missing go\.sum entry|no matching versions)' "$LOG" |
        sort -u | head -n 20 || true)"
    [ -n "$lines" ] || return 0
    echo "k8s build: the Go module proxy did not serve these modules:" >&2
    sed -E 's/^[[:space:]]*(go: )?//; s/: .*//' <<<"$lines" | grep '@' | sed 's/^/  /' | sort -u >&2
    echo "k8s build: the go command's words:" >&2
    sed 's/^/  /' <<<"$lines" >&2
}

fail() { # $1: target
    rm -f "$BIN/.$1.tmp"
    echo "k8s build: ERROR: building $1 failed; the end of $LOG:" >&2
    grep -v '^[a-z0-9.-]*\.[a-z]*/[^ ]*$' "$LOG" | tail -n 30 >&2 || true
    explain_proxy_errors
    exit 1
}

# -ldflags for the Kubernetes binaries: what hack/lib/version.sh stamps, in both version packages
# (component-base's for the servers, client-go's for kubectl's client side). gitTreeState=archive:
# built from the released module zip, as from a `git archive`; the zip names no commit.
K8S_LDFLAGS="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    K8S_LDFLAGS+=" -X $pkg.gitVersion=v$K8S_VERSION"
    K8S_LDFLAGS+=" -X $pkg.gitMajor=${K8S_VERSION%%.*}"
    minor="${K8S_VERSION#*.}"
    K8S_LDFLAGS+=" -X $pkg.gitMinor=${minor%%.*}"
    K8S_LDFLAGS+=" -X $pkg.gitCommit="
    K8S_LDFLAGS+=" -X $pkg.gitTreeState=archive"
    K8S_LDFLAGS+=" -X $pkg.buildDate=$K8S_DATE"
done
ETCD_LDFLAGS="-s -w" # etcd's version is a constant of go.etcd.io/etcd/api/v3/version; the zip names no SHA
SO_LDFLAGS="-s -w"
SO_LDFLAGS+=" -X github.com/prometheus/common/version.Version=$SPIN_OPERATOR_VERSION"
SO_LDFLAGS+=" -X github.com/prometheus/common/version.Revision=$SPIN_OPERATOR_COMMIT"
SO_LDFLAGS+=" -X github.com/prometheus/common/version.Branch=v$SPIN_OPERATOR_VERSION" # no BuildDate: reproducible

package_of() {
    case "$1" in
    etcd) echo go.etcd.io/etcd/server/v3 ;;
    *) echo "k8s.io/kubernetes/cmd/$1" ;;
    esac
}

# Debian packages of a node, installed when missing (as tools/devstack/setup.sh installs its own).
apt_install() {
    local missing=() pkg
    for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
    [ "${#missing[@]}" -eq 0 ] && return 0
    echo "k8s build: apt-get install ${missing[*]}"
    if [ ! -f "$CACHE/.apt-updated" ]; then apt-get update -qq && touch "$CACHE/.apt-updated"; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$LOGS/apt.log" 2>&1 ||
        die "apt-get install ${missing[*]} failed; see $LOGS/apt.log"
}

# `go install <package>@<version>` into $BIN/<target>: the module's own go.mod and go.sum (checked
# against the checksum database), none of ours. $1 target, $2 package@version, $3 CGO_ENABLED,
# $4 build tags, $5 -ldflags.
go_install() {
    local t="$1" pkgver="$2" cgo="$3" tags="$4" ldflags="$5" gobin="$BIN/.$1.gobin"
    rm -rf "$gobin" && mkdir -p "$gobin"
    (cd "$SRC" && GOBIN="$gobin" CGO_ENABLED="$cgo" GOFLAGS= go install -trimpath -buildvcs=false -v \
        ${tags:+-tags "$tags"} -ldflags "$ldflags" "$pkgver") >>"$LOG" 2>&1 || fail "$t"
    mv -f "$gobin/$(basename "${pkgver%@*}")" "$BIN/.$t.tmp"
    rm -rf "$gobin"
}

build_node_part() { # $1: target
    local t="$1" k8s_dir xz
    case "$t" in
    kubelet | kube-scheduler | kube-proxy) return 1 ;; # this module, as the control plane
    containerd | ctr | containerd-shim-runc-v2)
        go_install "$t" "github.com/containerd/containerd/v2/cmd/$t@v$CONTAINERD_VERSION" 0 no_btrfs \
            "-s -w -X github.com/containerd/containerd/v2/version.Version=v$CONTAINERD_VERSION -X github.com/containerd/containerd/v2/version.Package=github.com/containerd/containerd/v2"
        ;;
    runc)
        apt_install libseccomp-dev
        go_install runc "github.com/opencontainers/runc@v$RUNC_VERSION" 1 seccomp "-s -w -X main.version=$RUNC_VERSION"
        ;;
    coredns) go_install coredns "github.com/coredns/coredns@v$COREDNS_VERSION" 0 "" "-s -w" ;;
    crane) go_install crane "github.com/google/go-containerregistry/cmd/crane@v$CRANE_VERSION" 0 "" \
        "-s -w -X github.com/google/go-containerregistry/cmd/crane/cmd.Version=v$CRANE_VERSION" ;;
    helm) go_install helm "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION" 0 "" \
        "-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=archive" ;;
    pause)
        command -v cc >/dev/null || die "no C compiler (cc) for the pause program"
        (cd "$HERE" && go mod download k8s.io/kubernetes) >>"$LOG" 2>&1 || fail "$t"
        k8s_dir="$(cd "$HERE" && go list -mod=readonly -m -f '{{.Dir}}' k8s.io/kubernetes)"
        # build/pause/Makefile: CFLAGS = -Os -Wall -Werror -static -DVERSION=v$(TAG)-$(REV); REV is
        # a git describe, and a module zip has no git: the Kubernetes version stands for it.
        cc -Os -Wall -Werror -static -DVERSION="v$PAUSE_VERSION-v$K8S_VERSION" \
            -o "$BIN/.$t.tmp" "$k8s_dir/build/pause/linux/pause.c" >>"$LOG" 2>&1 || fail "$t"
        strip "$BIN/.$t.tmp"
        ;;
    containerd-shim-spin-v2)
        xz="$SHARED/bin/containerd-shim-spin-v2-$SHIM_SPIN_VERSION-x86_64-linux.xz"
        [ -f "$xz" ] || die "no $xz (SpinKube's shim, built for these machines: ../shared/bin/README.md)"
        xz -dc "$xz" >"$BIN/.$t.tmp" || die "cannot unpack $xz"
        [ "$(sha256sum "$BIN/.$t.tmp" | cut -d' ' -f1)" = "$SHIM_SPIN_SHA256" ] ||
            die "$xz does not unpack to containerd-shim-spin $SHIM_SPIN_VERSION (sha256 differs from ../shared/bin/README.md)"
        chmod +x "$BIN/.$t.tmp"
        ;;
    *) return 1 ;;
    esac
}
if [ "$node_only" = 1 ]; then
    apt_install iptables containernetworking-plugins docker-registry busybox-static
fi

build_flags=(-mod=readonly -trimpath -buildvcs=false)
total_start=$SECONDS
for t in "${todo[@]}"; do
    stamp="$(stamp_line "$t")"
    echo "k8s build: building $t with $GO_VERSION (log: $LOG)"
    echo "=== $(date -u +%FT%TZ) building $t ($stamp)" >>"$LOG"
    start=$SECONDS
    case "$t" in
    containerd | ctr | containerd-shim-runc-v2 | runc | coredns | crane | helm | pause | containerd-shim-spin-v2)
        build_node_part "$t"
        ;;
    spin-operator)
        dir="$SRC/spin-operator-v$SPIN_OPERATOR_VERSION"
        rm -rf "$dir"
        tar -xzf "$SPIN_OPERATOR_TARBALL" -C "$SRC" || die "cannot extract $SPIN_OPERATOR_TARBALL"
        [ -f "$dir/go.mod" ] || die "$SPIN_OPERATOR_TARBALL has no spin-operator-v$SPIN_OPERATOR_VERSION/go.mod"
        (cd "$dir" && go mod download) >>"$LOG" 2>&1 || fail "$t"
        (cd "$dir" && CGO_ENABLED=0 go build "${build_flags[@]}" -v \
            -ldflags "$SO_LDFLAGS" \
            -o "$BIN/.$t.tmp" ./cmd) >>"$LOG" 2>&1 || fail "$t"
        ;;
    *)
        pkg="$(package_of "$t")"
        ldflags="$K8S_LDFLAGS"
        [ "$t" = etcd ] && ldflags="$ETCD_LDFLAGS"
        # Resolving the package graph first downloads exactly the modules this binary needs, so a
        # refusal by the proxy shows up here, named, before minutes of compiling.
        (cd "$HERE" && go list "${build_flags[@]}" -deps -f '{{if .Error}}{{.ImportPath}}: {{.Error}}{{end}}' "$pkg") \
            >>"$LOG" 2>&1 || fail "$t"
        (cd "$HERE" && CGO_ENABLED=0 go build "${build_flags[@]}" -v \
            -ldflags "$ldflags" -o "$BIN/.$t.tmp" "$pkg") >>"$LOG" 2>&1 || fail "$t"
        ;;
    esac
    mv -f "$BIN/.$t.tmp" "$BIN/$t"
    echo "$stamp" >"$BIN/.$t.stamp"
    echo "=== $t built in $((SECONDS - start)) s: $(stat -c %s "$BIN/$t") bytes" >>"$LOG"
    echo "$((SECONDS - start))" >"$LOGS/k8s-build-time-$t.txt"
    echo "k8s build: $t built in $((SECONDS - start)) s"
done
if [ "$node_only" = 1 ]; then
    echo "$((SECONDS - total_start))" >"$LOGS/k8s-node-build-time.txt"
else
    echo "$((SECONDS - total_start))" >"$LOGS/k8s-build-time.txt"
fi
echo "k8s build: done in $((SECONDS - total_start)) s: ${todo[*]} in $BIN"
