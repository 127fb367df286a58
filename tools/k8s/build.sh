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
#        (no argument: all five)
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
ALL_TARGETS=(etcd kube-apiserver kube-controller-manager kubectl spin-operator)

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
    set -- "${ALL_TARGETS[@]}"
fi
for t in "$@"; do
    case " ${ALL_TARGETS[*]} " in
    *" $t "*) ;;
    *) die "unknown target '$t' (expected some of: ${ALL_TARGETS[*]})" ;;
    esac
done

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
    *) echo "kubernetes=$K8S_VERSION go=$GO_VERSION src=$SRC_HASH" ;;
    esac
}

todo=()
for t in "$@"; do
    if [ -x "$BIN/$t" ] && [ "$(cat "$BIN/.$t.stamp" 2>/dev/null)" = "$(stamp_line "$t")" ]; then
        echo "k8s build: $BIN/$t is up to date ($(stamp_line "$t"))"
    else
        todo+=("$t")
    fi
done
[ "${#todo[@]}" -eq 0 ] && exit 0

mkdir -p "$BIN" "$LOGS" "$SRC"
cleanup() {
    local t
    for t in "${ALL_TARGETS[@]}"; do rm -f "$BIN/.$t.tmp"; done # a build cut short leaves nothing
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

build_flags=(-mod=readonly -trimpath -buildvcs=false)
total_start=$SECONDS
for t in "${todo[@]}"; do
    stamp="$(stamp_line "$t")"
    echo "k8s build: building $t with $GO_VERSION (log: $LOG)"
    echo "=== $(date -u +%FT%TZ) building $t ($stamp)" >>"$LOG"
    start=$SECONDS
    case "$t" in
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
echo "$((SECONDS - total_start))" >"$LOGS/k8s-build-time.txt"
echo "k8s build: done in $((SECONDS - total_start)) s: ${todo[*]} in $BIN"
