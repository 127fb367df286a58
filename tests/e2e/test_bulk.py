"""Bulk delivery (the Subscriptions' `bulkSubscribe`) on the real stack.

- The consumers' sidecars deliver `task-events` in bulk: a burst of one task's events reaches
  audit in fewer requests than events (daprd's own `dapr_component_pubsub_ingress_bulk_count`
  and `..._bulk_event_count`), each event recorded once and in order.
- A bulk envelope posted to each consumer component the way daprd posts it is answered per
  entry (`{"statuses": [...]}`): valid entries SUCCESS and recorded once (an entry repeated in
  the batch too), an invalid one DROP, an unknown MAJOR DROP; without the app token 401.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone

import pytest
import requests

from support import cloud_event, envelope, one, sidecar_ports


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def metrics_port(app_id: str) -> int:
    return sidecar_ports(app_id)[2]


def bulk_counters(app_id: str, topic: str) -> tuple[float, float]:
    """(bulk requests to the app, bulk events reported) of `topic` by daprd-`app_id`."""
    text = requests.get(f"http://127.0.0.1:{metrics_port(app_id)}/metrics", timeout=10).text
    calls = events = 0.0
    for line in text.splitlines():
        if f'topic="{topic}"' not in line:
            continue
        if line.startswith("dapr_component_pubsub_ingress_bulk_count{"):
            calls += float(line.rsplit(" ", 1)[1])
        # Dapr 1.18.3 labels bulk entries with the status in capitals (SUCCESS, DROP, RETRY).
        elif line.startswith("dapr_component_pubsub_ingress_bulk_event_count{") and 'process_status="SUCCESS"' in line:
            events += float(line.rsplit(" ", 1)[1])
    return calls, events


def task_event(user: str, task_id: str, kind: str = "task.updated", **changes) -> dict:
    ev = {"event_type": kind, "event_id": str(uuid.uuid4()), "user_id": user, "timestamp": now_iso(),
          "schema_version": "1.0.0", "task_id": task_id,
          "task_data": {"title": "bulk", "completed": False, "priority": "normal", "tags": []}}
    ev.update(changes)
    return ev


def test_a_burst_of_one_tasks_events_reaches_audit_in_bulk_each_once_in_order(stack, db):
    user, task_id = f"bulk-{uuid.uuid4()}", str(uuid.uuid4())
    calls0, events0 = bulk_counters("audit", "task-events")
    events = [task_event(user, task_id, "task.created")] + [task_event(user, task_id) for _ in range(59)]
    for ev in events:
        stack.publish("task-api", "task-events", ev, partition_key=task_id)
    deadline = time.monotonic() + 45
    while (n := one(db, "SELECT count(*) FROM audit_log WHERE user_id = %s", user)) < len(events):
        assert time.monotonic() < deadline, f"{n} of {len(events)} events audited"
        time.sleep(0.25)
    time.sleep(1)
    assert one(db, "SELECT count(*) FROM audit_log WHERE user_id = %s", user) == len(events), "an event audited twice"
    with db.cursor() as cur:
        cur.execute("SELECT event_id::text FROM audit_log WHERE user_id = %s ORDER BY seq", (user,))
        got = [r[0] for r in cur.fetchall()]
    assert got == [e["event_id"] for e in events], "audit rows are not in the published order"
    calls1, events1 = bulk_counters("audit", "task-events")
    assert calls1 > calls0, "daprd-audit made no bulk delivery (is bulkSubscribe on in its Subscription?)"
    assert events1 > events0
    # Fewer requests than events: the sidecar batched them (other tests' events may share them).
    assert calls1 - calls0 < len(events), f"{calls1 - calls0} bulk requests for {len(events)} events: no batching"


ROUTES = {"audit": ("/audit/events", "task-events"), "recurring": ("/recurring/events", "task-events")}


@pytest.mark.parametrize("consumer", list(ROUTES))
def test_a_bulk_envelope_is_answered_per_entry_and_recorded_once(stack, db, consumer):
    path, topic = ROUTES[consumer]
    user, task_id = f"bulk-{consumer}-{uuid.uuid4()}", str(uuid.uuid4())
    a = task_event(user, task_id, "task.created")
    b = task_event(user, task_id)
    invalid = task_event(user, task_id)
    del invalid["task_data"]["priority"]
    major = task_event(user, task_id, schema_version="2.0.0")
    body = envelope(topic, [a, invalid, b, major, a])
    url = f"{stack.host_url}{path}"
    r = requests.post(url, json=body, headers={"dapr-api-token": stack.app_api_token}, timeout=30)
    assert r.status_code == 200, r.text[:300]
    statuses = [(s["entryId"], s["status"]) for s in r.json()["statuses"]]
    assert statuses == [("0", "SUCCESS"), ("1", "DROP"), ("2", "SUCCESS"), ("3", "DROP"), ("4", "SUCCESS")], r.text[:500]
    for ev in (a, b):
        assert one(db, "SELECT count(*) FROM processed_events WHERE consumer = %s AND event_id = %s",
                   consumer, ev["event_id"]) == 1
    for ev in (invalid, major):
        assert one(db, "SELECT count(*) FROM processed_events WHERE event_id = %s", ev["event_id"]) == 0
    if consumer == "audit":
        assert one(db, "SELECT count(*) FROM audit_log WHERE user_id = %s", user) == 2
    # Redelivered whole: every valid entry SUCCESS again, nothing recorded twice.
    r = requests.post(url, json=body, headers={"dapr-api-token": stack.app_api_token}, timeout=30)
    assert [s["status"] for s in r.json()["statuses"]] == ["SUCCESS", "DROP", "SUCCESS", "DROP", "SUCCESS"]
    assert one(db, "SELECT count(*) FROM processed_events WHERE consumer = %s AND event_id = ANY(%s::uuid[])",
               consumer, [a["event_id"], b["event_id"]]) == 2
    # The app token is checked for bulk deliveries too.
    r = requests.post(url, json=body, timeout=30)
    assert r.status_code == 401, r.text[:300]


def task_update(user: str, task_id: str, **changes) -> dict:
    ev = {"event_type": "task.updated", "event_id": str(uuid.uuid4()), "user_id": user, "timestamp": now_iso(),
          "schema_version": "1.0.0", "task_id": task_id, "sequence": 2,
          "task": {"id": task_id, "title": "bulk", "completed": False, "priority": "high"}}
    ev.update(changes)
    return ev


def test_a_bulk_of_updates_takes_each_users_next_sequences_in_order_once(stack, db):
    alice, bob = f"bulk-rt-a-{uuid.uuid4()}", f"bulk-rt-b-{uuid.uuid4()}"
    t = str(uuid.uuid4())
    first = task_update(alice, t)
    # alice's first update goes alone, so the bulk continues her feed.
    r = requests.post(f"{stack.host_url}/realtime/events", json=cloud_event("task-updates", first),
                      headers={"dapr-api-token": stack.app_api_token}, timeout=30)
    assert r.status_code == 200 and r.json() == {"status": "SUCCESS"}, r.text[:300]
    a1, b1, a2, bad, b2 = (task_update(alice, t), task_update(bob, t), task_update(alice, t),
                           task_update(bob, t, sequence=-1), task_update(bob, t))
    batch = [a1, b1, a2, bad, b2, a1]
    body = envelope("task-updates", batch)
    for attempt in range(2):  # the second time: a redelivery of the whole batch
        r = requests.post(f"{stack.host_url}/realtime/events", json=body,
                          headers={"dapr-api-token": stack.app_api_token}, timeout=30)
        assert r.status_code == 200, r.text[:300]
        assert [s["status"] for s in r.json()["statuses"]] == ["SUCCESS", "SUCCESS", "SUCCESS", "DROP", "SUCCESS", "SUCCESS"], (
            attempt, r.text[:500])
        with db.cursor() as cur:
            cur.execute("SELECT user_id, seq, event_id::text FROM realtime_feed WHERE user_id IN (%s, %s) "
                        "ORDER BY user_id, seq", (alice, bob))
            rows = cur.fetchall()
        want = sorted([(alice, 1, first["event_id"]), (alice, 2, a1["event_id"]), (alice, 3, a2["event_id"]),
                       (bob, 1, b1["event_id"]), (bob, 2, b2["event_id"])])
        assert sorted(rows) == want, (attempt, rows)
        assert one(db, "SELECT last_seq FROM realtime_users WHERE user_id = %s", alice) == 3
        assert one(db, "SELECT last_seq FROM realtime_users WHERE user_id = %s", bob) == 2
