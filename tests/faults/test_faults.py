"""Faults on the real stack: a bounded, seeded workload runs while each part of the stack is
restarted or killed in turn; afterwards exact counts from PostgreSQL, the Kafka topics and the
mail sink say whether anything was lost, duplicated or dead-lettered (DESIGN.md decision 9:
at-least-once delivery, exactly-once effects).

The workload: `TODO_FAULT_USERS` users (default 20), one thread each, share a token bucket of
`TODO_FAULT_RATE` writes/s (default 10); every user's operations come from `random.Random(seed,
user)` (`TODO_FAULT_SEED`, default 11): creates (plain, recurring with a due date, or with one
email or in-app reminder due 4-25 s later), updates (a new unique title), and completions of its
recurring tasks. Titles are unique markers, so a write whose answer was lost (5xx, connection
error, timeout) is resolved from the database: committed if its row / outbox event exists. Each
2xx must be in the database.

The faults (`TODO_FAULTS`, comma-separated, default all, in this order): restart Kafka, restart
PostgreSQL, `kill -9` and restart each service's sidecar (task-api, audit, recurring,
notification, realtime), `kill -9` and restart the app (Spin or the host, whichever ran), restart
the Scheduler, restart Pushpin; then outages longer than any retry budget (issue 19): PostgreSQL,
audit's sidecar and Kafka each stopped for `TODO_FAULT_OUTAGE_S` (default 90) seconds
(`outage-postgres`, `outage-daprd-audit`, `outage-kafka` in TODO_FAULTS). Each fault has a phase:
`PRE_S` seconds of workload, the fault (`./dev stop|kill <part>`, the outage if any, then
`./dev start <part>`), then the consumers catching up (polled in
PostgreSQL, at most `CATCHUP_S`), then `POST_S` more seconds. After the last phase the workload
stops, the stack settles (every reminder past due, the outbox drained), and the checks run:

- every outbox row of the run (every event a committed write produced) is published and is on
  its topic; each (topic, task)'s events appear on Kafka, first occurrences, in outbox id order
  (duplicates are allowed on Kafka: at-least-once);
- task-events: one audit row per event; task-updates: one feed row per event; reminders: the
  notification service processed each event;
- one `recurrence_rolls` row and one child task per completed recurring task;
- every reminder due during the run is `sent`, and delivered once: one email per email reminder
  at the mail sink, one `reminder.due` per in-app reminder in the user's feed;
- nothing of this run's events in `task-events.dlq`, `reminders.dlq`, `task-updates.dlq`.

It prints a table (fault, downtime, writes, events, lost, duplicated, dead-lettered, Kafka
redeliveries, recovery: first write after the restart and consumers caught up) and writes the
figures to `$RUN/faults-<run>.json`. A failure names each lost event with its fault and quotes
the sidecars' log lines of the dead-lettering.

    ~/.cache/todo-events/venv/bin/python -m pytest -q -s tests/faults          # the whole stage
    TODO_FAULT_SEED=7 TODO_FAULTS=kafka,pushpin ~/.cache/todo-events/venv/bin/python -m pytest -q -s tests/faults

It needs the stack up (./dev up) and always restores every part it stopped (finally)."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
import requests

import mail
from clients import mint_token
from support import RUN, database_url, read_env, sidecar_ports

ROOT = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("TODO_FAULT_SEED", "11"))
USERS = int(os.environ.get("TODO_FAULT_USERS", "20"))
RATE = float(os.environ.get("TODO_FAULT_RATE", "10"))
MIN_WRITES = int(os.environ.get("TODO_FAULT_MIN_WRITES", "1000"))
PRE_S = float(os.environ.get("TODO_FAULT_PRE_S", "6"))
POST_S = float(os.environ.get("TODO_FAULT_POST_S", "4"))
CATCHUP_S = float(os.environ.get("TODO_FAULT_CATCHUP_S", "30"))
SETTLE_S = float(os.environ.get("TODO_FAULT_SETTLE_S", "90"))
TOPICS = ["task-events", "reminders", "task-updates"]
DLQS = [f"{t}.dlq" for t in TOPICS]
SERVICES = ["task-api", "audit", "recurring", "notification", "realtime"]


@dataclass
class Fault:
    name: str
    part: str
    how: str  # "stop" (SIGTERM, the part's own shutdown) or "kill" (kill -9 of its session)
    outage_s: float = 0.0  # how long the part stays down before it is started again
    key: str = ""  # the name TODO_FAULTS selects it by (default: the part)

    def __post_init__(self):
        self.key = self.key or self.part


OUTAGE_S = float(os.environ.get("TODO_FAULT_OUTAGE_S", "90"))

ALL_FAULTS = [
    Fault("restart kafka", "kafka", "stop"),
    Fault("restart postgres", "postgres", "stop"),
    *[Fault(f"kill -9 daprd-{s}", f"daprd-{s}", "kill") for s in SERVICES],
    Fault("kill -9 app", "app", "kill"),
    Fault("restart scheduler", "scheduler", "stop"),
    Fault("restart pushpin", "pushpin", "stop"),
    # Outages longer than any retry budget (issue 19): nothing may be dead-lettered.
    Fault(f"postgres down {OUTAGE_S:g}s", "postgres", "stop", OUTAGE_S, "outage-postgres"),
    Fault(f"daprd-audit down {OUTAGE_S:g}s", "daprd-audit", "stop", OUTAGE_S, "outage-daprd-audit"),
    Fault(f"kafka down {OUTAGE_S:g}s", "kafka", "stop", OUTAGE_S, "outage-kafka"),
]


def chosen_faults() -> list[Fault]:
    want = os.environ.get("TODO_FAULTS", "").strip()
    if not want:
        return ALL_FAULTS
    names = {w.strip() for w in want.split(",") if w.strip()}
    picked = [f for f in ALL_FAULTS if f.key in names or f.key.removeprefix("daprd-") in names]
    assert picked, f"TODO_FAULTS={want!r} names none of {[f.key for f in ALL_FAULTS]}"
    return picked


# --- the stack ------------------------------------------------------------------------------------


def dev(*args: str, env: dict | None = None, timeout: float = 240) -> float:
    """Runs `./dev <args>`; answers how long it took. Fails with its output if it fails."""
    t0 = time.monotonic()
    p = subprocess.run([str(ROOT / "dev"), *args], capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, **(env or {})})
    assert p.returncode == 0, f"./dev {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    return time.monotonic() - t0


def alive(part: str) -> bool:
    try:
        pid = int((RUN / "pids" / f"{part}.pid").read_text().strip())
        os.kill(pid, 0)
        return True
    except (OSError, ValueError):
        return False


def all_parts() -> list[str]:
    apps = list(sidecar_ports())
    return ["postgres", "kafka", "scheduler", "mailsink", "app", "pushpin", *[f"daprd-{a}" for a in apps]]


def runtime_env() -> dict:
    rt = (RUN / "runtime").read_text().strip() if (RUN / "runtime").exists() else ""
    return {"TODO_RUNTIME": rt} if rt in ("spin", "host") else {}


def restore_everything(runtime: dict) -> list[str]:
    """Starts every part that is not running (the finally of each fault and of the stage)."""
    started = []
    for part in all_parts():
        if not alive(part):
            dev("start", part, env=runtime if part == "app" else None)
            started.append(part)
    return started


def pg_conninfo() -> str:
    return database_url()


class Db:
    """Reads PostgreSQL for the exact counts; reconnects after a PostgreSQL restart."""

    def __init__(self):
        self.conn = None

    def rows(self, sql: str, params=()) -> list[tuple]:
        for attempt in range(30):
            try:
                if self.conn is None or self.conn.closed:
                    self.conn = psycopg.connect(pg_conninfo(), autocommit=True, connect_timeout=3)
                with self.conn.cursor() as cur:
                    cur.execute(sql, params)
                    return cur.fetchall()
            except psycopg.OperationalError:
                self.conn = None
                if attempt == 29:
                    raise
                time.sleep(0.5)
        return []

    def close(self):
        if self.conn is not None:
            self.conn.close()


def kafka_ends(bootstrap: str, topics: list[str]) -> dict[tuple[str, int], int]:
    """High watermarks of every partition of `topics`."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"faults-{uuid.uuid4()}", "enable.auto.commit": False})
    try:
        ends = {}
        for t in topics:
            meta = c.list_topics(t, timeout=10)
            for p in meta.topics[t].partitions:
                ends[(t, p)] = c.get_watermark_offsets(TopicPartition(t, p), timeout=10)[1]
        return ends
    finally:
        c.close()


def kafka_read(bootstrap: str, start: dict, end: dict) -> list[dict]:
    """Every message in [start, end) of each partition: topic, partition, offset, key, ts, value."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"faults-{uuid.uuid4()}", "enable.auto.commit": False})
    out: list[dict] = []
    try:
        todo = {tp: off for tp, off in start.items() if end[tp] > off}
        c.assign([TopicPartition(t, p, off) for (t, p), off in todo.items()])
        deadline = time.monotonic() + 120
        pos = dict(todo)
        while any(pos[tp] < end[tp] for tp in pos) and time.monotonic() < deadline:
            for msg in c.consume(num_messages=1000, timeout=1.0):
                if msg.error():
                    continue
                tp = (msg.topic(), msg.partition())
                if msg.offset() >= end[tp]:
                    continue
                pos[tp] = msg.offset() + 1
                try:
                    value = json.loads(msg.value())
                except (ValueError, TypeError):
                    value = None
                key = msg.key().decode(errors="replace") if msg.key() is not None else None
                out.append({"topic": tp[0], "partition": tp[1], "offset": msg.offset(), "key": key,
                            "ts": msg.timestamp()[1] / 1000.0, "value": value})
        short = {tp: (pos[tp], end[tp]) for tp in pos if pos[tp] < end[tp]}
        assert not short, f"could not read every message of the run from Kafka: {short}"
        return out
    finally:
        c.close()


def log_sizes() -> dict[str, int]:
    return {p.name: p.stat().st_size for p in (RUN / "logs").glob("daprd-*.log")}


def log_lines_since(sizes: dict[str, int], pattern: str, limit: int = 6) -> dict[str, list[str]]:
    """Lines of each sidecar's log written since `sizes` that match `pattern` (first `limit`)."""
    rx = re.compile(pattern, re.I)
    found = {}
    for p in (RUN / "logs").glob("daprd-*.log"):
        with p.open("rb") as f:
            f.seek(sizes.get(p.name, 0))
            lines = [l.decode(errors="replace").rstrip() for l in f if rx.search(l.decode(errors="replace"))]
        if lines:
            found[p.stem] = [f"({len(lines)} lines)"] + [l[:400] for l in lines[:limit]]
    return found


# --- the workload -----------------------------------------------------------------------------------


def iso(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Write:
    user: int
    op: str          # create | create_recurring | create_reminder | update | complete
    marker: str      # the title it sets (create, update), or the task's (complete)
    task_id: str | None
    t0: float
    t1: float = 0.0
    status: int | None = None   # HTTP status, None: no answer (connection error, timeout)
    error: str = ""
    reminder: dict | None = None  # create_reminder: {"remind_at", "channel"}

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def ambiguous(self) -> bool:
        return self.status is None or self.status >= 500


@dataclass
class UserState:
    index: int
    user_id: str
    token: str
    rng: random.Random
    tasks: list[str] = field(default_factory=list)          # acknowledged, updatable
    recurring_open: list[str] = field(default_factory=list)  # acknowledged recurring, not completed
    reminder_tasks: list[list] = field(default_factory=list)  # [task id, reminder id, channel, due (epoch)], acknowledged
    n: int = 0


class Workload:
    def __init__(self, host_url: str, jwt_secret: str, run: str, seed: int, users: int, rate: float,
                 moves: bool = False):
        self.host = host_url.rstrip("/")
        # moves: a user sometimes moves (to 2-12 s from now) or cancels one of its reminders soon
        # after setting it (the replica stage: a moved-then-cancelled reminder must never fire).
        self.moves = moves
        self.run = run
        self.rate = rate
        self.stop = threading.Event()
        self.allow_reminders = threading.Event()
        self.allow_reminders.set()
        self.lock = threading.Lock()
        self.next_slot = time.monotonic()
        self.writes: list[Write] = []
        self.users = [
            UserState(i, f"{run}-u{i:02d}", mint_token(jwt_secret, f"{run}-u{i:02d}", exp_in=6 * 3600),
                      random.Random(f"{seed}/{i}"))
            for i in range(users)
        ]
        self.threads = [threading.Thread(target=self._loop, args=(u,), daemon=True) for u in self.users]

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=90)

    def _slot(self) -> bool:
        with self.lock:
            now = time.monotonic()
            slot = max(self.next_slot, now)
            self.next_slot = slot + 1.0 / self.rate
        wait = slot - now
        if wait > 0:
            return not self.stop.wait(wait)
        return not self.stop.is_set()

    def _loop(self, u: UserState):
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {u.token}"
        while self._slot():
            w = self._one(u, http)
            with self.lock:
                self.writes.append(w)

    def _one(self, u: UserState, http: requests.Session) -> Write:
        rng = u.rng
        roll = rng.random()
        u.n += 1
        marker = f"{self.run}-u{u.index:02d}-w{u.n:04d}"
        # Only a reminder still 2 s or more from its time is moved or cancelled: one that has fired
        # and is then moved fires again, rightly, at its new time.
        pending = [r for r in u.reminder_tasks if r[3] > time.time() + 2]
        if self.moves and pending and self.allow_reminders.is_set() and rng.random() < 0.35:
            rem = pending[rng.randrange(len(pending))]
            tid, rid, channel = rem[:3]
            if rng.random() < 0.4:
                u.reminder_tasks.remove(rem)
                op, reminders = "cancel_reminder", []
            else:
                when = datetime.now(timezone.utc) + timedelta(seconds=rng.uniform(2, 12))
                rem[3] = when.timestamp()
                op, reminders = "move_reminder", [{"id": rid, "remind_at": iso(when), "channel": channel}]
            return self._send(u, http, Write(u.index, op, marker, tid, time.time()), "PATCH",
                              f"/api/tasks/{tid}", {"title": marker, "reminders": reminders})
        if roll < 0.22 or not u.tasks:
            op, body = "create", {"title": marker, "priority": rng.choice(["low", "normal", "high", "urgent"]),
                                  "tags": rng.sample(["home", "work", "x", "y"], rng.randint(0, 2))}
        elif roll < 0.37:
            op, body = "create_recurring", {
                "title": marker, "due_date": f"2031-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T09:00:00Z",
                "timezone": rng.choice(["UTC", "Europe/Berlin", "America/New_York"]),
                "recurrence": rng.choice(["FREQ=DAILY", "FREQ=WEEKLY;BYDAY=MO,TH", "FREQ=MONTHLY;BYMONTHDAY=15"])}
        elif roll < 0.45 and self.allow_reminders.is_set():
            when = datetime.now(timezone.utc) + timedelta(seconds=rng.uniform(4, 25))
            reminder = {"remind_at": iso(when), "channel": rng.choice(["email", "in_app"])}
            op, body = "create_reminder", {"title": marker, "reminders": [reminder]}
        elif roll < 0.62 and u.recurring_open:
            tid = u.recurring_open.pop(rng.randrange(len(u.recurring_open)))
            return self._send(u, http, Write(u.index, "complete", marker, tid, time.time()),
                              "POST", f"/api/tasks/{tid}/complete", None)
        else:
            tid = rng.choice(u.tasks)
            return self._send(u, http, Write(u.index, "update", marker, tid, time.time()), "PATCH",
                              f"/api/tasks/{tid}", {"title": marker, "priority": rng.choice(["low", "high"])})
        w = Write(u.index, op, marker, None, time.time(), reminder=body.get("reminders", [None])[0])
        return self._send(u, http, w, "POST", "/api/tasks", body)

    def _send(self, u: UserState, http, w: Write, method: str, path: str, body) -> Write:
        try:
            r = http.request(method, self.host + path, json=body, timeout=60)
            w.status = r.status_code
            if w.ok and w.op.startswith("create"):
                w.task_id = r.json()["id"]
                if w.op != "create_reminder":
                    u.tasks.append(w.task_id)  # reminder tasks are not touched again
                if w.op == "create_recurring":
                    u.recurring_open.append(w.task_id)
                if w.op == "create_reminder" and self.moves:
                    due = datetime.fromisoformat(w.reminder["remind_at"].replace("Z", "+00:00")).timestamp()
                    u.reminder_tasks.append([w.task_id, r.json()["reminders"][0]["id"], w.reminder["channel"], due])
            if not w.ok:
                w.error = r.text[:300]
        except requests.RequestException as e:
            w.error = f"{type(e).__name__}: {e}"[:300]
        w.t1 = time.time()
        return w


# --- one fault ------------------------------------------------------------------------------------------


@dataclass
class Phase:
    fault: Fault
    start: float                 # wall clock: the phase's window starts here
    injected: float = 0.0        # the fault (stop / kill) was issued
    up: float = 0.0              # the restarted part answered healthy (./dev start returned)
    end: float = 0.0
    stop_s: float = 0.0
    start_s: float = 0.0
    caught_up_s: float | None = None
    pending_at_timeout: int = 0
    first_write_s: float | None = None
    write_gap_s: float = 0.0
    note: str = ""


PENDING_SQL = """
SELECT count(*) FILTER (WHERE o.published_at IS NULL),
       count(*) FILTER (WHERE o.topic = 'task-events' AND a.event_id IS NULL),
       count(*) FILTER (WHERE o.topic = 'task-updates' AND f.event_id IS NULL),
       count(*) FILTER (WHERE o.topic = 'reminders' AND n.event_id IS NULL)
FROM outbox o
LEFT JOIN audit_log a ON o.topic = 'task-events' AND a.event_id = (o.payload->>'event_id')::uuid
LEFT JOIN realtime_feed f ON o.topic = 'task-updates' AND f.event_id = (o.payload->>'event_id')::uuid
LEFT JOIN processed_events n ON o.topic = 'reminders' AND n.consumer = 'notification'
                             AND n.event_id = (o.payload->>'event_id')::uuid
WHERE o.id > %s AND o.payload->>'user_id' LIKE %s
  AND o.created_at >= to_timestamp(%s) AND o.created_at <= to_timestamp(%s)
"""


def run_phase(ph: Phase, db: Db, wl: Workload, start_id: int, runtime: dict):
    time.sleep(PRE_S)
    ph.injected = time.time()
    try:
        if ph.fault.how == "kill":
            ph.stop_s = dev("kill", ph.fault.part)
        else:
            ph.stop_s = dev("stop", ph.fault.part)
        time.sleep(ph.fault.outage_s)
    finally:
        t = time.monotonic()
        dev("start", ph.fault.part, env=runtime if ph.fault.part == "app" else None)
        ph.start_s = time.monotonic() - t
        ph.up = time.time()
    # The consumers catch up with every event written in this phase up to the restart.
    # After a long outage the backlog is larger and the sidecars' next retry up to 10 s away.
    deadline = time.monotonic() + (2 * CATCHUP_S if ph.fault.outage_s else CATCHUP_S)
    while True:
        pending = sum(db.rows(PENDING_SQL, (start_id, f"{wl.run}-%", ph.start, ph.up))[0])
        if pending == 0:
            ph.caught_up_s = time.time() - ph.up
            break
        if time.monotonic() > deadline:
            ph.pending_at_timeout = pending
            break
        time.sleep(0.25)
    time.sleep(POST_S)
    ph.end = time.time()


# --- the stage ------------------------------------------------------------------------------------------


def test_faults_lose_nothing_duplicate_nothing_and_dead_letter_nothing():
    env = read_env(RUN / "stack.env")
    secrets = read_env(RUN / "secrets.env")
    host, bootstrap = env["HOST_URL"], env["KAFKA_BOOTSTRAP"]
    down = [p for p in all_parts() if not alive(p)]
    assert not down, f"parts of the stack are not running: {down} (./dev status)"
    requests.get(f"{host}/.well-known/spin/health", timeout=5).raise_for_status()
    runtime = runtime_env()
    faults = chosen_faults()
    run = f"f{SEED}x{uuid.uuid4().hex[:6]}"
    like = f"{run}-%"
    db = Db()
    start_id = db.rows("SELECT coalesce(max(id), 0) FROM outbox")[0][0]
    offsets0 = kafka_ends(bootstrap, TOPICS + DLQS)
    logs0 = log_sizes()
    mail_before = len(mail.messages())
    t_run = time.time()
    print(f"\nfault stage: run {run}, seed {SEED}, {USERS} users, {RATE:g} writes/s, runtime "
          f"{runtime.get('TODO_RUNTIME', '?')}, faults: {', '.join(f.key for f in faults)}")

    wl = Workload(host, secrets["JWT_SECRET"], run, SEED, USERS, RATE)
    phases: list[Phase] = []
    wl.start()
    try:
        for f in faults:
            ph = Phase(f, start=time.time())
            phases.append(ph)
            try:
                run_phase(ph, db, wl, start_id, runtime)
            finally:
                restarted = restore_everything(runtime)
                if restarted:
                    ph.note = f"restored {restarted}"
            print(f"  {f.name}: down {ph.up - ph.injected:.1f}s, caught up "
                  f"{'%.1fs' % ph.caught_up_s if ph.caught_up_s is not None else f'no ({ph.pending_at_timeout} pending)'}",
                  flush=True)
        # Enough writes: keep going without faults until the minimum is reached (bounded).
        extra_deadline = time.monotonic() + 120
        while len(wl.writes) < MIN_WRITES and time.monotonic() < extra_deadline:
            time.sleep(1)
    finally:
        wl.allow_reminders.clear()
        wl.finish()
        restore_everything(runtime)
    t_work_end = time.time()
    writes = list(wl.writes)

    # --- settle: every reminder past due (and its retries), the outbox drained, consumers done ---
    last_due = max((datetime.fromisoformat(w.reminder["remind_at"].replace("Z", "+00:00")).timestamp()
                    for w in writes if w.reminder), default=time.time())
    settle_deadline = time.monotonic() + SETTLE_S
    while time.monotonic() < settle_deadline:
        pending = sum(db.rows(PENDING_SQL, (start_id, like, t_run - 1, time.time()))[0])
        if pending == 0 and time.time() > last_due + 15:
            break
        time.sleep(1)
    time.sleep(6)  # longer than the outbox's 5 s re-drain: a late duplicate would be here by now
    t_verify = time.time()

    report = verify(db, bootstrap, run, start_id, offsets0, writes, phases, t_run, t_work_end, mail_before)
    report["daprd_log"] = log_lines_since(logs0, r"dead.?letter|deadletter|error sending message|failed to publish|retri")
    report.update(run=run, seed=SEED, users=USERS, rate=RATE, runtime=runtime.get("TODO_RUNTIME"),
                  seconds=round(t_verify - t_run, 1))
    out = RUN / f"faults-{run}.json"
    out.write_text(json.dumps(report, indent=1, default=str))
    print_table(report)
    print(f"figures: {out}")
    db.close()

    problems = report["problems"]
    assert len(writes) >= MIN_WRITES, f"only {len(writes)} writes (wanted {MIN_WRITES})"
    assert not problems, (
        f"fault stage (seed {SEED}, run {run}) found {len(problems)} problem(s):\n  "
        + "\n  ".join(problems[:60])
        + ("\n  ..." if len(problems) > 60 else "")
        + "\nsidecar log lines:\n" + json.dumps(report["daprd_log"], indent=1)
    )


def phase_of(phases: list[Phase], t: float) -> int:
    """Index of the phase whose window holds wall-clock time `t` (the last phase takes the tail)."""
    idx = 0
    for i, ph in enumerate(phases):
        if t >= ph.start:
            idx = i
    return idx


def verify(db: Db, bootstrap: str, run: str, start_id: int, offsets0: dict, writes: list[Write],
           phases: list[Phase], t_run: float, t_work_end: float, mail_before: int) -> dict:
    like = f"{run}-%"
    problems: list[str] = []
    n_ph = len(phases)
    per = [Counter() for _ in range(n_ph)]

    def fault_name(i):
        return phases[i].fault.name

    # The record of every committed write: the outbox.
    outbox = db.rows(
        """SELECT id, topic, partition_key, payload->>'event_id', payload->>'event_type',
                  extract(epoch FROM created_at)::float8, published_at IS NOT NULL, payload
           FROM outbox WHERE id > %s AND payload->>'user_id' LIKE %s ORDER BY id""", (start_id, like))
    events = {}
    for oid, topic, key, eid, etype, created, published, payload in outbox:
        events[eid] = dict(id=oid, topic=topic, key=key, type=etype, created=created, published=published,
                           payload=payload, phase=phase_of(phases, created))
        per[events[eid]["phase"]]["events"] += 1
    tasks = db.rows("SELECT id::text, title, parent_task_id::text FROM tasks WHERE user_id LIKE %s", (like,))
    by_title = {title: tid for tid, title, _ in tasks}

    # --- the client's writes against the database ---
    created_ids = {e["key"] for e in events.values() if e["type"] == "task.created"}
    updated_titles = {(e["key"], e["payload"]["task_data"]["title"]) for e in events.values()
                      if e["type"] == "task.updated" and e["topic"] == "task-events"}
    completed_ids = {e["key"] for e in events.values() if e["type"] == "task.completed"}
    for w in writes:
        i = phase_of(phases, w.t0)
        per[i]["writes"] += 1
        if w.op.startswith("create"):
            tid = w.task_id or by_title.get(w.marker)
            committed = tid is not None and tid in created_ids
        elif w.op != "complete":  # update, move_reminder, cancel_reminder: each sets a new title
            committed = (w.task_id, w.marker) in updated_titles
        else:
            committed = w.task_id in completed_ids
        if w.ok:
            per[i]["acked"] += 1
            if not committed:
                problems.append(f"[{fault_name(i)}] acknowledged write not in the outbox: {w.op} {w.marker} task={w.task_id} -> {w.status}")
                per[i]["lost"] += 1
        elif w.ambiguous:
            per[i]["ambiguous"] += 1
            per[i]["ambiguous_committed"] += int(committed)
        else:
            per[i]["refused"] += 1
            if committed:
                problems.append(f"[{fault_name(i)}] a refused write ({w.status}) committed: {w.op} {w.marker}")
            problems.append(f"[{fault_name(i)}] write refused with {w.status}: {w.op} {w.marker}: {w.error[:160]}")
    for i, ph in enumerate(phases):
        oks = sorted(w.t1 for w in writes if w.ok and w.t1 >= ph.up)
        ph.first_write_s = (oks[0] - ph.up) if oks else None
        window = sorted(w.t1 for w in writes if w.ok and ph.injected - 5 <= w.t1 <= (ph.end or ph.up + 30))
        ph.write_gap_s = max((b - a for a, b in zip(window, window[1:])), default=0.0)

    # --- published, on Kafka, in order ---
    end = kafka_ends(bootstrap, TOPICS + DLQS)
    messages = kafka_read(bootstrap, offsets0, end)
    on_kafka: dict[str, list[dict]] = defaultdict(list)
    dlq: list[dict] = []
    foreign_dlq = 0
    for m in messages:
        data = m["value"].get("data") if isinstance(m["value"], dict) else None
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                data = None
        eid = data.get("event_id") if isinstance(data, dict) else None
        ours = isinstance(data, dict) and str(data.get("user_id", "")).startswith(f"{run}-")
        if m["topic"].endswith(".dlq"):
            if ours or eid in events:
                dlq.append({**m, "event_id": eid, "event_type": data.get("event_type")})
            else:
                foreign_dlq += 1
        elif eid in events:
            on_kafka[eid].append(m)
    lost: dict[str, tuple[int, str]] = {}

    def lose(eid: str, why: str):
        if eid not in lost:
            lost[eid] = (events[eid]["phase"], why)

    for eid, e in events.items():
        if not e["published"]:
            lose(eid, "never published (outbox row unpublished)")
        elif not on_kafka.get(eid):
            lose(eid, f"marked published but not on {e['topic']}")
        elif any(m["topic"] != e["topic"] or m["key"] != e["key"] for m in on_kafka[eid]):
            problems.append(f"event {eid} on the wrong topic/key: {[(m['topic'], m['key']) for m in on_kafka[eid]]}")
        extra = len(on_kafka.get(eid, [])) - 1
        if extra > 0:
            per[e["phase"]]["kafka_dups"] += extra
    # Order: per (topic, key), the first occurrences on Kafka are in outbox id order.
    streams: dict[tuple, list[dict]] = defaultdict(list)
    for m in messages:
        if not m["topic"].endswith(".dlq"):
            streams[(m["topic"], m["key"])].append(m)
    order_bad = 0
    for (topic, key), ms in streams.items():
        ms.sort(key=lambda m: (m["partition"], m["offset"]))
        seen, firsts = set(), []
        for m in ms:
            eid = m["value"]["data"].get("event_id") if isinstance(m["value"], dict) and isinstance(m["value"].get("data"), dict) else None
            if eid in events and eid not in seen:
                seen.add(eid)
                firsts.append(events[eid]["id"])
        if firsts != sorted(firsts):
            order_bad += 1
            e0 = next(e for e in events.values() if e["topic"] == topic and e["key"] == key)
            per[e0["phase"]]["order"] += 1
            problems.append(f"[{fault_name(e0['phase'])}] {topic} key {key}: events out of outbox order on Kafka: {firsts}")

    # --- consumers: one effect per event ---
    ids = list(events)
    audit = Counter(r[0] for r in db.rows("SELECT event_id::text FROM audit_log WHERE event_id = ANY(%s::uuid[])", (ids,)))
    feed_rows = db.rows("SELECT event_id::text, payload->>'event_type', payload->'reminder'->>'reminder_id' FROM realtime_feed WHERE user_id LIKE %s", (like,))
    feed = Counter(r[0] for r in feed_rows)
    notified = {r[0] for r in db.rows("SELECT event_id::text FROM processed_events WHERE consumer = 'notification' AND event_id = ANY(%s::uuid[])", (ids,))}
    for eid, e in events.items():
        if e["topic"] == "task-events":
            if audit[eid] == 0:
                lose(eid, "no audit row")
            elif audit[eid] > 1:
                per[e["phase"]]["dup"] += audit[eid] - 1
                problems.append(f"[{fault_name(e['phase'])}] {audit[eid]} audit rows for event {eid}")
        elif e["topic"] == "task-updates":
            if feed[eid] == 0:
                lose(eid, "not in the user's realtime feed")
            elif feed[eid] > 1:
                per[e["phase"]]["dup"] += feed[eid] - 1
        elif eid not in notified:
            lose(eid, "not processed by notification")

    # --- recurring: one roll and one child per completed recurring occurrence ---
    completed_recurring = {e["key"]: e for e in events.values()
                           if e["type"] == "task.completed" and e["topic"] == "task-events"
                           and e["payload"]["task_data"].get("recurrence")}
    rolls = Counter(r[0] for r in db.rows("SELECT from_task_id::text FROM recurrence_rolls WHERE from_task_id = ANY(%s::uuid[])",
                                          (list(completed_recurring),)))
    children = Counter(parent for _, _, parent in tasks if parent)
    for tid, e in completed_recurring.items():
        i = e["phase"]
        per[i]["rolls_expected"] += 1
        if rolls[tid] != 1 or children[tid] != 1:
            if rolls[tid] == 0 or children[tid] == 0:
                per[i]["lost"] += 1
            else:
                per[i]["dup"] += max(rolls[tid], children[tid]) - 1
            problems.append(f"[{fault_name(i)}] completed recurring task {tid}: {rolls[tid]} roll(s), {children[tid]} next occurrence(s) (want 1 and 1)")

    # --- reminders: the last event of each decides. Scheduled (or moved) and due during the run:
    # sent, delivered once, not before its (last) time; cancelled: never delivered ---
    states = {r[0]: r[1:] for r in db.rows(
        "SELECT reminder_id::text, state, attempts, channel, extract(epoch FROM remind_at)::float8, "
        "extract(epoch FROM sent_at)::float8, task_title, email "
        "FROM reminder_states WHERE user_id LIKE %s", (like,))}
    last: dict[str, dict] = {}
    before_last: dict[str, dict] = {}  # the scheduled event a cancellation follows
    for e in sorted(events.values(), key=lambda e: e["id"]):
        if e["type"] in ("reminder.scheduled", "reminder.cancelled"):
            rid = e["payload"]["reminder_id"]
            if rid in last:
                before_last[rid] = last[rid]
            last[rid] = e
    mails = Counter((tuple(m["to"]), m["subject"]) for m in mail.messages()[mail_before:])
    due_feed = Counter(rid for _, etype, rid in feed_rows if etype == "reminder.due")
    for rid, e in last.items():
        p = e["payload"]
        due = datetime.fromisoformat(p["remind_at"].replace("Z", "+00:00")).timestamp()
        i = phase_of(phases, due)
        st = states.get(rid)
        state = st[0] if st else None
        if p["channel"] == "email":
            delivered = mails[((p["email"],), f"Reminder: {p.get('task_title')}")]
        else:
            delivered = due_feed[rid]
        if e["type"] == "reminder.cancelled":
            per[i]["cancelled"] += 1
            prev = before_last.get(rid)
            prev_due = (datetime.fromisoformat(prev["payload"]["remind_at"].replace("Z", "+00:00")).timestamp()
                        if prev else 0.0)
            if e["created"] > prev_due - 0.5:
                continue  # cancelled at or after its time: it may rightly have fired first
            if delivered or state == "sent":
                per[i]["order"] += 1
                problems.append(f"[{fault_name(i)}] cancelled reminder {rid} ({p['channel']}) fired: state {state}, "
                                f"delivered {delivered} time(s) (its events applied out of order)")
            continue
        per[i]["reminders"] += 1
        if state != "sent" or delivered != 1:
            if delivered == 0:
                per[i]["lost"] += 1
            elif delivered > 1:
                per[i]["dup"] += delivered - 1
            problems.append(f"[{fault_name(i)}] reminder {rid} ({p['channel']}, due {p['remind_at']}): state {state} "
                            f"(attempts {st[1] if st else '-'}), delivered {delivered} time(s) (want sent, 1)")
        elif st[4] is not None and st[4] < due - 1.0:
            per[i]["order"] += 1
            problems.append(f"[{fault_name(i)}] reminder {rid} sent at {st[4]:.1f}, before its last time {due:.1f} "
                            f"(a move applied out of order)")

    # --- each user's realtime feed: sequences 1..n, no gap, no duplicate ---
    seqs: dict[str, list[int]] = defaultdict(list)
    for user, seq in db.rows("SELECT user_id, seq FROM realtime_feed WHERE user_id LIKE %s", (like,)):
        seqs[user].append(seq)
    for user, ss in seqs.items():
        if sorted(ss) != list(range(1, len(ss) + 1)):
            problems.append(f"realtime feed of {user}: sequences {sorted(ss)[:20]}... are not 1..{len(ss)}")

    # --- nothing of this run dead-lettered ---
    for m in dlq:
        i = phase_of(phases, m["ts"])
        per[i]["dlq"] += 1
        problems.append(f"[{fault_name(i)}] dead-lettered on {m['topic']} at {datetime.fromtimestamp(m['ts'], timezone.utc).strftime('%H:%M:%S.%f')[:-3]}: "
                        f"{m['event_type']} {m['event_id']} key {m['key']}")
    dlq_ids = {m["event_id"]: m for m in dlq}
    for eid, (i, why) in lost.items():
        if eid in dlq_ids:
            i = phase_of(phases, dlq_ids[eid]["ts"])
            why += f" (dead-lettered on {dlq_ids[eid]['topic']})"
        per[i]["lost"] += 1
        problems.append(f"[{fault_name(i)}] lost {events[eid]['topic']} {events[eid]['type']} {eid} of task {events[eid]['key']}: {why}")

    rows = []
    for i, ph in enumerate(phases):
        c = per[i]
        rows.append(dict(
            fault=ph.fault.name, down_s=round(ph.up - ph.injected, 1), stop_s=round(ph.stop_s, 1), start_s=round(ph.start_s, 1),
            writes=c["writes"], acked=c["acked"], ambiguous=c["ambiguous"], ambiguous_committed=c["ambiguous_committed"],
            refused=c["refused"], events=c["events"], lost=c["lost"], duplicated=c["dup"], dlq=c["dlq"],
            kafka_redeliveries=c["kafka_dups"], out_of_order=c["order"], reminders_due=c["reminders"],
            recurring_completed=c["rolls_expected"],
            first_write_s=None if ph.first_write_s is None else round(ph.first_write_s, 2),
            write_gap_s=round(ph.write_gap_s, 1),
            caught_up_s=None if ph.caught_up_s is None else round(ph.caught_up_s, 1),
            pending_at_timeout=ph.pending_at_timeout, note=ph.note))
    return dict(rows=rows, problems=problems, writes=len(writes), events=len(events), lost=len(lost),
                dlq=len(dlq), foreign_dlq=foreign_dlq, kafka_messages=len(messages), out_of_order=order_bad,
                work_s=round(t_work_end - t_run, 1))


def print_table(report: dict):
    cols = [("fault", "fault", 26), ("down", "down_s", 6), ("writes", "writes", 6), ("ok", "acked", 5),
            ("5xx/err", "ambiguous", 7), ("(commit)", "ambiguous_committed", 8), ("events", "events", 6),
            ("lost", "lost", 5), ("dup", "duplicated", 4), ("dlq", "dlq", 4), ("redeliv", "kafka_redeliveries", 7),
            ("rem", "reminders_due", 4), ("1st write", "first_write_s", 9), ("gap", "write_gap_s", 5),
            ("caught up", "caught_up_s", 10)]
    print()
    print("  ".join(h.ljust(w) if k == "fault" else h.rjust(w) for h, k, w in cols))
    for r in report["rows"]:
        cells = []
        for _h, k, w in cols:
            v = r[k]
            if k == "caught_up_s" and v is None:
                v = f">{CATCHUP_S:g}s({r['pending_at_timeout']})"
            elif k in ("down_s", "first_write_s", "caught_up_s", "write_gap_s") and v is not None:
                v = f"{v}s"
            cells.append(str(v if v is not None else "-").ljust(w) if k == "fault" else str(v if v is not None else "-").rjust(w))
        print("  ".join(cells))
    print(f"total: {report['writes']} writes, {report['events']} events, {report['kafka_messages']} Kafka messages read, "
          f"lost {report['lost']}, dead-lettered {report['dlq']} (other runs' DLQ messages meanwhile: {report['foreign_dlq']}), "
          f"out of order {report['out_of_order']}, workload {report['work_s']}s")
