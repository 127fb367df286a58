#!/usr/bin/env bash
# Builds Dapr's `daprd` sidecar (only the components this project uses, see cmd/daprd/components.go)
# and the Dapr Scheduler (the Jobs API's back end) from the Go module github.com/dapr/dapr, through
# the Go module proxy, into ~/.cache/todo-events/bin/. On request also the rest of Dapr's
# Kubernetes control plane: sentry (mTLS certificates), operator (serves Components,
# Subscriptions, ... to the sidecars) and injector (adds daprd to annotated pods); the one-node
# cluster of tools/k8s runs them as pods (docs/k8s.md). `./dev up` needs only daprd and scheduler.
#
# daprd is built with its workflow engine compiled out (README.md, "Workflows compiled out"): the
# proxy refuses github.com/dapr/durabletask-go, so `go build -overlay` swaps the Dapr files that
# import it for the stubs in overlay/ and for copies patched with workflow-out.patch. The overlay
# is generated on every daprd build in ~/.cache/todo-events/dapr-overlay/ (overlay.json there).
#
# Usage: tools/dapr/build.sh [daprd] [scheduler] [sentry] [operator] [injector]
#        (no argument: daprd and scheduler, what the dev stack runs; `control-plane` = the other three)
#
# Idempotent: a binary is rebuilt only when it is missing or its stamp file does not match the Dapr
# version + the Go version + a hash of this directory's sources. The build log goes to
# ~/.cache/todo-events/logs/dapr-build.log and the seconds the last build took to
# ~/.cache/todo-events/logs/dapr-build-time.txt (per binary: dapr-build-time-<name>.txt). Uses the
# default GOCACHE/GOMODCACHE.
set -euo pipefail

DAPR_VERSION=1.18.3
DAPR_COMMIT=2dcf2e3548faf3c740b3d29ee300e2132db65cff # tag v1.18.3, from the proxy's .info Origin

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${TODO_EVENTS_CACHE:-$HOME/.cache/todo-events}"
BIN="$CACHE/bin"
LOGS="$CACHE/logs"
LOG="$LOGS/dapr-build.log"
TIME_FILE="$LOGS/dapr-build-time.txt"

die() {
    echo "dapr build: ERROR: $*" >&2
    exit 1
}

ALL_TARGETS=(daprd scheduler sentry operator injector)
if [ "$#" -eq 0 ]; then
    set -- daprd scheduler
fi
targets=()
for t in "$@"; do
    case "$t" in
    daprd | scheduler | sentry | operator | injector) targets+=("$t") ;;
    control-plane) targets+=(sentry operator injector) ;;
    *) die "unknown target '$t' (expected some of: ${ALL_TARGETS[*]} control-plane)" ;;
    esac
done
set -- "${targets[@]}"

command -v go >/dev/null || die "go not found on PATH (Dapr $DAPR_VERSION needs Go >= 1.26.6)"
GO_VERSION="$(go env GOVERSION)"

# Everything that decides the binaries' content: sources, module files, this script, the Go version.
src_hash() {
    (
        cd "$HERE"
        find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum -o -name build.sh \
            -o -name '*.patch' \) -print0 |
            LC_ALL=C sort -z | xargs -0 sha256sum
        echo "$GO_VERSION"
    ) | sha256sum | cut -d' ' -f1
}
STAMP_LINE="dapr=$DAPR_VERSION go=$GO_VERSION src=$(src_hash)"

# Dapr packages replaced as a whole by the stubs in overlay/: every other non-test .go file of
# theirs is deleted through the overlay. Other stubs in overlay/ replace just their own file.
STUB_PACKAGES=(
    pkg/runtime/wfengine
    pkg/runtime/wfengine/inprocess
    pkg/actors/targets/workflow/orchestrator
)
PATCH="$HERE/workflow-out.patch"
OVERLAY_DIR="$CACHE/dapr-overlay"
OVERLAY_JSON="$OVERLAY_DIR/overlay.json"
OVERLAY_MODFILE="$OVERLAY_DIR/go.mod"

# Prepares $OVERLAY_DIR for `go build -modfile $OVERLAY_MODFILE -overlay $OVERLAY_JSON`, which
# compiles daprd's workflow engine out. The Go command refuses overlays of files beneath GOMODCACHE,
# so the Dapr module is reached through a symlink to its (unmodified, read-only) module-cache
# directory: $OVERLAY_DIR/dapr, named by a `replace` in a generated copy of go.mod (go.mod itself
# is untouched). Overlay entries: copies of Dapr files patched with workflow-out.patch, the stubs
# in overlay/, and deletions.
make_overlay() {
    local dapr_dir src rel f json
    (cd "$HERE" && go mod download github.com/dapr/dapr) || die "cannot download github.com/dapr/dapr"
    dapr_dir="$(cd "$HERE" && go list -mod=readonly -m -f '{{.Dir}}' github.com/dapr/dapr)"
    [ -f "$dapr_dir/go.mod" ] || die "github.com/dapr/dapr is not in the module cache ($dapr_dir)"
    rm -rf "$OVERLAY_DIR"
    mkdir -p "$OVERLAY_DIR/patched"
    src="$OVERLAY_DIR/dapr"
    ln -s "$dapr_dir" "$src"
    sed "s|=> \./|=> $HERE/|" "$HERE/go.mod" >"$OVERLAY_MODFILE"
    printf '\n// Added by build.sh: Dapr through a symlink, so that -overlay may replace its files.\nreplace github.com/dapr/dapr => %s\n' \
        "$src" >>"$OVERLAY_MODFILE"
    cp "$HERE/go.sum" "$OVERLAY_DIR/go.sum"
    declare -A replace=()

    # 1. Files patched in place: copy the originals, apply workflow-out.patch to the copies.
    while read -r rel; do
        mkdir -p "$OVERLAY_DIR/patched/$(dirname "$rel")"
        cp "$dapr_dir/$rel" "$OVERLAY_DIR/patched/$rel"
        chmod u+w "$OVERLAY_DIR/patched/$rel"
        replace["$src/$rel"]="$OVERLAY_DIR/patched/$rel"
    done < <(sed -n 's|^+++ b/\([^[:space:]]*\).*|\1|p' "$PATCH")
    patch --quiet --forward --batch --no-backup-if-mismatch -p1 -d "$OVERLAY_DIR/patched" <"$PATCH" ||
        die "$PATCH does not apply to $dapr_dir"

    # 2. Whole packages: delete every non-test .go file (the stubs are added back in step 3).
    for rel in "${STUB_PACKAGES[@]}"; do
        [ -d "$dapr_dir/$rel" ] || die "no package $rel in $dapr_dir"
        for f in "$dapr_dir/$rel"/*.go; do
            case "$f" in *_test.go) continue ;; esac
            replace["$src/${f#"$dapr_dir/"}"]=""
        done
    done

    # 3. Hand-written stubs: overlay/<path> replaces (or adds) <dapr module>/<path>.
    while IFS= read -r -d '' f; do
        rel="${f#"$HERE/overlay/"}"
        [ -d "$dapr_dir/$(dirname "$rel")" ] || die "stub $f: no directory $(dirname "$rel") in Dapr"
        replace["$src/$rel"]="$f"
    done < <(find "$HERE/overlay" -type f -name '*.go' -print0)

    json='{"Replace": {'
    local sep=""
    while read -r f; do
        json+="$sep"$'\n'"  \"$f\": \"${replace[$f]}\""
        sep=","
    done < <(printf '%s\n' "${!replace[@]}" | LC_ALL=C sort)
    json+=$'\n}}\n'
    printf '%s' "$json" >"$OVERLAY_JSON"
    echo "dapr build: overlay: ${#replace[@]} Dapr files replaced or deleted ($OVERLAY_JSON)"
}

todo=()
for t in "$@"; do
    [[ " ${todo[*]} " == *" $t "* ]] && continue # named twice
    if [ -x "$BIN/$t" ] && [ "$(cat "$BIN/.$t.stamp" 2>/dev/null)" = "$STAMP_LINE" ]; then
        echo "dapr build: $BIN/$t is up to date ($STAMP_LINE)"
    else
        todo+=("$t")
    fi
done
[ "${#todo[@]}" -eq 0 ] && exit 0

mkdir -p "$BIN" "$LOGS"
cleanup() {
    local t
    for t in "${ALL_TARGETS[@]}"; do rm -f "$BIN/.$t.tmp"; done # a build cut short leaves nothing
}
trap cleanup EXIT
: >"$LOG"
LDFLAGS="-s -w"
LDFLAGS+=" -X github.com/dapr/dapr/pkg/buildinfo.version=$DAPR_VERSION"
LDFLAGS+=" -X github.com/dapr/dapr/pkg/buildinfo.gitcommit=$DAPR_COMMIT"
LDFLAGS+=" -X github.com/dapr/dapr/pkg/buildinfo.gitversion=v$DAPR_VERSION"
LDFLAGS+=" -X github.com/dapr/kit/logger.DaprVersion=$DAPR_VERSION" # the `ver` field of log lines

if [ -t 1 ]; then to_log() { tee -a "$LOG"; }; else to_log() { cat >>"$LOG"; }; fi

total_start=$SECONDS
for t in "${todo[@]}"; do
    echo "dapr build: building $t $DAPR_VERSION with $GO_VERSION (log: $LOG)"
    echo "=== $(date -u +%FT%TZ) building $t ($STAMP_LINE)" >>"$LOG"
    start=$SECONDS
    build_flags=(-mod=readonly -trimpath -buildvcs=false)
    if [ "$t" = daprd ]; then
        make_overlay
        build_flags+=(-modfile "$OVERLAY_MODFILE" -overlay "$OVERLAY_JSON")
        # The stubs must have cut every import of the refused module (else: a clear error here).
        leaks="$(cd "$HERE" && go list "${build_flags[@]}" -e -deps -f '{{.ImportPath}}' ./cmd/daprd |
            grep '^github.com/dapr/durabletask-go' | tr '\n' ' ' || true)"
        [ -z "$leaks" ] || die "the overlay still lets daprd import durabletask-go: $leaks"
    fi
    # On a terminal Go's own output (-v: each package as it compiles) shows as well as going to the log.
    if ! (cd "$HERE" && CGO_ENABLED=0 go build "${build_flags[@]}" -v \
        -ldflags "$LDFLAGS" -o "$BIN/.$t.tmp" "./cmd/$t") 2>&1 | to_log; then
        rm -f "$BIN/.$t.tmp"
        echo "dapr build: ERROR: building $t failed; the end of $LOG:" >&2
        grep -v '^[a-z0-9.-]*\.[a-z]*/[^ ]*$' "$LOG" | tail -n 30 >&2 || true
        if grep -q 'durabletask-go' "$LOG"; then
            echo "dapr build: a Dapr package still imports github.com/dapr/durabletask-go, which the" \
                "Go module proxy refuses: extend overlay/ or workflow-out.patch (README.md)." >&2
        fi
        exit 1
    fi
    mv -f "$BIN/.$t.tmp" "$BIN/$t"
    echo "$STAMP_LINE" >"$BIN/.$t.stamp"
    echo "=== $t built in $((SECONDS - start)) s: $(stat -c %s "$BIN/$t") bytes" >>"$LOG"
    echo "$((SECONDS - start))" >"$LOGS/dapr-build-time-$t.txt"
    echo "dapr build: $t built in $((SECONDS - start)) s"
done
echo "$((SECONDS - total_start))" >"$TIME_FILE"
echo "dapr build: done in $((SECONDS - total_start)) s: ${todo[*]} in $BIN"
