"""Fixtures of the observability tests (docs/observability.md).

test_rules.py needs only `promtool` (tools/prometheus/prometheus.sh install). test_metrics_on_stack.py runs
against the running dev stack and its Prometheus (the part `prometheus` of ./dev up,
PROMETHEUS_URL in stack.env, default http://127.0.0.1:9090) and fails, naming what is missing,
when either is not there; nothing is skipped.
"""

from __future__ import annotations

import shutil
import sys
import uuid
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from clients import Api, mint_token  # noqa: E402
from support import RUN, Stack, TopicReaders, read_env  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "disruptive: stops part of the stack; runs after every other test")


def pytest_collection_modifyitems(session, config, items):
    items.sort(key=lambda item: item.get_closest_marker("disruptive") is not None)


@pytest.fixture(scope="session")
def promtool() -> str:
    path = shutil.which("promtool")
    if not path:
        pytest.fail("promtool is not installed: tools/prometheus/prometheus.sh install (Debian's prometheus)", pytrace=False)
    return path


@pytest.fixture(scope="session")
def stack_env() -> dict[str, str]:
    return read_env(RUN / "stack.env")


@pytest.fixture(scope="session")
def stack(stack_env) -> Stack:
    secrets = read_env(RUN / "secrets.env")
    sidecars = {k[len("DAPR_URL_"):].replace("_", "-"): v for k, v in stack_env.items() if k.startswith("DAPR_URL_")}
    s = Stack(stack_env["HOST_URL"], stack_env["KAFKA_BOOTSTRAP"], secrets["DAPR_API_TOKEN"], secrets["APP_API_TOKEN"], sidecars)
    try:
        requests.get(f"{s.host_url}/.well-known/spin/health", timeout=5).raise_for_status()
    except requests.RequestException as e:
        pytest.fail(f"the app at {s.host_url} is not up ({e}); is the stack up? (./dev status)", pytrace=False)
    return s


@pytest.fixture(scope="session")
def prometheus(stack_env) -> str:
    """The stack's Prometheus; fails clearly when it does not answer."""
    url = stack_env.get("PROMETHEUS_URL", "http://127.0.0.1:9090").rstrip("/")
    try:
        ready = requests.get(f"{url}/-/ready", timeout=5)
    except requests.RequestException as e:
        pytest.fail(
            f"Prometheus is not reachable at {url} ({type(e).__name__}): the dev stack's part `prometheus` must run "
            f"(./dev status; ./dev start prometheus; tools/prometheus/prometheus.sh)",
            pytrace=False,
        )
    if ready.status_code != 200:
        pytest.fail(f"Prometheus at {url} is not ready: {ready.status_code} {ready.text[:200]}", pytrace=False)
    return url


@pytest.fixture
def new_user(stack):
    secret = read_env(RUN / "secrets.env")["JWT_SECRET"]

    def make() -> Api:
        user_id = f"obs-{uuid.uuid4()}"
        return Api(stack.host_url, mint_token(secret, user_id), user_id)

    return make


@pytest.fixture
def topic_reader(stack):
    readers = TopicReaders(stack.kafka_bootstrap)
    yield readers
    readers.close()
