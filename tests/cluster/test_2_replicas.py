"""Replicas and pod loss in the cluster, while a seeded workload runs (the fault stage's idea,
tests/faults, on Kubernetes' own actions):

1. every consumer (audit, recurring, notification, realtime) scaled to 2 replicas, so two pods
   share each consumer group;
2. `kubectl delete pod` of one audit replica (its partitions move to the other one and back);
3. a rolling restart of task-api (`kubectl rollout restart`), the writes going on through its
   Service.

The workload: `TODO_CLUSTER_USERS` users (default 6), one thread each, share `TODO_CLUSTER_RATE`
writes/s (default 6); every user's operations come from `random.Random((seed, user))`
(`TODO_CLUSTER_SEED`, default 5): creates (plain, or recurring with a due date), updates (a new
unique title) and completions of its recurring tasks. Titles are unique markers, so a write whose
answer was lost (5xx, a connection cut by the restart) is resolved from the database.

Afterwards, from PostgreSQL and Kafka: every outbox row of the run is published; task-events: one
audit row per event, recorded in outbox order per task; task-updates: one feed row per event, in
order per task; each completed recurring task rolled once (one recurrence_rolls row, one child);
the dead-letter topics' end offsets did not move. It prints the table (action, events, lost,
duplicated, recovery time).

Scaling: spin-operator 0.6.1's SpinApp CRD has no scale subresource, so `kubectl scale spinapp`
is refused by the API server (checked below); the consumers' SpinApps leave their Deployments'
replica count to an autoscaler (`enableAutoscaling: true`, KEDA in deploy/README.md, not on this
node), so the stage scales the Deployments, as KEDA's HPA would."""

from __future__ import annotations

import os
import random
import subprocess
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import psycopg
import pytest
import requests

from clients import mint_token
from conftest import pods_of
from stage import BIN, KAFKA_PORT, KUBECONFIG, NODE_IP, NS, kubectl, wait_until

SEED = int(os.environ.get("TODO_CLUSTER_SEED", "5"))
USERS = int(os.environ.get("TODO_CLUSTER_USERS", "6"))
RATE = float(os.environ.get("TODO_CLUSTER_RATE", "6"))
PRE_S = float(os.environ.get("TODO_CLUSTER_PRE_S", "8"))
POST_S = float(os.environ.get("TODO_CLUSTER_POST_S", "6"))
SETTLE_S = float(os.environ.get("TODO_CLUSTER_SETTLE_S", "120"))
CONSUMERS = ["audit", "recurring", "notification", "realtime"]
DLQS = ["task-events.dlq", "reminders.dlq", "task-updates.dlq"]


@dataclass
class Write:
    user: str
    kind: str
    title: str
    task_id: str | None
    status: int | None  # None: no answer (connection error, timeout)
    at: float
    at_wall: float


@dataclass
class Workload:
    base: str
    secret: str
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    writes: list[Write] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    tokens: float = 0.0
    threads: list[threading.Thread] = field(default_factory=list)

    def users(self) -> list[str]:
        return [f"k8s-rep-{self.run}-{i}" for i in range(USERS)]

    def take(self) -> None:
        """One write's turn from the shared bucket (RATE per second)."""
        while not self.stop.is_set():
            with self.lock:
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
            time.sleep(0.02)

    def refill(self) -> None:
        last = time.monotonic()
        while not self.stop.is_set():
            time.sleep(0.05)
            now = time.monotonic()
            with self.lock:
                self.tokens = min(RATE, self.tokens + (now - last) * RATE)
            last = now

    def user_loop(self, n: int, user: str) -> None:
        rng = random.Random(f"{SEED}/{n}")
        token = mint_token(self.secret, user)
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {token}"
        mine: list[str] = []
        recurring: list[str] = []
        seq = 0
        while not self.stop.is_set():
            self.take()
            if self.stop.is_set():
                return
            seq += 1
            title = f"{self.run}-{n}-{seq}"
            roll = rng.random()
            kind, tid, body, method, path = "create", None, None, "POST", "/api/tasks"
            if roll < 0.45 or not mine:
                body = {"title": title}
            elif roll < 0.65:
                kind = "recurring"
                body = {"title": title, "due_date": "2030-01-10T09:00:00Z", "timezone": "UTC", "recurrence": "FREQ=DAILY"}
            elif roll < 0.85 or not recurring:
                kind, tid, method = "update", rng.choice(mine), "PATCH"
                path, body = f"/api/tasks/{tid}", {"title": title}
            else:
                kind, tid = "complete", recurring.pop(rng.randrange(len(recurring)))
                path, body = f"/api/tasks/{tid}/complete", None
            try:
                r = http.request(method, self.base + path, json=body, timeout=15)
                status = r.status_code
                if status == 201:
                    tid = r.json()["id"]
            except requests.RequestException:
                status = None
            with self.lock:
                self.writes.append(Write(user, kind, title, tid, status, time.monotonic(), time.time()))
            if status == 201:
                mine.append(tid)
                if kind == "recurring":
                    recurring.append(tid)

    def start(self) -> None:
        t = threading.Thread(target=self.refill, daemon=True)
        t.start()
        self.threads.append(t)
        for n, u in enumerate(self.users()):
            t = threading.Thread(target=self.user_loop, args=(n, u), daemon=True)
            t.start()
            self.threads.append(t)

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)


def ready_replicas(app: str) -> int:
    """Pods of the app that run, are ready, and have their sidecar (a pod the injector missed has none)."""
    pods = [p for p in pods_of(app) if not p["metadata"].get("deletionTimestamp")]
    missing = [p["metadata"]["name"] for p in pods if "daprd" not in {c["name"] for c in p["spec"]["containers"]}]
    assert not missing, f"{app}: pods without an injected daprd: {missing}"
    return sum(1 for p in pods if p["status"].get("phase") == "Running"
               and all(c["ready"] for c in p["status"].get("containerStatuses", [])))


def dlq_ends() -> dict[str, int]:
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": f"{NODE_IP}:{KAFKA_PORT}", "group.id": f"k8s-{uuid.uuid4()}"})
    try:
        ends = {}
        for topic in DLQS:
            meta = c.list_topics(topic, timeout=10).topics[topic]
            ends[topic] = sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in meta.partitions)
        return ends
    finally:
        c.close()


def test_kubectl_scale_spinapp_is_refused_without_a_scale_subresource(stage):
    p = subprocess.run([str(BIN / "kubectl"), "--kubeconfig", str(KUBECONFIG), "-n", NS, "scale", "spinapp", "audit",
                        "--replicas", "2"], capture_output=True, text=True)
    assert p.returncode != 0, "kubectl scale spinapp worked: the SpinApp CRD has a scale subresource now; scale the SpinApps"
    # the API server answers 404 for the missing /scale subresource of an existing SpinApp
    assert 'spinapps.core.spinkube.dev "audit" not found' in p.stderr, p.stderr
    assert kubectl("-n", NS, "get", "spinapp", "audit", "-o", "name").strip() == "spinapp.core.spinkube.dev/audit"


def test_replicas_pod_loss_and_a_rolling_restart_lose_and_duplicate_nothing(stage):
    secret = stage.secret("better-auth-secret", "secret")
    dlq_before = dlq_ends()
    work = Workload(stage.service_url("task-api"), secret)
    rows: list[tuple] = []

    def phase(name: str, action, ready) -> None:
        begin = time.time()
        n0 = len(work.writes)
        time.sleep(PRE_S)
        t0 = time.monotonic()
        action()
        wait_until(f"{name}: ready again", ready, timeout=300, interval=1)
        recovery = time.monotonic() - t0
        time.sleep(POST_S)
        rows.append([name, begin, time.time(), len(work.writes) - n0, recovery])

    def scale_all():
        kubectl("-n", NS, "scale", "deployment", *CONSUMERS, "--replicas", "2")

    def delete_one():
        victim = sorted(p["metadata"]["name"] for p in pods_of("audit"))[0]
        kubectl("-n", NS, "delete", "pod", victim, "--wait=false")

    def restart_api():
        kubectl("-n", NS, "rollout", "restart", "deployment/task-api")

    def api_rolled():
        out = subprocess.run([str(BIN / "kubectl"), "--kubeconfig", str(KUBECONFIG), "-n", NS, "rollout", "status",
                              "deployment/task-api", "--timeout=2s"], capture_output=True, text=True)
        return out.returncode == 0

    work.start()
    try:
        phase("scale the 4 consumers to 2 replicas", scale_all, lambda: all(ready_replicas(a) == 2 for a in CONSUMERS))
        phase("kubectl delete pod (one audit replica)", delete_one, lambda: ready_replicas("audit") == 2)
        phase("rollout restart deployment/task-api", restart_api, api_rolled)
    finally:
        work.finish()

    with psycopg.connect(stage.pg_dsn(), autocommit=True) as db:
        users = work.users()
        # every acknowledged write is in the database: its marker title is in one of its task's
        # events (a later update replaces the title in the row itself)
        titles = {t for (t,) in db.execute(
            "SELECT o.payload->'task_data'->>'title' FROM outbox o JOIN tasks t ON t.id = o.task_id "
            "WHERE t.user_id = ANY(%s) AND o.topic = 'task-events'", (users,)).fetchall()}
        bad_2xx = [w for w in work.writes if w.status in (200, 201) and w.kind in ("create", "recurring", "update") and w.title not in titles]
        assert not bad_2xx, f"{len(bad_2xx)} acknowledged writes are not in the database: {bad_2xx[:5]}"
        unanswered = [w for w in work.writes if w.status is None or w.status >= 500]

        def settled():
            pending = db.execute("SELECT count(*) FROM outbox o JOIN tasks t ON t.id = o.task_id "
                                 "WHERE t.user_id = ANY(%s) AND o.published_at IS NULL", (users,)).fetchone()[0]
            audit_missing = db.execute(
                "SELECT count(*) FROM outbox o JOIN tasks t ON t.id = o.task_id WHERE t.user_id = ANY(%s) "
                "AND o.topic = 'task-events' AND NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.event_id = (o.payload->>'event_id')::uuid)",
                (users,)).fetchone()[0]
            feed_missing = db.execute(
                "SELECT count(*) FROM outbox o JOIN tasks t ON t.id = o.task_id WHERE t.user_id = ANY(%s) "
                "AND o.topic = 'task-updates' AND NOT EXISTS (SELECT 1 FROM realtime_feed f WHERE f.event_id = (o.payload->>'event_id')::uuid)",
                (users,)).fetchone()[0]
            return pending == 0 and audit_missing == 0 and feed_missing == 0

        try:
            wait_until("the outbox published and the consumers caught up", settled, timeout=SETTLE_S, interval=2)
        except AssertionError:
            pass  # the counts below name what is missing

        events = db.execute(
            "SELECT o.id, o.topic, o.task_id, (o.payload->>'event_id')::uuid, o.published_at IS NOT NULL, o.created_at "
            "FROM outbox o JOIN tasks t ON t.id = o.task_id WHERE t.user_id = ANY(%s) ORDER BY o.id", (users,)).fetchall()
        audit = Counter(r[0] for r in db.execute(
            "SELECT event_id FROM audit_log WHERE user_id = ANY(%s)", (users,)).fetchall())
        audit_order = defaultdict(list)
        for task_id, event_id in db.execute("SELECT task_id, event_id FROM audit_log WHERE user_id = ANY(%s) ORDER BY seq", (users,)).fetchall():
            audit_order[task_id].append(event_id)
        feed = Counter(r[0] for r in db.execute("SELECT event_id FROM realtime_feed WHERE user_id = ANY(%s)", (users,)).fetchall())
        feed_order = defaultdict(list)
        for event_id, task_id in db.execute("SELECT event_id, (payload->>'task_id')::uuid FROM realtime_feed WHERE user_id = ANY(%s) ORDER BY user_id, seq", (users,)).fetchall():
            feed_order[task_id].append(event_id)
        completed = [w.task_id for w in work.writes if w.kind == "complete" and w.status == 200]
        rolls = {str(r[0]): r[1] for r in db.execute(
            "SELECT from_task_id, count(*) FROM recurrence_rolls WHERE from_task_id = ANY(%s::uuid[]) GROUP BY 1", (completed,)).fetchall()}
        children = {str(r[0]): r[1] for r in db.execute(
            "SELECT parent_task_id, count(*) FROM tasks WHERE parent_task_id = ANY(%s::uuid[]) GROUP BY 1", (completed,)).fetchall()}

    unpublished = [e for e in events if not e[4]]
    lost, dup = [], []
    expect_audit, expect_feed = defaultdict(list), defaultdict(list)
    for _id, topic, task_id, event_id, _pub, at in events:
        at = at.timestamp()
        if topic == "task-events":
            expect_audit[task_id].append(event_id)
            (lost if audit[event_id] == 0 else dup if audit[event_id] > 1 else []).append((topic, event_id, at))
        elif topic == "task-updates":
            expect_feed[task_id].append(event_id)
            (lost if feed[event_id] == 0 else dup if feed[event_id] > 1 else []).append((topic, event_id, at))
    done_at = {w.task_id: w.at_wall for w in work.writes if w.kind == "complete" and w.status == 200}
    for tid in completed:
        if rolls.get(tid, 0) != 1 or children.get(tid, 0) != 1:
            (lost if rolls.get(tid, 0) == 0 else dup).append(("roll", f"{tid} rolls={rolls.get(tid, 0)} children={children.get(tid, 0)}", done_at[tid]))
    out_of_order = [t for t, ids in expect_audit.items() if audit_order.get(t, []) != ids and not any(x in lost for x in ids)]
    out_of_order += [t for t, ids in expect_feed.items() if feed_order.get(t, []) != ids]
    dlq_after = dlq_ends()

    def within(begin, end, items):
        return sum(1 for it in items if begin <= it[-1] < end)

    print(f"\nreplicas and pod loss: {len(work.writes)} writes ({len(unanswered)} unanswered or 5xx, resolved from the database), "
          f"{len(events)} events of {len(expect_audit)} tasks, {len(completed)} recurring completions")
    print(f"{'action':42} {'writes':>6} {'events':>6} {'lost':>5} {'dup':>5} {'recovery':>9}")
    ev_times = [(e[5].timestamp(),) for e in events]
    for name, begin, end, n, rec in rows:
        print(f"{name:42} {n:6d} {within(begin, end, ev_times):6d} {within(begin, end, lost):5d} "
              f"{within(begin, end, dup):5d} {rec:8.1f}s")
    print(f"{'the whole run':42} {len(work.writes):6d} {len(events):6d} {len(lost):5d} {len(dup):5d}")
    print(f"dead-letter topics' end offsets: before {dlq_before}, after {dlq_after}")

    assert len(work.writes) > 50, f"the workload made only {len(work.writes)} writes"
    assert not unpublished, f"{len(unpublished)} outbox rows never published: {unpublished[:5]}"
    assert not lost, f"{len(lost)} effects missing: {lost[:10]}"
    assert not dup, f"{len(dup)} effects duplicated: {dup[:10]}"
    assert not out_of_order, f"{len(out_of_order)} tasks' events recorded out of order: {out_of_order[:5]}"
    assert dlq_after == dlq_before, f"dead-lettered during the run: before {dlq_before}, after {dlq_after}"
