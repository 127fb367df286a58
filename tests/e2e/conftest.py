"""Fixtures of the end-to-end tests (see support.py): the running stack, its database, unique ids, topic readers,
bearer tokens and REST clients of fresh users (see clients.py)."""

from __future__ import annotations

import uuid

import pytest
import requests

from clients import Api, mint_token
from support import RUN, Stack, TopicReaders, database_url, read_env


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "disruptive: stops part of the stack (e.g. Kafka); run after every other test"
    )
    config.addinivalue_line(
        "markers",
        "smoke: one path through each component (task-api REST and MCP, audit, recurring, notification, "
        "realtime, metrics, web); `./dev test` runs only these on the project's host (pytest -m smoke)",
    )


def pytest_collection_modifyitems(session, config, items):
    """Tests that stop part of the stack run last, so a slow recovery cannot disturb the others."""
    items.sort(key=lambda item: item.get_closest_marker("disruptive") is not None)


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


@pytest.fixture(scope="module")
def db():
    """A connection to the stack's PostgreSQL (autocommit), for checking effects."""
    import psycopg

    conn = psycopg.connect(database_url(), autocommit=True)
    yield conn
    conn.close()


@pytest.fixture
def unique_id() -> str:
    return f"t-{uuid.uuid4()}"


@pytest.fixture
def topic_reader(stack):
    readers = TopicReaders(stack.kafka_bootstrap)
    yield readers
    readers.close()


@pytest.fixture(scope="session")
def jwt_secret(stack) -> str:
    """The HS256 secret the wasm host gives the components (the dev auth service's secret)."""
    secrets = read_env(RUN / "secrets.env")
    if "JWT_SECRET" not in secrets:
        pytest.fail(f"JWT_SECRET is missing from {RUN / 'secrets.env'}", pytrace=False)
    return secrets["JWT_SECRET"]


@pytest.fixture
def token_for(jwt_secret):
    """token_for(user_id, **options): a valid bearer token (see clients.mint_token)."""
    return lambda sub, **kw: mint_token(jwt_secret, sub, **kw)


@pytest.fixture
def new_user(stack, token_for):
    """new_user(): the REST API as a fresh user of its own (nothing else ever writes as that user)."""

    def make() -> Api:
        user_id = f"e2e-{uuid.uuid4()}"
        return Api(stack.host_url, token_for(user_id), user_id)

    return make


@pytest.fixture
def user_a(new_user) -> Api:
    return new_user()


@pytest.fixture
def user_b(new_user) -> Api:
    return new_user()
