"""The audit service on the real stack: every task event of a REST or MCP write becomes exactly one
audit row, in order per task; a redelivered event changes nothing; an unknown MAJOR or an invalid
event is dropped to `task-events.dlq` and not recorded, a newer MINOR is recorded; each user only
sees their own rows; filters and cursor pages; and a write made while Kafka is down is published
and audited once Kafka is back (the transactional outbox)."""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from clients import assert_problem, mcp_call, structured

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "contracts" / "events" / "examples" / "task-events"
SCHEMA = json.loads((ROOT / "contracts" / "events" / "task-events.schema.json").read_text())
INSTANT_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_from(example: str, user_id: str, task_id: str, **changes) -> dict:
    """A `task-events` example event with fresh ids, owned by `user_id`, about `task_id`."""
    ev = json.loads((EXAMPLES / example).read_text())
    ev.update(event_id=str(uuid.uuid4()), user_id=user_id, task_id=task_id, timestamp=now_iso())
    ev.update(changes)
    return ev


def is_valid(ev: dict) -> bool:
    return Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER).is_valid(ev)


def check_rows(rows: list[dict], user_id: str, task_id: str, types: list[str]) -> None:
    """`rows` (newest first) are exactly the events `types` (oldest first) of the task, once each."""
    assert [r["event_type"] for r in rows] == list(reversed(types)), f"audit rows, newest first: {rows}"
    assert len({r["event_id"] for r in rows}) == len(rows), "one row per event"
    for r in rows:
        assert r["task_id"] == task_id
        assert r["schema_version"].startswith("1."), r
        assert INSTANT_MS.match(r["occurred_at"]), r
        p = r["payload"]
        assert (p["event_id"], p["event_type"], p["task_id"], p["user_id"]) == (r["event_id"], r["event_type"], task_id, user_id)
        assert p["timestamp"].startswith(r["occurred_at"][:19]), (p["timestamp"], r["occurred_at"])
    occurred = [r["occurred_at"] for r in rows]
    assert occurred == sorted(occurred, reverse=True), f"newest first: {occurred}"


def settle(seconds: float = 6.0) -> None:
    """Longer than the outbox's 5 s re-drain period: a duplicate would have arrived by now."""
    time.sleep(seconds)


# --- what writes produce ----------------------------------------------------------------------------


@pytest.mark.smoke
def test_rest_writes_are_audited_once_each_in_order(user_a):
    t = user_a.create(title="Audited", tags=["x"])
    tid = t["id"]
    assert user_a.patch(tid, {"title": "Audited twice"}).status_code == 200
    assert user_a.complete(tid).status_code == 200
    assert user_a.reopen(tid).status_code == 200
    assert user_a.delete(tid).status_code == 204
    types = ["task.created", "task.updated", "task.completed", "task.updated", "task.deleted"]
    rows = user_a.wait_audit(tid, len(types))
    check_rows(rows, user_a.user_id, tid, types)
    titles = [r["payload"]["task_data"]["title"] for r in reversed(rows)]
    assert titles == ["Audited", "Audited twice", "Audited twice", "Audited twice", "Audited twice"]
    completed = [r["payload"]["task_data"]["completed"] for r in reversed(rows)]
    assert completed == [False, False, True, False, False]
    settle()
    assert user_a.audit_rows(tid) == rows, "nothing more arrives: each event is recorded once"


def test_mcp_add_task_and_complete_task_are_audited(stack, user_a):
    added = structured(mcp_call(stack.host_url, user_a.token, "add_task", {"title": "Via MCP", "priority": "urgent"}))
    tid = added["id"]
    done = structured(mcp_call(stack.host_url, user_a.token, "complete_task", {"task_id": tid}))
    assert done["completed"] is True
    rows = user_a.wait_audit(tid, 2)
    check_rows(rows, user_a.user_id, tid, ["task.created", "task.completed"])
    assert rows[1]["payload"]["task_data"]["priority"] == "urgent"


# --- delivery: duplicates, versions, invalid events ---------------------------------------------------


def test_a_duplicate_delivery_of_one_event_leaves_one_row(stack, user_a):
    tid = str(uuid.uuid4())
    created = event_from("valid/task-created-full.json", user_a.user_id, tid)
    assert is_valid(created)
    # The same event JSON twice, through two sidecars (two CloudEvents with different ids).
    stack.publish("task-api", "task-events", created, partition_key=tid)
    stack.publish("audit", "task-events", created, partition_key=tid)
    # A later event of the same task (same partition): once it is recorded, both copies were handled.
    sentinel = event_from("valid/task-created-full.json", user_a.user_id, tid, event_type="task.updated")
    stack.publish("audit", "task-events", sentinel, partition_key=tid)
    rows = user_a.wait_audit(tid, 2)
    assert [(r["event_type"], r["event_id"]) for r in rows] == [
        ("task.updated", sentinel["event_id"]),
        ("task.created", created["event_id"]),
    ], f"one row per event_id: {rows}"
    assert rows[1]["payload"] == created, "the payload is the event as published"
    stack.publish("audit", "task-events", created, partition_key=tid)  # a third copy, later
    settle()
    assert len(user_a.audit_rows(tid)) == 2


def _dlq_event(dlq, event_id: str) -> dict:
    def match(value) -> bool:
        data = value.get("data") if isinstance(value, dict) else None
        return isinstance(data, dict) and data.get("event_id") == event_id

    return dlq.find(match, timeout=60)["data"]


def test_unknown_major_and_invalid_events_go_to_the_dead_letter_topic_not_the_log(stack, user_a, topic_reader):
    dlq = topic_reader("task-events.dlq")
    tid = str(uuid.uuid4())
    v2 = event_from("valid/task-created-full.json", user_a.user_id, tid, schema_version="2.0.0")
    assert is_valid(v2), "only the MAJOR version is wrong"
    invalid = event_from("invalid/title-too-short.json", user_a.user_id, tid)
    assert not is_valid(invalid)
    garbage = {"event_type": "task.created", "event_id": str(uuid.uuid4()), "user_id": user_a.user_id, "task_id": tid}
    assert not is_valid(garbage)
    for ev in (v2, invalid, garbage):
        stack.publish("task-api", "task-events", ev, partition_key=tid)
    sentinel = event_from("valid/task-created-full.json", user_a.user_id, tid)
    stack.publish("task-api", "task-events", sentinel, partition_key=tid)

    assert _dlq_event(dlq, v2["event_id"])["schema_version"] == "2.0.0"
    assert _dlq_event(dlq, invalid["event_id"])["task_data"]["title"] == ""
    assert _dlq_event(dlq, garbage["event_id"])["task_id"] == tid
    rows = user_a.wait_audit(tid, 1)
    assert [r["event_id"] for r in rows] == [sentinel["event_id"]], "only the valid event was recorded"
    assert _dlq_absent(dlq, sentinel["event_id"]), "the valid event was not dead-lettered"


def _dlq_absent(dlq, event_id: str) -> bool:
    found = dlq.collect(lambda v: isinstance(v, dict) and isinstance(v.get("data"), dict) and v["data"].get("event_id") == event_id, 3)
    return not found


def test_a_newer_minor_version_with_unknown_fields_is_recorded_as_received(stack, user_a):
    tid = str(uuid.uuid4())
    ev = event_from("valid/newer-minor-with-unknown-fields.json", user_a.user_id, tid)
    assert ev["schema_version"] == "1.2.0" and "trace_origin" in ev and is_valid(ev)
    stack.publish("audit", "task-events", ev, partition_key=tid)
    (row,) = user_a.wait_audit(tid, 1)
    assert row["schema_version"] == "1.2.0"
    assert row["payload"] == ev, "unknown fields are kept in the recorded payload"


# --- who sees what -------------------------------------------------------------------------------------


def test_a_user_never_sees_another_users_audit_rows(user_a, user_b):
    t = user_a.create(title="A only")
    user_a.wait_audit(t["id"], 1)
    mine = user_b.create(title="B only")
    user_b.wait_audit(mine["id"], 1)
    r = user_b.audit({"task_id": t["id"]})
    assert r.status_code == 200 and r.json() == {"items": [], "next_cursor": None}, r.text
    b_rows = user_b.audit_rows()
    assert {row["task_id"] for row in b_rows} == {mine["id"]}
    assert all(row["payload"]["user_id"] == user_b.user_id for row in b_rows)
    assert t["id"] in {row["task_id"] for row in user_a.audit_rows()}


# --- filters and pages -----------------------------------------------------------------------------------


def test_audit_filters_by_task_and_time_and_pages_newest_first(user_a):
    first = [user_a.create(title=f"early {i}") for i in range(2)]
    for t in first:
        user_a.wait_audit(t["id"], 1)
    time.sleep(1.1)
    middle = datetime.now(timezone.utc)
    time.sleep(1.1)
    late = [user_a.create(title=f"late {i}") for i in range(2)]
    for t in late:
        assert user_a.patch(t["id"], {"priority": "high"}).status_code == 200
        user_a.wait_audit(t["id"], 2)

    every = user_a.audit_rows()
    assert len(every) == 6
    stamp = middle.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    after = user_a.audit_all({"from": stamp})
    before = user_a.audit_all({"to": stamp})
    assert {r["task_id"] for r in after} == {t["id"] for t in late} and len(after) == 4
    assert {r["task_id"] for r in before} == {t["id"] for t in first} and len(before) == 2
    window = user_a.audit_all({"from": stamp, "to": (middle + timedelta(hours=1)).isoformat()})
    assert [r["event_id"] for r in window] == [r["event_id"] for r in after], "offsets are accepted"
    only = user_a.audit_rows(late[0]["id"])
    assert [r["event_type"] for r in only] == ["task.updated", "task.created"]

    paged, params = [], {"limit": 4}
    for _ in range(5):
        r = user_a.audit(params)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= 4
        paged += page["items"]
        if page["next_cursor"] is None:
            break
        params = {"limit": 4, "cursor": page["next_cursor"]}
    assert [r["event_id"] for r in paged] == [r["event_id"] for r in every], "pages join into the whole log"


@pytest.mark.parametrize("params,name", [
    ({"task_id": "not-a-uuid"}, "task_id"),
    ({"limit": "0"}, "limit"),
    ({"limit": "101"}, "limit"),
    ({"from": "yesterday"}, "from"),
    ({"to": "2030-01-01"}, "to"),
    ({"from": "2030-01-02T00:00:00Z", "to": "2030-01-01T00:00:00Z"}, "from"),
    ({"cursor": "garbage"}, "cursor"),
    ({"user_id": "someone"}, "user_id"),
])
def test_bad_audit_parameters_are_400_naming_them(user_a, params, name):
    assert_problem(user_a.audit(params), 400, name)


def test_audit_cursors_belong_to_their_user_and_query(user_a, user_b):
    ids = [user_a.create(title=f"c{i}")["id"] for i in range(3)]
    for i in ids:
        user_a.wait_audit(i, 1)
    page = user_a.audit({"limit": 1}).json()
    assert page["next_cursor"]
    assert_problem(user_b.audit({"limit": 1, "cursor": page["next_cursor"]}), 400, "cursor")
    assert_problem(user_a.audit({"limit": 1, "cursor": page["next_cursor"], "task_id": ids[0]}), 400, "cursor")


# --- the outbox: Kafka down at write time -----------------------------------------------------------------


def dev(*args: str) -> str:
    """Runs `./dev <args>` (the project's stack command); fails the test with its output if it fails."""
    p = subprocess.run([str(ROOT / "dev"), *args], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, f"./dev {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    return p.stdout


@pytest.mark.disruptive
def test_a_write_made_while_kafka_is_down_is_published_and_audited_after_it_is_back(user_a):
    before = user_a.create(title="before the outage")
    user_a.wait_audit(before["id"], 1)  # the pipeline works
    dev("stop", "kafka")
    try:
        r = user_a.call("POST", "/api/tasks", json={"title": "written while Kafka is down"}, timeout=120)
        assert r.status_code == 201, f"the write commits although the broker is down: {r.status_code} {r.text}"
        t = r.json()
        u = user_a.patch(t["id"], {"priority": "urgent"})
        assert u.status_code == 200, u.text
        assert user_a.get(t["id"]).json()["priority"] == "urgent"
        time.sleep(2)
        assert user_a.audit_rows(t["id"]) == [], "nothing can be audited while Kafka is down"
    finally:
        dev("start", "kafka")
    rows = user_a.wait_audit(t["id"], 2, timeout=180)
    check_rows(rows, user_a.user_id, t["id"], ["task.created", "task.updated"])
    after = user_a.create(title="after the outage")
    user_a.wait_audit(after["id"], 1, timeout=120)
    settle()
    assert len(user_a.audit_rows(t["id"])) == 2, "published once each, although retried"
