"""Dead letters an operator can read and re-drive (issue 19), on the real stack.

- An event its consumer fails on every time, with the database up, is dead-lettered within a
  bounded time with "retries exhausted" and its attempts; the failure is a PostgreSQL trigger that
  refuses the audit row of one task (no test switch in the product: the cause is outside the
  consumer, as a bad row or a constraint would be). The other consumer of the topic (recurring)
  applies the same event meanwhile. Once the trigger is gone, an operator re-drives it through the
  API: audit applies it exactly once, recurring does nothing (its roll stays one), and the letter
  is `redriven` and `applied`.
- A poison re-driven keeps coming back and is refused at the cap (3) with 409.
- The API's refusals: no token 401, an ordinary user 403, an unknown id 404, a malformed filter or
  id 400 naming the field; `./dev dlq` lists what the API lists.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests

from support import one, wait_until
from test_poison import valid_event

ROOT = Path(__file__).resolve().parents[2]
# The consumer answers DROP at the 5th failed attempt; Dapr's backoff (0.5 s x 1.5) puts that
# about 4 s after the first. The bound this test holds it to:
DEAD_WITHIN_S = 15


@pytest.fixture
def operator(stack, token_for):
    """Requests to /api/dead-letters as an operator."""
    s = requests.Session()
    s.headers["authorization"] = f"Bearer {token_for('ops-' + uuid.uuid4().hex[:8], roles=['operator'])}"
    base = f"{stack.host_url}/api/dead-letters"

    class Ops:
        def get(self, path: str = "", **params):
            return s.get(base + path, params=params, timeout=30)

        def post(self, path: str, body=None, **params):
            return s.post(base + path, json=body, params=params, timeout=30)

    return Ops()


def letter(db, topic: str, consumer: str, key: str):
    row = db.execute(
        "SELECT id, state, reason_class, reason, attempts, redrives, kafka_partition, kafka_offset, "
        "extract(epoch FROM dead_since - first_seen) FROM dead_letters WHERE topic = %s AND consumer = %s AND key = %s",
        (topic, consumer, key)).fetchone()
    return row


def test_an_event_failing_every_time_is_dead_lettered_in_bounded_time_and_redriven_once(stack, db, operator):
    user = f"e2e-dl-{uuid.uuid4()}"
    task_id = str(uuid.uuid4())
    fn = f"e2e_fail_{uuid.uuid4().hex[:8]}"
    db.execute(f"CREATE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
               f"RAISE EXCEPTION 'e2e: audit refuses task {task_id}'; END $$")
    db.execute(f"CREATE TRIGGER {fn} BEFORE INSERT ON audit_log FOR EACH ROW "
               f"WHEN (NEW.task_id = '{task_id}') EXECUTE FUNCTION {fn}()")
    try:
        ev = valid_event("task-events", user, task_id)  # a completed daily task: recurring rolls it
        t0 = time.time()
        stack.publish("task-api", "task-events", ev, partition_key=task_id)
        row = wait_until("audit's dead letter",
                         lambda: (r := letter(db, "task-events", "audit", ev["event_id"])) and r[1] == "dead" and r,
                         timeout=60)
        dead_after = time.time() - t0
        _id, state, cls, reason, attempts, redrives, partition, offset, _ = row
        assert (cls, attempts, redrives) == ("exhausted", 5, 0), row
        assert reason.startswith("retries exhausted: "), reason
        assert partition is not None and offset is not None, f"the Kafka position is recorded: {row}"
        assert dead_after < DEAD_WITHIN_S, f"dead-lettered after {dead_after:.1f}s (bound {DEAD_WITHIN_S}s)"
        print(f"\ndead letter: exhausted after {attempts} attempts, {dead_after:.1f}s after the publish")
        # recurring applied the same event meanwhile: one roll
        wait_until("recurring's roll", lambda: one(db, "SELECT count(*) FROM recurrence_rolls WHERE from_task_id = %s", task_id) == 1)
        assert one(db, "SELECT count(*) FROM audit_log WHERE event_id = %s", ev["event_id"]) == 0
        assert letter(db, "task-events", "recurring", ev["event_id"]) is None, "recurring did not fail on it"
    finally:
        db.execute(f"DROP TRIGGER IF EXISTS {fn} ON audit_log")
        db.execute(f"DROP FUNCTION IF EXISTS {fn}()")

    # The operator sees it, with its payload, and re-drives it (a dry run first).
    listed = operator.get(consumer="audit", reason="exhausted")
    assert listed.status_code == 200, listed.text
    ids = [x["id"] for x in listed.json()["items"] if x["event_id"] == ev["event_id"]]
    assert ids == [_id], listed.json()
    shown = operator.get(f"/{_id}")
    assert shown.status_code == 200, shown.text
    assert shown.json()["payload"]["data"]["event_id"] == ev["event_id"], shown.json()
    dry = operator.post(f"/{_id}/redrive", dry_run="true")
    assert dry.status_code == 200 and dry.json()["items"][0]["outcome"] == "would_redrive", dry.text
    assert letter(db, "task-events", "audit", ev["event_id"])[1] == "dead", "a dry run changes nothing"
    done = operator.post(f"/{_id}/redrive")
    assert done.status_code == 200, done.text
    assert done.json()["items"][0]["outcome"] == "redriven" and done.json()["published"] == 1, done.text
    wait_until("audit to apply the re-driven event",
               lambda: one(db, "SELECT count(*) FROM audit_log WHERE event_id = %s", ev["event_id"]) == 1)
    time.sleep(3)  # a duplicate effect would show by now
    assert one(db, "SELECT count(*) FROM audit_log WHERE event_id = %s", ev["event_id"]) == 1
    assert one(db, "SELECT count(*) FROM recurrence_rolls WHERE from_task_id = %s", task_id) == 1, "recurring rolled twice"
    assert one(db, "SELECT count(*) FROM tasks WHERE user_id = %s", user) == 1, "one next occurrence"
    after = operator.get(f"/{_id}").json()
    assert (after["state"], after["redrives"], after["applied"]) == ("redriven", 1, True), after
    again = operator.post(f"/{_id}/redrive")
    assert again.status_code == 409 and "not pending" in again.json()["detail"], again.text


def test_a_poison_redriven_comes_back_and_is_refused_at_the_cap(stack, db, operator):
    task_id = str(uuid.uuid4())
    ev = {**valid_event("task-events", f"e2e-dl-{uuid.uuid4()}", task_id), "schema_version": "2.0.0"}
    stack.publish("task-api", "task-events", ev, partition_key=task_id)

    def dead():
        r = letter(db, "task-events", "audit", ev["event_id"])
        return r if r and r[1] == "dead" else None

    row = wait_until("the poison's dead letter", dead, timeout=30)
    assert row[2] == "bad_version" and "unknown MAJOR" in row[3], row
    for n in (1, 2, 3):
        r = operator.post("/redrive", {"ids": [row[0]]})
        assert r.status_code == 200 and r.json()["items"][0]["outcome"] == "redriven", r.text
        wait_until(f"re-drive {n} to be dead-lettered again",
                   lambda: (x := dead()) and x[5] == n and x)
    capped = operator.post(f"/{row[0]}/redrive")
    assert capped.status_code == 409, capped.text
    assert "cap is 3" in capped.json()["detail"], capped.json()
    by_filter = operator.post("/redrive", {"topic": "task-events", "reason": "bad_version", "dry_run": True})
    assert by_filter.status_code == 200, by_filter.text
    mine = [i for i in by_filter.json()["items"] if i["id"] == row[0]]
    assert mine and mine[0]["outcome"] == "refused" and "cap" in mine[0]["why"], by_filter.json()
    # It can never be processed: the operator discards it; it is no longer pending, and kept.
    gone = operator.post(f"/{row[0]}/discard")
    assert gone.status_code == 200 and gone.json()["items"][0]["outcome"] == "discarded", gone.text
    shown = operator.get(f"/{row[0]}").json()
    assert shown["state"] == "discarded" and shown["discarded_by"].startswith("ops-"), shown
    assert row[0] not in [x["id"] for x in operator.get(topic="task-events").json()["items"]]
    again = operator.post(f"/{row[0]}/discard")
    assert again.status_code == 409 and "discarded" in again.json()["detail"], again.text


def test_the_api_is_for_operators_and_names_what_is_wrong(stack, operator, user_a):
    base = f"{stack.host_url}/api/dead-letters"
    assert requests.get(base, timeout=10).status_code == 401
    r = requests.get(base, headers={"authorization": f"Bearer {user_a.token}"}, timeout=10)
    assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json"), r.text
    assert "operator" in r.json()["detail"]
    assert operator.get("/999999999").status_code == 404
    for params, field in [({"topic": "nope"}, "topic"), ({"since": "yesterday"}, "since"),
                          ({"reason": "x"}, "reason"), ({"limit": "0"}, "limit"), ({"cursor": "abc"}, "cursor"),
                          ({"colour": "red"}, "colour")]:
        r = operator.get(**params)
        assert r.status_code == 400, (params, r.text)
        assert [e["field"] for e in r.json()["errors"]] == [field], r.json()
    r = operator.get("/abc")
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "id", r.text
    r = operator.post("/redrive", {})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "topic", r.text
    r = operator.post("/redrive", {"ids": [1], "topic": "task-events"})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "ids", r.text


def test_dev_dlq_lists_what_the_api_lists(stack, operator):
    api = operator.get(state="all", limit="5").json()["items"]
    out = subprocess.run([str(ROOT / "dev"), "dlq", "list", "state=all", "limit=5"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    for item in api:
        assert f"#{item['id']} " in out.stdout, out.stdout
    bad = subprocess.run([str(ROOT / "dev"), "dlq", "list", "topic=nope"], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "topic" in bad.stderr, bad.stdout + bad.stderr
