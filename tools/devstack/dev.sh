#!/usr/bin/env bash
# The local stack from real parts: PostgreSQL, Kafka (KRaft), the Dapr Scheduler, the Spin app
# (served by real Spin when one is available, else by the project's wasm host), and one daprd per
# app-id (tools/devstack/apps.tsv).
#
#   ./dev up        install what is missing, build, start everything, wait for health
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
#                   scheduler, app, mailsink, pushpin, prometheus, daprd-<app-id> (fault tests)
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

say() { printf '%s\n' "$*"; }
die() { printf 'dev: ERROR: %s\n' "$*" >&2; exit 1; }

pidfile() { echo "$RUN/pids/$1.pid"; }
alive() { local p; p="$(cat "$(pidfile "$1")" 2>/dev/null)" && kill -0 "$p" 2>/dev/null; }
running_parts() { ls "$RUN/pids" 2>/dev/null | sed 's/\.pid$//'; }

apps() { grep -v '^#' "$ROOT/tools/devstack/apps.tsv" | grep -v '^\s*$'; }

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
    (
        umask 077
        printf '%s=%q\n' DAPRD "$DAPRD" SCHEDULER "$SCHEDULER" KAFKA_BROKERS "$KAFKA_BROKERS" \
            KAFKA_EXTERNAL "$KAFKA_EXTERNAL" DATABASE_URL "$DATABASE_URL" PG_EXTERNAL "$PG_EXTERNAL" >"$RUN/stack.conf"
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
    # Spin variables: the tokens, and where each app-id's sidecar listens.
    local vars=(SPIN_VARIABLE_DAPR_API_TOKEN="$DAPR_API_TOKEN" SPIN_VARIABLE_APP_API_TOKEN="$APP_API_TOKEN"
        SPIN_VARIABLE_JWT_SECRET="$JWT_SECRET"
        SPIN_VARIABLE_PUSHPIN_PUBLISH_URL="http://127.0.0.1:$PUSHPIN_PUBLISH_PORT"
        SPIN_VARIABLE_PUSHPIN_SIG_KEY="$PUSHPIN_SIG_KEY")
    while read -r app http _grpc _metrics var; do
        vars+=("SPIN_VARIABLE_${var^^}=http://127.0.0.1:$http")
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
        "$ROOT/tools/pushpin/pushpin.sh" config "$RUN/pushpin" "$HOST_PORT" "$PUSHPIN_PORT" 0 >/dev/null
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
    local file="$RUN/spin-variables.json" line key value sep="" out="{"
    while IFS= read -r line; do
        key="${line%%=*}"
        value="${line#*=}"
        key="${key#SPIN_VARIABLE_}"
        value="${value//\\/\\\\}"
        value="${value//\"/\\\"}"
        out+="$sep\"${key,,}\": \"$value\""
        sep=", "
    done < <(host_env)
    (umask 077 && printf '%s}\n' "$out" >"$file.tmp") && mv -f "$file.tmp" "$file"
    echo "$file"
}

# Starts the Spin app with runtime $1 on HOST_PORT; both get the same variable values (Spin from
# the file above, the host as SPIN_VARIABLE_* environment variables, which cost it nothing).
start_app() {
    local runtime="$1" env_args=()
    mapfile -t env_args < <(host_env)
    case "$runtime" in
    spin)
        # Component stdout/stderr: Spin prints them to its own output (app.log) and keeps one file
        # per component in logs/spin/. --state-dir keeps .spin/ out of the repository.
        spawn app "$(spin_bin)" up --from "$ROOT/spin.toml" --variable "@$(write_variables_file)" \
            --listen "127.0.0.1:$HOST_PORT" --log-dir "$RUN/logs/spin" --state-dir "$RUN/spin-state"
        ;;
    host)
        spawn app env "${env_args[@]}" "$CARGO_TARGET_DIR/host/todo-host" --from "$ROOT/spin.toml" \
            --listen "127.0.0.1:$HOST_PORT" --cache "$CACHE/host-cache"
        ;;
    esac
    echo "$runtime" >"$RUN/runtime"
    wait_for app 120 http_ok "http://127.0.0.1:$HOST_PORT/.well-known/spin/health"
}

# One app-id's daprd (a line of apps.tsv), started but not waited for.
spawn_sidecar() {
    local app http grpc metrics _var
    read -r app http grpc metrics _var < <(apps | awk -v a="$1" '$1 == a')
    [ -n "${app:-}" ] || die "no app-id $1 in tools/devstack/apps.tsv"
    spawn "daprd-$app" env DAPR_API_TOKEN="$DAPR_API_TOKEN" APP_API_TOKEN="$APP_API_TOKEN" \
        TODO_PG_URL="$DATABASE_URL" TODO_KAFKA_BROKERS="$KAFKA_BROKERS" \
        "$DAPRD" --app-id "$app" --app-port "$HOST_PORT" --app-protocol http \
        --dapr-listen-addresses 127.0.0.1 --dapr-http-port "$http" --dapr-grpc-port "$grpc" \
        --metrics-listen-address 127.0.0.1 --metrics-port "$metrics" --enable-metrics=true \
        --resources-path "$ROOT/contracts/dapr-components/selfhosted" \
        --scheduler-host-address "127.0.0.1:$SCHED_PORT" --placement-host-address "" \
        --log-level info
}

wait_sidecar() {
    local http
    http="$(apps | awk -v a="$1" '$1 == a {print $2}')"
    wait_for "daprd-$1" 90 http_ok "http://127.0.0.1:$http/v1.0/healthz"
}

start_sidecars() {
    local app first
    # The first sidecar alone: on a fresh database its state store (state.postgresql v2) creates
    # the dapr_metadata and dapr_state tables, and seven sidecars doing that at once can lose the
    # race inside PostgreSQL (`type "dapr_metadata" already exists`, SQLSTATE 42710: daprd exits,
    # seen once in CI). The others start together once it is healthy.
    first="$(apps | cut -f1 | head -n 1)"
    spawn_sidecar "$first" && wait_sidecar "$first"
    for app in $(apps | cut -f1 | tail -n +2); do spawn_sidecar "$app"; done
    for app in $(apps | cut -f1 | tail -n +2); do wait_sidecar "$app"; done
}

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
    # The database's URL for tests and tools (it may hold a password: 0600, beside secrets.env).
    (umask 077 && echo "DATABASE_URL=$DATABASE_URL" >"$RUN/database.env")
}

cmd_up() {
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
    write_conf
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
    part pushpin start_pushpin
    part "sidecars ($DAPRD)" start_sidecars
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

cmd_status() {
    local p any=0 state where
    load_conf
    for p in postgres kafka scheduler mailsink app pushpin prometheus $(apps | cut -f1 | sed 's/^/daprd-/'); do
        if alive "$p"; then any=1; state="running (pid $(cat "$(pidfile "$p")"))"; else state="stopped"; fi
        case "$p" in
        postgres) where="postgresql://127.0.0.1:$PG_PORT/todo"
            [ "$PG_EXTERNAL" = 1 ] && state="external" where="TODO_DATABASE_URL (not started or stopped by ./dev)" ;;
        kafka) where="127.0.0.1:$KAFKA_PORT"
            [ "$KAFKA_EXTERNAL" = 1 ] && state="external" where="$KAFKA_BROKERS (not started or stopped by ./dev)" ;;
        scheduler) where="127.0.0.1:$SCHED_PORT (healthz :$SCHED_HEALTH_PORT)" ;;
        app) where="http://127.0.0.1:$HOST_PORT (runtime: $(runtime_now))" ;;
        mailsink) where="smtp://127.0.0.1:$SMTP_PORT (./dev mail)" ;;
        pushpin) where="http://127.0.0.1:$PUSHPIN_PORT (browsers; publish :$PUSHPIN_PUBLISH_PORT)" ;;
        prometheus) where="http://127.0.0.1:$PROMETHEUS_PORT (rules: observability/rules)" ;;
        daprd-*) where="http://127.0.0.1:$(apps | awk -v a="${p#daprd-}" '$1==a {print $2}')" ;;
        esac
        printf '%-22s %-24s %s\n' "$p" "$state" "$where"
    done
    say "logs: $RUN/logs/"
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
    local action="$1" part="${2:-}"
    case "$part" in
    kafka | app | mailsink | pushpin | scheduler | postgres | prometheus) ;;
    daprd-*) apps | cut -f1 | grep -qx "${part#daprd-}" || die "no app-id ${part#daprd-} in apps.tsv" ;;
    *) die "usage: ./dev stop|kill|start kafka|postgres|scheduler|app|mailsink|pushpin|prometheus|daprd-<app-id>" ;;
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
        [ "$part" = app ] && rm -f "$RUN/runtime"
        if [ "$action" = kill ]; then say "$part killed"; else say "$part stopped"; fi
        ;;
    start)
        alive "$part" && die "$part is already running"
        case "$part" in
        kafka) start_kafka ;;
        postgres) start_postgres ;;
        app) start_app "$(choose_runtime)" ;;
        mailsink) start_mailsink ;;
        pushpin) start_pushpin ;;
        prometheus) start_prometheus ;;
        scheduler) start_scheduler ;;
        daprd-*) spawn_sidecar "${part#daprd-}" && wait_sidecar "${part#daprd-}" ;;
        esac
        say "$part started"
        ;;
    esac
}

# Serves the app with another runtime on the same port; the sidecars keep running (they retry
# the app until it is back).
cmd_switch() {
    local runtime="${1:-}"
    case "$runtime" in spin | host) ;; *) die "usage: ./dev switch spin|host" ;; esac
    alive app || die "the stack is not running (./dev up)"
    secrets
    [ "$runtime" = spin ] && { spin_bin >/dev/null || die "no Spin CLI (spin on PATH, or setup unpacks ../shared/bin/spin-*.xz)"; }
    stop_parts app
    start_app "$runtime"
    say "app served by $runtime on http://127.0.0.1:$HOST_PORT"
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
up) cmd_up ;;
run) cmd_run ;;
down) cmd_down ;;
status) cmd_status ;;
logs) shift; cmd_logs "$@" ;;
test) shift; cmd_test "$@" ;;
clean) cmd_clean ;;
doctor) shift; exec "$ROOT/tools/devstack/doctor.sh" "$@" ;;
docs) shift; exec "$ROOT/tools/asyncapi/asyncapi.sh" docs "$@" ;;
stop | start | kill) cmd_part "$@" ;;
switch) shift; cmd_switch "$@" ;;
env) cmd_env ;;
variables) cmd_variables ;;
token) shift; cmd_token "$@" ;;
dlq) shift; cmd_dlq "$@" ;;
mail) cmd_mail ;;
setup) shift; "$ROOT/tools/devstack/setup.sh" "$@" ;;
*) sed -n '2,/^set /p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
