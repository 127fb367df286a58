#!/usr/bin/env python3
"""`./dev doctor --cluster`: the seed's "Troubleshooting" section for the one-node cluster
(`tools/k8s/cluster.sh up --node`), through kubectl as a user would run it.

Checks, in order, and prints one line per finding (`ok`, `WARN`, `FAIL`) with the fix for each
problem; exits 1 when anything FAILs, 2 when it cannot run at all:

- the node: `cluster.sh status --node` (every part's process and health), the Node Ready;
- the cluster's own pods: CoreDNS (kube-system) and Dapr's control plane (dapr-system: sentry,
  operator, sidecar injector, Scheduler);
- namespace todo: the Dapr Components and Subscriptions (`kubectl get components,subscriptions`),
  every SpinApp Available, every pod Running with all containers ready, each service's pod with an
  injected daprd;
- each daprd that is not ready or restarts: its log (`kubectl logs <pod> -c daprd`, and the
  previous container's) read for the part it cannot reach. A sidecar that cannot reach Kafka is
  named with the broker address of the `pubsub` Component and whether that address answers from
  this machine (the broker's listener), so the fix points at Kafka, not at the app.

    ./dev doctor --cluster            (or: ~/.cache/todo-events/venv/bin/python tools/k8s/doctor_cluster.py)
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("TODO_EVENTS_CACHE", Path.home() / ".cache" / "todo-events"))
RUN = Path(os.environ.get("K8S_RUN", CACHE / "run" / "k8s-node"))
KUBECTL = [str(CACHE / "bin" / "kubectl"), "--kubeconfig", str(RUN / "admin.kubeconfig")]
NODE_IP = "10.244.0.1"
# What Minikube's and this node's CoreDNS answer for the machine (tools/k8s/coredns.yaml).
HOST_ALIASES = {"host.minikube.internal": NODE_IP}
NS = "todo"

# daprd log lines that name the part a sidecar cannot reach: (pattern, part, fix)
CAUSES = [
    (re.compile(r"kafka|sarama|broker|run out of available brokers", re.I), "Kafka",
     "start the broker or fix the `brokers` address of the pubsub Component; it must listen on and advertise an address pods reach"),
    (re.compile(r"postgres|pgx|tododb|statestore.*(connect|dial)|SQLSTATE", re.I), "PostgreSQL",
     "check the server and todo-secrets/pg-url (deploy/secrets.sh)"),
    (re.compile(r"dapr-sentry|sentry", re.I), "Dapr's Sentry",
     "kubectl -n dapr-system get pods; kubectl -n dapr-system logs deploy/dapr-sentry"),
    (re.compile(r"dapr-api\.|operator", re.I), "Dapr's operator",
     "kubectl -n dapr-system logs deploy/dapr-operator"),
    (re.compile(r"scheduler", re.I), "the Dapr Scheduler",
     "kubectl -n dapr-system get pods -l app=dapr-scheduler-server"),
]

findings: list[tuple[str, str, str]] = []


def report(level: str, what: str, fix: str = "") -> None:
    findings.append((level, what, fix))
    print(f"{level:4} {what}" + (f"\n       fix: {fix}" if fix else ""), flush=True)


def kubectl(*args: str, check: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run([*KUBECTL, *args], capture_output=True, text=True, timeout=60)


def kjson(*args: str) -> dict | None:
    p = kubectl(*args, "-o", "json")
    return json.loads(p.stdout) if p.returncode == 0 else None


def reachable(host: str, port: int) -> bool:
    host = HOST_ALIASES.get(host, host)
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def pod_ready(pod: dict) -> bool:
    return pod["status"].get("phase") == "Running" and all(c.get("ready") for c in pod["status"].get("containerStatuses", []))


def check_node() -> bool:
    p = subprocess.run([str(ROOT / "tools/k8s/cluster.sh"), "status", "--node"], capture_output=True, text=True)
    if p.returncode != 0:
        report("FAIL", "the node's parts:\n" + p.stdout.rstrip(), "tools/k8s/cluster.sh down --node && tools/k8s/cluster.sh up --node "
               "(logs: ~/.cache/todo-events/logs/k8s-node/<part>.log)")
        if "kube-apiserver" in p.stdout and "not running" in p.stdout.split("kube-apiserver", 1)[1].split("\n", 1)[0]:
            return False
    else:
        report("ok", "the node's parts run and answer (cluster.sh status --node)")
    node = kjson("get", "node", "todo-node")
    if node is None:
        report("FAIL", "no Node todo-node in the API server", "tools/k8s/cluster.sh up --node")
        return False
    ready = next((c for c in node["status"]["conditions"] if c["type"] == "Ready"), {})
    if ready.get("status") == "True":
        report("ok", "node todo-node is Ready")
    else:
        report("FAIL", f"node todo-node is not Ready: {ready.get('message')}", "the kubelet's log: ~/.cache/todo-events/logs/k8s-node/kubelet.log")
    return True


def check_namespace_pods(ns: str, what: str) -> None:
    pods = kjson("-n", ns, "get", "pods")
    if pods is None or not pods["items"]:
        report("FAIL", f"{what}: no pods in namespace {ns}", "tools/k8s/cluster.sh up --node installs it")
        return
    bad = [p["metadata"]["name"] for p in pods["items"] if not pod_ready(p)]
    if bad:
        report("FAIL", f"{what}: not ready: {' '.join(bad)}", f"kubectl -n {ns} describe pod {bad[0]}; kubectl -n {ns} logs {bad[0]}")
    else:
        report("ok", f"{what}: {len(pods['items'])} pods ready")


def pubsub_brokers() -> list[tuple[str, int]]:
    comp = kjson("-n", NS, "get", "components.dapr.io", "pubsub")
    if not comp:
        return []
    for m in comp["spec"].get("metadata", []):
        if m.get("name") == "brokers" and "value" in m:
            out = []
            for b in str(m["value"]).split(","):
                host, _, port = b.strip().rpartition(":")
                out.append((host, int(port or 9092)))
            return out
    return []


def diagnose_daprd(pod: str) -> None:
    logs = ""
    for extra in ([], ["--previous"]):
        p = kubectl("-n", NS, "logs", pod, "-c", "daprd", "--tail=200", *extra)
        if p.returncode == 0:
            logs += p.stdout
    errors = [l for l in logs.splitlines() if re.search(r'"level":"(error|fatal)"|level=(error|fatal)|\bFATAL\b|\berror\b', l, re.I)]
    for pattern, part, fix in CAUSES:
        hits = [l for l in errors if pattern.search(l)]
        if not hits:
            continue
        line = hits[-1]
        m = re.search(r'"msg":"((?:[^"\\]|\\.)*)"', line)
        msg = (m.group(1) if m else line)[:300]
        detail = ""
        if part == "Kafka":
            brokers = pubsub_brokers()
            states = [f"{h}:{p} {'answers' if reachable(h, p) else 'does NOT answer'} from this machine" for h, p in brokers]
            detail = f" (pubsub brokers: {', '.join(states) or 'unknown'})"
        report("FAIL", f"pod {pod}: its daprd cannot reach {part}{detail}: {msg}",
               f"{fix}; see: kubectl -n {NS} logs {pod} -c daprd")
        return
    if errors:
        report("FAIL", f"pod {pod}: daprd logged errors: {errors[-1][:300]}", f"kubectl -n {NS} logs {pod} -c daprd")
    else:
        report("FAIL", f"pod {pod}: daprd is not ready and its log names no cause", f"kubectl -n {NS} describe pod {pod}")


def check_todo() -> None:
    p = kubectl("-n", NS, "get", "components,subscriptions")
    if p.returncode != 0 or "component.dapr.io/pubsub" not in p.stdout:
        report("FAIL", f"namespace {NS}: the Dapr Components are missing:\n{p.stdout}{p.stderr}",
               "deploy/apply.sh local (it applies contracts/dapr-components/local)")
    else:
        n_comp = p.stdout.count("component.dapr.io/")
        n_sub = p.stdout.count("subscription.dapr.io/")
        report("ok", f"namespace {NS}: {n_comp} Components, {n_sub} Subscriptions (kubectl get components,subscriptions)")
    apps = kjson("-n", NS, "get", "spinapps")
    if not apps or not apps["items"]:
        report("FAIL", f"namespace {NS}: no SpinApps", "deploy/apply.sh local")
        return
    for app in apps["items"]:
        name = app["metadata"]["name"]
        conds = {c["type"]: c for c in app.get("status", {}).get("conditions", [])}
        if conds.get("Available", {}).get("status") != "True":
            report("FAIL", f"SpinApp {name} is not Available: {conds.get('Available', {}).get('message', 'no condition')}",
                   f"kubectl -n {NS} get pods -l core.spinkube.dev/app-name={name}")
    pods = kjson("-n", NS, "get", "pods", "-l", "core.spinkube.dev/app-name")
    for pod in (pods or {}).get("items", []):
        name = pod["metadata"]["name"]
        containers = {c["name"] for c in pod["spec"]["containers"]}
        sidecar = pod["metadata"].get("annotations", {}).get("dapr.io/enabled") == "true"
        if sidecar and "daprd" not in containers:
            report("FAIL", f"pod {name}: dapr.io/enabled but no daprd was injected",
                   "kubectl -n dapr-system logs deploy/dapr-sidecar-injector; the pod was created before the injector ran: delete it")
            continue
        statuses = {c["name"]: c for c in pod["status"].get("containerStatuses", [])}
        d = statuses.get("daprd")
        if d is not None and (not d.get("ready") or d.get("restartCount", 0) > 0 and not pod_ready(pod)):
            diagnose_daprd(name)
        elif not pod_ready(pod):
            report("FAIL", f"pod {name} is not ready ({pod['status'].get('phase')})", f"kubectl -n {NS} describe pod {name}")
        else:
            restarts = d.get("restartCount", 0) if d else 0
            report("ok" if not restarts else "WARN", f"pod {name} ready" + (f" (daprd restarted {restarts}x)" if restarts else ""))


def main() -> int:
    if not (RUN / "admin.kubeconfig").exists():
        print(f"doctor --cluster: no one-node cluster here ({RUN}): tools/k8s/cluster.sh up --node", file=sys.stderr)
        return 2
    if check_node():
        check_namespace_pods("kube-system", "CoreDNS (kube-system)")
        check_namespace_pods("dapr-system", "Dapr's control plane (dapr-system)")
        check_todo()
    fails = sum(1 for f in findings if f[0] == "FAIL")
    print(f"doctor --cluster: {fails} problem(s)" if fails else "doctor --cluster: everything checked is fine")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
