#!/usr/bin/env bash
# The local stack from real parts: PostgreSQL, Kafka (KRaft), the Dapr Scheduler, the Spin app
# (served by real Spin when one is available, else by the project's wasm host), and one daprd per
# app-id (tools/devstack/apps.tsv).
#
#   ./dev up [--replicas N]  install what is missing, build, start everything, wait for health;
#                   N (1-3, default 1, or TODO_REPLICAS) replicas of every service: per replica one
#                   app process and one daprd per app-id (docs/replicas.md)
#   ./dev run       the same, in the foreground: Ctrl-C stops everything
#   ./dev down      stop exactly what `up` started (by PID)
#   ./dev status    what runs, where, and which runtime serves the app
#   ./dev logs [P]  follow the logs (all, or one part: postgres kafka scheduler app daprd-<app-id>)
#   ./dev test      all tests: unit, contracts, schema check, end to end (starts/stops the stack)
#   ./dev clean     down, then delete the stack's data (databases, topics, jobs)
#   ./dev env       the SPIN_VARIABLE_* exports of this stack (for `spin up` by hand)
#   ./dev variables the same values as a 0600 JSON file for `spin up --variable @FILE` (prints its path)
#   ./dev token U   a development JWT for user U (the web board's sign-in, curl); --operator
#                   adds the operator role (dead letters)
#   ./dev dlq list|show ID|redrive [--dry-run] FILTER|ID...   dead letters (operator API)
#   ./dev mail      the email reminders the stack's mail sink received
#   ./dev docs [OUT]  render contracts/asyncapi.yaml to HTML (official AsyncAPI generator)
#   ./dev doctor    check the running stack (sidecars' components and subscriptions, topics,
#                   dead letters, Scheduler, Pushpin, metrics); prints fixes, exits 1 on a problem
#   ./dev stop|kill|start PART   stop (SIGTERM), kill -9, or start one part: kafka, postgres,
#                   scheduler, app, mailsink, pushpin, prometheus, balancer, daprd-<app-id> (fault
#                   tests); a replica's own parts are app@R and daprd-<app-id>@R (R = 2, 3)
#   ./dev replica add|remove APP|all   one more replica of app-id APP (its daprd, and the
#                   replica's app process when it is not running), or stop the newest one
#   ./dev switch spin|host   serve the app with the other runtime (same port, sidecars stay up)
#   ./dev setup [up|all|build|host]  install and build: what up runs (up), what the tests need
#                   too (all, the default), the Rust builds, the host (tools/devstack/setup.sh)
#
# Runtime: TODO_RUNTIME=spin|host chooses; by default Spin when `spin` is on PATH or unpacked into
# the cache from ../shared/bin (setup.sh does that), else the host.
# What you already have (docs/devstack.md, "Use what you already have"), read by `up` and kept for
# the stack's later commands in run/stack.conf: TODO_DAPR_BIN=<dir> (or daprd on PATH, or
# ~/.dapr/bin) for Dapr 1.18, TODO_KAFKA_BROKERS=host:port for a Kafka-API broker (e.g. Redpanda),
# TODO_DATABASE_URL=postgresql://... for PostgreSQL (e.g. Neon). The stack never stops or deletes
# what it did not start.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${TODO_EVENTS_CACHE:-$HOME/.cache/todo-events}"
RUN="${TODO_EVENTS_RUN:-$CACHE/run}"       # pids/, logs/, secrets.env, stack.env
DATA="${TODO_EVENTS_DATA:-$CACHE/data}"    # kafka/, scheduler/
PGDATA_DIR="${TODO_EVENTS_PGDATA:-/var/lib/todo-events/postgres}" # must be reachable by user postgres
BIN="$CACHE/bin"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"

HOST_PORT="${TODO_HOST_PORT:-3000}"
PG_PORT="${TODO_PG_PORT:-5432}"
# Every fixed port is below 32768, outside Linux's ephemeral range (32768-60999): a port in that
# range can be held, at the moment a part starts, by any process's outbound connection (CI once
# failed with the Scheduler's 59090: "bind: address already in use"). docs/devstack.md "Ports".
SCHED_PORT=3550 SCHED_HEALTH_PORT=3551 SCHED_METRICS_PORT=3552
SMTP_PORT="${TODO_SMTP_PORT:-2525}"          # the mail sink (contracts/dapr-components/selfhosted/smtp.yaml)
PUSHPIN_PORT="${TODO_PUSHPIN_PORT:-7999}"    # browsers: the app through Pushpin (realtime streams)
PUSHPIN_PUBLISH_PORT=5561                    # Pushpin's HTTP publish API (port_offset 0)
PROMETHEUS_PORT="${TODO_PROMETHEUS_PORT:-9090}" # the stack's Prometheus (observability/, docs/observability.md)
export KAFKA_PORT="${KAFKA_PORT:-9092}"
# Replicas (docs/replicas.md): replica R's app and sidecars listen on replica 1's ports plus
# REPLICA_STEP * (R - 1): app 3000/4000/5000, audit's daprd 3501/4501/5501 (gRPC 3522/4522/5522,
# metrics 9102/10102/11102). At most 3: every topic has 3 partitions, a 4th member would idle.
REPLICA_STEP=1000 MAX_REPLICAS=3
BALANCER_PORT="${TODO_BALANCER_PORT:-3090}"  # the app's replicas behind one address (HAProxy), for Pushpin

say() { printf '%s\n' "$*"; }
die() { printf 'dev: ERROR: %s\n' "$*" >&2; exit 1; }

pidfile() { echo "$RUN/pids/$1.pid"; }
alive() { local p; p="$(cat "$(pidfile "$1")" 2>/dev/null)" && kill -0 "$p" 2>/dev/null; }
running_parts() { ls "$RUN/pids" 2>/dev/null | sed 's/\.pid$//'; }

apps() { grep -v '^#' "$ROOT/tools/devstack/apps.tsv" | grep -v '^\s*$'; }

# Replica R of a part: the first keeps the part's plain name (app, daprd-audit), the others are
# app@R, daprd-audit@R; their logs are logs/<name>.log like every part's.
replica_name() { if [ "$2" -le 1 ]; then echo "$1"; else echo "$1@$2"; fi; }
replica_of() { case "$1" in *@*) echo "${1##*@}" ;; *) echo 1 ;; esac; }
app_port() { echo $((HOST_PORT + REPLICA_STEP * ($1 - 1))); }

# Starts a part in its own session (so its children can be stopped with it) and records its PID.
spawn() {
    local name="$1"; shift
    mkdir -p "$RUN/pids" "$RUN/logs"
    setsid "$@" >>"$RUN/logs/$name.log" 2>&1 </dev/null &
    echo $! >"$(pidfile "$name")"
}

# Waits until `check` succeeds; fails naming the part and its log if it dies or times out.
wait_for() {
    local name="$1" timeout="$2"; shift 2
    local t=0
    until "$@" >/dev/null 2>&1; do
        alive "$name" || { tail -n 20 "$RUN/logs/$name.log" >&2; die "$name exited while starting (log $RUN/logs/$name.log)"; }
        [ "$t" -ge $((timeout * 4)) ] && { tail -n 20 "$RUN/logs/$name.log" >&2; die "$name not healthy after ${timeout}s (log $RUN/logs/$name.log)"; }
        sleep 0.25; t=$((t + 1))
    done
}

http_ok() { curl -fsS -o /dev/null --max-time 2 "$1"; }

secrets() {
    # Generated once per machine (each missing one on the next `up`), never in the repo: the
    # sidecars' tokens, the database password and the JWT secret of the (dev) auth service.
    mkdir -p "$RUN"
    touch "$RUN/secrets.env" && chmod 600 "$RUN/secrets.env"
    local key
    for key in DAPR_API_TOKEN APP_API_TOKEN PG_PASSWORD JWT_SECRET PUSHPIN_SIG_KEY; do
        grep -q "^$key=" "$RUN/secrets.env" ||
            echo "$key=$(head -c 32 /dev/urandom | base64 | tr -d '/+=')" >>"$RUN/secrets.env"
    done
    # shellcheck disable=SC1090
    . "$RUN/secrets.env"
    load_conf
}

# The stack's choices, made by `up` (write_conf) and read by every later command: which daprd and
# scheduler, which Kafka and PostgreSQL, and whether the stack started them. Mode 0600: the
# database URL may hold a password.
# The embedded parts: the project's Dapr build, the stack's own Kafka and PostgreSQL.
embedded_conf() {
    DAPRD="$BIN/daprd" SCHEDULER="$BIN/scheduler"
    KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT" KAFKA_EXTERNAL=0
    DATABASE_URL="$(embedded_pg_url)" PG_EXTERNAL=0
    REPLICAS=1
}

load_conf() {
    embedded_conf
    # shellcheck disable=SC1090
    [ -f "$RUN/stack.conf" ] && . "$RUN/stack.conf"
    return 0
}

# What the user brought (TODO_DAPR_BIN or a Dapr found, TODO_KAFKA_BROKERS, TODO_DATABASE_URL)
# over the embedded parts, written for the later commands.
write_conf() {
    local daprd scheduler
    daprd="$("$ROOT/tools/dapr/find.sh" daprd)" || die "Dapr: see the message above"
    scheduler="$("$ROOT/tools/dapr/find.sh" scheduler)" || die "Dapr: see the message above"
    embedded_conf
    DAPRD="${daprd:-$DAPRD}" SCHEDULER="${scheduler:-$SCHEDULER}"
    [ -n "${TODO_KAFKA_BROKERS:-}" ] && KAFKA_BROKERS="$TODO_KAFKA_BROKERS" KAFKA_EXTERNAL=1
    [ -n "${TODO_DATABASE_URL:-}" ] && DATABASE_URL="$TODO_DATABASE_URL" PG_EXTERNAL=1
    REPLICAS="${1:-${TODO_REPLICAS:-1}}"
    [[ "$REPLICAS" =~ ^[1-9]$ ]] && [ "$REPLICAS" -le "$MAX_REPLICAS" ] ||
        die "--replicas (TODO_REPLICAS) must be 1 to $MAX_REPLICAS (every topic has $MAX_REPLICAS partitions), not '$REPLICAS'"
    (
        umask 077
        printf '%s=%q\n' DAPRD "$DAPRD" SCHEDULER "$SCHEDULER" KAFKA_BROKERS "$KAFKA_BROKERS" \
            KAFKA_EXTERNAL "$KAFKA_EXTERNAL" DATABASE_URL "$DATABASE_URL" PG_EXTERNAL "$PG_EXTERNAL" \
            REPLICAS "$REPLICAS" >"$RUN/stack.conf"
    )
}

AS_POSTGRES=(setpriv --reuid=postgres --regid=postgres --init-groups)
as_postgres() { "${AS_POSTGRES[@]}" "$@"; }

start_postgres() {
    if [ "$PG_EXTERNAL" = 1 ]; then
        # Not ours to start: only the schema (todo-migrate is idempotent).
        "$CARGO_TARGET_DIR/debug/todo-migrate" --url "$DATABASE_URL" >>"$RUN/logs/migrate.log" 2>&1 ||
            { tail -n 20 "$RUN/logs/migrate.log" >&2; die "migrations on TODO_DATABASE_URL failed (log $RUN/logs/migrate.log): is the database reachable, and may its user create tables?"; }
        return 0
    fi
    local bindir
    bindir="$(dirname "$(ls /usr/lib/postgresql/*/bin/postgres | sort -V | tail -n 1)")"
    if [ ! -f "$PGDATA_DIR/PG_VERSION" ]; then
        mkdir -p "$PGDATA_DIR" && chmod 755 "$(dirname "$PGDATA_DIR")"
        chown postgres:postgres "$PGDATA_DIR" && chmod 700 "$PGDATA_DIR"
        as_postgres "$bindir/initdb" -D "$PGDATA_DIR" -U postgres --auth-local=peer --auth-host=scram-sha-256 \
            >"$RUN/logs/postgres-initdb.log" 2>&1 || die "initdb failed (log $RUN/logs/postgres-initdb.log)"
    fi
    mkdir -p "$PGDATA_DIR/../sock" && chown postgres:postgres "$PGDATA_DIR/../sock"
    spawn postgres "${AS_POSTGRES[@]}" "$bindir/postgres" -D "$PGDATA_DIR" -p "$PG_PORT" \
        -c listen_addresses=127.0.0.1 -c unix_socket_directories="$PGDATA_DIR/../sock"
    wait_for postgres 30 "$bindir/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"
    local psql=(as_postgres "$bindir/psql" -h "$PGDATA_DIR/../sock" -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qAt)
    "${psql[@]}" -d postgres -c "DO \$\$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'todo') THEN CREATE ROLE todo LOGIN; END IF;
        END \$\$; ALTER ROLE todo PASSWORD '$PG_PASSWORD';" >/dev/null
    "${psql[@]}" -d postgres -c "SELECT 1 FROM pg_database WHERE datname = 'todo'" | grep -q 1 ||
        "${psql[@]}" -d postgres -c "CREATE DATABASE todo OWNER todo" >/dev/null
    # The schema: versioned migrations (migrations/), applied by the one command that owns them.
    "$CARGO_TARGET_DIR/debug/todo-migrate" --url "$DATABASE_URL" >>"$RUN/logs/migrate.log" 2>&1 ||
        { tail -n 20 "$RUN/logs/migrate.log" >&2; die "migrations failed (log $RUN/logs/migrate.log)"; }
}

embedded_pg_url() { echo "host=127.0.0.1 port=$PG_PORT user=todo password=${PG_PASSWORD:-} dbname=todo sslmode=disable"; }

start_kafka() {
    if [ "$KAFKA_EXTERNAL" = 1 ]; then
        # Not ours to start: only the topics, as `kafka.sh create-topics` makes them, without Java.
        "$CACHE/venv/bin/python" "$ROOT/tools/kafka/topics.py" "$KAFKA_BROKERS" >>"$RUN/logs/kafka.log" 2>&1 ||
            { tail -n 5 "$RUN/logs/kafka.log" >&2; die "the topics on TODO_KAFKA_BROKERS=$KAFKA_BROKERS (log $RUN/logs/kafka.log)"; }
        return 0
    fi
    mkdir -p "$DATA/kafka"
    spawn kafka "$ROOT/tools/kafka/kafka.sh" start "$DATA/kafka" "$RUN/logs/kafka-broker.log"
    KAFKA_PID="$(cat "$(pidfile kafka)")" "$ROOT/tools/kafka/kafka.sh" wait 90 >>"$RUN/logs/kafka.log" 2>&1 ||
        { tail -n 20 "$RUN/logs/kafka.log" >&2; die "kafka not ready (logs $RUN/logs/kafka*.log)"; }
    "$ROOT/tools/kafka/kafka.sh" create-topics >>"$RUN/logs/kafka.log" 2>&1 || die "creating topics failed (log $RUN/logs/kafka.log)"
}

# Whether the part's log, since line $2, has a line matching $3.
logged_since() { tail -n "+$(($2 + 1))" "$RUN/logs/$1.log" | grep -q "$3"; }

start_scheduler() {
    mkdir -p "$DATA/scheduler"
    local from=0
    [ -f "$RUN/logs/scheduler.log" ] && from="$(wc -l <"$RUN/logs/scheduler.log")"
    spawn scheduler "$SCHEDULER" --listen-address 127.0.0.1 --port "$SCHED_PORT" \
        --healthz-port "$SCHED_HEALTH_PORT" --metrics-listen-address 127.0.0.1 --metrics-port "$SCHED_METRICS_PORT" \
        --etcd-data-dir "$DATA/scheduler" --etcd-client-listen-address 127.0.0.1 \
        --etcd-initial-cluster dapr-scheduler-server-0=http://127.0.0.1:2380
    # Its healthz answers before the embedded etcd is up; "Cron is ready" comes after.
    wait_for scheduler 60 logged_since scheduler "$from" "Cron is ready"
    # The Scheduler has no --version: its first line states it. One not built here (find.sh) must
    # be the release the project is written for.
    local version
    version="$(tail -n "+$((from + 1))" "$RUN/logs/scheduler.log" | sed -n 's/.*Starting Dapr Scheduler Service -- version \([^ ]*\).*/\1/p' | head -n 1)"
    case "$version" in
    1.18.*) ;;
    *) stop_parts scheduler; die "the Scheduler at $SCHEDULER is version '${version:-unknown}'; this project needs Dapr 1.18.x (TODO_DAPR_BIN=build builds it)" ;;
    esac
}

host_env() {
    # Spin variables: the tokens, and where each app-id's sidecar of replica ${1:-1} listens.
    local r="${1:-1}"
    local vars=(SPIN_VARIABLE_DAPR_API_TOKEN="$DAPR_API_TOKEN" SPIN_VARIABLE_APP_API_TOKEN="$APP_API_TOKEN"
        SPIN_VARIABLE_JWT_SECRET="$JWT_SECRET"
        SPIN_VARIABLE_PUSHPIN_PUBLISH_URL="http://127.0.0.1:$PUSHPIN_PUBLISH_PORT"
        SPIN_VARIABLE_PUSHPIN_SIG_KEY="$PUSHPIN_SIG_KEY")
    while read -r app http _grpc _metrics var; do
        vars+=("SPIN_VARIABLE_${var^^}=http://127.0.0.1:$((http + REPLICA_STEP * (r - 1)))")
    done < <(apps)
    printf '%s\n' "${vars[@]}"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The mail sink: a real SMTP server keeping every message in $RUN/mail (email reminders).
start_mailsink() {
    spawn mailsink "$CACHE/venv/bin/python" "$ROOT/tools/mailsink/mailsink.py" \
        --listen "127.0.0.1:$SMTP_PORT" --dir "$RUN/mail"
    wait_for mailsink 30 port_open "$SMTP_PORT"
}

# Pushpin in front of the app: it holds the browsers' SSE and WebSocket connections for the
# stateless realtime component (tools/pushpin, docs/pushpin.md).
start_pushpin() {
    PUSHPIN_SIG_KEY="$PUSHPIN_SIG_KEY" PUSHPIN_LOGDIR="$RUN/logs/pushpin" \
        "$ROOT/tools/pushpin/pushpin.sh" config "$RUN/pushpin" "$(pushpin_target)" "$PUSHPIN_PORT" 0 >/dev/null
    spawn pushpin "$ROOT/tools/pushpin/pushpin.sh" start "$RUN/pushpin"
    PUSHPIN_PID="$(cat "$(pidfile pushpin)")" "$ROOT/tools/pushpin/pushpin.sh" wait "$PUSHPIN_PORT" 30 0 \
        >>"$RUN/logs/pushpin.log" 2>&1 || { tail -n 20 "$RUN/logs/pushpin.log" >&2; die "pushpin not ready (log $RUN/logs/pushpin.log)"; }
}

# Prometheus scraping every sidecar, the Scheduler and the app's GET /metrics, with the project's
# recording rules and alerts (tools/prometheus, observability/, docs/observability.md).
start_prometheus() {
    "$ROOT/tools/prometheus/prometheus.sh" config "$RUN/prometheus" "$HOST_PORT" "$SCHED_METRICS_PORT" \
        >>"$RUN/logs/prometheus.log" 2>&1 || { tail -n 20 "$RUN/logs/prometheus.log" >&2; die "prometheus config failed (log $RUN/logs/prometheus.log)"; }
    spawn prometheus "$ROOT/tools/prometheus/prometheus.sh" start "$RUN/prometheus" "$DATA/prometheus" "$PROMETHEUS_PORT"
    PROMETHEUS_PID="$(cat "$(pidfile prometheus)")" "$ROOT/tools/prometheus/prometheus.sh" wait "$PROMETHEUS_PORT" 60 \
        >>"$RUN/logs/prometheus.log" 2>&1 || { tail -n 20 "$RUN/logs/prometheus.log" >&2; die "prometheus not ready (log $RUN/logs/prometheus.log)"; }
}

# The Spin CLI: `spin` on PATH, else the one setup.sh unpacked from ../shared/bin into the cache.
spin_bin() {
    if command -v spin >/dev/null 2>&1; then command -v spin
    elif [ -x "$BIN/spin" ]; then echo "$BIN/spin"
    else return 1
    fi
}

# Which runtime serves the app: TODO_RUNTIME if set, else Spin when available, else the host.
choose_runtime() {
    case "${TODO_RUNTIME:-}" in
    spin) spin_bin >/dev/null || die "TODO_RUNTIME=spin but no Spin CLI: put spin on PATH or run setup (it unpacks ../shared/bin/spin-*.xz)"; echo spin ;;
    host) echo host ;;
    "") if spin_bin >/dev/null; then echo spin; else echo host; fi ;;
    *) die "TODO_RUNTIME must be spin or host, not '$TODO_RUNTIME'" ;;
    esac
}

runtime_now() { cat "$RUN/runtime" 2>/dev/null || echo none; }

# The same values as a JSON file for Spin's static variable provider (`spin up --variable
# @FILE.json`): mode 0600 in the run folder, so the secrets are neither in the repository nor in a
# process listing. Spin's environment provider (SPIN_VARIABLE_*) costs milliseconds per variable
# read per request (docs/spin-variables.md); the static one nothing.
write_variables_file() {
    local r="${1:-1}" line key value sep="" out="{" file
    file="$RUN/$(replica_name spin-variables "$r").json"
    while IFS= read -r line; do
        key="${line%%=*}"
        value="${line#*=}"
        key="${key#SPIN_VARIABLE_}"
        value="${value//\\/\\\\}"
        value="${value//\"/\\\"}"
        out+="$sep\"${key,,}\": \"$value\""
        sep=", "
    done < <(host_env "$r")
    (umask 077 && printf '%s}\n' "$out" >"$file.tmp") && mv -f "$file.tmp" "$file"
    echo "$file"
}

# Starts replica $2 (default 1) of the Spin app with runtime $1 on its port (HOST_PORT for the
# first); both runtimes get the same variable values (Spin from the file above, the host as
# SPIN_VARIABLE_* environment variables, which cost it nothing).
start_app() {
    local runtime="$1" r="${2:-1}" env_args=() name port
    name="$(replica_name app "$r")" port="$(app_port "$r")"
    mapfile -t env_args < <(host_env "$r")
    case "$runtime" in
    spin)
        # Component stdout/stderr: Spin prints them to its own output (app.log) and keeps one file
        # per component in logs/spin/. --state-dir keeps .spin/ out of the repository.
        spawn "$name" "$(spin_bin)" up --from "$ROOT/spin.toml" --variable "@$(write_variables_file "$r")" \
            --listen "127.0.0.1:$port" --log-dir "$RUN/logs/$(replica_name spin "$r")" \
            --state-dir "$RUN/$(replica_name spin-state "$r")"
        ;;
    host)
        spawn "$name" env "${env_args[@]}" "$CARGO_TARGET_DIR/host/todo-host" --from "$ROOT/spin.toml" \
            --listen "127.0.0.1:$port" --cache "$CACHE/host-cache"
        ;;
    esac
    echo "$runtime" >"$RUN/runtime"
    wait_for "$name" 120 http_ok "http://127.0.0.1:$port/.well-known/spin/health"
}

# Replica $2 (default 1) of one app-id's daprd (a line of apps.tsv), started but not waited for:
# the same app-id (so the same consumer group) on the replica's ports, calling the replica's app.
spawn_sidecar() {
    local app http grpc metrics _var r="${2:-1}" step
    read -r app http grpc metrics _var < <(apps | awk -v a="$1" '$1 == a')
    [ -n "${app:-}" ] || die "no app-id $1 in tools/devstack/apps.tsv"
    step=$((REPLICA_STEP * (r - 1)))
    # notification: one call into the app at a time (its job callbacks and deliveries). Dapr
    # 1.18's SMTP binding merges each request's metadata into the component's own
    # (components-contrib bindings/smtp/smtp.go: mergeWithRequestMetadata has a pointer
    # receiver), so two emails sent at once through one sidecar can swap recipients
    # (docs/decisions.md, "One call into notification at a time"). Every email is sent inside
    # a job callback, so callbacks one at a time means sends one at a time.
    local extra=()
    [ "$app" = notification ] && extra=(--app-max-concurrency 1)
    # --dapr-graceful-shutdown-seconds: on SIGTERM the sidecar stops taking events, lets the
    # deliveries in flight finish and leaves the consumer group (its partitions move at once)
    # before it exits (docs/replicas.md).
    spawn "$(replica_name "daprd-$app" "$r")" env DAPR_API_TOKEN="$DAPR_API_TOKEN" APP_API_TOKEN="$APP_API_TOKEN" \
        TODO_PG_URL="$DATABASE_URL" TODO_KAFKA_BROKERS="$KAFKA_BROKERS" \
        "$DAPRD" --app-id "$app" --app-port "$(app_port "$r")" --app-protocol http \
        --dapr-listen-addresses 127.0.0.1 --dapr-http-port $((http + step)) --dapr-grpc-port $((grpc + step)) \
        --metrics-listen-address 127.0.0.1 --metrics-port $((metrics + step)) --enable-metrics=true \
        --resources-path "$ROOT/contracts/dapr-components/selfhosted" \
        --scheduler-host-address "127.0.0.1:$SCHED_PORT" --placement-host-address "" \
        --dapr-graceful-shutdown-seconds 10 --log-level info "${extra[@]}"
}

wait_sidecar() {
    local http r="${2:-1}"
    http="$(apps | awk -v a="$1" '$1 == a {print $2}')"
    wait_for "$(replica_name "daprd-$1" "$r")" 90 http_ok "http://127.0.0.1:$((http + REPLICA_STEP * (r - 1)))/v1.0/healthz"
}

start_sidecars() {
    local app first r
    # The first sidecar alone: on a fresh database its state store (state.postgresql v2) creates
    # the dapr_metadata and dapr_state tables, and seven sidecars doing that at once can lose the
    # race inside PostgreSQL (`type "dapr_metadata" already exists`, SQLSTATE 42710: daprd exits,
    # seen once in CI). The others start together once it is healthy.
    first="$(apps | cut -f1 | head -n 1)"
    spawn_sidecar "$first" && wait_sidecar "$first"
    for r in $(seq 1 "$REPLICAS"); do
        for app in $(apps | cut -f1); do [ "$r.$app" = "1.$first" ] || spawn_sidecar "$app" "$r"; done
    done
    for r in $(seq 1 "$REPLICAS"); do
        for app in $(apps | cut -f1); do [ "$r.$app" = "1.$first" ] || wait_sidecar "$app" "$r"; done
    done
}

# The app's replicas behind one address for Pushpin (HAProxy, tools/balancer): round robin over
# the replicas whose task-api sidecar is healthy (checked every second); a connection refused is
# tried on the next replica. Started when a second app process is, kept until `down`.
start_balancer() {
    "$ROOT/tools/balancer/balancer.sh" install >>"$RUN/logs/balancer.log" 2>&1 ||
        { tail -n 20 "$RUN/logs/balancer.log" >&2; die "installing HAProxy failed (log $RUN/logs/balancer.log)"; }
    local ports=() r task_api_http
    task_api_http="$(apps | awk '$1 == "task-api" {print $2}')"
    for r in $(seq 1 "$MAX_REPLICAS"); do ports+=("$(app_port "$r"):$((task_api_http + REPLICA_STEP * (r - 1)))"); done
    "$ROOT/tools/balancer/balancer.sh" config "$RUN/balancer" "$BALANCER_PORT" "${ports[@]}" >>"$RUN/logs/balancer.log" 2>&1 ||
        die "balancer config failed (log $RUN/logs/balancer.log)"
    spawn balancer "$ROOT/tools/balancer/balancer.sh" start "$RUN/balancer"
    wait_for balancer 30 port_open "$BALANCER_PORT"
}

# Where Pushpin sends the app's requests: the balancer when it runs, else the first replica.
pushpin_target() { if alive balancer; then echo "$BALANCER_PORT"; else echo "$HOST_PORT"; fi; }

write_stack_env() {
    # What tests and tools need to reach the stack (secrets stay in secrets.env).
    {
        echo "HOST_URL=http://127.0.0.1:$HOST_PORT"
        echo "KAFKA_BOOTSTRAP=$KAFKA_BROKERS"
        echo "KAFKA_EXTERNAL=$KAFKA_EXTERNAL"
        echo "PG_EXTERNAL=$PG_EXTERNAL"
        echo "SCHEDULER=127.0.0.1:$SCHED_PORT"
        echo "SCHEDULER_HEALTHZ_URL=http://127.0.0.1:$SCHED_HEALTH_PORT/healthz"
        echo "SCHEDULER_METRICS_URL=http://127.0.0.1:$SCHED_METRICS_PORT/metrics"
        echo "PUSHPIN_URL=http://127.0.0.1:$PUSHPIN_PORT"
        echo "PUSHPIN_PUBLISH_URL=http://127.0.0.1:$PUSHPIN_PUBLISH_PORT"
        echo "MAIL_DIR=$RUN/mail"
        echo "SMTP_PORT=$SMTP_PORT"
        echo "PROMETHEUS_URL=http://127.0.0.1:$PROMETHEUS_PORT"
        while read -r app http _rest; do echo "DAPR_URL_${app//-/_}=http://127.0.0.1:$http"; done < <(apps)
    } >"$RUN/stack.env"
    # Replica R of the app and of each sidecar listens on replica 1's ports + REPLICA_STEP * (R - 1)
    # (apart from stack.env, whose every port listens whenever the stack is up).
    printf 'REPLICA_STEP=%s\nMAX_REPLICAS=%s\nBALANCER_URL=http://127.0.0.1:%s\n' \
        "$REPLICA_STEP" "$MAX_REPLICAS" "$BALANCER_PORT" >"$RUN/replicas.env"
    # The database's URL for tests and tools (it may hold a password: 0600, beside secrets.env).
    (umask 077 && echo "DATABASE_URL=$DATABASE_URL" >"$RUN/database.env")
}

cmd_up() {
    local replicas=""
    while [ $# -gt 0 ]; do
        case "$1" in
        --replicas) replicas="${2:-}"; shift 2 || die "--replicas needs a number" ;;
        --replicas=*) replicas="${1#*=}"; shift ;;
        *) die "usage: ./dev up [--replicas N]" ;;
        esac
    done
    if [ -n "$(running_parts)" ]; then
        for p in $(running_parts); do alive "$p" && die "the stack is already running (./dev status; ./dev down to stop it)"; done
        rm -f "$RUN"/pids/*.pid # stale pid files of a stack that died
    fi
    local t_all=$SECONDS
    # Only what `up` runs (setup.sh up); its summary is printed with the parts' below.
    TODO_SETUP_SUMMARY=file "$ROOT/tools/devstack/setup.sh" up
    mkdir -p "$RUN/logs" "$RUN/pids"
    trap 'say "interrupted: stopping what was started"; cmd_down; exit 130' INT TERM
    trap 'status=$?; [ $status -ne 0 ] && { say "up failed: stopping what was started"; cmd_down; }; exit $status' EXIT
    secrets
    write_conf "$replicas"
    local t0=$SECONDS parts=()
    # Starts one part and keeps how long it took for the summary.
    part() {
        local name="$1" t=$SECONDS; shift
        say "starting $name"
        "$@"
        parts+=("$(printf '  %-11s %5s s  %s' started $((SECONDS - t)) "$name")")
    }
    if [ "$PG_EXTERNAL" = 1 ]; then part "postgres: external (TODO_DATABASE_URL), migrations only" start_postgres
    else part postgres start_postgres; fi
    if [ "$KAFKA_EXTERNAL" = 1 ]; then part "kafka: external ($KAFKA_BROKERS), topics only" start_kafka
    else part kafka start_kafka; fi
    part "scheduler ($SCHEDULER)" start_scheduler
    part mailsink start_mailsink
    local runtime; runtime="$(choose_runtime)"
    part "app ($runtime)" start_app "$runtime"
    local r
    for r in $(seq 2 "$REPLICAS"); do part "app@$r ($runtime, replica $r)" start_app "$runtime" "$r"; done
    [ "$REPLICAS" -gt 1 ] && part "balancer (HAProxy on :$BALANCER_PORT, the app's $REPLICAS replicas)" start_balancer
    part pushpin start_pushpin
    part "sidecars ($DAPRD, $REPLICAS replica(s) per app-id)" start_sidecars
    part prometheus start_prometheus
    write_stack_env
    trap - INT TERM EXIT
    say "stack up in $((SECONDS - t0)) s"
    cmd_status
    say ""
    say "summary (what was installed, built, reused, started; seconds):"
    cat "$CACHE/logs/setup-summary.txt"
    printf '%s\n' "${parts[@]}"
    printf '  %-11s %5s s  %s\n' "./dev up" $((SECONDS - t_all)) "in all, to a stack that answers"
}

# Every process of a part: its session (spawn starts each part with setsid, so the session id is
# the recorded PID). Spin's `spin up` runs a child `spin trigger http` in the same session.
session_pids() { pgrep -s "$1" 2>/dev/null || true; }

# Sends SIGTERM to every process of the parts named; waits up to 15 s for each part's whole
# session to exit, then SIGKILLs what is left. No child outlives its part.
stop_parts() {
    local p pid sig
    for p in "$@"; do
        pid="$(cat "$(pidfile "$p")" 2>/dev/null)" || continue
        # PostgreSQL's SIGTERM waits for every client (the sidecars' pools) to leave; SIGINT is
        # its "fast" shutdown: clients are disconnected, the data is flushed.
        sig=TERM; [ "$p" = postgres ] && sig=INT
        kill -"$sig" -- "-$pid" 2>/dev/null || kill -"$sig" "$pid" 2>/dev/null || true
    done
    for p in "$@"; do
        pid="$(cat "$(pidfile "$p")" 2>/dev/null)" || continue
        for _ in $(seq 1 60); do [ -z "$(session_pids "$pid")" ] && break; sleep 0.25; done
        if [ -n "$(session_pids "$pid")" ]; then
            say "$p (session $pid) did not stop in 15s: killing $(session_pids "$pid" | tr '\n' ' ')"
            kill -KILL -- "-$pid" 2>/dev/null || true
            session_pids "$pid" | xargs -r kill -KILL 2>/dev/null || true
        fi
        rm -f "$(pidfile "$p")"
    done
}

cmd_down() {
    local p running=()
    for p in $(running_parts); do alive "$p" && running+=("$p"); done
    stop_parts $(running_parts)
    rm -f "$RUN/runtime"
    say "stopped ${#running[@]} part(s)"
}

# Every part the stack has, replicas included: replica 1's always, the others' while they run
# or when `up --replicas` asked for them.
stack_parts() {
    local r app
    echo postgres kafka scheduler mailsink
    for r in $(seq 1 "$MAX_REPLICAS"); do
        if [ "$r" -le "$REPLICAS" ] || alive "app@$r"; then echo "$(replica_name app "$r")"; fi
    done
    if [ "$REPLICAS" -gt 1 ] || alive balancer; then echo balancer; fi
    echo pushpin prometheus
    for r in $(seq 1 "$MAX_REPLICAS"); do
        for app in $(apps | cut -f1); do
            if [ "$r" -le "$REPLICAS" ] || alive "daprd-$app@$r"; then echo "$(replica_name "daprd-$app" "$r")"; fi
        done
    done
}

cmd_status() {
    local p any=0 state where r
    load_conf
    for p in $(stack_parts); do
        if alive "$p"; then any=1; state="running (pid $(cat "$(pidfile "$p")"))"; else state="stopped"; fi
        r="$(replica_of "$p")"
        case "$p" in
        postgres) where="postgresql://127.0.0.1:$PG_PORT/todo"
            [ "$PG_EXTERNAL" = 1 ] && state="external" where="TODO_DATABASE_URL (not started or stopped by ./dev)" ;;
        kafka) where="127.0.0.1:$KAFKA_PORT"
            [ "$KAFKA_EXTERNAL" = 1 ] && state="external" where="$KAFKA_BROKERS (not started or stopped by ./dev)" ;;
        scheduler) where="127.0.0.1:$SCHED_PORT (healthz :$SCHED_HEALTH_PORT)" ;;
        app | app@*) where="http://127.0.0.1:$(app_port "$r") (runtime: $(runtime_now))" ;;
        balancer) where="http://127.0.0.1:$BALANCER_PORT (the app's replicas, for Pushpin)" ;;
        mailsink) where="smtp://127.0.0.1:$SMTP_PORT (./dev mail)" ;;
        pushpin) where="http://127.0.0.1:$PUSHPIN_PORT (browsers; publish :$PUSHPIN_PUBLISH_PORT)" ;;
        prometheus) where="http://127.0.0.1:$PROMETHEUS_PORT (rules: observability/rules)" ;;
        daprd-*) p="${p%@*}"
            where="http://127.0.0.1:$(($(apps | awk -v a="${p#daprd-}" '$1==a {print $2}') + REPLICA_STEP * (r - 1)))"
            [ "$r" -gt 1 ] && where+=" (replica $r)"
            p="$(replica_name "$p" "$r")" ;;
        esac
        printf '%-24s %-24s %s\n' "$p" "$state" "$where"
    done
    say "logs: $RUN/logs/ (./dev logs PART)"
    [ "$any" -eq 1 ]
}

cmd_logs() {
    if [ -n "${1:-}" ]; then tail -n 50 -F "$RUN/logs/$1.log"; else tail -n 20 -F "$RUN"/logs/*.log; fi
}

cmd_run() {
    cmd_up
    trap 'say ""; cmd_down; exit 0' INT TERM
    say "Ctrl-C stops the stack"
    cmd_logs & wait
}

cmd_test() {
    "$ROOT/tools/devstack/test.sh" "$@"
}

# Stops or starts one part of a running stack: Kafka (failure tests), or the app (to run
# `spin up` by hand beside the sidecars, README "Running with Spin").
cmd_part() {
    local action="$1" part="${2:-}" r base
    r="$(replica_of "$part")" base="${part%@*}"
    [[ "$r" =~ ^[1-9]$ ]] && [ "$r" -le "$MAX_REPLICAS" ] || die "replica $r: a replica is 1 to $MAX_REPLICAS"
    case "$part" in
    kafka | app | mailsink | pushpin | scheduler | postgres | prometheus | balancer | app@[2-9]) ;;
    daprd-*) apps | cut -f1 | grep -qx "${base#daprd-}" || die "no app-id ${base#daprd-} in apps.tsv" ;;
    *) die "usage: ./dev stop|kill|start kafka|postgres|scheduler|app[@R]|mailsink|pushpin|prometheus|balancer|daprd-<app-id>[@R]" ;;
    esac
    secrets
    if { [ "$part" = kafka ] && [ "$KAFKA_EXTERNAL" = 1 ]; } || { [ "$part" = postgres ] && [ "$PG_EXTERNAL" = 1 ]; }; then
        die "$part is external (TODO_KAFKA_BROKERS / TODO_DATABASE_URL): ./dev did not start it and does not stop or start it"
    fi
    case "$action" in
    stop | kill)
        alive "$part" || die "$part is not running"
        if [ "$action" = kill ]; then
            # kill -9 of the whole part (fault tests): no shutdown, nothing flushed.
            local pid; pid="$(cat "$(pidfile "$part")")"
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
            for _ in $(seq 1 40); do [ -z "$(session_pids "$pid")" ] && break; sleep 0.25; done
            session_pids "$pid" | xargs -r kill -KILL 2>/dev/null || true
            rm -f "$(pidfile "$part")"
        else
            stop_parts "$part"
        fi
        [ "$part" = app ] && [ -z "$(ls "$RUN"/pids/app@*.pid 2>/dev/null)" ] && rm -f "$RUN/runtime"
        if [ "$action" = kill ]; then say "$part killed"; else say "$part stopped"; fi
        ;;
    start)
        alive "$part" && die "$part is already running"
        case "$part" in
        kafka) start_kafka ;;
        postgres) start_postgres ;;
        app | app@*) start_app "$(replica_runtime)" "$r" ;;
        balancer) start_balancer ;;
        mailsink) start_mailsink ;;
        pushpin) start_pushpin ;;
        prometheus) start_prometheus ;;
        scheduler) start_scheduler ;;
        daprd-*) spawn_sidecar "${base#daprd-}" "$r" && wait_sidecar "${base#daprd-}" "$r" ;;
        esac
        say "$part started"
        ;;
    esac
}

# The runtime a new app process gets: the one the running replicas have, else TODO_RUNTIME's.
replica_runtime() {
    local rt
    rt="$(runtime_now)"
    if [ "$rt" = none ] || [ -n "${TODO_RUNTIME:-}" ]; then choose_runtime; else echo "$rt"; fi
}

# One more replica of an app-id (or of every one), or the newest one stopped: what Kubernetes
# does when it scales a Deployment (docs/replicas.md).
cmd_replica() {
    local action="${1:-}" which="${2:-}" app r
    case "$action" in add | remove) ;; *) die "usage: ./dev replica add|remove APP-ID|all" ;; esac
    [ -n "$which" ] || die "usage: ./dev replica $action APP-ID|all"
    secrets
    alive app || alive app@2 || alive app@3 || die "the stack is not running (./dev up)"
    local targets=()
    if [ "$which" = all ]; then mapfile -t targets < <(apps | cut -f1)
    else apps | cut -f1 | grep -qx "$which" || die "no app-id $which in apps.tsv"; targets=("$which"); fi
    if [ "$action" = add ]; then
        local want=() started=()
        for app in "${targets[@]}"; do
            for r in $(seq 1 "$MAX_REPLICAS"); do alive "$(replica_name "daprd-$app" "$r")" || break; done
            alive "$(replica_name "daprd-$app" "$r")" && die "$app already runs $MAX_REPLICAS replicas (one per partition)"
            want+=("$app@$r")
        done
        # The replicas' app processes first (a sidecar waits for its app), the balancer when there
        # are two, then the sidecars together.
        for r in $(printf '%s\n' "${want[@]}" | sed 's/.*@//' | sort -u); do
            alive "$(replica_name app "$r")" || { start_app "$(replica_runtime)" "$r"; say "$(replica_name app "$r") started"; }
        done
        if ! alive balancer && [ "$(ls "$RUN"/pids/app*.pid 2>/dev/null | wc -l)" -gt 1 ]; then
            start_balancer
            # Pushpin reads its target at start: send it through the balancer from now on.
            alive pushpin && { stop_parts pushpin; start_pushpin; }
            say "balancer started (Pushpin -> :$BALANCER_PORT -> every app replica)"
        fi
        for app in "${want[@]}"; do spawn_sidecar "${app%@*}" "${app#*@}"; done
        for app in "${want[@]}"; do
            wait_sidecar "${app%@*}" "${app#*@}"
            started+=("$(replica_name "daprd-${app%@*}" "${app#*@}")")
        done
        say "started ${started[*]}"
    else
        local stop=()
        for app in "${targets[@]}"; do
            for r in $(seq "$MAX_REPLICAS" -1 2); do
                alive "daprd-$app@$r" && { stop+=("daprd-$app@$r"); break; }
            done
        done
        [ "${#stop[@]}" -gt 0 ] || die "no replica beyond the first runs for $which"
        stop_parts "${stop[@]}"
        # An app process no sidecar calls any more goes too.
        for r in $(seq 2 "$MAX_REPLICAS"); do
            alive "app@$r" && [ -z "$(ls "$RUN"/pids/daprd-*@"$r".pid 2>/dev/null)" ] && { stop_parts "app@$r"; stop+=("app@$r"); }
        done
        say "stopped ${stop[*]}"
    fi
}

# Serves the app with another runtime on the same port; the sidecars keep running (they retry
# the app until it is back).
cmd_switch() {
    local runtime="${1:-}"
    case "$runtime" in spin | host) ;; *) die "usage: ./dev switch spin|host" ;; esac
    alive app || die "the stack is not running (./dev up)"
    secrets
    [ "$runtime" = spin ] && { spin_bin >/dev/null || die "no Spin CLI (spin on PATH, or setup unpacks ../shared/bin/spin-*.xz)"; }
    local r apps_running=()
    for r in $(seq 1 "$MAX_REPLICAS"); do alive "$(replica_name app "$r")" && apps_running+=("$r"); done
    for r in "${apps_running[@]}"; do
        stop_parts "$(replica_name app "$r")"
        start_app "$runtime" "$r"
    done
    say "app served by $runtime on http://127.0.0.1:$HOST_PORT (replicas: ${apps_running[*]})"
}

# `export` lines for running the app by hand with the stack's values (`eval "$(./dev env)"`).
cmd_env() {
    secrets
    host_env | sed "s/^\([A-Z_]*\)=\(.*\)$/export \1='\2'/"
}

# The stack's variables as a file for `spin up --variable @FILE` (0600; prints its path).
cmd_variables() {
    secrets
    write_variables_file
}

# A development JWT for <user> (HS256 with the stack's secret, 12 h), as the auth service would
# issue it: for the web board's sign-in and for curl.
cmd_token() {
    local roles=""
    if [ "${1:-}" = "--operator" ]; then roles=operator; shift; fi
    local user="${1:-}"
    [ -n "$user" ] || die "usage: ./dev token [--operator] <user> [email]"
    secrets
    JWT_SECRET="$JWT_SECRET" ROLES="$roles" "$CACHE/venv/bin/python" -c '
import os, sys, time, jwt
user, email = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else sys.argv[1] + "@todo.localhost")
now = int(time.time())
claims = {"sub": user, "email": email, "iat": now, "exp": now + 12 * 3600}
if os.environ["ROLES"]:
    claims["roles"] = os.environ["ROLES"].split(",")
print(jwt.encode(claims, os.environ["JWT_SECRET"], algorithm="HS256"))
' "$user" "${2:-}"
}

# The operator API's dead letters: list, show, re-drive, discard (tools/devstack/dlq.py).
cmd_dlq() {
    secrets
    [ -f "$RUN/stack.env" ] || die "the stack is not up: ./dev up"
    HOST_URL="$(sed -n 's/^HOST_URL=//p' "$RUN/stack.env")" JWT_SECRET="$JWT_SECRET" \
        "$CACHE/venv/bin/python" "$ROOT/tools/devstack/dlq.py" "$@"
}

# The mail the sink received (one line each: to, subject).
cmd_mail() {
    [ -f "$RUN/mail/index.jsonl" ] || { say "no mail yet ($RUN/mail)"; return 0; }
    "$CACHE/venv/bin/python" -c '
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    print(f"#{m[\"n\"]} to {\",\".join(m[\"to\"])}: {m[\"subject\"]}")
' "$RUN/mail/index.jsonl"
}

cmd_clean() {
    cmd_down
    # Only what the stack made: an external Kafka's topics and an external database stay as they are.
    rm -rf "$DATA" "$PGDATA_DIR" "$RUN/secrets.env" "$RUN/stack.env" "$RUN/stack.conf" "$RUN/database.env"
    say "deleted $DATA, $PGDATA_DIR and the generated secrets"
}

case "${1:-}" in
up) shift; cmd_up "$@" ;;
run) cmd_run ;;
down) cmd_down ;;
status) cmd_status ;;
logs) shift; cmd_logs "$@" ;;
test) shift; cmd_test "$@" ;;
clean) cmd_clean ;;
doctor) shift; exec "$ROOT/tools/devstack/doctor.sh" "$@" ;;
docs) shift; exec "$ROOT/tools/asyncapi/asyncapi.sh" docs "$@" ;;
stop | start | kill) cmd_part "$@" ;;
replica) shift; cmd_replica "$@" ;;
switch) shift; cmd_switch "$@" ;;
env) cmd_env ;;
variables) cmd_variables ;;
token) shift; cmd_token "$@" ;;
dlq) shift; cmd_dlq "$@" ;;
mail) cmd_mail ;;
setup) shift; "$ROOT/tools/devstack/setup.sh" "$@" ;;
*) sed -n '2,/^set /p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
