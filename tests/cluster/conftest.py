"""The cluster stage (tests/cluster): the system on the one-node Kubernetes of `tools/k8s/cluster.sh
up --node`. The session fixture `stage` starts the stage's own Kafka, PostgreSQL and mail sink on
the node's bridge address, pushes the project's images to the node's registry, deploys the local
overlay with deploy/secrets.sh and deploy/apply.sh, and stops its servers at the end (the namespace
`todo` stays, for `kubectl` after a failure; the next run deletes it first).

    tools/k8s/cluster.sh up --node && ~/.cache/todo-events/venv/bin/python -m pytest -q -s tests/cluster
    tests/cluster/run.sh       # the same, and the node taken down afterwards (what ./dev test runs)

A missing prerequisite (the node not up, no images' inputs) fails the stage with its reason."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
E2E = HERE.parent / "e2e"
for p in (str(HERE), str(E2E)):
    if p not in sys.path:
        sys.path.insert(0, p)

from stage import ROOT, SIDECAR_APPS, Stage, kubectl  # noqa: E402


def pytest_configure(config):
    # The markers of the end-to-end modules whose helpers this stage imports (tests/e2e/conftest.py
    # registers them there; its fixtures are not loaded here).
    for marker in ("smoke", "disruptive"):
        config.addinivalue_line("markers", f"{marker}: see tests/e2e/conftest.py")


@pytest.fixture(scope="session")
def stage():
    r = subprocess.run([str(ROOT / "tools/k8s/cluster.sh"), "status", "--node"], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail("the one-node cluster is not up (or not healthy): run `tools/k8s/cluster.sh up --node` "
                    f"first\n{r.stdout}{r.stderr}", pytrace=False)
    s = Stage()
    t0 = time.monotonic()
    try:
        s.start()
        s.push_images()
        s.deploy()
        s.timings["setup"] = time.monotonic() - t0
        print(f"\ncluster stage: servers {s.timings['servers']:.0f} s, images {s.timings['images']:.0f} s, "
              f"deploy {s.timings['deploy']:.0f} s", flush=True)
        yield s
    finally:
        stuck = s.stop()
        assert not stuck, f"the stage's servers would not stop: {stuck}"


@pytest.fixture(scope="session")
def apps_with_sidecars(stage) -> list[str]:
    return SIDECAR_APPS


def pods_of(app: str) -> list[dict]:
    import json
    return json.loads(kubectl("-n", "todo", "get", "pods", "-l", f"core.spinkube.dev/app-name={app}", "-o", "json"))["items"]
