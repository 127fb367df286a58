"""Poison events on the real stack: for each topic and each kind of poison — invalid against the
schema, an unknown MAJOR, not JSON (through the publish API as text, and as raw bytes produced
straight to Kafka), oversized (a 256 KiB field), a wrong content type, a broken `data_base64` —
the poison ends in `<topic>.dlq` exactly once per consumer of the topic, is logged (the events
crate's `todo-events: drop topic=... event_id=...` on the component's stderr, or daprd's own
"error deserializing cloud event" when the bytes are not a CloudEvent at all and never reach the
app), is counted (the app's persistent `event_processing_errors_total{consumer}` at
`GET /metrics`, when the app serves it; daprd's own `dapr_component_pubsub_ingress_count` with
`process_status="drop"` in a test of its own), and never blocks its partition: a valid event published right after it with the same partition key is processed.

What Dapr does with a Kafka message that is not a CloudEvent (read in Dapr 1.18.3's
`pkg/runtime/subscription/subscription.go`): a subscription without `rawPayload` unmarshals the
bytes as a CloudEvent; if that fails the sidecar logs "error deserializing cloud event", sends the
raw bytes to the subscription's dead-letter topic and acknowledges them, without calling the app.
A JSON object without `specversion` is taken as a CloudEvent and delivered to the app as is."""

from __future__ import annotations

import base64
import copy
import json
import re
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests

from support import RUN, component_output, one, sidecar_ports, wait_until

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "contracts" / "events" / "examples"
CONSUMERS = {"task-events": ["audit", "recurring"], "reminders": ["notification"], "task-updates": ["realtime"]}
BIG = "x" * (256 * 1024)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def metrics_ports() -> dict[str, int]:
    return {app: metrics for app, (_http, _grpc, metrics) in sidecar_ports().items()}


def drops(app_id: str, topic: str) -> float:
    """The sidecar's own count of events of `topic` it dropped (to the dead-letter topic)."""
    r = requests.get(f"http://127.0.0.1:{metrics_ports()[app_id]}/metrics", timeout=10)
    r.raise_for_status()
    total = 0.0
    for line in r.text.splitlines():
        # Single deliveries count in dapr_component_pubsub_ingress_count (process_status="drop"),
        # bulk ones (the subscriptions' bulkSubscribe) in ..._ingress_bulk_event_count, a count
        # of reports labelled process_status="DROP" (Dapr 1.18.3's capitals).
        if (line.startswith(("dapr_component_pubsub_ingress_count{", "dapr_component_pubsub_ingress_bulk_event_count{"))
                and 'process_status="drop"' in line.lower() and f'topic="{topic}"' in line):
            total += float(line.rsplit(" ", 1)[1])
    return total


def app_error_counters(host_url: str) -> dict[str, float] | None:
    """The app's persistent counters of refused deliveries per consumer
    (`event_processing_errors_total{consumer,...}` at `GET /metrics`, the metrics component), or
    None while the app serves no /metrics (or it is unavailable)."""
    try:
        r = requests.get(f"{host_url}/metrics", timeout=10)
    except requests.RequestException:
        return None
    if r.status_code != 200:
        return None
    out: dict[str, float] = {}
    for line in r.text.splitlines():
        m = re.match(r'event_processing_errors_total\{(.*)\} ([0-9.e+]+)$', line)
        if m:
            c = re.search(r'consumer="([^"]+)"', m.group(1))
            if c:
                out[c.group(1)] = out.get(c.group(1), 0.0) + float(m.group(2))
    return out


# --- the valid events and their effects ---------------------------------------------------------


def valid_event(topic: str, user: str, task_id: str) -> dict:
    """A valid event of `topic` for `task_id`, whose effect the topic's every consumer records."""
    if topic == "task-events":
        ev = json.loads((EXAMPLES / topic / "valid" / "task-completed-recurring.json").read_text())
        ev["task_data"].update(reminders=[], due_date="2030-03-01T09:00:00Z", timezone="UTC", recurrence="FREQ=DAILY")
        for k in ("recurrence_id", "parent_task_id"):
            ev["task_data"].pop(k, None)
    elif topic == "reminders":
        ev = json.loads((EXAMPLES / topic / "valid" / "reminder-cancelled-optional-fields-absent.json").read_text())
        ev["reminder_id"] = str(uuid.uuid4())
    else:
        ev = json.loads((EXAMPLES / topic / "valid" / "task-updated.json").read_text())
        ev["task"]["id"] = task_id
    ev.update(event_id=str(uuid.uuid4()), user_id=user, task_id=task_id, timestamp=now_iso())
    return ev


def processed(db, topic: str, ev: dict) -> dict[str, bool]:
    """Whether each consumer of `topic` has recorded its effect of `ev`."""
    eid = ev["event_id"]
    if topic == "task-events":
        return {
            "audit": one(db, "SELECT count(*) FROM audit_log WHERE event_id = %s", eid) == 1,
            "recurring": one(db, "SELECT count(*) FROM recurrence_rolls WHERE from_task_id = %s", ev["task_id"]) == 1,
        }
    if topic == "reminders":
        return {"notification": one(db, "SELECT count(*) FROM processed_events WHERE consumer = 'notification' AND event_id = %s", eid) == 1}
    return {"realtime": one(db, "SELECT count(*) FROM realtime_feed WHERE event_id = %s", eid) == 1}


# --- the poisons -------------------------------------------------------------------------------------


def invalid(topic: str, ev: dict) -> dict:
    ev = copy.deepcopy(ev)
    if topic == "task-events":
        ev["task_data"]["title"] = ""
    elif topic == "reminders":
        ev["channel"] = "pigeon"
    else:
        ev["sequence"] = -1
    return ev


def oversized(topic: str, ev: dict) -> dict:
    ev = copy.deepcopy(ev)
    if topic == "task-events":
        ev["task_data"]["title"] = BIG
    elif topic == "reminders":
        ev["task_title"] = BIG
    else:
        ev["task"]["title"] = BIG
    return ev


def unknown_major(topic: str, ev: dict) -> dict:
    return {**ev, "schema_version": "2.0.0"}


# Each case: how it is sent, and what identifies it in the component's drop log.
#   ("json", event)             the publish API, application/json: Dapr wraps it as `data`
#   ("body", content_type, b)   the publish API with another content type: Dapr wraps it as text
#   ("cloudevent", ce)          the publish API, application/cloudevents+json: sent as it is
#   ("kafka", bytes)            produced straight to Kafka, keyed by the task id
CASES = ["invalid", "unknown-major", "not-json", "not-json-raw-kafka", "oversized", "wrong-content-type", "broken-data_base64"]


def poison(case: str, topic: str, template: dict, marker: str):
    ev = {**template, "event_id": marker}
    if case == "invalid":
        return ("json", invalid(topic, ev))
    if case == "unknown-major":
        return ("json", unknown_major(topic, ev))
    if case == "oversized":
        return ("json", oversized(topic, ev))
    if case == "not-json":
        return ("body", "text/plain", f"not json {{ {marker}".encode())
    if case == "wrong-content-type":
        return ("body", "application/xml", f"<event id='{marker}'><title>x</title></event>".encode())
    if case == "broken-data_base64":
        return ("cloudevent", {"specversion": "1.0", "id": marker, "source": "poison-test", "type": "com.dapr.event.sent",
                               "datacontenttype": "application/json", "data_base64": f"%%%{marker}%%%"})
    if case == "not-json-raw-kafka":
        return ("kafka", b"\x00\xffnot a cloud event " + marker.encode())
    raise AssertionError(case)


# The reason class each case's dead letter carries (docs/deadletters.md).
REASONS = {
    "invalid": {"invalid"},
    "unknown-major": {"bad_version"},
    "oversized": {"invalid"},
    "not-json": {"not_json", "bad_envelope"},
    "wrong-content-type": {"not_json", "bad_envelope"},
    "broken-data_base64": {"bad_envelope", "not_json"},
}
# The field the invalid case breaks, as the reason names it.
FIELDS = {"task-events": "/task_data/title", "reminders": "/channel", "task-updates": "/sequence"}


def send(stack, topic: str, how, key: str) -> None:
    kind = how[0]
    if kind == "kafka":
        from confluent_kafka import Producer

        p = Producer({"bootstrap.servers": stack.kafka_bootstrap})
        p.produce(topic, value=how[1], key=key.encode())
        assert p.flush(10) == 0, "the raw message was not delivered to Kafka"
        return
    if kind == "json":
        body, ctype = json.dumps(how[1]).encode(), "application/json"
    elif kind == "body":
        ctype, body = how[1], how[2]
    else:
        body, ctype = json.dumps(how[1]).encode(), "application/cloudevents+json"
    r = requests.post(f"{stack.sidecar('task-api')}/v1.0/publish/pubsub/{topic}", data=body,
                      params={"metadata.partitionKey": key},
                      headers={**stack.dapr_headers(), "content-type": ctype}, timeout=30)
    assert r.status_code == 204, f"publish of the poison answered {r.status_code}: {r.text[:300]}"


def dlq_copies(reader, marker: str, want: int, timeout: float = 40.0) -> list[bytes]:
    """The messages of the dead-letter topic whose raw bytes hold `marker`: waits for `want`,
    then 3 s more (a further copy would be a finding)."""
    found: list[bytes] = []
    deadline = time.monotonic() + timeout
    quiet_until = None
    while time.monotonic() < deadline:
        msg = reader.consumer.poll(0.5)
        if msg is not None and not msg.error() and marker.encode() in (msg.value() or b""):
            found.append(msg.value())
        if len(found) >= want and quiet_until is None:
            quiet_until = time.monotonic() + 3
        if quiet_until is not None and time.monotonic() > quiet_until:
            break
    return found


def log_offsets() -> dict[str, int]:
    return {p.stem: p.stat().st_size for p in (RUN / "logs").glob("daprd-*.log")}


def daprd_log_since(app_id: str, offsets: dict[str, int]) -> str:
    p = RUN / "logs" / f"daprd-{app_id}.log"
    with p.open("rb") as f:
        f.seek(offsets.get(p.stem, 0))
        return f.read().decode(errors="replace")


@pytest.mark.parametrize("topic", list(CONSUMERS))
@pytest.mark.parametrize("case", CASES)
def test_a_poison_event_is_dead_lettered_logged_counted_and_blocks_nothing(stack, db, topic_reader, topic, case):
    consumers = CONSUMERS[topic]
    user = f"poison-{uuid.uuid4()}"
    task_id = str(uuid.uuid4())
    marker = str(uuid.uuid4())
    dlq = topic_reader(f"{topic}.dlq")
    app_before = app_error_counters(stack.host_url)
    logs = log_offsets()
    out_before = {app: len(component_output(app)) for app in consumers}

    how = poison(case, topic, valid_event(topic, user, task_id), marker)
    send(stack, topic, how, task_id)
    good = valid_event(topic, user, task_id)
    stack.publish("task-api", topic, good, partition_key=task_id)

    # Not blocked: the valid event behind the poison (same key, same partition) is processed.
    deadline = time.monotonic() + 45
    while not all((state := processed(db, topic, good)).values()):
        assert time.monotonic() < deadline, f"the valid event behind the {case} poison was not processed: {state}"
        time.sleep(0.25)

    # Dead-lettered once by each consumer's sidecar.
    copies = dlq_copies(dlq, marker, len(consumers))
    assert len(copies) == len(consumers), f"{case} on {topic}: {len(copies)} copies in {topic}.dlq, want one per consumer {consumers}"
    assert not any(good["event_id"].encode() in c for c in copies), "the valid event is not dead-lettered"

    # Recorded: each consumer's dead letter in PostgreSQL, with the reason (docs/deadletters.md),
    # written before it answered DROP. A raw message never reaches a consumer (daprd
    # dead-letters it itself): the dead-letters service records Dapr's copy (consumer "").
    rows = db.execute("SELECT consumer, reason_class, reason, state, kafka_partition FROM dead_letters "
                      "WHERE topic = %s AND position(convert_to(%s, 'UTF8') in payload) > 0",
                      (topic, marker)).fetchall()
    if how[0] == "kafka":
        wait_until(f"the dead-letters service to record the raw {topic} message",
                   lambda: one(db, "SELECT count(*) FROM dead_letters WHERE topic = %s AND consumer = '' "
                               "AND position(convert_to(%s, 'UTF8') in payload) > 0", topic, marker) == 1)
    else:
        got = {r[0]: r for r in rows}
        assert sorted(got) == sorted(consumers), f"{case} on {topic}: dead letters recorded for {sorted(got)}: {rows}"
        for consumer, cls, reason, state, partition in rows:
            assert state == "dead" and cls in REASONS[case], (case, topic, rows)
            assert partition is not None, f"the Kafka partition is recorded: {rows}"
            if case == "invalid":
                assert FIELDS[topic] in reason, f"the reason names the field {FIELDS[topic]}: {reason}"
            if case == "unknown-major":
                assert "unknown MAJOR" in reason, reason

    # Logged: by the component (the events crate) or, for bytes that are no CloudEvent, by daprd.
    for app in consumers:
        if how[0] == "kafka":
            log = daprd_log_since(app, logs)
            # pkg/runtime/subscription: subscription.go (single) or bulksubscription.go (bulk).
            assert (f"error deserializing cloud event in pubsub pubsub and topic {topic}" in log
                    or f"error deserializing one of the messages in bulk cloud event in pubsub pubsub and topic {topic}" in log), (
                f"daprd-{app} did not log the raw message")
            continue
        if how[0] == "body":
            ce_ids = {json.loads(c).get("id") for c in copies}
            ids = ce_ids
        else:
            ids = {marker}
        out = component_output(app)[out_before[app]:]
        lines = [l for l in out.splitlines() if l.startswith(f"todo-events: drop topic={topic} ")]
        assert any(f"event_id={i} " in l for l in lines for i in ids), (
            f"{app} logged no drop of {ids} (topic {topic}); its drop lines since the test began: {lines[-5:]}")
    # Counted: the app's persistent counters (GET /metrics), when the app has them. A raw message
    # never reaches the app (daprd dead-letters it): daprd's log above is its record.
    if app_before is not None and how[0] != "kafka":
        deadline = time.monotonic() + 10
        while True:
            app_after = app_error_counters(stack.host_url) or {}
            short = [c for c in consumers if app_after.get(c, 0) < app_before.get(c, 0) + 1]
            if not short:
                break
            assert time.monotonic() < deadline, (
                f"GET /metrics event_processing_errors_total did not count the {case} poison for {short}: {app_before} -> {app_after}")
            time.sleep(0.5)


def test_the_sidecars_count_what_they_dead_letter(stack, topic_reader):
    """daprd's own counter of dropped deliveries (`dapr_component_pubsub_ingress_count`,
    `process_status="drop"`) counts a poison that its app answered DROP."""
    topic, app = "task-events", "audit"
    dlq = topic_reader(f"{topic}.dlq")
    before = drops(app, topic)
    marker = str(uuid.uuid4())
    send(stack, topic, ("json", unknown_major(topic, {**valid_event(topic, "poison-count", str(uuid.uuid4())), "event_id": marker})), marker)
    assert len(dlq_copies(dlq, marker, 2)) == 2
    after = drops(app, topic)
    assert after >= before + 1, (
        f"daprd-{app} dead-lettered the event but its dapr_component_pubsub_ingress_count{{process_status=drop,topic={topic}}} "
        f"stayed {before} -> {after}; its log says: "
        + " | ".join([l[:300] for l in daprd_log_since(app, {}).splitlines() if "error gathering metrics" in l][-1:]))
