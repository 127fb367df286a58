#!/usr/bin/env bash
# Smoke test of tools/kafka/kafka.sh against a real broker: install, start into a temp dir, wait,
# create topics (twice), produce and consume, SIGTERM stop, restart on the same data, stop.
# Uses its own ports (KAFKA_PORT 19092, KAFKA_CONTROLLER_PORT 19093 unless set) so that it does
# not collide with a dev broker on 9092. Ends with "N passed, N failed"; exit 1 on any failure.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
K="$HERE/kafka.sh"
export KAFKA_PORT="${KAFKA_PORT:-19092}" KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-19093}"
WORK="$(mktemp -d /tmp/kafka-smoke.XXXXXX)"
PID=""
passed=0
failed=0

cleanup() {
    if [[ -n "$PID" ]] && kill -0 "$PID" 2>/dev/null; then
        kill -TERM "$PID"
        wait "$PID" 2>/dev/null
    fi
    if [[ $failed -eq 0 ]]; then rm -rf "$WORK"; else echo "kept $WORK for inspection" >&2; fi
    echo "kafka smoke: $passed passed, $failed failed"
}
trap cleanup EXIT

ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*" >&2; failed=$((failed + 1)); }
check() { local what="$1"; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
now() { date +%s.%N; }
since() { printf '%.2f' "$(echo "$(now) - $1" | bc)"; }

start_broker() {
    "$K" start "$WORK/state" "$WORK/kafka.log" >>"$WORK/stdout.log" 2>&1 &
    PID=$!
}

# SIGTERM the broker; it must exit within 20 s with Java's 143 (terminated after shutdown hooks).
stop_broker() {
    local t0 rc i
    t0=$(now)
    kill -TERM "$PID"
    for ((i = 0; i < 200; i++)); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$PID" 2>/dev/null; then
        bad "broker exits within 20 s of SIGTERM"
        kill -KILL "$PID"
        wait "$PID" 2>/dev/null
    else
        wait "$PID"
        rc=$?
        check "broker exits after SIGTERM in $(since "$t0") s (exit code $rc)" test "$rc" -eq 143
    fi
    PID=""
}

# Waits for the broker started at $t0; a broker that never gets ready ends the test.
ready() {
    if KAFKA_PID=$PID "$K" wait 90; then
        ok "$1 after $(since "$t0") s"
    else
        bad "$1"
        exit 1
    fi
}

topics_from_file() { grep -v '^#' "$HERE/topics.txt" | awk 'NF == 2 {print $1}' | sort; }

t0=$(now)
check "install" "$K" install
t0=$(now)
out="$("$K" install 2>&1)"
check "second install is a quiet no-op ($(since "$t0") s)" test -z "$out"

t0=$(now)
start_broker
ready "broker ready"
check "data dir formatted with a stored cluster id" test -s "$WORK/state/cluster.id" -a -f "$WORK/state/data/meta.properties"

t0=$(now)
out="$("$K" create-topics)"
check "create-topics ($(since "$t0") s): $out" grep -q 'created 8, already there 0' <<<"$out"
out="$("$K" create-topics)"
check "create-topics again is a no-op: $out" grep -q 'created 0, already there 8' <<<"$out"
check "every topic of topics.txt is listed" diff <(topics_from_file) <("$K" list | grep -v '^__' | sort)
check "task-events has 3 partitions" grep -q 'PartitionCount: 3' <<<"$("$K" describe task-events)"

printf 'one\ntwo\nthree\n' | "$K" produce e2e-probe 2>>"$WORK/tools.err"
got="$("$K" consume e2e-probe 3 2>>"$WORK/tools.err" | tr '\n' ' ')"
check "consume returns the 3 produced messages: $got" test "$got" = "one two three "

echo x | "$K" produce no-such-topic --producer-property max.block.ms=2000 >/dev/null 2>&1
listed="$("$K" list)"
check "no topic is auto-created" bash -c "grep -qx task-events <<<'$listed' && ! grep -qx no-such-topic <<<'$listed'"

check "broker stays under 1 GiB RSS ($(awk '/VmRSS/ {print $2, $3}' "/proc/$PID/status"))" \
    test "$(awk '/VmRSS/ {print $2}' "/proc/$PID/status")" -lt 1048576
stop_broker

t0=$(now)
start_broker
ready "restarted broker ready"
check "topics survive a restart" diff <(topics_from_file) <("$K" list | grep -v '^__' | sort)
got="$("$K" consume e2e-probe 3 2>>"$WORK/tools.err" | tr '\n' ' ')"
check "messages survive a restart: $got" test "$got" = "one two three "
stop_broker
check "the broker logged no ERROR" bash -c "! grep -h ' ERROR ' '$WORK'/kafka.log* >&2"

[[ $failed -eq 0 ]]
