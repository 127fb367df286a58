"""The seed's own events on the real stack (issue 7, point 3), published with the seed's own
publisher code: the Dapr Python SDK's `DaprClient().publish_event(pubsub_name="pubsub",
topic_name="task-events", data=json.dumps(event))`, through the task-api sidecar's gRPC port.

The seed's code is read from the seed document itself (`tests/event_contracts/seed_doc.py`): its
`publish_task_event` and its integration-test `event_payload` (fresh uuid4 ids, a microsecond
`datetime.utcnow()` timestamp, user "test-user"). Then:

- the integration-test event is recorded by the audit service, once, and (a 1.0.0 event, an older
  MINOR since task-events 1.1.0) its version mismatch is logged (`todo-events: version-mismatch
  ... schema_version=1.0.0 known=1.1.0`);
- the seed's invalid contract-test event and its 2.0.0 event land in `task-events.dlq`, are not
  recorded, and the audit component logs each drop (`todo-events: drop ... event_id=...
  reason=...`: "schema_version is missing", "schema_version 2.0.0 has an unknown MAJOR");
- its 1.1.0 event (the added optional `assignee`, unknown to the project's 1.1.0) is recorded with
  the unknown field kept.

The drops and mismatches are counted per component instance (`todo_events::counters`), which lives
for one request, so the test asserts the log line the counting prints, found by event id in the
runtime's logs (`<run>/logs/app.log`, and Spin's per-component files under `<run>/logs/spin/`).
Earlier runs' rows of "test-user" do not matter: every event here has fresh ids.
"""

from __future__ import annotations

import json
import sys
import time
import uuid

import pytest

from clients import Api
from support import ROOT, RUN, sidecar_ports, wait_until

sys.path.insert(0, str(ROOT / "tests" / "event_contracts"))
import seed_doc  # noqa: E402

EXAMPLES = ROOT / "contracts" / "events" / "examples" / "task-events"
# The task-events version the consumers know: the working schema's (1.1.0 since issue 22).
KNOWN = json.loads((ROOT / "contracts" / "events" / "task-events.schema.json").read_text())["x-schema-version"]


@pytest.fixture
def publish_task_event(stack, monkeypatch):
    """The seed's `publish_task_event`, its `DaprClient()` pointed at the task-api sidecar.

    The SDK reads its settings from the environment whenever it uses them (`dapr.conf.settings`):
    `DAPR_GRPC_ENDPOINT` is where it publishes, `DAPR_HTTP_ENDPOINT` where `DaprClient()` first
    waits for the sidecar's health, and `DAPR_API_TOKEN` goes on every call as `dapr-api-token`."""
    http_port, grpc_port, _metrics = sidecar_ports("task-api")
    assert stack.sidecar("task-api").endswith(f":{http_port}"), (stack.sidecar("task-api"), http_port)
    monkeypatch.setenv("DAPR_GRPC_ENDPOINT", f"127.0.0.1:{grpc_port}")
    monkeypatch.setenv("DAPR_HTTP_ENDPOINT", stack.sidecar("task-api"))
    monkeypatch.setenv("DAPR_API_TOKEN", stack.dapr_api_token)
    monkeypatch.setenv("DAPR_HEALTH_TIMEOUT", "20")
    return seed_doc.publisher()


def corpus_event(name: str, **changes) -> dict:
    """A seed event of the example corpus with fresh ids (the audit records each event id once)."""
    event = json.loads((EXAMPLES / name).read_text())
    event.update(event_id=str(uuid.uuid4()), task_id=str(uuid.uuid4()), **changes)
    return event


def dlq_message(dlq, event: dict, timeout: float = 60) -> dict:
    """The dead-lettered CloudEvent whose data is `event`. The SDK publishes `data` as a string
    without a content type, so Dapr's CloudEvent carries it as text (`data` a JSON string)."""

    def carries(value) -> bool:
        data = value.get("data") if isinstance(value, dict) else None
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                return False
        return data == event

    return dlq.find(carries, timeout=timeout)


def log_line(*needles: str, timeout: float = 30) -> str:
    """The first line of the runtime's logs (host or Spin) holding every needle."""

    def find():
        files = [RUN / "logs" / "app.log", RUN / "logs" / "host.log", *sorted((RUN / "logs" / "spin").glob("*"))]
        for f in files:
            if f.is_file():
                for line in f.read_text(errors="replace").splitlines():
                    if all(n in line for n in needles):
                        return line
        return None

    return wait_until(f"a log line with {needles} in {RUN / 'logs'}", find, timeout=timeout)


def audit_of(stack, token_for, user_id: str) -> Api:
    return Api(stack.host_url, token_for(user_id), user_id)


def test_the_seeds_integration_test_event_is_recorded_once(stack, token_for, publish_task_event):
    event = seed_doc.integration_test_event()
    assert event["user_id"] == "test-user" and event["task_data"] == {
        "title": "Integration test task", "completed": False, "priority": "normal"}
    publish_task_event(event)  # the seed's own publisher

    audit = audit_of(stack, token_for, "test-user")
    rows = audit.wait_audit(event["task_id"], 1)
    mine = [r for r in rows if r["event_id"] == event["event_id"]]
    assert len(mine) == 1, rows
    (row,) = mine
    assert (row["event_type"], row["schema_version"], row["task_id"]) == ("task.created", "1.0.0", event["task_id"])
    assert row["payload"] == event, "recorded as published"
    assert event["timestamp"].startswith(row["occurred_at"][:19])
    line = log_line("todo-events: version-mismatch topic=task-events", f"event_id={event['event_id']}")
    assert f"schema_version=1.0.0 known={KNOWN}" in line, line
    time.sleep(6)  # longer than a redelivery would take
    assert [r["event_id"] for r in audit.audit_rows(event["task_id"])] == [event["event_id"]], "recorded once"


def test_the_seeds_invalid_and_2_0_0_events_are_dead_lettered_and_logged(stack, token_for, topic_reader, publish_task_event):
    dlq = topic_reader("task-events.dlq")
    _, invalid = seed_doc.contract_test_events()
    assert "event_id" not in invalid, "the seed's invalid event, as written"
    v2 = corpus_event("invalid/seed-schema-evolution-2.0.0-task-created.json")
    assert v2["schema_version"] == "2.0.0" and "priority_level" in v2["task_data"]
    publish_task_event(invalid)
    publish_task_event(v2)

    dropped = dlq_message(dlq, invalid)
    # No event_id in the event: the consumer names it by its CloudEvent's id, which the dead
    # letter keeps (Dapr dead-letters the CloudEvent as delivered). The version policy runs
    # before the schema, so the reason is the missing schema_version.
    assert dropped.get("id"), dropped
    line = log_line("todo-events: drop topic=task-events", f"event_id={dropped['id']} ")
    assert line.endswith("reason=schema_version is missing"), line

    assert dlq_message(dlq, v2)["topic"] == "task-events"
    line = log_line("todo-events: drop topic=task-events", f"event_id={v2['event_id']}")
    assert f"schema_version 2.0.0 has an unknown MAJOR (this consumer knows {KNOWN})" in line, line
    assert audit_of(stack, token_for, v2["user_id"]).audit_rows(v2["task_id"]) == [], "not recorded"


def test_the_seeds_1_1_0_event_is_recorded(stack, token_for, publish_task_event):
    event = corpus_event("valid/seed-schema-evolution-1.1.0-task-created.json")
    assert event["schema_version"] == "1.1.0" and event["task_data"]["assignee"] == "user-456"
    publish_task_event(event)

    (row,) = audit_of(stack, token_for, event["user_id"]).wait_audit(event["task_id"], 1)
    assert row["event_id"] == event["event_id"] and row["schema_version"] == "1.1.0"
    assert row["payload"] == event, "the unknown assignee is kept in the recorded payload"
