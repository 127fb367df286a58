"""Helpers of the end-to-end tests, against the real stack started by `./dev up` (PostgreSQL, Kafka, the Dapr
Scheduler, daprd per app-id, and the wasm host serving spin.toml).

`./dev test` brings the stack up before these tests and down after them. Run alone, they need a
running stack and fail with a clear message when any part of it is missing; nothing is skipped.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools" / "devstack"))
import stackinfo  # noqa: E402  (tools/devstack: the one reader of apps.tsv, stack.env, secrets.env)

CACHE = stackinfo.CACHE
RUN = stackinfo.RUN


def sidecar_ports(app_id: str | None = None):
    """(HTTP, gRPC, metrics) port of each app-id's sidecar, from tools/devstack/apps.tsv: a dict of
    them all, or one app-id's (failing the test when it is not there)."""
    ports = {a.app: (a.http, a.grpc, a.metrics) for a in stackinfo.apps()}
    if app_id is None:
        return ports
    if app_id not in ports:
        pytest.fail(f"{app_id} is not in tools/devstack/apps.tsv", pytrace=False)
    return ports[app_id]


def read_env(path: Path) -> dict[str, str]:
    """stack.env or secrets.env; a missing one fails the test saying the stack is not up."""
    try:
        return stackinfo.read_env(path)
    except stackinfo.StackMissing as e:
        pytest.fail(str(e), pytrace=False)


def database_url() -> str:
    """The stack's PostgreSQL (the embedded one or the user's TODO_DATABASE_URL); a missing file
    fails the test saying the stack is not up."""
    try:
        return stackinfo.database_url()
    except stackinfo.StackMissing as e:
        pytest.fail(str(e), pytrace=False)


@dataclass
class Stack:
    """Addresses and tokens of the running stack."""

    host_url: str
    kafka_bootstrap: str
    dapr_api_token: str
    app_api_token: str
    sidecars: dict[str, str]

    def sidecar(self, app_id: str) -> str:
        if app_id not in self.sidecars:
            pytest.fail(f"no sidecar for app-id {app_id} in {RUN / 'stack.env'}", pytrace=False)
        return self.sidecars[app_id]

    def dapr_headers(self) -> dict[str, str]:
        return {"dapr-api-token": self.dapr_api_token}

    def publish(self, app_id: str, topic: str, data: dict, pubsub: str = "pubsub", partition_key: str | None = None) -> None:
        params = {"metadata.partitionKey": partition_key} if partition_key else None
        r = requests.post(
            f"{self.sidecar(app_id)}/v1.0/publish/{pubsub}/{topic}",
            json=data,
            params=params,
            headers=self.dapr_headers(),
            timeout=10,
        )
        assert r.status_code == 204, f"publish to {topic} answered {r.status_code}: {r.text}"

    def get_state(self, app_id: str, key: str, store: str = "statestore"):
        r = requests.get(f"{self.sidecar(app_id)}/v1.0/state/{store}/{key}", headers=self.dapr_headers(), timeout=10)
        assert r.status_code in (200, 204), f"state get {key} answered {r.status_code}: {r.text}"
        return r.json() if r.status_code == 200 and r.content else None


def one(db, sql: str, *params):
    """The first column of the first row of `sql` on the `db` connection."""
    with db.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


def wait_until(what: str, fn, timeout: float = 45.0, interval: float = 0.25):
    """Polls `fn` until it returns something truthy; fails naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}", pytrace=False)
        time.sleep(interval)


def data_of(value) -> dict:
    """The event inside a CloudEvent envelope as Dapr writes it to Kafka ({} if it is not one)."""
    data = value.get("data") if isinstance(value, dict) else None
    return data if isinstance(data, dict) else {}


class TopicReader:
    """Reads one topic from the offsets it had when created, with a real Kafka consumer."""

    def __init__(self, bootstrap: str, topic: str):
        from confluent_kafka import Consumer, TopicPartition

        self.topic = topic
        self.consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": f"e2e-{uuid.uuid4()}", "enable.auto.commit": False}
        )
        meta = self.consumer.list_topics(topic, timeout=10)
        if topic not in meta.topics or meta.topics[topic].error is not None:
            pytest.fail(f"topic {topic} does not exist on {bootstrap}", pytrace=False)
        parts = []
        for p in meta.topics[topic].partitions:
            _low, high = self.consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            parts.append(TopicPartition(topic, p, high))
        self.consumer.assign(parts)

    def find(self, predicate, timeout: float = 45.0):
        """The first message value (parsed JSON) for which `predicate` holds."""
        return self.find_keyed(predicate, timeout)[1]

    def find_keyed(self, predicate, timeout: float = 45.0) -> tuple[str | None, dict]:
        """(Kafka message key, parsed value) of the first message whose value satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self.consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            try:
                value = json.loads(msg.value())
            except ValueError:
                continue
            if predicate(value):
                key = msg.key()
                return (key.decode() if key is not None else None), value
        pytest.fail(f"no matching message on {self.topic} within {timeout:.0f}s", pytrace=False)

    def find_event(self, predicate, timeout: float = 45.0) -> dict:
        """The first event (the `data` of the CloudEvent Dapr wrote) for which `predicate` holds."""
        return self.find_event_keyed(predicate, timeout)[1]

    def find_event_keyed(self, predicate, timeout: float = 45.0) -> tuple[str | None, dict]:
        """(Kafka key, event) of the first CloudEvent whose `data` satisfies `predicate`."""
        key, value = self.find_keyed(lambda v: predicate(data_of(v)), timeout)
        return key, data_of(value)

    def collect(self, predicate, seconds: float) -> list[dict]:
        """Every message value satisfying `predicate` that arrives within `seconds`."""
        found = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            msg = self.consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            try:
                value = json.loads(msg.value())
            except ValueError:
                continue
            if predicate(value):
                found.append(value)
        return found

    def close(self):
        self.consumer.close()


def app_runtime() -> str:
    """Which runtime serves the app: `spin` (real Spin) or `host` (the project's wasm host)."""
    path = RUN / "runtime"
    if not path.exists():
        pytest.fail(f"{path} is missing: the stack is not up (./dev up)", pytrace=False)
    return path.read_text().strip()


def component_output(component: str) -> str:
    """What `component` has written to stderr so far. Spin keeps one file per component
    (`--log-dir`); the host's components all write to the host's log."""
    if app_runtime() == "spin":
        path = RUN / "logs" / "spin" / f"{component}_stderr.txt"
    else:
        path = RUN / "logs" / "app.log"
    return path.read_text(errors="replace") if path.exists() else ""


class TopicReaders:
    """A fixture's [`TopicReader`]s: `readers(topic)` makes one, `close()` closes them all."""

    def __init__(self, bootstrap: str):
        self.bootstrap = bootstrap
        self.open: list[TopicReader] = []

    def __call__(self, topic: str) -> TopicReader:
        r = TopicReader(self.bootstrap, topic)
        self.open.append(r)
        return r

    def close(self) -> None:
        for r in self.open:
            r.close()


# Deliveries as daprd makes them (the consumers' routes, posted directly in tests).
def cloud_event(topic: str, data: dict) -> dict:
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "task-api", "type": "com.dapr.event.sent",
            "datacontenttype": "application/json", "topic": topic, "pubsubname": "pubsub", "data": data}


def envelope(topic: str, events: list[dict]) -> dict:
    return {"id": str(uuid.uuid4()), "type": "com.dapr.event.sent.bulk", "topic": topic, "pubsubname": "pubsub",
            "metadata": {}, "entries": [{"entryId": str(i), "event": cloud_event(topic, e),
                                         "contentType": "application/cloudevents+json", "metadata": {}}
                                        for i, e in enumerate(events)]}
