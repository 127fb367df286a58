#!/usr/bin/env bash
# Creates the namespace `todo` and every Secret the deployment reads, so that no secret is ever in
# the repository (deploy/README.md, "Secrets").
#
#   deploy/secrets.sh local            Minikube: generates every value (PostgreSQL password, JWT
#                                      secret, Dapr tokens, Pushpin's key); PostgreSQL and the mail
#                                      sink in the cluster unless TODO_PG_URL / SMTP_* say otherwise
#   deploy/secrets.sh cloud            OKE: the external credentials from the environment (below),
#                                      the Dapr tokens and Pushpin's key generated
#   deploy/secrets.sh PROFILE --list   the Secrets and keys PROFILE uses, one "secret key" a line
#   deploy/secrets.sh PROFILE --dry-run  say what would be created; create nothing
#
# Last, the Secret todo-runtime-config: Spin's runtime-config.toml for every SpinApp, rendered
# from deploy/runtime-config.toml.in with the values of the Secrets above (rewritten when they
# change). A Secret that already exists is kept as it is (a generated PostgreSQL password must not change
# under a running database); delete it to have it made again. Values go to kubectl through files in
# a private temporary directory, never on a command line. Nothing secret is printed.
#
# Environment:
#   KUBECTL (kubectl), KUBECONFIG as usual
#   local:  TODO_PG_URL       PostgreSQL URL instead of the in-cluster server (e.g. Neon)
#           SMTP_HOST SMTP_PORT SMTP_USER SMTP_PASSWORD SMTP_FROM   instead of the Mailpit sink
#           BETTER_AUTH_SECRET  the auth service's shared secret (default: generated)
#   cloud (required):  TODO_PG_URL (Neon, with sslmode=require), KAFKA_BROKERS, KAFKA_USERNAME,
#           KAFKA_PASSWORD (Redpanda Cloud, SCRAM-SHA-256), SMTP_HOST, SMTP_PORT, SMTP_USER,
#           SMTP_PASSWORD, SMTP_FROM, BETTER_AUTH_SECRET
#   cloud (optional):  TODO_MIGRATE_PG_URL (the migrations' URL, default TODO_PG_URL),
#           KEDA_KAFKA_USERNAME / KEDA_KAFKA_PASSWORD (KEDA's Redpanda user, default KAFKA_*)
set -euo pipefail

NS=todo # contracts/dapr-components/{local,cloud} are in this namespace
KUBECTL="${KUBECTL:-kubectl}"

die() {
    echo "secrets.sh: ERROR: $*" >&2
    exit 1
}
say() { echo "secrets.sh: $*"; }

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

[ $# -ge 1 ] || usage
PROFILE="$1"
shift
case "$PROFILE" in local | cloud) ;; *) usage ;; esac
MODE=create
for a in "$@"; do
    case "$a" in
    --list) MODE=list ;;
    --dry-run) MODE=dry-run ;;
    *) usage ;;
    esac
done

# secret -> its keys (both profiles create the same Secrets; what differs is where values come from)
#   todo-secrets          what the Dapr Components read (contracts/dapr-components/<profile>);
#                         kafka-brokers also KEDA (cloud, through the consumers' environment)
#   postgres-credentials  the seed's name: connectionString = the database owner's URL, read by the
#                         migrations Job; username/password = the in-cluster server's (local)
#   redpanda-credentials  the seed's name: KEDA's Redpanda user (cloud TriggerAuthentication)
#   better-auth-secret    the seed's name: the JWT secret shared with the auth service (jwt_secret)
#   dapr-api-token        the sidecars' API token (dapr.io/api-token-secret) = the apps' dapr_api_token
#   dapr-app-token        the sidecars' app token (dapr.io/app-token-secret) = the apps' app_api_token
#   pushpin-sig-key       the key Pushpin signs proxied requests with (Grip-Sig)
secret_keys() {
    case "$1" in
    todo-secrets)
        if [ "$PROFILE" = cloud ]; then
            echo pg-url kafka-brokers kafka-username kafka-password smtp-host smtp-port smtp-user smtp-password smtp-from
        else
            # the local pubsub reaches its broker without credentials, at an address in its own YAML
            echo pg-url smtp-host smtp-port smtp-user smtp-password smtp-from
        fi
        ;;
    postgres-credentials)
        if [ "$PROFILE" = cloud ]; then echo connectionString; else echo connectionString username password; fi
        ;;
    redpanda-credentials) echo username password ;;
    better-auth-secret) echo secret ;;
    dapr-api-token | dapr-app-token) echo token ;;
    pushpin-sig-key) echo sig-key ;;
    esac
}
SECRETS=(todo-secrets postgres-credentials better-auth-secret dapr-api-token dapr-app-token pushpin-sig-key)
[ "$PROFILE" = cloud ] && SECRETS+=(redpanda-credentials)
# Spin's runtime configuration of every SpinApp (spec.runtimeConfig.loadFromSecret): rendered from
# deploy/runtime-config.toml.in with the values of the Secrets above, on every run (it follows them).
RUNTIME_CONFIG=todo-runtime-config
TEMPLATE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/runtime-config.toml.in"

if [ "$MODE" = list ]; then
    for s in "${SECRETS[@]}"; do
        for k in $(secret_keys "$s"); do echo "$s $k"; done
    done
    echo "$RUNTIME_CONFIG runtime-config.toml"
    exit 0
fi

command -v "$KUBECTL" >/dev/null || die "kubectl not found (set KUBECTL)"
k() { "$KUBECTL" "$@"; }

# 32 random bytes as hex: URL-safe (the PostgreSQL password sits in a URL) and a plain token for
# Pushpin's config.
random_hex() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }

need() { # every named variable must be set and non-empty
    local v missing=()
    for v in "$@"; do [ -n "${!v:-}" ] || missing+=("$v"); done
    [ "${#missing[@]}" -eq 0 ] || die "the $PROFILE profile needs these environment variables: ${missing[*]} (deploy/README.md)"
}

sslmode_of() { # the sslmode parameter of a URL, or nothing
    sed -n 's/.*[?&]sslmode=\([^&]*\).*/\1/p' <<<"$1"
}

declare -A VAL # "secret/key" -> value

exists() { k -n "$NS" get secret "$1" >/dev/null 2>&1; }
secret_value() { # secret key -> the value stored in the cluster
    k -n "$NS" get secret "$1" -o "jsonpath={.data.$2}" | base64 -d
}

if [ "$PROFILE" = local ]; then
    pg_password="$(random_hex)"
    pg_existing=""
    if [ "$MODE" = create ] && exists postgres-credentials; then
        # The running server has this password: todo-secrets (if it is made now) must agree.
        pg_password="$(secret_value postgres-credentials password)"
        pg_existing="$(secret_value postgres-credentials connectionString)"
    fi
    in_cluster_url="postgres://todo:${pg_password}@postgres.$NS.svc.cluster.local:5432/todo?sslmode=disable"
    pg_url="${TODO_PG_URL:-${pg_existing:-$in_cluster_url}}"
    VAL[postgres-credentials/username]=todo
    VAL[postgres-credentials/password]="$pg_password"
    VAL[postgres-credentials/connectionString]="$pg_url"
    VAL[todo-secrets/pg-url]="$pg_url"
    VAL[todo-secrets/smtp-host]="${SMTP_HOST:-mailpit.$NS.svc.cluster.local}"
    VAL[todo-secrets/smtp-port]="${SMTP_PORT:-1025}"
    VAL[todo-secrets/smtp-user]="${SMTP_USER:-}"
    VAL[todo-secrets/smtp-password]="${SMTP_PASSWORD:-}"
    VAL[todo-secrets/smtp-from]="${SMTP_FROM:-todo@localhost}"
    VAL[better-auth-secret/secret]="${BETTER_AUTH_SECRET:-$(random_hex)}"
else
    need TODO_PG_URL KAFKA_BROKERS KAFKA_USERNAME KAFKA_PASSWORD SMTP_HOST SMTP_PORT SMTP_USER \
        SMTP_PASSWORD SMTP_FROM BETTER_AUTH_SECRET
    mode="$(sslmode_of "$TODO_PG_URL")"
    case "$mode" in
    require | verify-ca | verify-full) ;;
    *) die "TODO_PG_URL must ask for TLS (Neon: sslmode=require), it has sslmode=${mode:-<none>}" ;;
    esac
    migrate_url="${TODO_MIGRATE_PG_URL:-$TODO_PG_URL}"
    case "$(sslmode_of "$migrate_url")" in
    require) ;;
    verify-ca | verify-full)
        die "todo-migrate (tokio-postgres) knows sslmode disable|prefer|require only, and with require it verifies the certificate anyway: set TODO_MIGRATE_PG_URL to the URL with sslmode=require"
        ;;
    *) die "TODO_MIGRATE_PG_URL (default TODO_PG_URL) must have sslmode=require" ;;
    esac
    VAL[todo-secrets/pg-url]="$TODO_PG_URL"
    VAL[todo-secrets/kafka-brokers]="$KAFKA_BROKERS"
    VAL[todo-secrets/kafka-username]="$KAFKA_USERNAME"
    VAL[todo-secrets/kafka-password]="$KAFKA_PASSWORD"
    VAL[todo-secrets/smtp-host]="$SMTP_HOST"
    VAL[todo-secrets/smtp-port]="$SMTP_PORT"
    VAL[todo-secrets/smtp-user]="$SMTP_USER"
    VAL[todo-secrets/smtp-password]="$SMTP_PASSWORD"
    VAL[todo-secrets/smtp-from]="$SMTP_FROM"
    VAL[postgres-credentials/connectionString]="$migrate_url"
    VAL[redpanda-credentials/username]="${KEDA_KAFKA_USERNAME:-$KAFKA_USERNAME}"
    VAL[redpanda-credentials/password]="${KEDA_KAFKA_PASSWORD:-$KAFKA_PASSWORD}"
    VAL[better-auth-secret/secret]="$BETTER_AUTH_SECRET"
fi
VAL[dapr-api-token/token]="$(random_hex)"
VAL[dapr-app-token/token]="$(random_hex)"
VAL[pushpin-sig-key/sig-key]="$(random_hex)"

if [ "$MODE" = create ]; then
    k get namespace "$NS" >/dev/null 2>&1 || {
        k create namespace "$NS" >/dev/null || die "cannot create namespace $NS"
        say "created namespace $NS"
    }
fi

CREATED=" "
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
chmod 700 "$TMP"

for s in "${SECRETS[@]}"; do
    keys="$(secret_keys "$s")"
    if exists "$s"; then
        say "kept $NS/$s (exists; delete it to recreate) [$keys]"
        continue
    fi
    if [ "$MODE" = dry-run ]; then
        say "would create $NS/$s [$keys]"
        continue
    fi
    args=()
    for key in $keys; do
        f="$TMP/$s.$key"
        printf '%s' "${VAL[$s/$key]}" >"$f"
        args+=("--from-file=$key=$f")
    done
    k -n "$NS" create secret generic "$s" "${args[@]}" >/dev/null || die "creating $NS/$s failed"
    k -n "$NS" label secret "$s" app.kubernetes.io/part-of=todo-events >/dev/null
    say "created $NS/$s [$keys]"
    CREATED+="$s "
done

# runtime-config.toml: every ${secret:<secret>/<key>} of the template replaced by that value as a
# TOML string's content (\ and " escaped), read back from the cluster so that it matches Secrets
# kept from an earlier run. Written to a private file, applied when it differs from what is there.
render_runtime_config() {
    local line out="" ref value
    while IFS= read -r line || [ -n "$line" ]; do
        while [[ "$line" =~ \$\{secret:([a-z0-9-]+)/([A-Za-z0-9_.-]+)\} ]]; do
            ref="${BASH_REMATCH[0]}"
            value="$(secret_value "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}")" ||
                die "$TEMPLATE reads ${BASH_REMATCH[1]}/${BASH_REMATCH[2]}, which is not in the cluster"
            [ -n "$value" ] || die "$TEMPLATE reads ${BASH_REMATCH[1]}/${BASH_REMATCH[2]}, which is empty"
            value="${value//\\/\\\\}"
            value="${value//\"/\\\"}"
            line="${line/"$ref"/"$value"}"
        done
        out+="$line"$'\n'
    done <"$TEMPLATE"
    printf '%s' "$out"
}

if [ "$MODE" = dry-run ]; then
    say "would create $NS/$RUNTIME_CONFIG [runtime-config.toml] (or update it) from $(basename "$TEMPLATE")"
else
    render_runtime_config >"$TMP/runtime-config.toml"
    if exists "$RUNTIME_CONFIG" && cmp -s "$TMP/runtime-config.toml" <(secret_value "$RUNTIME_CONFIG" runtime-config.toml); then
        say "kept $NS/$RUNTIME_CONFIG (current) [runtime-config.toml]"
    else
        k -n "$NS" create secret generic "$RUNTIME_CONFIG" --from-file=runtime-config.toml="$TMP/runtime-config.toml" \
            --dry-run=client -o yaml | k apply -f - >/dev/null || die "writing $NS/$RUNTIME_CONFIG failed"
        k -n "$NS" label secret "$RUNTIME_CONFIG" app.kubernetes.io/part-of=todo-events --overwrite >/dev/null
        say "wrote $NS/$RUNTIME_CONFIG [runtime-config.toml] from $(basename "$TEMPLATE") (restart the SpinApps' pods to apply a change)"
    fi
fi

if [[ "$CREATED" == *" better-auth-secret "* ]] && [ "$PROFILE" = local ] && [ -z "${BETTER_AUTH_SECRET:-}" ]; then
    say "the JWT secret was generated: give the same value to the auth service that signs users' tokens:"
    say "  $KUBECTL -n $NS get secret better-auth-secret -o jsonpath='{.data.secret}' | base64 -d"
fi
