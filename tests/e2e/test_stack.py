"""The local stack end to end: publish through the real daprd, delivery over real Kafka to the
compiled e2e-probe component in the wasm host, and its record written through daprd into real
PostgreSQL (state.postgresql). Also Dapr's reply contract: DROP goes to the dead-letter topic,
RETRY is delivered again."""

import re
import subprocess
from pathlib import Path

import pytest
import requests

from support import RUN, read_env, sidecar_ports, wait_until

APP = "e2e-probe"
TOPIC = "e2e-probe"
DLQ = "e2e-probe.dlq"


def test_published_event_is_delivered_as_a_cloudevent_and_recorded(stack, unique_id):
    stack.publish(APP, TOPIC, {"action": "record", "id": unique_id, "note": "hello"})
    seen = wait_until(f"probe:{unique_id} in the state store", lambda: stack.get_state(APP, f"probe:{unique_id}"))
    assert seen["data"] == {"action": "record", "id": unique_id, "note": "hello"}
    assert seen["topic"] == TOPIC
    assert seen["pubsubname"] == "pubsub"
    assert seen["source"] == APP, "CloudEvent source is the publishing app-id"
    assert seen["type"] == "com.dapr.event.sent"
    assert seen["cloudevent_id"], "the CloudEvent carries an id"
    assert seen["attempts"] == 1


def test_drop_reply_sends_the_event_to_the_dead_letter_topic(stack, unique_id, topic_reader):
    dlq = topic_reader(DLQ)
    stack.publish(APP, TOPIC, {"action": "drop", "id": unique_id})
    dead = dlq.find(lambda ev: isinstance(ev.get("data"), dict) and ev["data"].get("id") == unique_id)
    assert dead["data"]["action"] == "drop"
    assert stack.get_state(APP, f"probe:{unique_id}") is None, "a dropped event is not recorded"


def test_retry_reply_gets_the_event_delivered_again(stack, unique_id):
    stack.publish(APP, TOPIC, {"action": "retry-once", "id": unique_id})
    seen = wait_until(f"probe:{unique_id} after a retry", lambda: stack.get_state(APP, f"probe:{unique_id}"))
    assert seen["attempts"] == 2, "first delivery answered RETRY, the second one was recorded"
    assert stack.get_state(APP, f"attempts:{unique_id}") == 2


@pytest.mark.smoke
def test_the_metrics_component_counts_a_write(stack, user_a):
    """The metrics component's `GET /metrics`: Prometheus text, and a REST create shows up in
    events_published_total once the outbox has published it."""
    series = 'events_published_total{event_type="task.created",topic="task-events"} '

    def published() -> int:
        r = requests.get(f"{stack.host_url}/metrics", timeout=10)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain"), r.text
        assert "# TYPE events_published_total counter\n" in r.text
        line = next((l for l in r.text.splitlines() if l.startswith(series)), None)
        return int(float(line[len(series):])) if line else 0

    before = published()
    user_a.create(title="Counted")
    wait_until("events_published_total to count the create", lambda: published() > before)


def test_app_refuses_calls_without_the_sidecar_token(stack):
    url = f"{stack.host_url}/e2e-probe/events"
    body = {"id": "x", "data": {"action": "record", "id": "never"}}
    assert requests.post(url, json=body, timeout=10).status_code == 401
    assert requests.post(url, json=body, headers={"dapr-api-token": "wrong"}, timeout=10).status_code == 401
    assert stack.get_state(APP, "probe:never") is None


def test_sidecar_refuses_calls_without_the_api_token(stack):
    r = requests.get(f"{stack.sidecar(APP)}/v1.0/state/statestore/anything", timeout=10)
    assert r.status_code == 401


def test_subscription_is_declarative_scoped_and_dead_lettered(stack):
    meta = requests.get(f"{stack.sidecar(APP)}/v1.0/metadata", headers=stack.dapr_headers(), timeout=10).json()
    subs = [s for s in meta.get("subscriptions", []) if s["topic"] == TOPIC]
    assert len(subs) == 1, f"one subscription to {TOPIC}: {meta.get('subscriptions')}"
    assert subs[0]["deadLetterTopic"] == DLQ
    assert subs[0]["type"].lower() == "declarative"
    assert {"pubsub", "statestore"} <= {c["name"] for c in meta["components"]}


def test_every_fixed_port_of_the_stack_listens_outside_the_ephemeral_range():
    """A port in the kernel's ephemeral range can be held by any process's outbound connection at
    the moment a part starts ("bind: address already in use"; CI once lost the Scheduler's 59090
    that way). So every port the stack is configured with (stack.env, apps.tsv) listens below it."""
    low, _high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    values = " ".join(read_env(RUN / "stack.env").values())
    configured = {int(p) for p in re.findall(r"(?::|port=|^|\s)(\d{2,5})(?=/|\s|$)", values)}
    configured |= {p for ports in sidecar_ports().values() for p in ports}
    listening = {int(l.split()[3].rsplit(":", 1)[1]) for l in subprocess.run(
        ["ss", "-ltnH"], capture_output=True, text=True, check=True).stdout.splitlines()}
    assert len(configured) >= 20, f"stack.env and apps.tsv name too few ports to be the real list: {sorted(configured)}"
    assert configured <= listening, f"configured but not listening: {sorted(configured - listening)}"
    assert all(p < low for p in configured), f"in the ephemeral range (from {low}): {sorted(p for p in configured if p >= low)}"
