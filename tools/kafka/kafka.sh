#!/usr/bin/env bash
# Single-node Apache Kafka (KRaft, broker+controller) for local runs and tests, from Maven Central.
#
#   kafka.sh install                  jars -> ~/.cache/todo-events/kafka/<version>/libs (idempotent)
#   kafka.sh start DATADIR LOGFILE    format DATADIR once, then exec the broker in the foreground
#   kafka.sh wait [TIMEOUT_S]         wait until the broker is ready (default 60 s)
#   kafka.sh installed                exit 0 when the jars are installed and current
#   kafka.sh create-topics            create the topics in topics.txt (idempotent)
#   kafka.sh list                     list topics
#   kafka.sh describe [TOPIC]         partitions and configs of TOPIC (default: all topics)
#   kafka.sh produce TOPIC [ARGS...]  console producer, one message per stdin line
#   kafka.sh consume TOPIC [MAX] [ARGS...]  console consumer from the beginning
#
# Environment: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), KAFKA_HOST (127.0.0.1: the address
# the broker listens on and advertises; tests/cluster gives the node's bridge address, which pods
# reach), KAFKA_HEAP_OPTS (-Xmx512m -Xms128m),
# KAFKA_PID (wait: fail at once if this process dies), KAFKA_CONSUME_TIMEOUT_MS (consume with MAX:
# 10000), TODO_EVENTS_CACHE (~/.cache/todo-events), JAVA / JAVAC (java / javac).
# Typical use:  kafka.sh start "$dir" "$log" >>"$log.out" 2>&1 & pid=$!; KAFKA_PID=$pid kafka.sh wait
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
JAVA="${JAVA:-java}"
JAVAC="${JAVAC:-javac}"
CACHE="${TODO_EVENTS_CACHE:-$HOME/.cache/todo-events}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_HOST="${KAFKA_HOST:-127.0.0.1}"
BOOTSTRAP="${KAFKA_HOST}:${KAFKA_PORT}"
VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$HERE/pom.xml")"
HOME_DIR="$CACHE/kafka/$VERSION"
LIBS="$HOME_DIR/libs"
CLASSES="$HOME_DIR/classes"
STAMP="$HOME_DIR/.complete"

die() { echo "kafka.sh: error: $*" >&2; exit 1; }

# Inputs that define an install: a change to any of them reinstalls.
install_key() { cat "$HERE/pom.xml" "$HERE/TodoKafkaAdmin.java" | sha256sum | cut -d' ' -f1; }

installed() { [[ -f "$STAMP" && "$(cat "$STAMP")" == "$(install_key)" ]]; }

cmd_install() {
    [[ -n "$VERSION" ]] || die "no <kafka.version> in $HERE/pom.xml"
    installed && return 0
    command -v mvn >/dev/null || die "mvn not found (Maven is needed to fetch Kafka from Maven Central)"
    command -v "$JAVAC" >/dev/null || die "$JAVAC not found (a JDK 17+ is needed)"
    mkdir -p "$HOME_DIR"
    # The lock lives in a subshell so that no later JVM inherits (and keeps holding) it.
    (
        flock 9
        installed || fetch_and_build
    ) 9>"$HOME_DIR/.lock"
}

# Runs under the install lock: jars and the compiled helper go to a temp dir, then into place.
fetch_and_build() {
    local tmp="$HOME_DIR/.tmp.$$" log="$HOME_DIR/install.log"
    rm -rf "$tmp" "$STAMP"
    mkdir -p "$tmp"
    if ! mvn -B -q -f "$HERE/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
        -DoutputDirectory="$tmp/libs" >"$log" 2>&1; then
        cat "$log" >&2
        rm -rf "$tmp"
        die "mvn dependency:copy-dependencies failed for Kafka $VERSION (log above, also in $log)"
    fi
    [[ -f "$tmp/libs/kafka_2.13-$VERSION.jar" ]] || die "kafka_2.13-$VERSION.jar missing after mvn (see $log)"
    if ! "$JAVAC" --release 17 -nowarn -d "$tmp/classes" -cp "$tmp/libs/*" \
        "$HERE/TodoKafkaAdmin.java" >>"$log" 2>&1; then
        cat "$log" >&2
        rm -rf "$tmp"
        die "compiling TodoKafkaAdmin.java failed (log above)"
    fi
    rm -rf "$LIBS" "$CLASSES"
    mv "$tmp/libs" "$LIBS"
    mv "$tmp/classes" "$CLASSES"
    rmdir "$tmp"
    install_key >"$STAMP"
}

need_install() { installed || cmd_install; }

# Extra JVM options for the next run_tool.
TOOL_OPTS=()

# A short-lived CLI JVM: small heap, C1 only, tool logging to stderr.
run_tool() {
    "$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$HERE/log4j2-tools.properties" "${TOOL_OPTS[@]}" \
        -cp "$CLASSES:$LIBS/*" "$@"
}

# A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (as Uuid.randomUuid()).
new_cluster_id() {
    local id
    while :; do
        id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
        [[ "$id" != -* ]] && { echo "$id"; return; }
    done
}

write_server_properties() {
    local dir="$1"
    cat >"$dir/server.properties" <<EOF
# Written by tools/kafka/kafka.sh start on every start; edits are lost.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=${KAFKA_HOST}:${KAFKA_CONTROLLER_PORT}
listeners=PLAINTEXT://${KAFKA_HOST}:${KAFKA_PORT},CONTROLLER://${KAFKA_HOST}:${KAFKA_CONTROLLER_PORT}
advertised.listeners=PLAINTEXT://${KAFKA_HOST}:${KAFKA_PORT},CONTROLLER://${KAFKA_HOST}:${KAFKA_CONTROLLER_PORT}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=${dir}/data

# One node: every internal topic has one replica; few partitions keep first use fast.
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=5
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=5
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=5

group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false

# Sized for a 2-core dev machine and short-lived test data.
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.segment.bytes=16777216
log.retention.hours=24
log.retention.bytes=268435456
log.retention.check.interval.ms=60000
EOF
}

cmd_start() {
    [[ $# -eq 2 ]] || die "usage: kafka.sh start DATADIR LOGFILE"
    need_install
    mkdir -p "$1" "$(dirname "$2")"
    local dir log
    dir="$(cd "$1" && pwd)"
    log="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
    write_server_properties "$dir"
    if [[ ! -f "$dir/data/meta.properties" ]]; then
        [[ -s "$dir/cluster.id" ]] || new_cluster_id >"$dir/cluster.id"
        local out
        if ! out="$(run_tool kafka.tools.StorageTool format --config "$dir/server.properties" \
            --cluster-id "$(cat "$dir/cluster.id")" --standalone 2>&1)"; then
            echo "$out" >&2
            die "formatting KRaft storage in $dir/data failed"
        fi
    fi
    # shellcheck disable=SC2086 # KAFKA_HEAP_OPTS is a list of JVM options
    exec "$JAVA" ${KAFKA_HEAP_OPTS:--Xmx512m -Xms128m} -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$HERE/log4j2-broker.properties" -Dkafka.logfile="$log" \
        -cp "$LIBS/*" kafka.Kafka "$dir/server.properties"
}

cmd_wait() {
    need_install
    local timeout="${1:-60}"
    [[ "$timeout" =~ ^[0-9]+$ ]] || die "usage: kafka.sh wait [TIMEOUT_S]"
    TOOL_OPTS=(-Dkafka.networkclient.level=error)
    run_tool TodoKafkaAdmin wait "$BOOTSTRAP" "$timeout" "${KAFKA_PID:-}" ||
        die "Kafka at $BOOTSTRAP did not get ready (waited up to ${timeout}s)"
}

cmd_create_topics() {
    need_install
    TOOL_OPTS=(-Dkafka.networkclient.level=error)
    run_tool TodoKafkaAdmin create-topics "$BOOTSTRAP" "$HERE/topics.txt" "${1:-30}" ||
        die "creating the topics of $HERE/topics.txt on $BOOTSTRAP failed"
}

cmd_list() {
    need_install
    run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" --list
}

cmd_describe() {
    need_install
    local only=()
    [[ $# -ge 1 ]] && only=(--topic "$1")
    run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" --describe "${only[@]}"
}

cmd_produce() {
    [[ $# -ge 1 ]] || die "usage: kafka.sh produce TOPIC [EXTRA ARGS...]"
    need_install
    local topic="$1"
    shift
    run_tool org.apache.kafka.tools.ConsoleProducer --bootstrap-server "$BOOTSTRAP" --topic "$topic" "$@"
}

cmd_consume() {
    [[ $# -ge 1 ]] || die "usage: kafka.sh consume TOPIC [MAX] [EXTRA ARGS...]"
    need_install
    local topic="$1" max=()
    shift
    if [[ $# -ge 1 && "$1" =~ ^[0-9]+$ ]]; then
        max=(--max-messages "$1" --timeout-ms "${KAFKA_CONSUME_TIMEOUT_MS:-10000}")
        shift
    fi
    run_tool org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$BOOTSTRAP" \
        --topic "$topic" --from-beginning "${max[@]}" "$@"
}

case "${1:-}" in
    install) shift; cmd_install "$@" ;;
    installed) installed ;;
    start) shift; cmd_start "$@" ;;
    wait) shift; cmd_wait "$@" ;;
    create-topics) shift; cmd_create_topics "$@" ;;
    list) shift; cmd_list "$@" ;;
    describe) shift; cmd_describe "$@" ;;
    produce) shift; cmd_produce "$@" ;;
    consume) shift; cmd_consume "$@" ;;
    *) sed -n '2,/^[^#]/{/^#/p}' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
