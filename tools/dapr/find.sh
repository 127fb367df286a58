#!/usr/bin/env bash
# Finds a Dapr the user already has, so the stack runs it instead of building Dapr from source.
#
#   tools/dapr/find.sh daprd|scheduler
#
# Prints the path of the binary to run and exits 0; prints nothing and exits 0 when none is found
# (then `tools/dapr/build.sh` builds the project's own, the default). Where it looks, in order:
#   1. TODO_DAPR_BIN=<dir>: that directory only. A missing binary or a version other than 1.18.x is
#      an error (exit 1) naming what was found. TODO_DAPR_BIN=build: always the project's build.
#   2. `daprd` / `scheduler` on PATH.
#   3. ~/.dapr/bin, where `dapr init` puts daprd (and `dapr init --slim` the scheduler too).
# A binary found in 2 or 3 with another version is reported on stderr and passed over.
#
# The version: `daprd --version` prints it (e.g. 1.18.3). The Scheduler has no --version; it is
# taken from the same directory as a matching daprd (one Dapr release), or on its own when it is
# the only one found, and `./dev up` checks the version its first log line states ("Starting Dapr
# Scheduler Service -- version 1.18.3").
set -euo pipefail

WANT_MINOR=1.18 # the Dapr release this project's components, subscriptions and tests are written for
what="${1:-}"
case "$what" in daprd | scheduler) ;; *) echo "usage: find.sh daprd|scheduler" >&2; exit 2 ;; esac

warn() { printf 'dapr: %s\n' "$*" >&2; }

# The version `daprd --version` prints, or "unknown".
daprd_version() { timeout 10 "$1" --version 2>/dev/null | head -n 1 | tr -d '[:space:]' || true; }

matches() { [[ "$1" == "$WANT_MINOR".* ]]; }

# Whether directory $1 holds a usable $what; prints its path when it does. $2: strict (an error
# instead of passing over).
in_dir() {
    local dir="$1" strict="$2" bin="$1/$what" daprd="$1/daprd" v
    if [ ! -x "$bin" ]; then
        [ "$strict" = 1 ] && { warn "ERROR: TODO_DAPR_BIN=$dir has no executable $what (dapr init --slim puts daprd and scheduler in ~/.dapr/bin)"; exit 1; }
        return 1
    fi
    if [ -x "$daprd" ]; then
        v="$(daprd_version "$daprd")"
        if ! matches "$v"; then
            if [ "$strict" = 1 ]; then
                warn "ERROR: TODO_DAPR_BIN=$dir: daprd --version says '${v:-nothing}'; this project needs Dapr $WANT_MINOR.x (dapr init --runtime-version $WANT_MINOR.3), or unset TODO_DAPR_BIN to build it from source"
                exit 1
            fi
            warn "passing over $daprd: version '${v:-unknown}', this project needs $WANT_MINOR.x"
            return 1
        fi
    fi
    echo "$bin"
}

if [ -n "${TODO_DAPR_BIN:-}" ]; then
    [ "$TODO_DAPR_BIN" = build ] && exit 0
    [ -d "$TODO_DAPR_BIN" ] || { warn "ERROR: TODO_DAPR_BIN=$TODO_DAPR_BIN is not a directory"; exit 1; }
    in_dir "$(cd "$TODO_DAPR_BIN" && pwd)" 1
    exit 0
fi
if on_path="$(command -v "$what" 2>/dev/null)"; then
    in_dir "$(dirname "$(readlink -f "$on_path")")" 0 && exit 0
fi
[ -d "$HOME/.dapr/bin" ] && in_dir "$HOME/.dapr/bin" 0 && exit 0
exit 0
