"""Fixtures of the end-to-end tests (see support.py): the running stack, unique ids, topic readers."""

from __future__ import annotations

import uuid

import pytest
import requests

from support import RUN, Stack, TopicReader, read_env


@pytest.fixture(scope="session")
def stack() -> Stack:
    env = read_env(RUN / "stack.env")
    secrets = read_env(RUN / "secrets.env")
    sidecars = {k[len("DAPR_URL_"):].replace("_", "-"): v for k, v in env.items() if k.startswith("DAPR_URL_")}
    s = Stack(env["HOST_URL"], env["KAFKA_BOOTSTRAP"], secrets["DAPR_API_TOKEN"], secrets["APP_API_TOKEN"], sidecars)
    for app_id, url in sidecars.items():
        try:
            r = requests.get(f"{url}/v1.0/healthz", timeout=5)
        except requests.ConnectionError as e:
            pytest.fail(f"daprd of {app_id} at {url} is not reachable ({e}); is the stack up? (./dev status)", pytrace=False)
        assert r.status_code == 204, f"daprd of {app_id} is not healthy: {r.status_code} {r.text}"
    try:
        requests.get(f"{s.host_url}/.well-known/spin/health", timeout=5).raise_for_status()
    except requests.RequestException as e:
        pytest.fail(f"the wasm host at {s.host_url} is not up ({e})", pytrace=False)
    return s


@pytest.fixture
def unique_id() -> str:
    return f"t-{uuid.uuid4()}"


@pytest.fixture
def topic_reader(stack):
    readers = []

    def make(topic: str) -> TopicReader:
        r = TopicReader(stack.kafka_bootstrap, topic)
        readers.append(r)
        return r

    yield make
    for r in readers:
        r.close()
