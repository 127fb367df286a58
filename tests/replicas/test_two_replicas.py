"""Two replicas of every service on the real stack (`./dev up --replicas 2`): both members of each
consumer group own partitions, both task-api replicas take writes through Pushpin, and the same
events delivered to both replicas of a consumer at the same moment have one effect each and are
answered SUCCESS by both (the rebalance race of dapr/components-contrib#4577 made deterministic:
during a rebalance two members can hold the same message)."""

from __future__ import annotations

import copy
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
import requests

import mail
from clients import Api, mint_token
from replicas import CONSUMERS, app_url, group, running_replicas, sidecar_metrics_port, stack_env
from support import RUN, TopicReader, cloud_event, database_url, envelope, one, read_env
from test_faults import iso

SINGLE_PAIRS = 12
BULK_PAIRS = 3
BULK_SIZE = 6


@pytest.fixture(scope="module")
def env():
    e = stack_env()
    short = {a: running_replicas(a) for a in ["task-api", *CONSUMERS]}
    short = {a: r for a, r in short.items() if len(r) < 2}
    if short:
        pytest.fail(f"these app-ids run fewer than 2 replicas: {short}; the replica tests need "
                    f"`./dev up --replicas 2` or `./dev replica add all`", pytrace=False)
    return e


@pytest.fixture(scope="module")
def secrets():
    return read_env(RUN / "secrets.env")


@pytest.fixture(scope="module")
def db():
    conn = psycopg.connect(database_url(), autocommit=True)
    yield conn
    conn.close()


@pytest.mark.parametrize("app_id", list(CONSUMERS))
def test_each_consumer_group_has_both_replicas_owning_partitions(env, app_id):
    deadline = time.monotonic() + 30
    while True:
        g = group(env["KAFKA_BOOTSTRAP"], app_id)
        owning = [m for m, tps in g.items() if tps]
        if len(g) >= 2 and len(owning) >= 2:
            break
        assert time.monotonic() < deadline, f"group {app_id}: {g} (want 2 members, both owning partitions)"
        time.sleep(1)
    assert sorted(tp for tps in g.values() for tp in tps) == [(CONSUMERS[app_id][0], p) for p in range(3)]


def binding_calls(replica: int) -> float:
    text = requests.get(f"http://127.0.0.1:{sidecar_metrics_port('task-api', replica)}/metrics", timeout=5).text
    return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
               if l.startswith("dapr_http_server_request_count{") and 'path="/v1.0/bindings/tododb"' in l)


def test_both_task_api_replicas_take_writes_through_pushpin(env, secrets):
    user = f"rep-{uuid.uuid4()}"
    api = Api(env["PUSHPIN_URL"], mint_token(secrets["JWT_SECRET"], user), user)
    before = [binding_calls(r) for r in (1, 2)]
    for i in range(10):
        t = api.create(title=f"through pushpin {i}")
        assert t["title"] == f"through pushpin {i}"
    after = [binding_calls(r) for r in (1, 2)]
    grew = [a - b for a, b in zip(after, before)]
    assert all(g > 0 for g in grew), f"database calls by task-api's sidecars per replica during 10 writes: {grew}"


def at_once(posts: list[tuple[str, dict]], token: str) -> list[requests.Response]:
    """POSTs every (url, body) at the same moment (one thread each, released together)."""
    go = threading.Barrier(len(posts))
    out: list = [None] * len(posts)

    def post(i, url, body):
        s = requests.Session()
        go.wait()
        out[i] = s.post(url, json=body, headers={"dapr-api-token": token}, timeout=60)

    threads = [threading.Thread(target=post, args=(i, u, b)) for i, (u, b) in enumerate(posts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


@pytest.fixture(scope="module")
def templates(env, secrets):
    """One real event of each kind the consumers take, as task-api published it: the copies
    delivered below are these with new ids."""
    user = f"rep-{uuid.uuid4()}"
    api = Api(app_url(1), mint_token(secrets["JWT_SECRET"], user), user)
    readers = {t: TopicReader(env["KAFKA_BOOTSTRAP"], t) for t in ("task-events", "reminders", "task-updates")}
    try:
        rec = api.create(title="series", due_date="2031-03-01T09:00:00Z", timezone="UTC", recurrence="FREQ=DAILY")
        assert api.complete(rec["id"]).status_code == 200
        rem = api.create(title="remind me", reminders=[{"remind_at": "2031-01-01T08:00:00Z", "channel": "email"}])
        completed = readers["task-events"].find_event(
            lambda e: e.get("task_id") == rec["id"] and e.get("event_type") == "task.completed")
        scheduled = readers["reminders"].find_event(
            lambda e: e.get("task_id") == rem["id"] and e.get("event_type") == "reminder.scheduled")
        update = readers["task-updates"].find_event(lambda e: e.get("task_id") == rem["id"])
        updated = readers["task-events"].find_event(lambda e: e.get("task_id") == rem["id"])
        return {"completed": completed, "scheduled": scheduled, "update": update, "created": updated}
    finally:
        for r in readers.values():
            r.close()


def copies(consumer: str, templates: dict, n: int, run: str) -> list[dict]:
    """`n` events for `consumer`, each with an effect of its own."""
    out = []
    for i in range(n):
        if consumer == "audit":
            e = copy.deepcopy(templates["created"])
            e["user_id"] = f"{run}-audit"
        elif consumer == "recurring":
            e = copy.deepcopy(templates["completed"])
            e["task_id"] = str(uuid.uuid4())
            e["user_id"] = f"{run}-rec"
            td = e["task_data"]
            if "recurrence_id" in td:
                td["recurrence_id"] = e["task_id"]
            if "id" in td:
                td["id"] = e["task_id"]
            td["due_date"] = iso(datetime(2031, 3, 1, 9, tzinfo=timezone.utc) + timedelta(days=i))
        elif consumer == "notification":
            e = copy.deepcopy(templates["scheduled"])
            e["user_id"] = f"{run}-rem"
            e["reminder_id"] = str(uuid.uuid4())
            e["task_title"] = f"{run} twice {i}"
            e["email"] = f"{run}-{i}@replicas.test"
            e["remind_at"] = iso(datetime.now(timezone.utc) + timedelta(seconds=6))
        else:
            e = copy.deepcopy(templates["update"])
            e["user_id"] = f"{run}-rt"
        e["event_id"] = str(uuid.uuid4())
        out.append(e)
    return out


@pytest.mark.parametrize("consumer", list(CONSUMERS))
def test_the_same_events_at_both_replicas_at_once_have_one_effect_each(env, secrets, db, templates, consumer):
    topic, route = CONSUMERS[consumer]
    run = f"pair{uuid.uuid4().hex[:8]}"
    token = secrets["APP_API_TOKEN"]
    urls = [app_url(1) + route, app_url(2) + route]
    events = copies(consumer, templates, SINGLE_PAIRS + BULK_PAIRS * BULK_SIZE, run)
    mails_before = len(mail.messages())
    for e in events[:SINGLE_PAIRS]:
        body = cloud_event(topic, e)
        answers = at_once([(u, body) for u in urls], token)
        for r in answers:
            assert r.status_code == 200 and r.json() == {"status": "SUCCESS"}, f"{r.url}: {r.status_code} {r.text[:300]}"
    for b in range(BULK_PAIRS):
        batch = events[SINGLE_PAIRS + b * BULK_SIZE: SINGLE_PAIRS + (b + 1) * BULK_SIZE]
        body = envelope(topic, batch)
        answers = at_once([(u, body) for u in urls], token)
        for r in answers:
            assert r.status_code == 200, f"{r.url}: {r.status_code} {r.text[:300]}"
            assert [s["status"] for s in r.json()["statuses"]] == ["SUCCESS"] * BULK_SIZE, r.text[:500]
    ids = [e["event_id"] for e in events]
    n = len(events)
    assert one(db, "SELECT count(*) FROM processed_events WHERE consumer = %s AND event_id = ANY(%s::uuid[])",
               consumer, ids) == n, "one inbox row per event"
    if consumer == "audit":
        assert one(db, "SELECT count(*) FROM audit_log WHERE event_id = ANY(%s::uuid[])", ids) == n
        assert one(db, "SELECT count(DISTINCT event_id) FROM audit_log WHERE event_id = ANY(%s::uuid[])", ids) == n
    elif consumer == "recurring":
        tids = [e["task_id"] for e in events]
        assert one(db, "SELECT count(*) FROM recurrence_rolls WHERE from_task_id = ANY(%s::uuid[])", tids) == n
        assert one(db, "SELECT count(*) FROM tasks WHERE parent_task_id = ANY(%s::uuid[])", tids) == n, \
            "one next occurrence per completed occurrence"
    elif consumer == "realtime":
        with db.cursor() as cur:
            cur.execute("SELECT seq, event_id::text FROM realtime_feed WHERE user_id = %s ORDER BY seq", (f"{run}-rt",))
            rows = cur.fetchall()
        assert [s for s, _ in rows] == list(range(1, n + 1)), f"the user's feed sequences: {[s for s, _ in rows]}"
        assert sorted(e for _, e in rows) == sorted(ids)
        assert one(db, "SELECT last_seq FROM realtime_users WHERE user_id = %s", f"{run}-rt") == n
    else:
        rids = [e["reminder_id"] for e in events]
        assert one(db, "SELECT count(*) FROM reminder_states WHERE reminder_id = ANY(%s::uuid[])", rids) == n
        # Each fires once, 6 s after it was set: one email each, whichever replica's sidecar the
        # Scheduler calls.
        deadline = time.monotonic() + 40
        while one(db, "SELECT count(*) FROM reminder_states WHERE reminder_id = ANY(%s::uuid[]) AND state = 'sent'",
                  rids) < n:
            assert time.monotonic() < deadline, "every reminder sent within 40 s"
            time.sleep(0.5)
        time.sleep(3)
        got = [m for m in mail.messages()[mails_before:] if any(t.endswith("@replicas.test") and t.startswith(run) for t in m["to"])]
        per = {}
        for m in got:
            per[m["to"][0]] = per.get(m["to"][0], 0) + 1
        assert per == {e["email"]: 1 for e in events}, f"emails per reminder: {per}"
