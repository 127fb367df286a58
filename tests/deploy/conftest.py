"""Fixtures of the deployment tests: the reference CRDs and a real control plane.

The control plane is tools/k8s/cluster.sh (etcd, kube-apiserver, kube-controller-manager 1.37.2
and spin-operator 0.6.1, built from Go modules; docs/k8s.md) in a run folder and on ports of its
own, so it disturbs neither a cluster that `cluster.sh up` started nor tools/k8s/smoke.sh. One
fresh control plane per overlay (both overlays use the namespace `todo`), torn down afterwards.
Nothing is built here: a missing binary fails the tests with the command that builds it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import deploy_checks as dc  # noqa: E402

CLUSTER_SH = dc.REPO / "tools" / "k8s" / "cluster.sh"
PARTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl", "spin-operator")
# Ports and folders of the tests' control plane (TODO_DEPLOY_K8S_* override them).
SETTINGS = {
    "K8S_PORT": os.environ.get("TODO_DEPLOY_K8S_PORT", "26443"),
    "K8S_ETCD_PORT": os.environ.get("TODO_DEPLOY_K8S_ETCD_PORT", "32379"),
    "K8S_ETCD_PEER_PORT": os.environ.get("TODO_DEPLOY_K8S_ETCD_PEER_PORT", "32380"),
    "K8S_KCM_PORT": os.environ.get("TODO_DEPLOY_K8S_KCM_PORT", "30257"),
    "K8S_OPERATOR_PROBE_PORT": os.environ.get("TODO_DEPLOY_K8S_OPERATOR_PROBE_PORT", "30081"),
    "K8S_RUN": str(dc.CACHE / "run" / "k8s-deploy-tests"),
    "K8S_LOGS": str(dc.CACHE / "logs" / "k8s-deploy-tests"),
    # Only `default` is prepared by cluster.sh (SpinAppExecutor there): the namespace `todo`, its
    # executor and its Secrets must come from deploy/ itself (secrets.sh, the overlay).
    "K8S_NAMESPACES": "default",
    "K8S_SKIP_BUILD": "1",
}


@pytest.fixture(scope="session")
def crds():
    try:
        return dc.dapr_checks.load_crds()
    except FileNotFoundError as err:
        pytest.fail(str(err), pytrace=False)


@pytest.fixture(scope="session")
def kubectl() -> Path:
    try:
        return dc.kubectl_path()
    except FileNotFoundError as err:
        pytest.fail(str(err), pytrace=False)


@dataclass
class Cluster:
    """A running control plane with the admin kubeconfig."""

    profile: str
    env: dict
    log: list[str] = field(default_factory=list)

    def run(self, *args, check=True, timeout=120, env=None, input=None) -> subprocess.CompletedProcess:
        out = subprocess.run(
            [str(a) for a in args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**self.env, **(env or {})},
            input=input,
            check=False,
        )
        self.log.append(f"$ {' '.join(map(str, args))}\n{out.stdout}{out.stderr}")
        if check and out.returncode != 0:
            raise AssertionError(
                f"{' '.join(map(str, args))} exited {out.returncode}:\n{out.stdout}\n{out.stderr}"
            )
        return out

    def k(self, *args, **kw) -> subprocess.CompletedProcess:
        return self.run(dc.KUBECTL, *args, **kw)

    def get(self, kind: str, name: str | None = None, namespace: str | None = dc.NAMESPACE):
        args = ["get", kind] + ([name] if name else []) + ["-o", "json"]
        if namespace:
            args += ["-n", namespace]
        doc = json.loads(self.k(*args).stdout)
        return doc if name else doc["items"]

    def wait_for(self, what: str, probe, timeout=90, every=1.0):
        """Polls probe() until it returns something truthy; fails with `what` otherwise."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = probe()
            except AssertionError as err:  # a kubectl call failed: not there yet
                last = err
            else:
                if last:
                    return last
            time.sleep(every)
        pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last})", pytrace=False)


def _cluster_env() -> dict:
    # secrets.sh reads these: the caller's own (e.g. a dev stack's TODO_PG_URL) must not leak in
    env = {k: v for k, v in os.environ.items()
           if k not in dc.CLOUD_ENV and k not in ("TODO_MIGRATE_PG_URL", "KEDA_KAFKA_USERNAME", "KEDA_KAFKA_PASSWORD")}
    env.update(SETTINGS)
    env["KUBECONFIG"] = str(Path(SETTINGS["K8S_RUN"]) / "admin.kubeconfig")
    env["KUBECTL"] = str(dc.KUBECTL)
    env["PATH"] = f"{dc.BIN}:{env.get('PATH', '')}"
    return env


def _check_parts():
    missing = [p for p in PARTS if not (dc.BIN / p).is_file()]
    if missing:
        pytest.fail(
            f"the control plane's binaries are missing in {dc.BIN}: {', '.join(missing)}. "
            "Build them with tools/k8s/build.sh (cold: about 10 minutes; ./dev test runs it).",
            pytrace=False,
        )
    for tool in ("openssl", "curl"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (tools/k8s/cluster.sh needs it)", pytrace=False)


@pytest.fixture(scope="class")
def cluster(request) -> Cluster:
    """A fresh control plane for the test class's overlay (class attribute `profile`)."""
    _check_parts()
    env = _cluster_env()
    subprocess.run([CLUSTER_SH, "down"], env=env, capture_output=True, timeout=120)  # an old run
    subprocess.run([CLUSTER_SH, "clean"], env=env, capture_output=True, timeout=60, check=False)
    t0 = time.monotonic()
    up = subprocess.run([CLUSTER_SH, "up"], env=env, capture_output=True, text=True, timeout=300)
    c = Cluster(profile=request.cls.profile, env=env)
    try:
        if up.returncode != 0:
            pytest.fail(
                f"tools/k8s/cluster.sh up failed (logs: {SETTINGS['K8S_LOGS']}):\n"
                f"{up.stdout[-3000:]}\n{up.stderr[-3000:]}",
                pytrace=False,
            )
        print(f"control plane up in {time.monotonic() - t0:.1f} s")
        yield c
    finally:
        down = subprocess.run([CLUSTER_SH, "down"], env=env, capture_output=True, text=True, timeout=180)
        if down.returncode != 0:
            print(f"cluster.sh down failed:\n{down.stdout}\n{down.stderr}")
