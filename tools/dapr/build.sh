#!/usr/bin/env bash
# Builds Dapr's `daprd` sidecar (only the components this project uses, see cmd/daprd/components.go)
# and the Dapr Scheduler (the Jobs API's back end) from the Go module github.com/dapr/dapr, through
# the Go module proxy, into ~/.cache/todo-events/bin/.
#
# Usage: tools/dapr/build.sh [daprd] [scheduler]     (no argument: both)
#
# Idempotent: a binary is rebuilt only when it is missing or its stamp file does not match the Dapr
# version + the Go version + a hash of this directory's sources. The build log goes to
# ~/.cache/todo-events/logs/dapr-build.log and the seconds the last build took to
# ~/.cache/todo-events/logs/dapr-build-time.txt. Uses the default GOCACHE/GOMODCACHE.
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

if [ "$#" -eq 0 ]; then
    set -- daprd scheduler
fi
for t in "$@"; do
    case "$t" in
    daprd | scheduler) ;;
    *) die "unknown target '$t' (expected daprd and/or scheduler)" ;;
    esac
done

command -v go >/dev/null || die "go not found on PATH (Dapr $DAPR_VERSION needs Go >= 1.26.6)"
GO_VERSION="$(go env GOVERSION)"

# Everything that decides the binaries' content: sources, module files, this script, the Go version.
src_hash() {
    (
        cd "$HERE"
        find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum -o -name build.sh \) -print0 |
            LC_ALL=C sort -z | xargs -0 sha256sum
        echo "$GO_VERSION"
    ) | sha256sum | cut -d' ' -f1
}
STAMP_LINE="dapr=$DAPR_VERSION go=$GO_VERSION src=$(src_hash)"

todo=()
for t in "$@"; do
    if [ -x "$BIN/$t" ] && [ "$(cat "$BIN/.$t.stamp" 2>/dev/null)" = "$STAMP_LINE" ]; then
        echo "dapr build: $BIN/$t is up to date ($STAMP_LINE)"
    else
        todo+=("$t")
    fi
done
[ "${#todo[@]}" -eq 0 ] && exit 0

mkdir -p "$BIN" "$LOGS"
: >"$LOG"
LDFLAGS="-s -w"
LDFLAGS+=" -X github.com/dapr/dapr/pkg/buildinfo.version=$DAPR_VERSION"
LDFLAGS+=" -X github.com/dapr/dapr/pkg/buildinfo.gitcommit=$DAPR_COMMIT"
LDFLAGS+=" -X github.com/dapr/dapr/pkg/buildinfo.gitversion=v$DAPR_VERSION"

total_start=$SECONDS
for t in "${todo[@]}"; do
    echo "dapr build: building $t $DAPR_VERSION with $GO_VERSION (log: $LOG)"
    echo "=== $(date -u +%FT%TZ) building $t ($STAMP_LINE)" >>"$LOG"
    start=$SECONDS
    if ! (cd "$HERE" && CGO_ENABLED=0 go build -mod=readonly -trimpath -buildvcs=false -v \
        -ldflags "$LDFLAGS" -o "$BIN/.$t.tmp" "./cmd/$t") >>"$LOG" 2>&1; then
        rm -f "$BIN/.$t.tmp"
        echo "dapr build: ERROR: building $t failed; the end of $LOG:" >&2
        grep -v '^[a-z0-9.-]*\.[a-z]*/[^ ]*$' "$LOG" | tail -n 30 >&2 || true
        if grep -q 'durabletask-go.*not available\|not available.*durabletask-go\|durabletask-go@.*403' "$LOG"; then
            echo "dapr build: the Go module proxy refuses github.com/dapr/durabletask-go, which" \
                "daprd's runtime imports (workflow engine); daprd cannot be built until it is served." >&2
        fi
        exit 1
    fi
    mv -f "$BIN/.$t.tmp" "$BIN/$t"
    echo "$STAMP_LINE" >"$BIN/.$t.stamp"
    echo "=== $t built in $((SECONDS - start)) s: $(stat -c %s "$BIN/$t") bytes" >>"$LOG"
    echo "dapr build: $t built in $((SECONDS - start)) s"
done
echo "$((SECONDS - total_start))" >"$TIME_FILE"
echo "dapr build: done in $((SECONDS - total_start)) s: ${todo[*]} in $BIN"
