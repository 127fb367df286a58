#!/usr/bin/env bash
# Deploys an overlay in the order it needs (deploy/README.md, "Deploy"):
#
#   1. checks that the CRDs (SpinKube, Dapr, KEDA) are installed and that every Secret and key the
#      overlay reads exists (deploy/secrets.sh creates them);
#   2. deletes the previous run's migrations Job (a Job's pod template cannot change; a completed
#      one would keep an old image), then applies only what is labelled
#      todo-events/deploy-phase=database: the migrations Job (and the local overlay's PostgreSQL);
#   3. waits until the Job has completed (it fails the deploy if the Job fails, with its log);
#   4. applies the whole overlay (the Dapr resources, the Configuration, the SpinApps, autoscalers,
#      Pushpin, Ingress);
#   5. waits until every SpinApp is Available and Pushpin has rolled out.
#
# Every apply is server-side with strict field validation (kubectl has no --field-validation flag:
# --validate=strict sends fieldValidation=Strict), so an unknown field is an error, not dropped.
#
# Usage: deploy/apply.sh local|cloud [--no-wait] [--timeout SECONDS]
#   --no-wait   skip steps 3 and 5 (a control plane without nodes, e.g. tools/k8s, runs no pod)
# Environment: KUBECTL (kubectl), KUBECONFIG as usual; TODO_OVERLAY: a folder with an overlay of
# your own derived from the profile's (e.g. the local one without its PostgreSQL: tests/cluster
# makes one), applied instead of deploy/overlays/<profile> (the Secrets checked are the profile's).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NS=todo
KUBECTL="${KUBECTL:-kubectl}"
PHASE_LABEL=todo-events/deploy-phase=database

die() {
    echo "apply.sh: ERROR: $*" >&2
    exit 1
}
say() { echo "apply.sh: $*"; }
usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

[ $# -ge 1 ] || usage
PROFILE="$1"
shift
case "$PROFILE" in local | cloud) ;; *) usage ;; esac
WAIT=1
TIMEOUT=600
while [ $# -gt 0 ]; do
    case "$1" in
    --no-wait) WAIT=0 ;;
    --timeout)
        TIMEOUT="${2:?--timeout needs seconds}"
        shift
        ;;
    *) usage ;;
    esac
    shift
done
OVERLAY="${TODO_OVERLAY:-$HERE/overlays/$PROFILE}"
[ -f "$OVERLAY/kustomization.yaml" ] || die "no kustomization.yaml in $OVERLAY"
command -v "$KUBECTL" >/dev/null || die "kubectl not found (set KUBECTL)"
k() { "$KUBECTL" "$@"; }
apply() { k apply -k "$OVERLAY" --server-side --validate=strict "$@"; }

# 1. prerequisites
missing=()
for crd in spinapps.core.spinkube.dev spinappexecutors.core.spinkube.dev components.dapr.io \
    configurations.dapr.io resiliencies.dapr.io subscriptions.dapr.io scaledobjects.keda.sh \
    triggerauthentications.keda.sh; do
    k get crd "$crd" >/dev/null 2>&1 || missing+=("$crd")
done
[ "${#missing[@]}" -eq 0 ] ||
    die "CRDs missing: ${missing[*]} (install SpinKube, Dapr and KEDA first: deploy/README.md)"
k get namespace "$NS" >/dev/null 2>&1 || die "no namespace $NS: run deploy/secrets.sh $PROFILE first"
missing=()
declare -A KEYS # secret -> its keys in the cluster (" a b c "), or "absent"
while read -r secret key; do
    if [ -z "${KEYS[$secret]:-}" ]; then
        # shellcheck disable=SC2016 # a go-template, not shell
        KEYS[$secret]=" $(k -n "$NS" get secret "$secret" \
            -o go-template='{{range $k, $v := .data}}{{$k}} {{end}}' 2>/dev/null || echo absent) "
    fi
    case "${KEYS[$secret]}" in
    " absent ") missing+=("$secret") ;;
    *" $key "*) ;;
    *) missing+=("$secret/$key") ;;
    esac
done < <("$HERE/secrets.sh" "$PROFILE" --list)
[ "${#missing[@]}" -eq 0 ] ||
    die "missing in namespace $NS: $(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')(deploy/secrets.sh $PROFILE)"

# 2. the database phase
k -n "$NS" delete job todo-migrate --ignore-not-found --wait=true >/dev/null
say "applying the database phase ($PHASE_LABEL)"
apply -l "$PHASE_LABEL"

# 3. the migrations
if [ "$WAIT" = 1 ]; then
    say "waiting for job/todo-migrate (at most ${TIMEOUT}s)"
    deadline=$((SECONDS + TIMEOUT))
    while :; do
        state="$(k -n "$NS" get job todo-migrate -o jsonpath='{range .status.conditions[?(@.status=="True")]}{.type}{" "}{end}')"
        case " $state " in
        *" Complete "*) break ;;
        *" Failed "*)
            k -n "$NS" logs job/todo-migrate --tail=50 >&2 || true
            die "the migrations Job failed (kubectl -n $NS describe job todo-migrate)"
            ;;
        esac
        if [ "$SECONDS" -ge "$deadline" ]; then
            k -n "$NS" logs job/todo-migrate --tail=50 >&2 || true
            die "the migrations Job did not complete in ${TIMEOUT}s"
        fi
        sleep 3
    done
    k -n "$NS" logs job/todo-migrate --tail=20 || true
fi

# 4. everything
say "applying ${TODO_OVERLAY:-deploy/overlays/$PROFILE}"
apply

# 5. rolled out
if [ "$WAIT" = 1 ]; then
    say "waiting for the SpinApps and Pushpin (at most ${TIMEOUT}s)"
    k -n "$NS" wait spinapp --all --for=condition=Available --timeout="${TIMEOUT}s"
    k -n "$NS" rollout status deployment/pushpin --timeout="${TIMEOUT}s"
fi
say "done: kubectl -n $NS get spinapps,deploy,svc,ingress,scaledobjects,hpa"
