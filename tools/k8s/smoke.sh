#!/usr/bin/env bash
# End-to-end proof of tools/k8s (docs/k8s.md): brings a control plane up in a run folder and on
# ports of its own (so it does not disturb a cluster that `cluster.sh up` started), checks that
# kubectl and the API server are both v1.37.2, that the CRDs are served, that spin-operator turns a
# SpinApp into a Deployment and a Service (and kube-controller-manager the Deployment into a
# ReplicaSet and a Pending pod, and acts on an HPA), that strict server-side field validation
# (kubectl's --validate=strict, sent as ?fieldValidation=Strict; kubectl has no --field-validation
# flag) rejects an unknown field and a wrong apiVersion is rejected, that `kubectl apply -k` works on the project's
# Dapr overlay, then brings it down and checks that no process is left.
#
# Usage: tools/k8s/smoke.sh        (builds what is missing first; exit 0 only if every check passed)
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${TODO_EVENTS_CACHE:-$HOME/.cache/todo-events}"
BIN="$CACHE/bin"
export K8S_RUN="$CACHE/run/k8s-smoke"
export K8S_LOGS="$CACHE/logs/k8s-smoke"
export K8S_PORT="${SMOKE_K8S_PORT:-16443}"
export K8S_ETCD_PORT="${SMOKE_K8S_ETCD_PORT:-22379}"
export K8S_ETCD_PEER_PORT="${SMOKE_K8S_ETCD_PEER_PORT:-22380}"
export K8S_KCM_PORT="${SMOKE_K8S_KCM_PORT:-20257}"
export K8S_OPERATOR_PROBE_PORT="${SMOKE_K8S_OPERATOR_PROBE_PORT:-28081}"
export K8S_NAMESPACES="todo"
CLUSTER="$HERE/cluster.sh"
NS=todo
APP=task-api

passed=0
failed=0
results=()
check() { # $1: name, $2: 0 = pass
    if [ "$2" = 0 ]; then
        passed=$((passed + 1))
        results+=("PASS  $1")
        echo "--- PASS: $1"
    else
        failed=$((failed + 1))
        results+=("FAIL  $1")
        echo "--- FAIL: $1"
    fi
}
section() { echo; echo "=== $*"; }
k() { "$BIN/kubectl" --kubeconfig "$K8S_RUN/admin.kubeconfig" "$@"; }

finish() {
    section "summary"
    printf '%s\n' "${results[@]}"
    if [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]; then
        echo "k8s smoke: PASS"
    else
        echo "k8s smoke: FAIL (logs: $K8S_LOGS)"
    fi
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
}
brought_up=0
on_exit() {
    local rc=$?
    if [ "$brought_up" = 1 ]; then "$CLUSTER" down || true; fi
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- up ---------------------------------------------------------------------------------------
section "build + up (run folder $K8S_RUN, API server https://127.0.0.1:$K8S_PORT)"
"$CLUSTER" down >/dev/null 2>&1 || true # a smoke run cut short before
"$CLUSTER" clean >/dev/null
t0=$SECONDS
brought_up=1
if "$CLUSTER" up; then
    check "cluster.sh up ($((SECONDS - t0)) s)" 0
else
    check "cluster.sh up" 1
    finish
    exit 1
fi
"$CLUSTER" status
check "cluster.sh status: every part alive and healthy" $?
pids=()
for f in "$K8S_RUN"/pids/*.pid; do pids+=("$(cat "$f")"); done
"$CLUSTER" up >/dev/null
check "cluster.sh up again: reports it is already up, starts nothing" \
    "$([ "$(cat "$K8S_RUN"/pids/*.pid | tr '\n' ' ')" = "$(printf '%s ' "${pids[@]}")" ] && echo 0 || echo 1)"

# --- versions ---------------------------------------------------------------------------------
section "kubectl version"
k version >"$K8S_RUN/version.out" 2>&1
cat "$K8S_RUN/version.out"
client="$(k version -o json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])')"
server="$(k version -o json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])')"
check "client $client and server $server are both v1.37.2" "$([ "$client" = v1.37.2 ] && [ "$server" = v1.37.2 ] && echo 0 || echo 1)"
check "no version-skew warning" "$(grep -qi 'warning' "$K8S_RUN/version.out" && echo 1 || echo 0)"
"$BIN/etcd" --version | head -1

# --- API resources ----------------------------------------------------------------------------
section "kubectl api-resources (the CRDs)"
k api-resources -o wide 2>&1 | grep -E 'spinkube|dapr.io|keda.sh|monitoring.coreos.com' || true
names="$(k api-resources -o name 2>/dev/null)"
for r in spinapps.core.spinkube.dev spinappexecutors.core.spinkube.dev components.dapr.io \
    configurations.dapr.io resiliencies.dapr.io subscriptions.dapr.io scaledobjects.keda.sh \
    triggerauthentications.keda.sh podmonitors.monitoring.coreos.com \
    servicemonitors.monitoring.coreos.com prometheusrules.monitoring.coreos.com; do
    grep -qx "$r" <<<"$names"
    check "api-resources lists $r" $?
done

# --- a SpinApp --------------------------------------------------------------------------------
section "a SpinApp, applied with --server-side --validate=strict"
cat >"$K8S_RUN/spinapp.yaml" <<EOF
apiVersion: v1
kind: Secret
metadata:
  name: todo-secrets
  namespace: $NS
type: Opaque
stringData:
  dapr-api-token: smoke-dapr-token
  app-api-token: smoke-app-token
---
apiVersion: core.spinkube.dev/v1alpha1
kind: SpinApp
metadata:
  name: $APP
  namespace: $NS
spec:
  image: ghcr.io/example/todo:0.1.0
  executor: containerd-shim-spin
  replicas: 1
  podAnnotations:
    dapr.io/enabled: "true"
    dapr.io/app-id: $APP
    dapr.io/app-port: "80"
    dapr.io/enable-api-logging: "true"
  variables:
    - name: dapr_api_token
      valueFrom:
        secretKeyRef:
          name: todo-secrets
          key: dapr-api-token
    - name: log_level
      value: info
EOF
k apply --server-side --validate=strict -f "$K8S_RUN/spinapp.yaml" -v=6 >"$K8S_RUN/apply.out" 2>&1
rc=$?
grep -v '^I[0-9]' "$K8S_RUN/apply.out"
check "SpinApp + Secret accepted under strict field validation" $rc
grep -o 'verb="PATCH" url="[^"]*spinapps/[^"]*"' "$K8S_RUN/apply.out" | head -1
grep -q 'verb="PATCH" url="[^"]*spinapps/[^"]*fieldValidation=Strict' "$K8S_RUN/apply.out"
check "kubectl --validate=strict asks the API server for fieldValidation=Strict" $?

deadline=$((SECONDS + 60))
until k -n "$NS" get deployment "$APP" >/dev/null 2>&1 && k -n "$NS" get service "$APP" >/dev/null 2>&1; do
    [ "$SECONDS" -ge "$deadline" ] && break
    sleep 1
done
k -n "$NS" get deployment "$APP" -o json >"$K8S_RUN/deployment.json" 2>/dev/null
check "spin-operator made Deployment $NS/$APP" $?
k -n "$NS" get service "$APP" -o json >"$K8S_RUN/service.json" 2>/dev/null
check "spin-operator made Service $NS/$APP" $?

if [ -s "$K8S_RUN/deployment.json" ]; then
    section "what spin-operator made of the SpinApp"
    python3 - "$K8S_RUN/deployment.json" "$K8S_RUN/service.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
t = d["spec"]["template"]
c = t["spec"]["containers"][0]
print("Deployment:", d["metadata"]["namespace"] + "/" + d["metadata"]["name"],
      "owner:", [o["kind"] + "/" + o["name"] for o in d["metadata"].get("ownerReferences", [])],
      "replicas:", d["spec"].get("replicas"))
print("  pod template annotations:", json.dumps(t["metadata"].get("annotations", {}), sort_keys=True))
print("  pod template labels:", json.dumps(t["metadata"].get("labels", {}), sort_keys=True))
print("  runtimeClassName:", t["spec"].get("runtimeClassName"))
print("  container:", c["name"], "image:", c["image"], "command:", c.get("command"),
      "ports:", [(p.get("name"), p["containerPort"]) for p in c.get("ports", [])])
print("  env:")
for e in c.get("env", []):
    print("    ", e["name"], "=", json.dumps(e["value"]) if "value" in e else json.dumps(e.get("valueFrom")))
print("  volumes:", [v["name"] for v in t["spec"].get("volumes", [])])
try:
    s = json.load(open(sys.argv[2]))
    print("Service:", s["metadata"]["namespace"] + "/" + s["metadata"]["name"], "type:", s["spec"].get("type"),
          "clusterIP:", s["spec"].get("clusterIP"), "selector:", json.dumps(s["spec"].get("selector"), sort_keys=True),
          "ports:", [(p.get("name"), p["port"], p.get("targetPort")) for p in s["spec"]["ports"]])
except Exception as e:
    print("Service: not read:", e)
EOF
    jq_py() { python3 -c "import json,sys; d=json.load(open('$K8S_RUN/deployment.json')); $1"; }
    [ "$(jq_py 'print(d["spec"]["template"]["metadata"]["annotations"].get("dapr.io/enabled"))')" = true ]
    check "pod template carries the podAnnotations (dapr.io/enabled=true)" $?
    [ "$(jq_py 'print(d["spec"]["template"]["spec"].get("runtimeClassName"))')" = wasmtime-spin-v2 ]
    check "runtimeClassName wasmtime-spin-v2 (from the SpinAppExecutor)" $?
    [ "$(jq_py 'e={x["name"]:x for x in d["spec"]["template"]["spec"]["containers"][0]["env"]}; r=e["SPIN_VARIABLE_DAPR_API_TOKEN"]["valueFrom"]["secretKeyRef"]; print(r["name"]+"/"+r["key"])' 2>/dev/null)" = todo-secrets/dapr-api-token ]
    check "env SPIN_VARIABLE_DAPR_API_TOKEN from secretKeyRef todo-secrets/dapr-api-token" $?
    [ "$(jq_py 'e={x["name"]:x for x in d["spec"]["template"]["spec"]["containers"][0]["env"]}; print(e["SPIN_VARIABLE_LOG_LEVEL"]["value"])' 2>/dev/null)" = info ]
    check "env SPIN_VARIABLE_LOG_LEVEL=info" $?
fi

section "kube-controller-manager: ReplicaSet, Pending pod, HPA"
deadline=$((SECONDS + 60))
until [ -n "$(k -n "$NS" get pods -l "core.spinkube.dev/app-name=$APP" -o name 2>/dev/null)" ]; do
    [ "$SECONDS" -ge "$deadline" ] && break
    sleep 1
done
k -n "$NS" get replicasets,pods -o wide 2>&1
[ -n "$(k -n "$NS" get replicasets -l "core.spinkube.dev/app-name=$APP" -o name 2>/dev/null)" ]
check "the Deployment controller made a ReplicaSet" $?
phase="$(k -n "$NS" get pods -l "core.spinkube.dev/app-name=$APP" -o jsonpath='{.items[0].status.phase}' 2>/dev/null)"
[ "$phase" = Pending ]
check "the ReplicaSet controller made a pod, Pending (no node): phase=$phase" $?
k -n "$NS" autoscale deployment "$APP" --min=1 --max=3 --cpu=80% >/dev/null 2>&1 ||
    k -n "$NS" autoscale deployment "$APP" --min=1 --max=3 --cpu-percent=80 >/dev/null
deadline=$((SECONDS + 60))
until [ -n "$(k -n "$NS" get hpa "$APP" -o jsonpath='{.status.conditions}' 2>/dev/null)" ]; do
    [ "$SECONDS" -ge "$deadline" ] && break
    sleep 1
done
k -n "$NS" get hpa "$APP" -o jsonpath='{range .status.conditions[*]}  {.type}={.status} {.reason}: {.message}{"\n"}{end}' 2>&1
[ -n "$(k -n "$NS" get hpa "$APP" -o jsonpath='{.status.conditions}' 2>/dev/null)" ]
check "the HPA controller acts on an HPA (sets its conditions)" $?

# --- rejections -------------------------------------------------------------------------------
section "strict field validation: a SpinApp with an unknown field (spec.replicaCount)"
sed -e "s/name: $APP\$/name: $APP-bad/" -e 's/^  replicas: 1$/  replicas: 1\n  replicaCount: 2/' \
    "$K8S_RUN/spinapp.yaml" | awk '/^kind: SpinApp/{p=1} p' | sed '1i apiVersion: core.spinkube.dev/v1alpha1' \
    >"$K8S_RUN/spinapp-unknown-field.yaml"
# Server-side apply: the API server builds a typed patch from the CRD's structural schema, which
# fails on an unknown field whatever fieldValidation says.
if out="$(k apply --server-side --validate=strict -f "$K8S_RUN/spinapp-unknown-field.yaml" 2>&1)"; then
    echo "$out"
    check "server-side apply rejects spec.replicaCount" 1
else
    echo "apply --server-side --validate=strict: the API server said: $out"
    grep -q '\.spec\.replicaCount: field not declared in schema' <<<"$out"
    check "server-side apply rejects spec.replicaCount (field not declared in schema)" $?
fi
# Create/update (and client-side apply): only fieldValidation=Strict turns the unknown field into
# an error; with Ignore the API server drops it silently.
if out="$(k create --validate=strict --dry-run=server -f "$K8S_RUN/spinapp-unknown-field.yaml" 2>&1)"; then
    echo "$out"
    check "create --validate=strict rejects spec.replicaCount" 1
else
    echo "create --validate=strict: the API server said: $out"
    grep -q 'strict decoding error: unknown field "spec.replicaCount"' <<<"$out"
    check "create --validate=strict (fieldValidation=Strict) rejects spec.replicaCount (strict decoding error: unknown field)" $?
fi
out="$(k create --validate=ignore --dry-run=server -o jsonpath='{.spec}' -f "$K8S_RUN/spinapp-unknown-field.yaml" 2>&1)"
echo "create --validate=ignore (dry run) keeps this spec: $out"
grep -q '"replicas":1' <<<"$out" && ! grep -q replicaCount <<<"$out"
check "without strict validation the same field is dropped silently (why tests must ask for Strict)" $?
k -n "$NS" get spinapp "$APP-bad" >/dev/null 2>&1
check "and nothing was stored" "$([ $? -ne 0 ] && echo 0 || echo 1)"

section "a SpinApp with a wrong apiVersion (core.spinkube.dev/v1)"
sed 's|^apiVersion: core.spinkube.dev/v1alpha1$|apiVersion: core.spinkube.dev/v1|' \
    "$K8S_RUN/spinapp-unknown-field.yaml" | sed '/replicaCount/d' >"$K8S_RUN/spinapp-wrong-version.yaml"
if out="$(k apply --server-side --validate=strict -f "$K8S_RUN/spinapp-wrong-version.yaml" 2>&1)"; then
    echo "$out"
    check "a wrong apiVersion is rejected" 1
else
    echo "kubectl said: $out"
    grep -q 'no matches for kind "SpinApp" in version "core.spinkube.dev/v1"' <<<"$out"
    check "a wrong apiVersion is rejected (no kind SpinApp in core.spinkube.dev/v1)" $?
fi
# The same, straight to the API server (no kubectl mapping in between): the group has no v1.
code="$(curl -s -o "$K8S_RUN/wrong-version.out" -w '%{http_code}' --cacert "$K8S_RUN/pki/ca.crt" \
    --cert "$K8S_RUN/pki/admin.crt" --key "$K8S_RUN/pki/admin.key" -X PATCH \
    -H 'Content-Type: application/apply-patch+yaml' --data-binary @"$K8S_RUN/spinapp-wrong-version.yaml" \
    "https://127.0.0.1:$K8S_PORT/apis/core.spinkube.dev/v1/namespaces/$NS/spinapps/$APP-bad?fieldManager=smoke&fieldValidation=Strict")"
echo "the API server answered PATCH .../core.spinkube.dev/v1/...: HTTP $code $(tr -d '\n' <"$K8S_RUN/wrong-version.out" | cut -c1-200)"
check "the API server refuses core.spinkube.dev/v1 (HTTP $code)" "$([ "$code" = 404 ] && echo 0 || echo 1)"

# --- garbage collection -----------------------------------------------------------------------
section "SpinApp status, what else the operator made, and deleting the SpinApp"
k -n "$NS" get spinapp "$APP" -o jsonpath='{.status}' 2>&1
echo
k -n "$NS" get secrets 2>&1
k -n "$NS" delete spinapp "$APP" --wait=true --timeout=30s
deadline=$((SECONDS + 60))
while k -n "$NS" get deployment "$APP" >/dev/null 2>&1 || k -n "$NS" get service "$APP" >/dev/null 2>&1; do
    [ "$SECONDS" -ge "$deadline" ] && break
    sleep 1
done
! k -n "$NS" get deployment "$APP" >/dev/null 2>&1 && ! k -n "$NS" get service "$APP" >/dev/null 2>&1
check "deleting the SpinApp deletes its Deployment and Service (owner references, garbage collector)" $?

# --- kustomize --------------------------------------------------------------------------------
section "kubectl apply -k contracts/dapr-components/local (server-side, strict, dry run)"
if [ -f "$ROOT/contracts/dapr-components/local/kustomization.yaml" ]; then
    k apply -k "$ROOT/contracts/dapr-components/local" --server-side --validate=strict --dry-run=server
    check "the project's Dapr overlay passes the API server's strict validation" $?
fi

# --- down -------------------------------------------------------------------------------------
section "down"
pids=()
for f in "$K8S_RUN"/pids/*.pid; do pids+=("$(cat "$f")"); done
"$CLUSTER" down
check "cluster.sh down" $?
brought_up=0
# A stopped process may linger a moment as a zombie until PID 1 reaps it (it has exited: it runs
# nothing and holds no port); it counts as left only if it still runs after 10 s.
running() { # $1: pid
    local state
    [ -e "/proc/$1" ] || return 1
    state="$(sed 's/^.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null || echo X)"
    [ "$state" != Z ] && [ "$state" != X ]
}
for _ in $(seq 20); do
    left=()
    for p in "${pids[@]}"; do running "$p" && left+=("$p"); done
    for d in /proc/[0-9]*; do
        p="${d#/proc/}"
        [ "$p" = $$ ] && continue
        grep -qaF "$K8S_RUN" "$d/cmdline" 2>/dev/null && running "$p" && left+=("$p")
    done
    [ "${#left[@]}" -eq 0 ] && break
    sleep 0.5
done
if [ "${#left[@]}" -gt 0 ]; then
    ps -o pid,stat,args -p "$(printf '%s,' "${left[@]}" | sed 's/,$//')" || true
fi
check "no process left (pids ${pids[*]} gone, none names $K8S_RUN)" "${#left[@]}"

finish
