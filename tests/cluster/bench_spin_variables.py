"""Benchmark (not part of the stage's tests; run it explicitly): what Spin's variables cost per
request in the cluster, the deployment as shipped (spec.runtimeConfig.loadFromSecret: a static
variables provider, deploy/runtime-config.toml.in) against the same SpinApp with its variables as
spin-operator's spec.variables (SPIN_VARIABLE_* environment variables, from the same Secrets), same
node, same run. `wrk -t1 -c1` against the audit pod's own address, GET /audit/events (answered 401
by the component after reading its token variable; no outbound call). Prints requests/s and
latency for each, and restores the SpinApp.

    tests/cluster/run.sh tests/cluster/bench_spin_variables.py     (the node, the deployment, this; ~4 min)

docs/spin-variables.md has the figures."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from stage import NS, ROOT, SPINTAINER, kjson, kubectl, wait_until

sys.path.insert(0, str(ROOT / "tests" / "deploy"))
import deploy_checks as dc  # noqa: E402  (the one reader of deploy/runtime-config.toml.in)

SECONDS = 10


def env_variables() -> list[dict]:
    """spec.variables carrying the same values as the runtime configuration (the Secrets by
    reference, the rest literally): what the deployment did before."""
    out = []
    for name, value in dc.runtime_config_values().items():
        ref = dc.runtime_config_secret_of(value)
        if ref:
            out.append({"name": name, "valueFrom": {"secretKeyRef": {"name": ref[0], "key": ref[1]}}})
        else:
            out.append({"name": name, "value": value})
    return out


def ready_pod_ip(app: str, not_named: set[str]) -> tuple[str, str]:
    """(name, IP) of a ready pod of `app` other than those named (the one a rollout replaced)."""
    def ready():
        for p in kjson("-n", NS, "get", "pods", "-l", f"core.spinkube.dev/app-name={app}")["items"]:
            if p["metadata"]["name"] in not_named or p["metadata"].get("deletionTimestamp"):
                continue
            if any(c["name"] == app and c["ready"] for c in p["status"].get("containerStatuses", [])) \
                    and p["status"].get("podIP"):
                return p["metadata"]["name"], p["status"]["podIP"]
        return None
    return wait_until(f"a ready {app} pod", ready, timeout=300, interval=2)


def wrk(ip: str) -> dict:
    out = subprocess.run(["wrk", "-t1", "-c1", f"-d{SECONDS}s", "--latency", f"http://{ip}:80/audit/events"],
                         capture_output=True, text=True, timeout=SECONDS + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"rps": rps, "p50": lat.get("50"), "p99": lat.get("99"), "non2xx": int(non2xx.group(1)) if non2xx else 0}


def test_bench_spin_variables_runtime_config_vs_environment(stage):
    app = "audit"
    original = kjson("-n", NS, "get", "spinapp", app)
    pod, ip = ready_pod_ip(app, set())
    rows = [("runtime config, static provider (as deployed)", wrk(ip))]
    patch = [{"op": "remove", "path": "/spec/runtimeConfig"},
             {"op": "add", "path": "/spec/variables", "value": env_variables()}]
    kubectl("-n", NS, "patch", "spinapp", app, "--type", "json", "-p", json.dumps(patch))
    try:
        pod2, ip2 = ready_pod_ip(app, {pod})
        rows.append(("spec.variables: SPIN_VARIABLE_* environment", wrk(ip2)))
    finally:
        restore = [{"op": "remove", "path": "/spec/variables"},
                   {"op": "add", "path": "/spec/runtimeConfig", "value": original["spec"]["runtimeConfig"]}]
        kubectl("-n", NS, "patch", "spinapp", app, "--type", "json", "-p", json.dumps(restore))
    print(f"\nSpin variables in the cluster: {app} pod, GET /audit/events (401 after a variable read), "
          f"wrk -t1 -c1 -d{SECONDS}s, Spin {SPINTAINER.rsplit(':', 1)[1]} (spin-operator's spintainer executor)")
    print(f"{'how the variables are given':48} {'requests/s':>10} {'p50':>9} {'p99':>9}")
    for label, r in rows:
        print(f"{label:48} {r['rps']:>10.1f} {r['p50']:>9} {r['p99']:>9}")
    # Both served the component's answer (401), so both read the variable.
    assert all(r["rps"] > 0 and r["non2xx"] > 0 for _, r in rows), rows
